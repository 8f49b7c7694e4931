"""The facade: validate a command against the index, commit it through the store, apply the
same changes to the index.

Every write goes through :meth:`Tenancy._write`: under the writer lock it catches up with
the store, lets the command validate itself against the index and produce its changes
(raising, with nothing written, when the input breaks a rule), commits them with the
revision it validated against, and applies them to the local index. If another writer got
there first the store answers StaleRevision and the command is validated again on the newer
state, so two writers can never combine into a cycle; a write keeps retrying, with jittered
exponential pauses, until ``write_timeout`` seconds have passed. A process always reads its
own writes.

The index is a view of the store: if applying a commit to it fails (a bug, or a record the
store took and the index cannot hold), the handle logs it once and rebuilds its index from a
fresh snapshot instead of going on with a half-applied one.

Freshness (DESIGN.md, Consistency): a handle on a store that other processes write
(``capabilities.shared``) runs a daemon *follower* thread that applies the change log every
``staleness`` seconds, so an answer is never older than that window while the query path
does no I/O and no check at all. ``at_least=revision`` and ``fresh=True`` catch up first,
on the caller's thread. A handle that fell behind the store's log retention reloads a
snapshot.

Fork (``gunicorn --preload``, ``multiprocessing`` with ``fork``): a handle opened before
``os.fork()`` keeps working in the child. Before the fork, :func:`os.register_at_fork`
hooks take every open handle's writer lock (waiting at most ``FORK_WAIT`` seconds for a write
in progress), so the child's copy of the index is never half-written; in the child they give
each handle new locks, its own follower thread, no inherited usage counters (the parent
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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TypeVar

from tenancy import ids as _ids
from tenancy.errors import (
    InvalidValue,
    NotFound,
    PermissionDenied,
    StaleRevision,
    StoreError,
    TenancyError,
)
from tenancy.handle.access import AccessQueries
from tenancy.handle.audit import AuditLog
from tenancy.handle.scope import TenantScope
from tenancy.handle.tenants import MANAGEMENT_DOMAIN, TenantLifecycle
from tenancy.handle.usage import UsageRecorder, UsageReports
from tenancy.index.index import Index
from tenancy.records.changes import (
    AccessSet,
    Change,
    Commit,
    Revision,
    SupportSessionStarted,
    TenantCreated,
    UserCreated,
)
from tenancy.records.grants import ADMIN_ROLE, Permission, RoleGrant
from tenancy.records.model import SafetyLimits, Tenant, User, check_duration
from tenancy.rules.access import SYSTEM as SYSTEM_IDENTITY
from tenancy.rules.access import Identity, authorize, effective_global, support_open
from tenancy.rules.audit import SYSTEM, audit_records
from tenancy.rules.limits import DEFAULT_LIMITS
from tenancy.store.protocol import Store

__all__ = ["Tenancy"]

DEFAULT_WRITE_TIMEOUT = 10.0
"""Seconds a write keeps retrying after losing races to other writers, by default."""
BACKOFF_FIRST = 0.001
BACKOFF_CAP = 0.05
"""A lost race waits a random time up to BACKOFF_FIRST * 2**(losses - 1), at most
BACKOFF_CAP seconds (full jitter), before validating again."""
FORK_WAIT = 10.0
"""Seconds os.fork() waits for a write in progress on a handle before forking anyway (the
child then rebuilds that handle's index from the store)."""
DEFAULT_SUPPORT_DURATION = timedelta(hours=24)
DEFAULT_STALENESS = 1.0
"""Seconds an answer may lag behind other processes' writes, by default."""
_log = logging.getLogger("tenancy")
R = TypeVar("R")
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Tenancy(AccessQueries, TenantLifecycle, UsageReports, AuditLog):
    """A handle on one store: the queries, tenant lifecycle, and :meth:`tenant` scopes.

    Open it with :func:`tenancy.open`. The bare handle is the trusted application.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = _utc_now,
        staleness: float | None = DEFAULT_STALENESS,
        limits: SafetyLimits | None = None,
        usage_flush_interval: float | None = 300.0,
        support_duration: timedelta = DEFAULT_SUPPORT_DURATION,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
    ) -> None:
        """Load the store's records into the index, then follow its change log.

        ``staleness``: for a store other processes write to, the window in seconds within
        which their writes show up here without asking (a follower thread catches up that
        often); None turns the follower off, leaving ``fresh=True``, ``at_least=`` and
        :meth:`catch_up`. Writes of this handle are visible to it at once, always.

        ``limits``: the store-wide :class:`~tenancy.SafetyLimits` this handle enforces.
        ``usage_flush_interval``: seconds between background flushes of the requests counted
        by ``record_request`` (None: flush only with writes, ``flush_usage()`` and close).
        ``support_duration``: how long a tenant's support request lasts (24 hours).
        ``write_timeout``: seconds a write keeps retrying while other writers commit first
        (10 by default); past it the write raises StaleRevision, having written nothing.
        """
        self.support_duration = check_duration("support_duration", support_duration)
        self._identity: Identity = SYSTEM_IDENTITY
        if limits is not None and not isinstance(limits, SafetyLimits):
            raise InvalidValue(limits, "limits is a tenancy.SafetyLimits, or None")
        self._limits = DEFAULT_LIMITS if limits is None else limits
        self._usage = UsageRecorder(clock, usage_flush_interval)
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
        self._write_timeout = float(write_timeout)
        self._store = store
        self._clock = clock
        self._audit_actor = SYSTEM  # who this handle's writes are audited as
        self._write_lock = threading.RLock()
        self._closed = False
        self._rebuild_needed = False  # the index may be half-applied: rebuild before use
        self._index = _build(store)
        if self._index.revision == 0:
            self._initialise()
        self._follower: _Follower | None = None
        if staleness is not None and store.capabilities.shared:
            self._follower = _Follower(self, float(staleness))
        _HANDLES.add(self)

    # ------------------------------------------------------------ lifecycle

    def _initialise(self) -> None:
        """Create the management tenant, the root of the tenant tree, in revision 1."""

        def make() -> tuple[list[Change], None]:
            if self._index.tenants:
                return [], None  # another process initialised the store first
            tenant_id = _ids.new_tenant_id()
            admin = User(
                id=_ids.new_user_id(), tenant_id=tenant_id, email="admin@management.invalid",
                username="admin",
            )  # fmt: skip
            tenant = Tenant(
                id=tenant_id, domain=MANAGEMENT_DOMAIN, name="Management", parent_id=None,
                allow_subtenants=True, created_at=self._clock(), admin_email=admin.email,
                admin_username=admin.username, admin_user_id=admin.id,
            )  # fmt: skip
            admin_role = RoleGrant(tenant_id=tenant.id, user_id=admin.id, role=ADMIN_ROLE)
            return [
                TenantCreated(tenant=tenant),
                UserCreated(user=admin),
                AccessSet(record=admin_role),  # the first admin holds the admin role
            ], None

        self._write(make)

    @property
    def revision(self) -> Revision:
        """The last revision this handle has seen (after a write: that write's revision)."""
        return self._index.revision

    @property
    def store(self) -> Store:
        return self._store

    @property
    def index(self) -> Index:
        """The closure index (read-only use: tests and tools)."""
        return self._index

    @property
    def staleness(self) -> float | None:
        """The follower's window in seconds; None when this handle does not follow."""
        return None if self._follower is None else self._follower.window

    def close(self) -> None:
        """Stop following the store and close it. Closing twice does nothing."""
        if self._closed:
            return
        self._closed = True
        _HANDLES.discard(self)
        if self._follower is not None:
            self._follower.stop()
        self._usage.stop()
        with self._write_lock:
            try:
                self.flush_usage()  # a clean close loses no counted request
            finally:
                self._store.close()

    def __enter__(self) -> Tenancy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------ consistency

    def _sync(self, at_least: int | None, fresh: bool) -> None:
        if fresh is False and at_least is None:
            return  # the default: as fresh as the staleness window
        if fresh is not True and fresh is not False:
            raise InvalidValue(fresh, "fresh is True or False", field="fresh")
        if at_least is not None and type(at_least) is not int:
            raise InvalidValue(at_least, "at_least is a revision (an int), or None",
                               field="at_least")  # fmt: skip
        if fresh or (at_least is not None and at_least > self._index.revision):
            self.catch_up()
            if at_least is not None and at_least > self._index.revision:
                raise InvalidValue(
                    at_least,
                    f"at_least names a revision the store has not reached "
                    f"(its head is {self._index.revision})",
                    field="at_least",
                )

    def _writer_lock(self) -> AbstractContextManager[object]:
        return self._write_lock

    def catch_up(self) -> Revision:
        """Apply every commit other handles wrote since this one last looked."""
        with self._write_lock:
            if self._rebuild_needed:
                self._rebuild()
                return self._index.revision
            try:
                commits = self._store.changes_since(self._index.revision)
            except StaleRevision:
                # Fell behind the log's retention: reload. Readers keep the old index until
                # the new one replaces it in one assignment.
                self._index = _build(self._store)
                return self._index.revision
            for commit in commits:
                if not self._apply(commit):
                    break  # rebuilt from a snapshot that holds this commit and any later
            return self._index.revision

    def _apply(self, commit: Commit) -> bool:
        """Apply one commit to the index; True if it applied, False if the index had to be
        rebuilt from the store instead (the failure is logged, once, here)."""
        try:
            self._index.apply_commit(commit)
        except Exception:
            # The index may be half-applied: never answer from it again. The store holds
            # the truth, so a fresh snapshot gives a whole index at (at least) this commit.
            self._rebuild_needed = True
            _log.exception(
                "tenancy: applying revision %d to the index failed; rebuilding the index "
                "from the store",
                commit.revision,
            )
            self._rebuild()
            return False
        except BaseException:
            self._rebuild_needed = True  # interrupted half-way: rebuild on the next use
            raise
        return True

    def _rebuild(self) -> None:
        """Replace the index with one built from a fresh snapshot of the store."""
        try:
            index = _build(self._store)
        except TenancyError:
            raise  # e.g. StoreError: the file cannot be read; retried on the next use
        except Exception as exc:
            raise StoreError(
                f"the index could not be rebuilt from {self._store!r}: {exc!r}",
                value=self._store,
                rule="a handle answers only from an index built whole from its store",
            ) from exc
        self._index = index
        self._rebuild_needed = False

    def _write(self, make: Callable[[], tuple[list[Change], R]]) -> R:
        """Validate, commit, apply: the one path every write takes.

        A commit refused as stale (another writer got there first) is validated again on
        the newer state after a random pause that doubles with each loss (full jitter, at
        most BACKOFF_CAP), until ``write_timeout`` seconds after the write began; then
        StaleRevision says so. Nothing is written by a refused attempt.
        """
        with self._write_lock:
            deadline = time.monotonic() + self._write_timeout
            losses = 0
            while True:
                self.catch_up()
                changes, result = make()
                authorize(self._index, self._identity, changes, self._clock())
                changes = self._usage.stamp(changes, self._index)  # usage counts ride along
                if not changes:
                    return result
                expected = self._index.revision
                # Audited in the commit itself: the write and its records land together.
                audit = audit_records(
                    self._index, changes, actor=self._audit_actor, at=self._clock(),
                    revision=expected + 1,
                )  # fmt: skip
                try:
                    revision = self._store.commit(changes, expected_revision=expected, audit=audit)
                except StaleRevision as stale:
                    losses += 1
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise StaleRevision(
                            expected, stale.actual,
                            rule=f"a write retries lost races for at most write_timeout="
                            f"{self._write_timeout:g} s (it lost {losses} in a row)",
                        ) from stale  # fmt: skip
                    # Lost a race: a random pause makes it unlikely to lose the next one to
                    # the same writer. Then catch up and validate again on its state.
                    time.sleep(min(backoff(losses), left))
                    continue
                self._usage.committed()  # durable now, whatever the index makes of it
                self._apply(Commit(revision=revision, changes=tuple(changes)))
                return result

    # ------------------------------------------------------------ fork

    def _after_fork_in_child(self, whole: bool) -> None:
        """In a forked child (one thread, a copy of the parent's memory): the parent's
        threads are gone, so their locks and the follower are replaced. ``whole``: the fork
        hook held the writer lock, so no write was half-way through this index."""
        self._write_lock = threading.RLock()
        self._usage.after_fork()
        if not whole:
            self._rebuild_needed = True
        if self._follower is not None:
            self._follower = _Follower(self, self._follower.window)

    # ------------------------------------------------------------ tenants

    def tenant(self, tenant_id: str) -> TenantScope:
        """Everything inside one tenant: groups, devices, users, memberships."""
        self.get_tenant(tenant_id)
        return TenantScope(self, tenant_id)

    # ------------------------------------------------------------ acting identities

    @property
    def identity(self) -> Identity:
        """Who this handle's writes are authorised and audited as (the application itself
        for the handle :func:`tenancy.open` returns)."""
        return self._identity

    def _acting_tenant(self) -> str | None:
        user_id = self._identity.user_id
        return None if user_id is None else self._acting_user(user_id).tenant_id

    def _acting_user(self, user_id: str) -> User:
        """The user this handle acts as; PermissionDenied once it is gone or cannot act."""
        if user_id not in self._index.users:
            rule = "the acting user no longer exists"
            raise PermissionDenied(f"{user_id} may not act: {rule}", value=user_id, rule=rule)
        return self._actor_user(user_id, "user")

    def _actor_user(self, user_id: str, role: str, field: str = "user_id") -> User:
        try:
            user = self._index.users.get(user_id)
        except TypeError:  # a list or a dict where the id goes
            user = None
        if user is None:
            raise NotFound(role, user_id, field=field)
        if not user.enabled or user.tenant_id in self._index.blocked:
            rule = "a disabled user, or a user of a suspended tenant, cannot act"
            raise PermissionDenied(
                f"{role} {user_id!r} cannot act: {rule}", value=user_id, rule=rule, field=field
            )
        return user

    def _audit_tenant(self, tenant: str | None) -> str | None:
        """An acting user reads the audit log of its own tenant only, with audit:READ."""
        user_id = self._identity.user_id
        if user_id is None:
            return tenant
        own = self._acting_user(user_id).tenant_id
        if Permission("audit", "READ") not in effective_global(self._index, user_id):
            rule = "reading the audit log needs audit:READ"
            raise PermissionDenied(f"{self._identity.name} may not read the audit log: {rule}",
                                   value=self._identity.name, rule=rule)  # fmt: skip
        if tenant not in (None, own):
            rule = "a user reads the audit log of its own tenant only"
            raise PermissionDenied(f"{self._identity.name} may not read tenant {tenant!r}: {rule}",
                                   value=tenant, rule=rule, field="tenant")  # fmt: skip
        return own

    def as_user(self, user_id: str) -> Tenancy:
        """A handle with the same API whose every write is authorised for the user (each
        needs its permission; PermissionDenied changes nothing) and audited as the user.
        It shares this handle's store and index; closing it closes nothing.

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        >>> ana = tn.tenant(acme.id).create_user("ana@acme.example")
        >>> try:
        ...     tn.as_user(ana.id).tenant(acme.id).create_group("Sites")
        ... except tenancy.PermissionDenied as denied:
        ...     print(denied.rule)
        it needs group:CREATE in its tenant
        >>> admin = tn.as_user(acme.admin_user_id)
        >>> admin.tenant(acme.id).create_group("Sites").name
        'Sites'
        """
        self._actor_user(user_id, "user")
        return _Acting(self, Identity(user_id))

    def as_support(self, support_user_id: str, user_id: str) -> Tenancy:
        """A handle acting as ``user_id`` on behalf of a support user of the management
        tenant, audited as ``"support_user$user"``. Allowed while support access is open
        for the user's tenant (for all tenants, or by the tenant's own request, which lasts
        ``support_duration``); each write re-checks it, so an ended session is refused."""
        support = self._actor_user(support_user_id, "support user", "support_user_id")
        user = self._actor_user(user_id, "user")
        management = self.management_tenant
        if support.tenant_id != management.id:
            rule = "support users are users of the management tenant"
            raise PermissionDenied(f"{support_user_id!r} is not a support user: {rule}",
                                   value=support_user_id, rule=rule,
                                   field="support_user_id")  # fmt: skip
        if Permission("support", "READ") not in effective_global(self._index, support_user_id):
            rule = "acting as another tenant's user needs the support permission"
            raise PermissionDenied(f"{support_user_id!r} may not give support: {rule}",
                                   value=support_user_id, rule=rule,
                                   field="support_user_id")  # fmt: skip
        if user.tenant_id == management.id:
            rule = "support acts in customer tenants, not in the management tenant"
            raise PermissionDenied(f"support may not act as {user_id!r}: {rule}",
                                   value=user_id, rule=rule, field="user_id")  # fmt: skip
        if not support_open(self._index, user.tenant_id, self._clock()):
            rule = "support access is open only for all tenants or on the tenant's request"
            raise PermissionDenied(
                f"support access to tenant {user.tenant_id!r} is not open: {rule}",
                value=user.tenant_id, rule=rule, field="user_id",
            )  # fmt: skip
        acting = _Acting(self, Identity(user_id, support_user_id))
        started = SupportSessionStarted(
            tenant_id=user.tenant_id, support_user_id=support_user_id, user_id=user_id
        )
        acting._write(lambda: ([started], None))
        return acting


class _Acting(Tenancy):
    """A handle acting as someone: it shares the store, index, lock and follower of the
    handle it came from, and differs only in who its writes are authorised and audited as."""

    def __init__(self, base: Tenancy, identity: Identity) -> None:
        # No Tenancy.__init__: nothing is loaded or started; everything is the base's.
        own = ("_current_index", "_views", "_write_lock", "_rebuild_needed", "_follower")
        shared = {k: v for k, v in base.__dict__.items() if k not in own}
        self.__dict__.update(shared)
        self._base = base
        self._identity = identity
        self._audit_actor = identity.name

    @property
    def _index(self) -> Index:
        return self._base._index

    @_index.setter
    def _index(self, index: Index) -> None:
        self._base._index = index

    # The base's lock, rebuild flag and follower are replaced after a fork: always use its.
    @property
    def _write_lock(self) -> threading.RLock:
        return self._base._write_lock

    @_write_lock.setter
    def _write_lock(self, lock: threading.RLock) -> None:
        self._base._write_lock = lock

    @property
    def _rebuild_needed(self) -> bool:
        return self._base._rebuild_needed

    @_rebuild_needed.setter
    def _rebuild_needed(self, needed: bool) -> None:
        self._base._rebuild_needed = needed

    @property
    def _follower(self) -> _Follower | None:
        return self._base._follower

    @_follower.setter
    def _follower(self, follower: _Follower | None) -> None:
        self._base._follower = follower

    @property
    def _views(self) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]], Index]:
        return self._base._views

    @_views.setter
    def _views(
        self, views: tuple[dict[str, frozenset[str]], dict[str, frozenset[str]], Index]
    ) -> None:
        self._base._views = views

    def close(self) -> None:
        """Nothing to close: the handle it came from owns the store."""


def backoff(losses: int) -> float:
    """Seconds to pause after the ``losses``-th lost race in a row: uniform in
    [0, BACKOFF_FIRST * 2**(losses - 1)], capped at BACKOFF_CAP (exponential, full jitter)."""
    ceiling = BACKOFF_CAP if losses > 6 else min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (losses - 1))
    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not security


# ---------------------------------------------------------------- fork

_HANDLES: weakref.WeakSet[Tenancy] = weakref.WeakSet()
"""Every open base handle of this process (not the acting ones: they use their base's)."""
_HELD: list[Tenancy] = []
"""The handles whose writer lock the before-fork hook took, until after the fork."""


def _before_fork() -> None:
    """Take every open handle's writer lock, so no write is half-way through an index when
    the child's copy of it is made; a write that takes longer than FORK_WAIT is let be."""
    for tn in list(_HANDLES):
        if tn._closed:
            continue
        if tn._write_lock.acquire(timeout=FORK_WAIT):
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
        tn._write_lock.release()


def _after_fork_in_child() -> None:
    held = {id(tn) for tn in _HELD}
    _HELD.clear()
    for tn in list(_HANDLES):
        if not tn._closed:
            tn._after_fork_in_child(whole=id(tn) in held)


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


class _Follower:
    """A daemon thread that catches a handle up with its store every ``window`` seconds.

    It holds the handle only weakly, so a handle dropped without close() is still
    collected (and the thread then ends). Catching up takes the handle's writer lock; a
    round that finds a write in progress skips, since that write catches up itself.
    """

    def __init__(self, tn: Tenancy, window: float) -> None:
        self.window = window
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_follow,
            args=(weakref.ref(tn), window, self._stop),
            name=f"tenancy-follower-{id(tn):x}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=max(5.0, self.window))


def _follow(ref: weakref.ref[Tenancy], window: float, stop: threading.Event) -> None:
    failures = 0
    while not stop.wait(window):
        tn = ref()
        if tn is None:
            return
        try:
            if tn._write_lock.acquire(blocking=False):
                try:
                    if not stop.is_set():
                        tn.catch_up()
                finally:
                    tn._write_lock.release()
            failures = 0
        except Exception:
            # Keep following: a busy or briefly unreadable file is retried next round.
            failures += 1
            if failures in (1, 10) or failures % 100 == 0:
                _log.exception("follower could not catch up (%d failures in a row)", failures)
        finally:
            del tn
