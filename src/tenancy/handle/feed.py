"""The change feed of a handle (DOMAIN.md section 8): the store's commits after a revision,
in order, each with its revision, time, actor and typed changes, so an application can
automate on top of the store (provision a dashboard when a device appears, page on-call
when a membership ends).

Rules:

Rule 1. The feed reads the store, not the handle's index: it sees every process's commits
   as soon as they are committed, whatever the handle's staleness window.

Rule 2. ``watch`` blocks between commits without spinning: on a store whose capabilities
   say ``feed`` it calls the store's :meth:`~tenancy.store.protocol.FeedStore.wait_for_commit`
   (the memory store wakes on its own commits; SQLite wakes on the commits made through the
   same store object and looks at its head every 50 ms for other processes'; a PostgreSQL
   store can wake on NOTIFY); on any other store it looks at ``head()`` every
   :data:`POLL_INTERVAL` seconds.

Rule 3. The log is kept for the store's retention only (``Capabilities.retention``
   revisions; None keeps it all). ``after`` older than that raises InvalidValue naming
   ``after`` and saying so: the commits in between are gone, and an application that fell
   that far behind reads the current state again and follows from ``tn.revision``.

Rule 4. Who may read it: the bare handle (the application itself); and, on a handle made
   by :meth:`~tenancy.Tenancy.as_user`, a user of the management tenant who holds
   audit:READ. Everyone else (any customer tenant's user, a support session, which acts as
   a customer's user) gets PermissionDenied: the feed holds every tenant's records, so only
   someone who may read the whole store's trail reads it. Checked on every call and on
   every batch of a watch, so a revoked role ends a watch.

Rule 5. ``watch`` yields a commit only once the handle has seen it (``tn.revision`` is at
   least the commit's revision: it catches up first when another process wrote it), so the
   code reacting to a commit reads a state that holds it (``tn.get_device``, a tenant
   scope). ``changes`` is a plain read and moves the handle nowhere.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import cast

from tenancy.errors import InvalidValue, PermissionDenied, StaleRevision
from tenancy.handle.acting import acting_user
from tenancy.handle.tenants import TenantLifecycle
from tenancy.handle.writer import Writer
from tenancy.records.changes import Commit, Revision
from tenancy.records.grants import Permission
from tenancy.records.model import MAX_INT
from tenancy.rules.access import Identity, effective_global
from tenancy.store.protocol import FeedStore

__all__ = [
    "DEFAULT_FEED_LIMIT",
    "MAX_FEED_LIMIT",
    "MAX_WATCH_TIMEOUT",
    "POLL_INTERVAL",
    "ChangeFeed",
]

DEFAULT_FEED_LIMIT = 1_000
MAX_FEED_LIMIT = 10_000
"""Commits one call of :meth:`ChangeFeed.changes` returns at most (``limit`` is 1 to this)."""
MAX_WATCH_TIMEOUT = 86_400.0
"""The longest ``timeout`` of a watch, in seconds (a day): a longer wait is a loop of
watches, and a bound keeps every wait inside what the thread primitives accept."""
POLL_INTERVAL = 0.05
"""Seconds between two looks at the head of a store that cannot be waited on."""
_WATCH_BATCH = 1_000
_AUDIT_READ = Permission("audit", "READ")


def _check_after(after: object) -> Revision:
    if type(after) is not int or not 0 <= after <= MAX_INT:
        raise InvalidValue(after, "after is a revision: an int from 0 to 2**63 - 1", field="after")
    return after


def _check_limit(limit: object) -> int:
    if type(limit) is not int or not 1 <= limit <= MAX_FEED_LIMIT:
        raise InvalidValue(
            limit, f"limit is an int from 1 to {MAX_FEED_LIMIT:,} (commits)", field="limit"
        )
    return limit


def _check_timeout(timeout: object) -> float:
    if (
        not isinstance(timeout, int | float)
        or isinstance(timeout, bool)
        or not math.isfinite(timeout)
        or not 0 <= timeout <= MAX_WATCH_TIMEOUT
    ):
        raise InvalidValue(
            timeout,
            f"timeout is a number of seconds from 0 to {MAX_WATCH_TIMEOUT:g}",
            field="timeout",
        )
    return float(timeout)


class ChangeFeed:
    """The change feed of a :class:`~tenancy.Tenancy` handle, a part it holds."""

    def __init__(self, writer: Writer, identity: Identity) -> None:
        self._writer = writer
        self._identity = identity

    def changes(self, *, after: int = 0, limit: int = DEFAULT_FEED_LIMIT) -> list[Commit]:
        """The first ``limit`` commits after revision ``after``, in order (none when
        ``after`` is the head or beyond). Reads the store (every process's commits).

        Runtime complexity: O(log n + limit) on the memory and SQLite stores (decoding the
        commits read); a store without the feed hooks reads its log from ``after`` on.

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        >>> before = tn.revision
        >>> gen = tn.tenant(acme.id).create_device("Generator 7", id="gen-7")
        >>> [commit] = tn.changes(after=before)
        >>> commit.revision == tn.revision, commit.actor, commit.at is not None
        (True, 'system', True)
        >>> [type(c).__name__ for c in commit.changes]
        ['DeviceCreated', 'UsageRecorded']
        """
        after = _check_after(after)
        limit = _check_limit(limit)
        self._authorize()
        return self._read(after, limit)

    def watch(self, *, after: int | None = None, timeout: float = 5.0) -> Iterator[Commit]:
        """Every commit after ``after`` (default: this handle's revision now), in order,
        blocking for new ones; the iterator ends once ``timeout`` seconds pass without a
        commit (the time the caller spends between two commits does not count). A commit is
        given once this handle has seen it (the module's Rule 5). The arguments are
        checked, and the first commits read, here: a bad value, or an ``after`` past the
        store's retention, raises when ``watch`` is called.

        Runtime complexity: O(commits); between commits it waits without spinning (see the
        module's Rule 2).

        >>> import tenancy, threading
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        >>> feed = tn.watch(after=tn.revision, timeout=1.0)
        >>> writer = threading.Timer(0.05, tn.tenant(acme.id).create_group, ["Sites"])
        >>> writer.start()
        >>> [type(c).__name__ for commit in feed for c in commit.changes][:1]
        ['GroupCreated']
        >>> writer.join()
        """
        position = self._writer.index.revision if after is None else _check_after(after)
        wait = _check_timeout(timeout)
        self._authorize()
        # The first batch is read here, so an ``after`` past the log's retention raises now.
        return self._follow(position, wait, self._read(position, _WATCH_BATCH))

    # ------------------------------------------------------------ inside

    def _follow(self, position: Revision, timeout: float, batch: list[Commit]) -> Iterator[Commit]:
        idle_since = time.monotonic()
        if not batch:  # read when watch was called: look again now that it is iterated
            batch = self._read(position, _WATCH_BATCH)
        while True:
            if batch:
                if self._writer.index.revision < batch[-1].revision:
                    self._writer.catch_up()  # Rule 5: the reaction reads what it reacts to
                for commit in batch:
                    yield commit
                    position = commit.revision
                idle_since = time.monotonic()
            else:
                left = idle_since + timeout - time.monotonic()
                if left <= 0:
                    return
                self._wait(position, left)
            self._authorize()
            batch = self._read(position, _WATCH_BATCH)

    def _read(self, after: Revision, limit: int) -> list[Commit]:
        store = self._writer.store
        try:
            if store.capabilities.feed:
                return cast(FeedStore, store).commits_after(after, limit)
            return store.changes_since(after)[:limit]
        except StaleRevision as stale:
            kept = store.capabilities.retention
            keeps = "" if kept is None else f" (it keeps the last {kept:,} revisions)"
            raise InvalidValue(
                after,
                f"after is older than the store's change log{keeps}, whose head is "
                f"{stale.actual}: the commits since are gone; read the current state again "
                "and follow from tn.revision",
                field="after",
            ) from stale

    def _wait(self, position: Revision, timeout: float) -> None:
        store = self._writer.store
        if store.capabilities.feed:
            cast(FeedStore, store).wait_for_commit(position, timeout)
            return
        deadline = time.monotonic() + timeout
        while store.head() <= position:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, POLL_INTERVAL))

    def _authorize(self) -> None:
        """Rule 4: the application, or a management-tenant user with audit:READ."""
        user_id = self._identity.user_id
        if user_id is None:
            return
        index = self._writer.index
        user = acting_user(index, user_id)
        management = TenantLifecycle(self._writer, self._identity).management_tenant.id
        if (
            self._identity.support_user_id is None
            and user.tenant_id == management
            and _AUDIT_READ in effective_global(index, user_id, self._writer.clock())
        ):
            return
        rule = (
            "the change feed is read by the application, or by a user of the management "
            "tenant who holds audit:READ"
        )
        raise PermissionDenied(
            f"{self._identity.name} may not read the change feed: {rule}",
            value=self._identity.name,
            rule=rule,
        )
