"""The in-memory store: the reference adapter and the executable specification of the
store contract. Every other adapter must give the same answers."""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from datetime import datetime

from tenancy.errors import StaleRevision, StoreError
from tenancy.records.changes import Change, Commit, Revision, check_changes
from tenancy.records.model import AuditRecord
from tenancy.records.snapshot import Snapshot
from tenancy.records.state import RecordState
from tenancy.store._audit import filter_records, moment, times
from tenancy.store.protocol import Capabilities

__all__ = ["MemoryStore"]


class MemoryStore:
    """Records and change log in plain Python objects; lost when the process ends.

    Several :class:`~tenancy.Tenancy` handles may share one MemoryStore, which makes it a
    stand-in for several processes on one database in tests.
    """

    def __init__(self) -> None:
        self._state = RecordState()
        self._log: list[Commit] = []
        # Kept as given and numbered by position (seq = index + 1), with their stored
        # times alongside: a write pays two appends; a query turns the few records it
        # returns into their stored form.
        self._audit: list[AuditRecord] = []
        self._audit_at: list[int] = []
        self._lock = threading.Lock()
        self._committed = threading.Condition(self._lock)  # wakes wait_for_commit
        self._closed = False
        _STORES.add(self)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(durable=False, shared=False, retention=None, feed=True)

    def head(self) -> Revision:
        return self._state.revision

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._state.snapshot()

    def commit(
        self,
        changes: Sequence[Change],
        *,
        expected_revision: Revision,
        audit: Sequence[AuditRecord] = (),
    ) -> Revision:
        changes = tuple(changes)
        check_changes(changes)  # an impossible value is refused before anything is written
        with self._lock:
            self._check_open()
            if expected_revision != self._state.revision:
                raise StaleRevision(expected_revision, self._state.revision)
            revision = expected_revision + 1
            try:
                self._state.apply_commit(revision, changes)
            except Exception as exc:
                # The facade validates before it commits, so this is a bug upstream; still,
                # a failed commit must leave nothing: rebuild the records from the log.
                self._state = RecordState()
                for commit in self._log:
                    self._state.apply_commit(commit.revision, commit.changes)
                raise StoreError(
                    f"commit {revision} could not be applied: {exc!r}",
                    value=changes,
                    rule="every change of a commit must apply to the current records",
                ) from exc
            if audit:
                first = len(self._audit_at)
                self._audit_at.extend(times(audit, self._audit_at[-1] if self._audit_at else 0))
                self._audit.extend(audit)
                # The commit's time and actor are its audit records' (one write shares them),
                # the time as the log stores it, as SQLite keeps it.
                at, actor = moment(self._audit_at[first]), audit[0].actor
                self._log.append(Commit(revision=revision, changes=changes, at=at, actor=actor))
            else:
                self._log.append(Commit(revision=revision, changes=changes))
            self._committed.notify_all()
            return revision

    def audit_log(
        self,
        *,
        tenant: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        with self._lock:
            # The list only ever grows: its first ``count`` records are a consistent view.
            count = len(self._audit)
        return filter_records(
            self._audit, self._audit_at, count, tenant=tenant, actor=actor, target=target,
            start=start, end=end, after=after, limit=limit,
        )  # fmt: skip

    def changes_since(self, revision: Revision) -> list[Commit]:
        with self._lock:
            # Revisions are dense from 1, so the log index of revision r is r - 1.
            return self._log[revision:]

    def commits_after(self, revision: Revision, limit: int) -> list[Commit]:
        """The first ``limit`` commits after ``revision`` (the :class:`FeedStore
        <tenancy.store.protocol.FeedStore>` hook). Runtime complexity: O(limit)."""
        with self._lock:
            return self._log[revision : revision + limit]

    def wait_for_commit(self, revision: Revision, timeout: float) -> Revision:
        """Block until a commit past ``revision`` (woken by :meth:`commit` itself) or
        ``timeout`` seconds; the head then. StoreError once the store is closed."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                self._check_open()  # closed while waiting: StoreError, as SQLite's head()
                left = deadline - time.monotonic()
                if self._state.revision > revision or left <= 0:
                    return self._state.revision
                self._committed.wait(left)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._committed.notify_all()  # a watcher waiting on it returns

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(
                "the store is closed", value=self, rule="a closed store accepts no write"
            )


_STORES: weakref.WeakSet[MemoryStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A forked child has its own copy of every store, and of its lock, which a thread of
    the parent (one the child does not have) may have held: give each a new lock."""
    for store in list(_STORES):
        store._lock = threading.Lock()
        store._committed = threading.Condition(store._lock)


if sys.platform != "win32":  # POSIX: os.fork exists
    os.register_at_fork(after_in_child=_after_fork_in_child)
