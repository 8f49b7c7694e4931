"""``tenancy changes``: the change feed of the store, as a list or followed live."""

from __future__ import annotations

from collections.abc import Iterator

import click

from tenancy.cli.root import cli, state
from tenancy.handle.tenancy import Tenancy
from tenancy.records.changes import Commit

__all__: list[str] = []

_BATCH = 1000
_FOLLOW_TIMEOUT = 60.0
"""Seconds one ``watch`` waits before it is asked again (the loop itself never ends)."""


@cli.command()
@click.option(
    "--after",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="REV",
    help="Start after this revision (0: from the beginning).",
)
@click.option("--follow", is_flag=True,
              help="After the commits so far, wait for new ones and print each as it comes "
              "(until interrupted).")  # fmt: skip
def changes(*, after: int, follow: bool) -> None:
    """The commits after revision --after, in order: revision, time, actor and the kinds
    of change (--json: one commit a line, with every change)."""
    st = state()
    with st.open() as tn:
        last = after
        for commit in _so_far(tn, after):
            _print(commit)
            last = commit.revision
        if not follow:
            return
        try:
            while True:
                for commit in tn.watch(after=last, timeout=_FOLLOW_TIMEOUT):
                    _print(commit)
                    last = commit.revision
        except KeyboardInterrupt:
            return


def _so_far(tn: Tenancy, after: int) -> Iterator[Commit]:
    while True:
        batch = tn.changes(after=after, limit=_BATCH)
        yield from batch
        if len(batch) < _BATCH:
            return
        after = batch[-1].revision


def _print(commit: Commit) -> None:
    st = state()
    if st.out.as_json:
        st.out.emit_line(commit)
        return
    kinds = ",".join(type(c).__name__ for c in commit.changes)
    at = commit.at.isoformat() if commit.at is not None else "-"
    click.echo(f"{commit.revision}\t{at}\t{commit.actor or '-'}\t{kinds}")
