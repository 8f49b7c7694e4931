"""The writer every handle on one store shares: validate a command against the index, commit
it through the store, apply the same changes to the index.

A :class:`Writer` holds the store, the index, the writer lock, the clock, the limits, the
usage recorder, the follower and the rebuild flag; a :class:`~tenancy.Tenancy` handle and
its tenant scopes hold a writer and an identity (who acts), and every write of theirs goes
through :meth:`Writer.write`: under the writer lock it catches up with the store, lets the
command validate itself against the index and produce its changes (raising, with nothing
written, when the input breaks a rule), commits them with the revision it validated against,
and applies them to the local index. If another writer got there first the store answers
StaleRevision and the command is validated again on the newer state, so two writers can
never combine into a cycle; a write keeps retrying, with jittered exponential pauses, until
``write_timeout`` seconds have passed. A process always reads its own writes.

A commit with more changes than the index holds records (an import) is not applied change
by change: a new index is built in bulk from the records it leaves (:mod:`tenancy.index.bulk`),
by the writing handle and by every handle that catches up with it. The writing handle builds
it while the store finishes the commit, when the store can run work beside its last steps
(:class:`~tenancy.store.protocol.BesideStore`: SQLite and PostgreSQL).

The index is a view of the store: if applying a commit to it fails (a bug, or a record the
store took and the index cannot hold), the writer logs it once and rebuilds its index from a
fresh snapshot instead of going on with a half-applied one.

Freshness (DESIGN.md, Consistency): a handle on a store that other processes write
(``capabilities.shared``) runs a daemon *follower* thread that applies the change log every
``staleness`` seconds, so an answer is never older than that window while the query path
does no I/O and no check at all. On a store that announces commits
(``capabilities.notifies``: PostgreSQL's NOTIFY) the follower instead blocks until one is
announced and applies it at once, and still catches up every ``staleness`` seconds when
none is (an announcement lost with a connection is then made up for from the log).
``at_least=revision`` and ``fresh=True`` catch up first, on the caller's thread. A handle
that fell behind the store's log retention reloads a snapshot.

Fork (``gunicorn --preload``, ``multiprocessing`` with ``fork``): a handle opened before
``os.fork()`` keeps working in the child. Before the fork, :func:`os.register_at_fork`
hooks take every open writer's lock (waiting at most ``FORK_WAIT`` seconds for a write
in progress), so the child's copy of the index is never half-written; in the child they give
each writer a new lock, its own follower thread, no inherited usage counters (the parent
flushes those), and the store reopens its own connection on first use (SQLiteStore).
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import random
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from tenancy.errors import InvalidValue, StaleRevision, StoreError, TenancyError
from tenancy.handle.recorder import UsageRecorder
from tenancy.index.bulk import is_large, rebuilt
from tenancy.index.index import Index
from tenancy.records.changes import Change, Commit, Revision
from tenancy.records.model import AuditRecord, SafetyLimits, check_duration
from tenancy.rules.access import SYSTEM as SYSTEM_IDENTITY
from tenancy.rules.access import Identity, authorize
from tenancy.rules.audit import audit_records
from tenancy.rules.limits import DEFAULT_LIMITS
from tenancy.rules.recipes import check_deletions
from tenancy.store.protocol import Beside, BesideStore, NotifyingStore, Store

__all__ = [
    "BACKOFF_CAP",
    "BACKOFF_FIRST",
    "DEFAULT_STALENESS",
    "DEFAULT_SUPPORT_DURATION",
    "DEFAULT_WRITE_TIMEOUT",
    "FORK_WAIT",
    "Clock",
    "Follower",
    "Writer",
    "backoff",
    "utc_now",
]

DEFAULT_WRITE_TIMEOUT = 10.0
"""Seconds a write keeps retrying after losing races to other writers, by default."""
BACKOFF_FIRST = 0.001
BACKOFF_CAP = 0.05
"""A lost race waits a random time up to BACKOFF_FIRST * 2**(losses - 1), at most
BACKOFF_CAP seconds (full jitter), before validating again."""
FORK_WAIT = 10.0
"""Seconds os.fork() waits for a write in progress on a writer before forking anyway (the
child then rebuilds that writer's index from the store)."""
DEFAULT_SUPPORT_DURATION = timedelta(hours=24)
DEFAULT_STALENESS = 1.0
"""Seconds an answer may lag behind other processes' writes, by default."""
_log = logging.getLogger("tenancy")
R = TypeVar("R")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Writer:
    """The store, the index and everything that writes them, shared by every handle on them.

    ``views`` is one list, ``[reach, cover, index, access]``, that every handle on this writer
    holds (the same list object): the index's two mappings of :meth:`Index.reach_tables
    <tenancy.index.tables.IndexTables.reach_tables>`, the index, and its access state.
    verify and check read it with one attribute load, and replacing the index rewrites the
    list in place (one slice assignment, so a reader unpacks all old or all new entries).
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = utc_now,
        staleness: float | None = DEFAULT_STALENESS,
        limits: SafetyLimits | None = None,
        usage_flush_interval: float | None = 300.0,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
        support_duration: timedelta = DEFAULT_SUPPORT_DURATION,
    ) -> None:
        self.support_duration = check_duration("support_duration", support_duration)
        if limits is not None and not isinstance(limits, SafetyLimits):
            raise InvalidValue(limits, "limits is a tenancy.SafetyLimits, or None")
        self.limits = DEFAULT_LIMITS if limits is None else limits
        self.usage = UsageRecorder(clock, usage_flush_interval)
        if staleness is not None and (
            not isinstance(staleness, int | float) or isinstance(staleness, bool) or staleness <= 0
        ):
            raise InvalidValue(staleness, "staleness is a positive number of seconds, or None")
        if (
            not isinstance(write_timeout, int | float)
            or isinstance(write_timeout, bool)
            or not 0 < write_timeout < float("inf")
        ):
            raise InvalidValue(
                write_timeout, "write_timeout is a positive number of seconds",
                field="write_timeout",
            )  # fmt: skip
        self.write_timeout = float(write_timeout)
        self.store = store
        self.clock = clock
        self.lock = threading.RLock()
        self.closed = False
        self.rebuild_needed = False  # the index may be half-applied: rebuild before use
        self.views: list[Any] = []
        self.index = _build(store)
        self.follower: Follower | None = None
        self._staleness = None if staleness is None else float(staleness)
        self.label = f"{id(self):x}"

    def follow(self, label: str) -> None:
        """Start the follower, on a store other processes write to (once the handle is
        initialised), and register for the fork hooks. ``label`` ends the follower thread's
        name (the id of the handle that owns this writer)."""
        self.label = label
        if self._staleness is not None and self.store.capabilities.shared:
            self.follower = Follower(self, self._staleness)
        _WRITERS.add(self)

    @property
    def index(self) -> Index:
        return self._index

    @index.setter
    def index(self, index: Index) -> None:
        self._index = index
        self.views[:] = (*index.reach_tables(), index, index.access)

    def close(self) -> None:
        """Stop following and flushing, flush what is pending, close the store. Twice: nothing."""
        if self.closed:
            return
        self.closed = True
        _WRITERS.discard(self)
        if self.follower is not None:
            self.follower.stop()
        self.usage.stop()
        with self.lock:
            try:
                self.flush_usage()  # a clean close loses no counted request
            finally:
                self.store.close()

    def flush_usage(self) -> Revision:
        """Write the pending request counters now (one commit, none if nothing is
        pending). Returns the revision afterwards."""
        with self.lock:
            if self.usage.has_pending:
                self.usage.flush_requested = True
                try:
                    self.write(lambda: ([], None))
                finally:
                    self.usage.flush_requested = False
            return self.index.revision

    # ------------------------------------------------------------ consistency

    def sync(self, at_least: int | None, fresh: bool) -> None:
        if fresh is False and at_least is None:
            return  # the default: as fresh as the staleness window
        if fresh is not True and fresh is not False:
            raise InvalidValue(fresh, "fresh is True or False", field="fresh")
        if at_least is not None and type(at_least) is not int:
            raise InvalidValue(at_least, "at_least is a revision (an int), or None",
                               field="at_least")  # fmt: skip
        if fresh or (at_least is not None and at_least > self.index.revision):
            self.catch_up()
            if at_least is not None and at_least > self.index.revision:
                raise InvalidValue(
                    at_least,
                    f"at_least names a revision the store has not reached "
                    f"(its head is {self.index.revision})",
                    field="at_least",
                )

    def retime(self) -> None:
        """Bring the index's time-bounded memberships to the clock's now, if the clock left
        the interval they were decided for (DOMAIN.md section 9). Every query that reads
        more than verify's table calls it first. O(1) while no membership has a window (no
        clock read) or the clock stays inside the interval; see
        :meth:`Index.retime <tenancy.index.index.Index.retime>` otherwise."""
        index = self._index
        if index.timed and index.retime_due(self.clock()):
            with self.lock:
                # The clock is read again under the lock: a thread that read it earlier and
                # waited must not move the view back behind one that moved it forward.
                self._index.retime(self.clock())

    def timed_verify(self, user_id: str, device_id: str) -> bool:
        """verify's answer for an id its clock-free table misses: a user with a
        time-bounded membership (retimed first), or an unknown id (False, without a clock
        read). O(1) in practice."""
        try:
            if not self._index.has_window(user_id):
                return False
        except TypeError:  # an unhashable id
            return False
        self.retime()
        return self._index.timed_verify(user_id, device_id)

    def catch_up(self) -> Revision:
        """Apply every commit other handles wrote since this one last looked."""
        with self.lock:
            if self.rebuild_needed:
                self.rebuild()
                return self.index.revision
            try:
                commits = self.store.changes_since(self.index.revision)
            except StaleRevision:
                # Fell behind the log's retention: reload. Readers keep the old index until
                # the new one replaces it in one assignment.
                self.index = _build(self.store)
                return self.index.revision
            for commit in commits:
                if not self.apply(commit):
                    break  # rebuilt from a snapshot that holds this commit and any later
            return self.index.revision

    def apply(self, commit: Commit) -> bool:
        """Apply one commit to the index; True if it applied, False if the index had to be
        rebuilt from the store instead (the failure is logged, once, here)."""
        try:
            if is_large(self.index, commit):  # an import: a new index, built in bulk
                with _gc_paused():
                    self.index = rebuilt(self.index, commit)
                _release_free_heap()
            else:
                self.index.apply_commit(commit)
        except Exception:
            # The index may be half-applied: never answer from it again. The store holds
            # the truth, so a fresh snapshot gives a whole index at (at least) this commit.
            self.rebuild_needed = True
            _log.exception(
                "tenancy: applying revision %d to the index failed; rebuilding the index "
                "from the store",
                commit.revision,
            )
            self.rebuild()
            return False
        except BaseException:
            self.rebuild_needed = True  # interrupted half-way: rebuild on the next use
            raise
        return True

    def rebuild(self) -> None:
        """Replace the index with one built from a fresh snapshot of the store."""
        try:
            index = _build(self.store)
        except TenancyError:
            raise  # e.g. StoreError: the file cannot be read; retried on the next use
        except Exception as exc:
            raise StoreError(
                f"the index could not be rebuilt from {self.store!r}: {exc!r}",
                value=self.store,
                rule="a handle answers only from an index built whole from its store",
            ) from exc
        self.index = index
        self.rebuild_needed = False

    def write(
        self,
        make: Callable[[], tuple[list[Change], R]],
        identity: Identity = SYSTEM_IDENTITY,
        *,
        carried_audit: Sequence[AuditRecord] = (),
    ) -> R:
        """Validate, commit, apply: the one path every write takes.

        ``carried_audit``: audit records brought from elsewhere (an imported document's
        audit log), appended before the write's own records, in the same commit.

        A commit refused as stale (another writer got there first) is validated again on
        the newer state after a random pause that doubles with each loss (full jitter, at
        most BACKOFF_CAP), until ``write_timeout`` seconds after the write began; then
        StaleRevision says so. Nothing is written by a refused attempt.
        """
        with self.lock:
            deadline = time.monotonic() + self.write_timeout
            losses = 0
            while True:
                self.catch_up()
                self.retime()  # rules read memberships as they count now
                changes, result = make()
                check_deletions(self.index, changes)  # nothing a recipe names goes
                authorize(self.index, identity, changes, self.clock())
                changes = self.usage.stamp(changes, self.index)  # usage counts ride along
                if not changes:
                    return result
                expected = self.index.revision
                # Audited in the commit itself: the write and its records land together.
                audit = audit_records(
                    self.index, changes, actor=identity.name, at=self.clock(),
                    revision=expected + 1,
                )  # fmt: skip
                if carried_audit:
                    audit = [*carried_audit, *audit]
                commit = Commit(revision=expected + 1, changes=tuple(changes))
                beside = self._beside(commit)
                try:
                    revision = self.commit(changes, expected, audit, beside)
                except StaleRevision as stale:
                    losses += 1
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise StaleRevision(
                            expected, stale.actual,
                            rule=f"a write retries lost races for at most write_timeout="
                            f"{self.write_timeout:g} s (it lost {losses} in a row)",
                        ) from stale  # fmt: skip
                    # Lost a race: a random pause makes it unlikely to lose the next one to
                    # the same writer. Then catch up and validate again on its state.
                    time.sleep(min(backoff(losses), left))
                    continue
                self.usage.committed()  # durable now, whatever the index makes of it
                del audit  # one record per change: an import's index is built without them
                if beside is not None and beside.done and beside.result.revision == revision:
                    self.adopt(beside.result)
                else:  # not started (a store without commit_beside), or it failed: build now
                    self.apply(Commit(revision=revision, changes=commit.changes))
                self.usage.applied(self.index, self)  # shares touched: count them again
                return result

    def commit(
        self,
        changes: list[Change],
        expected: Revision,
        audit: list[AuditRecord],
        beside: Beside | None = None,
    ) -> Revision:
        """Commit validated ``changes`` with their ``audit`` records through the store at
        revision ``expected``; returns the new revision (StaleRevision if another writer got
        there first). ``beside``: work the store may run while it finishes (a store that is
        not a BesideStore never starts it). The one step of :meth:`write` that reaches the
        store: a what-if's writer (:mod:`tenancy.handle.what_if`) replaces it."""
        if beside is not None and isinstance(self.store, BesideStore):
            return self.store.commit_beside(
                changes, expected_revision=expected, audit=audit, beside=beside
            )
        return self.store.commit(changes, expected_revision=expected, audit=audit)

    def _beside(self, commit: Commit) -> Beside | None:
        """For a commit the index takes in by building itself anew (an import): that build,
        to run while the store finishes the commit (SQLite's and PostgreSQL's last steps
        release the interpreter lock), on the index as it is now, which nothing changes
        until the commit is over (the writer lock is held). None for any other commit."""
        if not is_large(self.index, commit):
            return None
        index = self.index

        def build() -> Index:
            with _gc_paused():
                return rebuilt(index, commit)

        return Beside(build)

    def adopt(self, index: Index) -> None:
        """Take ``index``, built beside the commit it is at (:meth:`_beside`), as the index:
        what :meth:`apply` would have built from that commit."""
        self.index = index
        _release_free_heap()

    # ------------------------------------------------------------ fork

    def after_fork_in_child(self, whole: bool) -> None:
        """In a forked child (one thread, a copy of the parent's memory): the parent's
        threads are gone, so their locks and the follower are replaced. ``whole``: the fork
        hook held the writer lock, so no write was half-way through this index."""
        self.lock = threading.RLock()
        self.usage.after_fork()
        if not whole:
            self.rebuild_needed = True
        if self.follower is not None:
            self.follower = Follower(self, self.follower.window)


def backoff(losses: int) -> float:
    """Seconds to pause after the ``losses``-th lost race in a row: uniform in
    [0, BACKOFF_FIRST * 2**(losses - 1)], capped at BACKOFF_CAP (exponential, full jitter)."""
    ceiling = BACKOFF_CAP if losses > 6 else min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (losses - 1))
    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not security


# ---------------------------------------------------------------- fork

_WRITERS: weakref.WeakSet[Writer] = weakref.WeakSet()
"""Every open writer of this process (one per handle tenancy.open made; acting handles share it)."""
_HELD: list[Writer] = []
"""The writers whose writer lock the before-fork hook took, until after the fork."""


def _before_fork() -> None:
    """Take every open writer's lock, so no write is half-way through an index when
    the child's copy of it is made; a write that takes longer than FORK_WAIT is let be."""
    for tn in list(_WRITERS):
        if tn.closed:
            continue
        if tn.lock.acquire(timeout=FORK_WAIT):
            _HELD.append(tn)
        else:
            _log.warning(
                "tenancy: forking while a write holds %r for more than %s s; the child "
                "rebuilds that handle's index from its store",
                tn,
                FORK_WAIT,
            )


def _after_fork_in_parent() -> None:
    held = list(_HELD)
    _HELD.clear()
    for tn in held:
        tn.lock.release()


def _after_fork_in_child() -> None:
    held = {id(tn) for tn in _HELD}
    _HELD.clear()
    for tn in list(_WRITERS):
        if not tn.closed:
            tn.after_fork_in_child(whole=id(tn) in held)


if sys.platform != "win32":  # POSIX: os.fork exists
    from os import register_at_fork

    register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


def _build(store: Store) -> Index:
    """Load a snapshot into a new index, without the cyclic collector rescanning the
    millions of small objects it creates (none of them garbage): see :func:`_gc_paused`."""
    with _gc_paused():
        index = Index.build(store.snapshot())
    _release_free_heap()
    return index


def _release_free_heap() -> None:
    """Return the C heap's free memory to the system after a bulk load.

    Building the index copies large lists (hundreds of megabytes at a million devices)
    and frees the originals; glibc keeps freed memory for the process unless asked to trim
    it, so without this the open would keep about 50 bytes per device it no longer uses.
    ``malloc_trim`` only gives back pages nothing uses; it changes no object. Elsewhere than
    glibc (macOS, musl) there is no such call and nothing is done.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic collector, then hand what was made to its oldest generation.

    Leaving the new objects in the youngest generation would make the next two collections
    (young, then middle) each walk the millions the build made, about a second each at a
    million devices, for no garbage. ``gc.freeze()`` then ``gc.unfreeze()`` moves every
    tracked object into the oldest generation without walking any: they stay collectable,
    and only a full collection, which Python runs rarely, looks at them again. Where the
    application has frozen objects of its own (``gc.freeze()`` before forking workers),
    nothing is moved: unfreezing would thaw them too.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if enabled:
            gc.enable()


class Follower:
    """A daemon thread that catches a writer up with its store every ``window`` seconds,
    or as soon as the store announces a commit (``capabilities.notifies``).

    It holds the writer only weakly, so a handle (and its writer) dropped without close()
    is still collected (and the thread then ends). Catching up takes the handle's writer lock; a
    round that finds a write in progress skips, since that write catches up itself (after an
    announcement, it tries again shortly: the write may have caught up just before it).
    """

    def __init__(self, tn: Writer, window: float) -> None:
        self.window = window
        self._stop = threading.Event()
        store = tn.store
        self._waiter = cast(NotifyingStore, store) if store.capabilities.notifies else None
        self._thread = threading.Thread(
            target=_follow,
            args=(weakref.ref(tn), window, self._stop, self._waiter),
            name=f"tenancy-follower-{tn.label}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._waiter is not None:
            self._waiter.wake()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=max(5.0, self.window))


_SOON = 0.005
"""Seconds a follower that was woken during a write waits before trying again."""


def _follow(
    ref: weakref.ref[Writer],
    window: float,
    stop: threading.Event,
    waiter: NotifyingStore | None,
) -> None:
    failures = 0
    skipped = False
    while True:
        if waiter is None:
            if stop.wait(window):
                return
        elif skipped:
            # A write held the lock: it may have caught up just before the commit that
            # woke us. Look again shortly (a sleep: waiting on the store would return at
            # once for that commit, and spin against the write for the interpreter).
            if stop.wait(_SOON):
                return
        else:
            tn = ref()
            if tn is None:
                return
            after = tn.index.revision
            del tn
            waiter.wait_for_commit(after, window)
            if stop.is_set():
                return
        tn = ref()
        if tn is None:
            return
        try:
            skipped = not tn.lock.acquire(blocking=False)
            if not skipped:
                try:
                    if not stop.is_set():
                        tn.catch_up()
                finally:
                    tn.lock.release()
            failures = 0
        except Exception:
            # Keep following: a busy or briefly unreadable file is retried next round.
            failures += 1
            if failures in (1, 10) or failures % 100 == 0:
                _log.exception("follower could not catch up (%d failures in a row)", failures)
            if waiter is not None and stop.wait(min(window, 0.5)):
                return  # the store is away: no busy loop while it is
        finally:
            del tn
