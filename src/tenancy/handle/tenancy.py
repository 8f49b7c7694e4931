"""The facade: a :class:`Tenancy` handle holds a writer (store, index, lock, clock, limits,
usage recorder, follower) and an identity (who acts: it authorises and audits every write),
and is composed of parts on the two: the reach and access queries, the tenant lifecycle, the
usage reports, the audit log, the access review, the change feed, the store-wide look-ups
and import/export.
Most public methods are a part's method, bound through :class:`~tenancy.handle.delegate.delegated`
(its signature and docstring are the part's: one copy, no drift). :meth:`Tenancy.verify` and
:meth:`Tenancy.check`, the hot paths, read the writer's views themselves (a delegation would
cost a call, a third of verify). ``as_user`` and ``as_support`` build a new handle on the
same writer with another identity.
"""

from __future__ import annotations

from datetime import timedelta
from types import TracebackType
from typing import Any

from tenancy.errors import InvalidValue, named, with_field
from tenancy.handle.access import AccessQueries
from tenancy.handle.acting import actor_user, check_support
from tenancy.handle.audit import AuditLog
from tenancy.handle.delegate import delegated
from tenancy.handle.feed import ChangeFeed
from tenancy.handle.queries import Queries
from tenancy.handle.review import AccessReview
from tenancy.handle.scope import TenantScope
from tenancy.handle.store_lookups import StoreLookups
from tenancy.handle.tenants import TenantLifecycle
from tenancy.handle.transfer import Transfer
from tenancy.handle.usage import UsageReports
from tenancy.handle.what_if import WhatIf
from tenancy.handle.writer import (
    DEFAULT_STALENESS,
    DEFAULT_SUPPORT_DURATION,
    DEFAULT_WRITE_TIMEOUT,
    Clock,
    Writer,
    utc_now,
)
from tenancy.index.index import Index
from tenancy.records import changes as ch
from tenancy.records.changes import Revision
from tenancy.records.grants import Permission, parse_permission
from tenancy.records.model import (
    SafetyLimits,
    Tenant,
)
from tenancy.records.tags import RulesInput
from tenancy.rules.access import ANY_INSTANT, Identity, check, membership_grants
from tenancy.rules.access import SYSTEM as SYSTEM_IDENTITY
from tenancy.store.protocol import Store
from tenancy.transfer.plan import ImportReport

__all__ = ["Tenancy"]


class Tenancy:
    """A handle on one store: the queries, the tenant lifecycle, the audit log, and
    :meth:`tenant` scopes for everything inside one tenant. Open it with :func:`tenancy.open`.

    The bare handle is the application itself: trusted, unrestricted (its writes are audited
    as ``"system"``); :meth:`as_user` and :meth:`as_support` give handles whose writes are
    authorised for a user. A handle is a context manager: ``with tenancy.open("app.db") as
    tn: ...`` closes the store on exit.
    """

    # verify and check read the index's reach and cover mappings (Index.reach_tables)
    # through _views, the writer's one list [reach, cover, index, access] shared by every
    # handle on it: one attribute load on the hottest path, and a reload that swaps the
    # index rewrites the list in place.
    _views: list[Any]

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = utc_now,
        staleness: float | None = DEFAULT_STALENESS,
        limits: SafetyLimits | None = None,
        usage_flush_interval: float | None = 300.0,
        support_duration: timedelta = DEFAULT_SUPPORT_DURATION,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
    ) -> None:
        """Load the store's records into the index, then follow its change log.

        ``clock``: returns the current aware ``datetime`` (creation, audit and support times).
        ``staleness`` (1.0 s): for a store other processes write to, such as a SQLite file, the
        window within which their writes show up here unasked (a follower thread catches up that
        often); None turns it off, leaving ``fresh=True``, ``at_least=`` and :meth:`catch_up`. This
        handle's own writes show at once. ``limits``: the store-wide :class:`~tenancy.SafetyLimits`
        enforced. ``usage_flush_interval``: seconds between background flushes of ``record_request``
        counts (300; None: only with writes, ``flush_usage()`` and close). ``support_duration``: how
        long a support request lasts (24 hours; at most 36,525 days). ``write_timeout`` (10 s,
        positive): how long a write retries, with jittered exponential pauses, while other writers
        commit first; past it it raises StaleRevision naming the timeout, having written nothing."""
        writer = Writer(
            store, clock=clock, staleness=staleness, limits=limits,
            usage_flush_interval=usage_flush_interval, write_timeout=write_timeout,
            support_duration=support_duration,
        )  # fmt: skip
        self._compose(writer, SYSTEM_IDENTITY, owner=True)
        if writer.index.revision == 0:
            self._tenants.create_management_tenant()
        writer.follow(f"{id(self):x}")

    def _compose(self, writer: Writer, identity: Identity, *, owner: bool) -> None:
        self._writer = writer
        self._identity = identity
        self._owner = owner  # the handle tenancy.open made closes the writer; acting ones not
        self._views = writer.views
        self._queries = AccessQueries(writer, identity)
        self._tenants = TenantLifecycle(writer, identity)
        self._usage_reports = UsageReports(writer, identity)
        self._audit = AuditLog(writer, identity)
        self._review = AccessReview(writer, identity)
        self._what_if = WhatIf(writer, identity, self._on)
        self._feed = ChangeFeed(writer, identity)
        self._lookups = StoreLookups(writer, identity)
        self._transfer = Transfer(writer, identity)

    def _acting(self, identity: Identity) -> Tenancy:
        """A new handle on this handle's writer, acting as ``identity``."""
        acting = Tenancy.__new__(Tenancy)
        acting._compose(self._writer, identity, owner=False)
        return acting

    def _on(self, writer: Writer) -> Tenancy:
        """A new handle on ``writer`` (what_if's throwaway), acting as this one."""
        handle = Tenancy.__new__(Tenancy)
        handle._compose(writer, self._identity, owner=False)
        return handle

    # ------------------------------------------------------------ lifecycle

    @property
    def revision(self) -> Revision:
        """The last revision this handle has seen (after a write: that write's revision)."""
        return self._writer.index.revision

    @property
    def store(self) -> Store:
        """The :class:`~tenancy.Store` under the handle."""
        return self._writer.store

    @property
    def index(self) -> Index:
        """The closure index, for tests and tools: it answers through the read interface of
        :mod:`tenancy.index.tables` (its tables are private). O(1)."""
        return self._writer.index

    @property
    def staleness(self) -> float | None:
        """The follower's window in seconds; None when this handle does not follow its store
        (an in-memory store, or ``staleness=None``)."""
        follower = self._writer.follower
        return None if follower is None else follower.window

    @property
    def support_duration(self) -> timedelta:
        """How long a tenant's support request lasts (24 hours by default)."""
        return self._writer.support_duration

    @property
    def management_tenant(self) -> Tenant:
        """The root tenant (domain ``management``), created when the store was initialised."""
        return self._tenants.management_tenant

    @property
    def limits(self) -> SafetyLimits:
        """The store-wide safety limits this handle enforces."""
        return self._writer.limits

    def close(self) -> None:
        """Stop following the store and close it. Closing twice does nothing; closing a handle
        made by :meth:`as_user` or :meth:`as_support` closes nothing. Runtime complexity: O(1), plus
        the wait for the follower thread and the store's close."""
        if self._owner:
            self._writer.close()

    def __enter__(self) -> Tenancy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def clock(self) -> Clock:
        """The handle's clock, the ``clock`` it was opened with: every answer is for
        ``clock()``, the instant that decides whether a time-bounded grant counts. O(1)."""
        return self._writer.clock

    def catch_up(self) -> Revision:
        """Apply every commit other handles wrote since this one last looked; returns the new
        revision. Runtime complexity: one read of the store's change log, plus applying each new
        change as its write would."""
        return self._writer.catch_up()

    # ------------------------------------------------------------ the hot queries

    def verify(
        self, user_id: str, device_id: str, *, at_least: int | None = None, fresh: bool = False
    ) -> bool:
        """May the user ``user_id`` see the device ``device_id``? Unknown ids (of any type)
        give False; never raises for them. ``at_least``, ``fresh``: [freshness](api.md#freshness).
        Runtime complexity: O(1) in practice: two dict lookups and one ``isdisjoint`` of two
        frozensets; O(min(groups of the user, groups covering the device)) at worst. A user
        whose reach depends on the clock (a membership with a window, or a share with one:
        DOMAIN.md section 9) costs one read of the handle's clock more; no other user does.

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        >>> t = tn.tenant(acme.id)
        >>> site = t.create_group("San Bruno", device_tags=[("site", "san-bruno")])
        >>> gen = t.create_device("Generator 7", tags=[("site", "san-bruno")])
        >>> ana = t.create_user("ana@acme.example")
        >>> t.add_member(site.id, ana.id)
        >>> tn.verify(ana.id, gen.id), tn.verify(ana.id, "no-such-device")
        (True, False)
        """
        if at_least is not None or fresh:
            self._writer.sync(at_least, fresh)
        # The same test as the physical limit. A disabled or blocked user's reach is the
        # empty set, so it needs no branch; an unknown (or unhashable) id lands in except,
        # and so does a user with a time-bounded membership: only it reads the clock.
        reach, cover, _, _ = self._views
        try:
            return not reach[user_id].isdisjoint(cover[device_id])
        except KeyError:
            return self._writer.timed_verify(user_id, device_id)
        except TypeError:
            return False

    def check(
        self,
        user_id: str,
        permission: str | Permission,
        device_id: str,
        *,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> bool:
        """May ``user_id`` do ``permission`` (``"device:UPDATE"``, ``("device", "UPDATE")`` or
        a :class:`~tenancy.Permission`) to ``device_id``? A global role of the user grants it
        tenant-wide, or the user reaches the device and an inventory role on a covering group
        (or the default member role) grants it; a sub-user's owners must pass too. A device
        shared into the user's tenant is read-only: at most READ, never tenant-wide. Unknown
        ids give False; a malformed permission raises InvalidValue. ``at_least``, ``fresh``:
        [freshness](api.md#freshness). Runtime complexity: O(1) for a user without owner or
        inventory grants; otherwise O(grants + owners x grants).

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        >>> t = tn.tenant(acme.id)
        >>> site = t.create_group("San Bruno", device_tags=[("site", "sb")])
        >>> gen = t.create_device("Generator 7", tags=[("site", "sb")])
        >>> ana = t.create_user("ana@acme.example")
        >>> t.add_member(site.id, ana.id)
        >>> tn.check(ana.id, "device:READ", gen.id), tn.check(ana.id, "device:UPDATE", gen.id)
        (True, False)
        >>> tn.check(acme.admin_user_id, "device:ADMIN", gen.id)
        True
        """
        if at_least is not None or fresh:
            self._writer.sync(at_least, fresh)
        reach, cover, index, access = self._views
        try:
            # check()'s first lines, inlined: a plain member asking for what membership
            # gives is the hottest question after verify, and one call fewer is a third of
            # the distance to verify's cost. check() below is the definition.
            acc = access.cache.get(user_id)
            if acc is not None and acc.simple and permission in acc.member_texts:
                covering = cover.get(device_id)
                if covering is not None and not reach[user_id].isdisjoint(covering):
                    # More than READ only on a device of the user's own tenant (a shared
                    # one is read-only: tenancy.rules.access rule 6).
                    return permission == "device:READ" or membership_grants(
                        index, user_id, device_id, permission
                    )
                if permission not in acc.global_texts:
                    return False
            # The walk over grants and owners may meet a write half-way: trusted only if
            # the index's seq was even and did not move (see Queries._read).
            self._writer.retime()
            index = self._writer.index
            seq = index.seq
            now = self._writer.clock() if access.windowed else ANY_INSTANT
            allowed = check(index, user_id, permission, device_id, now)
            if index.seq == seq and not seq & 1:
                return allowed
        except InvalidValue as error:  # a malformed permission
            raise with_field(error, "permission") from None
        except (TypeError, KeyError, RuntimeError):
            # An unhashable id or permission, or a write that changed a set under a
            # first-time check. A malformed permission raises InvalidValue.
            named("permission", parse_permission, permission)
        # Run it again where no write can interleave; unknown or unhashable ids give False.
        self._writer.retime()
        with self._writer.lock:
            try:
                return check(
                    self._writer.index, user_id, permission, device_id, self._writer.clock()
                )
            except TypeError:
                return False

    # ------------------------------------------------------------ the other queries (delegated)

    users_for = delegated("_queries", Queries.users_for)
    groups_for = delegated("_queries", Queries.groups_for)
    in_group = delegated("_queries", Queries.in_group)
    devices_in = delegated("_queries", Queries.devices_in)
    devices_for = delegated("_queries", AccessQueries.devices_for)
    explain = delegated("_queries", AccessQueries.explain)

    # ------------------------------------------------------------ tenants (delegated)

    get_tenant = delegated("_tenants", TenantLifecycle.get_tenant)
    find_tenant = delegated("_tenants", TenantLifecycle.find_tenant)
    subtenants = delegated("_tenants", TenantLifecycle.subtenants)
    default_subscriptions = delegated("_tenants", TenantLifecycle.default_subscriptions)
    is_subscribed = delegated("_tenants", TenantLifecycle.is_subscribed)
    policies = delegated("_tenants", TenantLifecycle.policies)
    create_tenant = delegated("_tenants", TenantLifecycle.create_tenant)
    update_tenant = delegated("_tenants", TenantLifecycle.update_tenant)
    set_properties = delegated("_tenants", TenantLifecycle.set_properties)
    set_options = delegated("_tenants", TenantLifecycle.set_options)
    subscribe = delegated("_tenants", TenantLifecycle.subscribe)
    unsubscribe = delegated("_tenants", TenantLifecycle.unsubscribe)
    define_policy = delegated("_tenants", TenantLifecycle.define_policy)
    delete_policy = delegated("_tenants", TenantLifecycle.delete_policy)
    suspend_tenant = delegated("_tenants", TenantLifecycle.suspend_tenant)
    activate_tenant = delegated("_tenants", TenantLifecycle.activate_tenant)
    delete_tenant = delegated("_tenants", TenantLifecycle.delete_tenant)

    # ------------------------------------------------------------ usage statistics (delegated)

    record_request = delegated("_usage_reports", UsageReports.record_request)
    flush_usage = delegated("_usage_reports", UsageReports.flush_usage)
    usage = delegated("_usage_reports", UsageReports.usage)
    usage_csv = delegated("_usage_reports", UsageReports.usage_csv)

    # ------------------------------------------------------------ audit log (delegated)

    audit_log = delegated("_audit", AuditLog.audit_log)

    # ------------------------------------------------------------ access review (delegated)

    reach_diff = delegated("_review", AccessReview.reach_diff)
    access_review_csv = delegated("_review", AccessReview.access_review_csv)
    what_if = delegated("_what_if", WhatIf.what_if)

    # ------------------------------------------------------------ change feed (delegated)

    changes = delegated("_feed", ChangeFeed.changes)
    watch = delegated("_feed", ChangeFeed.watch)

    # ------------------------------------------------------------ store-wide look-ups (delegated)

    tenants = delegated("_lookups", StoreLookups.tenants)
    get_user = delegated("_lookups", StoreLookups.get_user)
    get_device = delegated("_lookups", StoreLookups.get_device)
    get_group = delegated("_lookups", StoreLookups.get_group)
    find_users = delegated("_lookups", StoreLookups.find_users)

    # ------------------------------------------------------------ import and export (delegated)

    def export_to(
        self,
        path_or_fileobj: Any,
        *,
        tenant: str | None = None,
        format: str | None = None,
        device_tags: RulesInput | None = None,
        include_usage: bool = True,
        include_audit: bool = False,
        include_secrets: bool = False,
    ) -> int:
        """Write the whole store, or ``tenant`` with its subtenants, as a document (see
        :func:`tenancy.document_schema`) to ``path_or_fileobj``, a path or a binary file;
        returns the records written. ``format``: ``"json"`` or ``"msgpack"`` (default: from
        the suffix, else JSON). ``device_tags`` (tag rules, with ``tenant``): only its
        devices a rule matches, with gateways. Usage unless ``include_usage=False``; the
        audit log with ``include_audit=True``; security codes with ``include_secrets=True``.
        Same state, same bytes. Runtime complexity: O(records), streamed."""
        return self._transfer.export_to(
            path_or_fileobj, tenant=tenant, format=format, device_tags=device_tags,
            include_usage=include_usage, include_audit=include_audit,
            include_secrets=include_secrets,
        )  # fmt: skip

    def import_from(self, path_or_fileobj: Any, *, parent: str | None = None) -> ImportReport:
        """Import the document ``path_or_fileobj`` (a path or a binary file, JSON or
        MessagePack) in one transaction: every record validated as the write path does, all
        of it or, at the first bad record, nothing (InvalidDocument names its position and
        the rule). A whole store's document goes into an empty store; a tenant's goes below
        ``parent`` (onboarding; ids may be omitted and are generated) or below the parent
        it names. Runtime complexity: O(records), streamed as it is read."""
        return self._transfer.import_from(path_or_fileobj, parent=parent)

    # ------------------------------------------------------------ tenants

    def tenant(self, tenant_id: str) -> TenantScope:
        """The :class:`~tenancy.TenantScope` of ``tenant_id``: everything inside one tenant
        (groups, devices, users, memberships, roles); NotFound for an unknown id. Runtime
        complexity: O(1)."""
        self.get_tenant(tenant_id)
        return TenantScope(self._writer, self._identity, tenant_id)

    # ------------------------------------------------------------ acting identities

    @property
    def identity(self) -> Identity:
        """Who this handle's writes are authorised and audited as (the application itself
        for the handle :func:`tenancy.open` returns)."""
        return self._identity

    def as_user(self, user_id: str) -> Tenancy:
        """A handle acting as ``user_id``, with the same API: every write is authorised for the
        user (each needs its permission; PermissionDenied names the actor and the rule, and changes
        nothing) and audited under its id. NotFound for an unknown user; PermissionDenied for a
        disabled user or one of a suspended tenant. It is a new handle on this handle's writer
        (store, index, lock); closing it closes nothing. Runtime complexity: O(1).

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
        actor_user(self._writer.index, user_id, "user")
        return self._acting(Identity(user_id))

    def as_support(self, support_user_id: str, user_id: str) -> Tenancy:
        """A handle acting as ``user_id`` for ``support_user_id`` (a management-tenant user
        holding ``support:READ``), audited as ``"support_user$user"``; it records a
        ``SupportSessionStarted``. PermissionDenied unless support is open for the user's tenant:
        the management option ``("support", "enabled_for_all_tenants")`` is ``"true"``, or the
        tenant's ``request_support`` has not ended; each write checks it again. Runtime complexity:
        O(the support user's global roles), one commit."""
        user = check_support(
            self._writer.index, support_user_id, user_id, self.management_tenant.id,
            self._writer.clock(),
        )  # fmt: skip
        acting = self._acting(Identity(user_id, support_user_id))
        started = ch.SupportSessionStarted(
            tenant_id=user.tenant_id, support_user_id=support_user_id, user_id=user_id
        )
        self._writer.write(lambda: ([started], None), acting.identity)
        return acting
