"""Progress bars for the bulk commands (import, export, create-many): drawn on standard
error when it is a terminal and rich is installed (the ``cli`` extra), silent otherwise,
so a piped or scripted run prints only its answer."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["Progress", "progress"]


class Progress(Protocol):
    """What a bulk command reports: ``advance(n)`` after n more records."""

    def advance(self, count: int = 1) -> None: ...


class _Silent:
    def advance(self, count: int = 1) -> None:
        pass


class _Bar:
    def __init__(self, bar: object, task: object) -> None:
        self._bar = bar
        self._task = task

    def advance(self, count: int = 1) -> None:
        self._bar.advance(self._task, count)  # type: ignore[attr-defined]


@contextmanager
def progress(label: str, total: int | None = None) -> Iterator[Progress]:
    """A bar labelled ``label`` counting to ``total`` (None: a count without an end)."""
    if not sys.stderr.isatty():
        yield _Silent()
        return
    try:
        # Imported here: rich is optional (the cli extra), and a piped run never needs it.
        from rich import progress as bars  # noqa: PLC0415
        from rich.console import Console  # noqa: PLC0415
    except ImportError:
        yield _Silent()
        return
    columns = [bars.TextColumn("{task.description}"), bars.BarColumn(),
               bars.MofNCompleteColumn(), bars.TimeElapsedColumn()]  # fmt: skip
    with bars.Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        yield _Bar(bar, bar.add_task(label, total=total))
