"""``tenancy export`` and ``tenancy import``: the store's document out and in, with a
progress bar (in bytes) on a terminal."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import BinaryIO

import click

from tenancy.cli.output import parse_tag_options
from tenancy.cli.progress import Progress, progress
from tenancy.cli.root import cli, state

__all__: list[str] = []

_MSGPACK_SUFFIXES = (".msgpack", ".mpk")


class _CountingWriter:
    """A binary file that moves the progress bar by what is written through it."""

    def __init__(self, out: BinaryIO, bar: Progress) -> None:
        self._out, self._bar = out, bar

    def write(self, data: bytes, /) -> int:
        self._bar.advance(len(data))
        return self._out.write(data)


class _CountingReader:
    """A binary file that moves the progress bar by what is read from it."""

    def __init__(self, source: BinaryIO, bar: Progress) -> None:
        self._source, self._bar = source, bar

    def read(self, size: int = -1, /) -> bytes:
        data = self._source.read(size)
        self._bar.advance(len(data))
        return data

    def readline(self, size: int = -1, /) -> bytes:
        data = self._source.readline(size)
        self._bar.advance(len(data))
        return data


@cli.command("export")
@click.option(
    "--tenant",
    metavar="TENANT_ID",
    help="One tenant and its subtenants (default: the whole store).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "msgpack"]),
    help="The document's format (default: from the suffix of -o, else json).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Write the document to FILE (default: standard output).",
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="With --tenant: only its devices matching such a tag (a leaving customer's export).",
)
@click.option("--audit", is_flag=True, help="Include the audit log.")
@click.option("--no-usage", is_flag=True, help="Leave the usage statistics out.")
@click.option(
    "--include-secrets",
    is_flag=True,
    help="Include the connectors' security codes (keep such a file as secret as they are).",
)
def export(
    *, tenant: str | None, fmt: str | None, output: str | None, tags: tuple[str, ...],
    audit: bool, no_usage: bool, include_secrets: bool,
) -> None:  # fmt: skip
    """Write the store (or --tenant) as a document: the same state, the same bytes. The
    document goes to -o FILE, or to standard output when there is none."""
    st = state()
    if fmt is None:
        fmt = (
            "msgpack"
            if output is not None and output.lower().endswith(_MSGPACK_SUFFIXES)
            else "json"
        )
    rules = parse_tag_options(tags) if tags else None
    with st.open() as tn:
        target = open(output, "wb") if output is not None else sys.stdout.buffer  # noqa: SIM115
        try:
            with progress("export", None) as bar:
                written = tn.export_to(
                    _CountingWriter(target, bar), tenant=tenant, format=fmt, device_tags=rules,
                    include_usage=not no_usage, include_audit=audit,
                    include_secrets=include_secrets,
                )  # fmt: skip
        finally:
            if output is not None:
                target.close()
            else:
                target.flush()
    if output is not None:
        st.out.emit({"path": output, "records": written, "format": fmt},
                    f"{written} records to {output}")  # fmt: skip


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--parent",
    metavar="TENANT_ID",
    help="Onboard a tenant's document below this tenant (ids left out are made).",
)
def import_(*, file: str, parent: str | None) -> None:
    """Import the document FILE (JSON or MessagePack) in one transaction: all of it, or at
    the first bad record (named with its position and the rule) nothing."""
    st = state()
    size = os.path.getsize(file)
    with st.open() as tn, Path(file).open("rb") as source, progress("import", size) as bar:
        report = tn.import_from(_CountingReader(source, bar), parent=parent)
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(report.counts.items()))
    st.out.emit(
        {"counts": report.counts, "revision": report.revision, "tenant_id": report.tenant_id,
         "refs": report.refs},
        f"imported {counts} at revision {report.revision}",
    )  # fmt: skip
