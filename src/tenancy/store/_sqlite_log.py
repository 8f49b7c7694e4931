"""The SQLite store's change log as the change feed reads it: each row's checksum (over its
body, and over its time and actor when it has them), the decoding of a stretch of rows
with its continuity checks, and the signal that wakes a wait for the next commit.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

from tenancy.errors import StoreError, shorten
from tenancy.records.changes import Commit, Revision
from tenancy.store import _audit, _codec
from tenancy.store._sqlite_rows import _cause

__all__ = ["POLL_INTERVAL", "CommitSignal", "decode_log", "log_crc"]

POLL_INTERVAL = 0.05
"""Seconds between two looks at the head while a store waits for another process's commit
(a commit through the same store object wakes the wait at once)."""


def log_crc(body: bytes, at: int | None, actor: str | None) -> int:
    """The checksum of a change-log row: of its body, chained with its time and actor when
    the row has them (rows written before migration 8, and commits without audit records,
    have neither: their checksum is the body's, as before)."""
    crc = _codec.row_crc(body)
    if at is None and actor is None:
        return crc
    return zlib.crc32(f"\0{at}\0{actor}".encode("utf-8", "surrogatepass"), crc)


def decode_log(
    rows: list[Any],
    revision: Revision,
    head: Revision,
    damaged: Callable[[str], StoreError],
    *,
    whole: bool = True,
) -> list[Commit]:
    """The commits of change-log rows ``(revision, body, crc, at, actor)``, each checked
    against its checksum; the stretch has no gap (each commit's revision follows the one
    before, from ``revision + 1``) and reaches ``head`` when the read was ``whole`` (not
    cut by a limit), never past it. The SQLite and PostgreSQL stores share it."""
    commits = []
    expected = revision + 1
    for number, body, crc, at, actor in rows:
        if number != expected:
            raise damaged(f"its change log skips from revision {expected - 1} to {shorten(number)}")
        try:
            if log_crc(body, at, actor) != crc:
                raise damaged(f"table changes, revision {number}: checksum mismatch")
            changes = _codec.decode_changes(body)
            when = None if at is None else _audit.moment(at)
            commits.append(Commit(revision=number, changes=changes, at=when, actor=actor))
        except _codec.DECODE_ERRORS as exc:
            raise damaged(f"table changes, revision {number}: {_cause(exc)}") from None
        expected += 1
    if whole and (expected - 1 < head or (rows and expected - 1 != head)):
        raise damaged(f"its change log ends at {expected - 1}, its head is {head}")
    if rows and expected - 1 > head:
        raise damaged(f"its change log reaches {expected - 1}, past its head {head}")
    return commits


class CommitSignal:
    """Counts the commits made through one store object and wakes who waits for one."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._count = 0

    def committed(self) -> None:
        with self._condition:
            self._count += 1
            self._condition.notify_all()

    def wait_past(self, revision: Revision, timeout: float, head: Callable[[], Revision]) -> int:
        """Block until ``head()`` is past ``revision`` or ``timeout`` seconds have passed;
        the head then. ``head()`` is read again after every commit through this object and
        every :data:`POLL_INTERVAL` (for other processes' commits); the count read before
        it means a commit between the read and the wait is not missed."""
        deadline = time.monotonic() + timeout
        while True:
            with self._condition:
                seen = self._count
            now = head()
            left = deadline - time.monotonic()
            if now > revision or left <= 0:
                return now
            with self._condition:
                if self._count == seen:  # else a commit came meanwhile: look again now
                    self._condition.wait(min(left, POLL_INTERVAL))
