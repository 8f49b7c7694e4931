"""The store contract.

A store keeps the current records (to load a snapshot) and the ordered change log (to catch
up). Every write is one atomic :meth:`Store.commit` of a list of changes, validated by the
caller against ``expected_revision``; a store that has moved past that revision refuses the
commit with :class:`~tenancy.errors.StaleRevision` and writes nothing (optimistic
concurrency: the caller catches up, re-validates and tries again).

The same commit appends the write's audit records (``audit=``): both land or neither. The
audit log is append-only: no commit, retention or tenant deletion removes a record from it
(the trail of a deleted tenant is the proof of what happened to it), and
:meth:`Store.audit_log` reads it back in order.

Optional features are declared in :class:`Capabilities`, never probed with ``hasattr``.
The one exception is a speed-up that changes no answer: :class:`BesideStore`, which a
store offers by having its method (``isinstance`` on the protocol), so a wrapper that
forwards the capabilities of the store it wraps, but not that method, still works.
The conformance suite in :mod:`tenancy.testing` is the executable form of this contract.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from tenancy.records.changes import Change, Commit, Revision
from tenancy.records.model import AuditRecord
from tenancy.records.snapshot import Snapshot

__all__ = [
    "Beside",
    "BesideStore",
    "Capabilities",
    "CommitsBeside",
    "FeedStore",
    "NotifyingStore",
    "Store",
]


@attrs.frozen
class Capabilities:
    """What a store offers beyond the required methods."""

    durable: bool
    """Answers survive closing and reopening the store."""
    shared: bool
    """Other processes (or machines) may write to the same store, so readers must follow
    the change log to stay fresh."""
    retention: int | None = None
    """How many revisions of change log the store keeps; None keeps them all."""
    feed: bool = False
    """The store also implements :class:`FeedStore`: a bounded read of its change log and a
    wait for the next commit, which the change feed (:meth:`Tenancy.changes
    <tenancy.Tenancy.changes>`, :meth:`~tenancy.Tenancy.watch`) uses instead of slicing
    :meth:`Store.changes_since` and polling :meth:`Store.head`."""
    notifies: bool = False
    """The store is a :class:`NotifyingStore`: a follower may block in
    ``wait_for_commit`` until another connection commits, instead of polling."""


@runtime_checkable
class Store(Protocol):
    """The required methods of every store adapter."""

    @property
    def capabilities(self) -> Capabilities: ...

    def head(self) -> Revision:
        """The latest committed revision (0 for an empty store)."""
        ...

    def snapshot(self) -> Snapshot:
        """Every current record, consistent at one revision."""
        ...

    def commit(
        self,
        changes: Sequence[Change],
        *,
        expected_revision: Revision,
        audit: Sequence[AuditRecord] = (),
    ) -> Revision:
        """Write ``changes`` atomically as revision ``expected_revision + 1`` and return it,
        appending the ``audit`` records in the same transaction.

        Raises StaleRevision, writing nothing, when the head is not ``expected_revision``.
        The store numbers the audit records (their ``seq``, one more than the last record
        appended) and keeps their ``before`` and ``after`` as JSON
        (:func:`tenancy.store._audit.plain`); every other field comes back as given.
        """
        ...

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
        """Audit records in ``seq`` order: those with a ``seq`` above ``after`` that match
        every filter given (``start <= at < end``), at most ``limit`` of them."""
        ...

    def changes_since(self, revision: Revision) -> list[Commit]:
        """Every commit after ``revision``, in order. Raises StaleRevision when the log no
        longer reaches back that far (the caller reloads a snapshot)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class FeedStore(Store, Protocol):
    """The optional hooks of the change feed, for a store whose capabilities say ``feed``.

    A store without them still serves the feed: it reads ``changes_since`` and drops what
    is past the limit, and waits by polling ``head()`` every
    :data:`tenancy.handle.feed.POLL_INTERVAL` seconds. A store that can be woken (PostgreSQL
    on NOTIFY, the memory store on its own commits) implements ``wait_for_commit`` with it.

    The commits a store gives back carry :attr:`Commit.at <tenancy.Commit.at>` and
    ``actor`` when it keeps them: those of the audit records committed with them (one write
    shares one time and actor; the time as the audit log stores it). The memory and SQLite
    stores do, whether or not they declare ``feed``; a store that does not gives None.
    """

    def commits_after(self, revision: Revision, limit: int) -> list[Commit]:
        """The first ``limit`` commits after ``revision``, in order (``changes_since``
        stopped early); StaleRevision as ``changes_since`` when the log no longer reaches
        back that far."""
        ...

    def wait_for_commit(self, revision: Revision, timeout: float) -> Revision:
        """Block until the store's head is past ``revision``, or ``timeout`` seconds have
        passed, and return the head. It may return early (a spurious wake-up); the caller
        looks at the log again either way."""


class Beside:
    """Work to run in a thread of its own while a store finishes a commit: the index a large
    commit leaves, built while SQLite writes (:meth:`BesideStore.commit_beside`).

    The store calls :meth:`start` once its commit has only steps left that run outside the
    interpreter (SQLite's and PostgreSQL's own work, during which they release the
    interpreter lock), and :meth:`join` before it returns or raises. A store that never
    starts it leaves the work to the caller, who then does it itself.
    """

    def __init__(self, work: Callable[[], Any]) -> None:
        self._work = work
        self._thread: threading.Thread | None = None
        self.result: Any = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        """The work ran to its end without an error (its value is :attr:`result`)."""
        return self._thread is not None and not self._thread.is_alive() and self.error is None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tenancy-beside", daemon=True)
            self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            self.result = self._work()
        except BaseException as exc:  # the caller sees it (and redoes the work itself)
            self.error = exc


@runtime_checkable
class BesideStore(Store, Protocol):
    """A store that can run work beside the end of a commit (see :class:`Beside`)."""

    def commit_beside(
        self,
        changes: Sequence[Change],
        *,
        expected_revision: Revision,
        audit: Sequence[AuditRecord] = (),
        beside: Beside,
    ) -> Revision:
        """:meth:`Store.commit`, with ``beside`` started once the commit's remaining steps
        leave the interpreter free, and joined before it returns or raises (whether the
        commit succeeded does not depend on it)."""
        ...


class CommitsBeside:
    """``commit`` and ``commit_beside`` of a store, both over its one ``_commit``, which
    starts ``beside`` (when not None) where its own steps are all that is left."""

    def commit(
        self,
        changes: Sequence[Change],
        *,
        expected_revision: Revision,
        audit: Sequence[AuditRecord] = (),
    ) -> Revision:
        return self._commit(changes, expected_revision, audit, None)

    def commit_beside(
        self,
        changes: Sequence[Change],
        *,
        expected_revision: Revision,
        audit: Sequence[AuditRecord] = (),
        beside: Beside,
    ) -> Revision:
        try:
            return self._commit(changes, expected_revision, audit, beside)
        finally:
            beside.join()

    def _commit(
        self,
        changes: Sequence[Change],
        expected_revision: Revision,
        audit: Sequence[AuditRecord],
        beside: Beside | None,
    ) -> Revision:
        raise NotImplementedError


class NotifyingStore(Store, Protocol):
    """A store whose commits wake the other connections' followers (``notifies``)."""

    def wait_for_commit(self, revision: Revision, timeout: float) -> Revision:
        """Block until a commit past ``revision`` is announced, or ``timeout`` seconds pass
        or :meth:`wake` is called, and return the latest revision known to be committed. It
        may return early (announcements may have been missed): the caller reads the log
        either way."""
        ...

    def wake(self) -> None:
        """End a ``wait_for_commit`` in progress on another thread at once."""
        ...
