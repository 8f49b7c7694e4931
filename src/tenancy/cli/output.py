"""What the commands print: text for people, canonical JSON for programs.

JSON goes through msgspec with ``order="sorted"``: object keys, struct fields and the items
of every set (tags, device ids, rules) come out sorted, so the same state prints the same
bytes whatever the hash seed of the process.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import click
import msgspec

from tenancy.errors import InvalidValue
from tenancy.rules.paging import check_page_size

__all__ = ["Output", "page_size", "parse_tag_options"]

_encoder = msgspec.json.Encoder(order="sorted")


class Output:
    """Where a command's answer goes, in the format the global ``--json`` asked for."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def emit(self, value: object, text: str | Iterable[str]) -> None:
        """One answer: ``value`` as JSON, or ``text`` (a string or lines) for people."""
        if self.as_json:
            self._write(_encoder.encode(msgspec.to_builtins(value, order="sorted")))
        else:
            lines = [text] if isinstance(text, str) else list(text)
            if lines:
                click.echo("\n".join(lines))

    def emit_stream(self, values: Iterable[Any], line: Any) -> int:
        """A listing of unknown length, never held whole: one JSON array written item by
        item (still one document), or one text line per item made by ``line``. Returns how
        many items were written."""
        count = 0
        if self.as_json:
            sys.stdout.write("[")
            for value in values:
                if count:
                    sys.stdout.write(",")
                sys.stdout.write(
                    _encoder.encode(msgspec.to_builtins(value, order="sorted")).decode()
                )
                count += 1
            sys.stdout.write("]\n")
        else:
            for value in values:
                click.echo(line(value))
                count += 1
        sys.stdout.flush()
        return count

    def emit_line(self, value: object) -> None:
        """One record of an endless stream (``changes --follow``): one JSON document a line."""
        self._write(_encoder.encode(msgspec.to_builtins(value, order="sorted")))

    @staticmethod
    def _write(data: bytes) -> None:
        sys.stdout.write(data.decode())
        sys.stdout.write("\n")
        sys.stdout.flush()


def parse_tag_options(
    values: Iterable[str], option: str = "--tag"
) -> list[tuple[str | None, str | None]]:
    """``--tag k=v`` options as (key, value) pairs: ``k=v`` that exact tag; in a filter or
    a group's rules also ``k=*`` (any value of k) and ``*=v`` (v under any key). A value
    without ``=`` is a usage error that names the option."""
    pairs: list[tuple[str | None, str | None]] = []
    for raw in values:
        key, sep, value = raw.partition("=")
        if not sep:
            raise click.BadParameter(f"{raw!r} is not KEY=VALUE", param_hint=option)
        pairs.append((None if key == "*" else key, None if value == "*" else value))
    return pairs


def page_size(ctx: click.Context, param: click.Parameter, value: int) -> int:
    """A ``--limit`` option's check: the library's own rule for a page size, refused as a
    usage error (exit 2) with the library's words."""
    try:
        return check_page_size(value)
    except InvalidValue as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None
