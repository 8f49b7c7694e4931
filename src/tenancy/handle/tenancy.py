"""The facade: a :class:`Tenancy` handle holds a writer and an identity, and is composed of
parts that take the two.

The :class:`~tenancy.handle.writer.Writer` holds the store, the index and what writes them
(the lock, the clock, the limits, the usage recorder, the follower); the
:class:`~tenancy.rules.access.Identity` says who acts, which authorises and audits every
write. The parts are plain classes on (writer, identity): the reach and access queries
(:mod:`tenancy.handle.queries`, :mod:`tenancy.handle.access`), the tenant lifecycle
(:mod:`tenancy.handle.tenants`), the usage reports (:mod:`tenancy.handle.usage`) and the
audit log (:mod:`tenancy.handle.audit`). Each public method of the handle hands its call to
its part, except :meth:`Tenancy.verify` and :meth:`Tenancy.check`, the hot paths, which read
the writer's views themselves (a delegation would cost a call, a third of verify).

``as_user`` and ``as_support`` build a new handle on the same writer with another identity;
:meth:`Tenancy.tenant` a :class:`~tenancy.handle.scope.TenantScope` on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any

from tenancy import ids as _ids
from tenancy.errors import InvalidValue, PermissionDenied, named, with_field
from tenancy.handle.access import AccessQueries
from tenancy.handle.acting import actor_user
from tenancy.handle.audit import AuditLog
from tenancy.handle.scope import TenantScope
from tenancy.handle.tenants import MANAGEMENT_DOMAIN, TenantLifecycle
from tenancy.handle.transfer import Transfer
from tenancy.handle.usage import UsageReports
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
from tenancy.records.changes import Change, Revision
from tenancy.records.grants import ADMIN_ROLE, Permission, RoleGrant, parse_permission
from tenancy.records.model import (
    AuditRecord,
    Device,
    Explanation,
    Group,
    Page,
    RetentionRule,
    SafetyLimits,
    Tenant,
    TenantPolicy,
    UsageDay,
    User,
)
from tenancy.rules.access import SYSTEM as SYSTEM_IDENTITY
from tenancy.rules.access import Identity, check, effective_global, support_open
from tenancy.rules.paging import DEFAULT_PAGE_SIZE
from tenancy.rules.validate import UNSET, OptionsInput, PropertiesInput
from tenancy.store.protocol import Store
from tenancy.transfer.plan import ImportReport

__all__ = ["Tenancy"]


class Tenancy:
    """A handle on one store: the queries, tenant lifecycle, and :meth:`tenant` scopes.

    Open it with :func:`tenancy.open`. The bare handle is the trusted application.
    """

    # verify and check read the index's reach and cover dicts through _views, the writer's
    # one list [reach, cover, index] shared by every handle on it: one attribute load on
    # the hottest path, and a reload that swaps the index rewrites the list in place.
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
        writer = Writer(
            store, clock=clock, staleness=staleness, limits=limits,
            usage_flush_interval=usage_flush_interval, write_timeout=write_timeout,
            support_duration=support_duration,
        )  # fmt: skip
        self._compose(writer, SYSTEM_IDENTITY, owner=True)
        if writer.index.revision == 0:
            self._initialise()
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
        self._transfer = Transfer(writer, identity)

    def _acting(self, identity: Identity) -> Tenancy:
        """A new handle on this handle's writer, acting as ``identity``."""
        acting = Tenancy.__new__(Tenancy)
        acting._compose(self._writer, identity, owner=False)
        return acting

    # ------------------------------------------------------------ lifecycle

    def _initialise(self) -> None:
        """Create the management tenant, the root of the tenant tree, in revision 1."""

        def make() -> tuple[list[Change], None]:
            if self._writer.index.tenants:
                return [], None  # another process initialised the store first
            tenant_id = _ids.new_tenant_id()
            admin = User(
                id=_ids.new_user_id(), tenant_id=tenant_id, email="admin@management.invalid",
                username="admin",
            )  # fmt: skip
            tenant = Tenant(
                id=tenant_id, domain=MANAGEMENT_DOMAIN, name="Management", parent_id=None,
                allow_subtenants=True, created_at=self._writer.clock(), admin_email=admin.email,
                admin_username=admin.username, admin_user_id=admin.id,
            )  # fmt: skip
            admin_role = RoleGrant(tenant_id=tenant.id, user_id=admin.id, role=ADMIN_ROLE)
            return [
                ch.TenantCreated(tenant=tenant),
                ch.UserCreated(user=admin),
                ch.AccessSet(record=admin_role),  # the first admin holds the admin role
            ], None

        self._writer.write(make)

    @property
    def revision(self) -> Revision:
        """The last revision this handle has seen (after a write: that write's revision)."""
        return self._writer.index.revision

    @property
    def store(self) -> Store:
        return self._writer.store

    @property
    def index(self) -> Index:
        """The closure index (read-only use: tests and tools)."""
        return self._writer.index

    @property
    def staleness(self) -> float | None:
        """The follower's window in seconds; None when this handle does not follow."""
        follower = self._writer.follower
        return None if follower is None else follower.window

    @property
    def support_duration(self) -> timedelta:
        """How long a tenant's support request lasts (24 hours by default)."""
        return self._writer.support_duration

    @property
    def management_tenant(self) -> Tenant:
        """The root of the tenant tree, created when the store was initialised."""
        return self._tenants.management_tenant

    @property
    def limits(self) -> SafetyLimits:
        """The store-wide safety limits this handle enforces."""
        return self._writer.limits

    def close(self) -> None:
        """Stop following the store and close it. Closing twice does nothing; closing a
        handle made by :meth:`as_user` or :meth:`as_support` closes nothing."""
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

    def catch_up(self) -> Revision:
        """Apply every commit other handles wrote since this one last looked."""
        return self._writer.catch_up()

    # ------------------------------------------------------------ the hot queries

    def verify(
        self, user_id: str, device_id: str, *, at_least: int | None = None, fresh: bool = False
    ) -> bool:
        """May this user see this device? Unknown ids give False; never raises for them.

        Runtime complexity: O(1) in practice: two dict lookups and one ``isdisjoint``.

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
        # empty set, so it needs no branch; an unknown (or unhashable) id lands in except.
        reach, cover, _ = self._views
        try:
            return not reach[user_id].isdisjoint(cover[device_id])
        except (KeyError, TypeError):
            return False

    def check(
        self,
        user_id: str,
        permission: object,
        device_id: str,
        *,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> bool:
        """May the user do ``permission`` (``"device:UPDATE"`` or a
        :class:`~tenancy.Permission`) to the device? Unknown ids give False; a malformed
        permission raises InvalidValue.

        Runtime complexity: O(1) for a user without owner or inventory grants; otherwise
        O(grants + owners x grants).

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
        reach, cover, index = self._views
        try:
            # check()'s first lines, inlined: a plain member asking for what membership
            # gives is the hottest question after verify, and one call fewer is a third of
            # the distance to verify's cost. check() below is the definition.
            acc = index.access.cache.get(user_id)
            if acc is not None and acc.simple and permission in acc.member_texts:
                covering = cover.get(device_id)
                if covering is not None and not reach[user_id].isdisjoint(covering):
                    return True
                if permission not in acc.global_texts:
                    return False
            # The walk over grants and owners may meet a write half-way: trusted only if
            # the index's seq was even and did not move (see Queries._read).
            seq = index.seq
            allowed = check(index, user_id, permission, device_id)
            if index.seq == seq and not seq & 1:
                return allowed
        except InvalidValue as error:  # a malformed permission
            raise with_field(error, "permission") from None
        except (TypeError, KeyError, RuntimeError):
            # An unhashable id or permission, or a write that changed a set under a
            # first-time check. A malformed permission raises InvalidValue.
            named("permission", parse_permission, permission)
        # Run it again where no write can interleave; unknown or unhashable ids give False.
        with self._writer.lock:
            try:
                return check(self._writer.index, user_id, permission, device_id)
            except TypeError:
                return False

    # ------------------------------------------------------------ the other queries (delegated)

    def users_for(
        self,
        device_id: str,
        *,
        tags: Iterable[object] | None = None,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> list[User]:
        """Every user who reaches the device (whom to alert), sorted by id. Runtime
        complexity: O(covering groups + members)."""
        return self._queries.users_for(device_id, tags=tags, at_least=at_least, fresh=fresh)

    def groups_for(
        self,
        user_id: str,
        *,
        inherited: bool = True,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> list[Group]:
        """The user's groups, and with ``inherited`` every group below them. Runtime
        complexity: O(groups returned)."""
        return self._queries.groups_for(
            user_id, inherited=inherited, at_least=at_least, fresh=fresh
        )

    def in_group(
        self, user_id: str, group_id: str, *, at_least: int | None = None, fresh: bool = False
    ) -> bool:
        """Is the user a member of the group or of an ancestor? Runtime complexity: O(1)."""
        return self._queries.in_group(user_id, group_id, at_least=at_least, fresh=fresh)

    def devices_in(
        self,
        group_id: str,
        *,
        descendants: bool = True,
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> Page[Device]:
        """One page of the devices the group covers (or only associates itself). Runtime
        complexity: O(log n + limit)."""
        return self._queries.devices_in(
            group_id,
            descendants=descendants,
            limit=limit,
            after=after,
            at_least=at_least,
            fresh=fresh,
        )

    def devices_for(
        self,
        user_id: str,
        *,
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        tags: Iterable[object] | None = None,
        group: str | None = None,
        permission: object = None,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> Page[Device]:
        """One page of the devices the user reaches, sorted by id; with ``permission``, of
        exactly the devices :meth:`check` allows for it (a tenant-wide role lists the whole
        tenant). See :func:`tenancy.rules.reach.devices_for` for the filters and the cost; a
        permission filter adds one check per device it looks at."""
        return self._queries.devices_for(
            user_id,
            limit=limit,
            after=after,
            tags=tags,
            group=group,
            permission=permission,
            at_least=at_least,
            fresh=fresh,
        )

    def explain(
        self,
        user_id: str,
        device_id: str,
        *,
        permission: object = None,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> Explanation:
        """Why the user reaches the device, or the first failing condition; with
        ``permission``, also which role grants it, or why none does. Runtime complexity:
        O(depth x associating groups), plus the grants with a permission."""
        return self._queries.explain(
            user_id, device_id, permission=permission, at_least=at_least, fresh=fresh
        )

    # ------------------------------------------------------------ tenants (delegated)

    def get_tenant(self, tenant_id: str) -> Tenant:
        """The tenant record; NotFound for an unknown id. Runtime complexity: O(1)."""
        return self._tenants.get_tenant(tenant_id)

    def find_tenant(self, domain: str) -> Tenant | None:
        """The tenant with this domain, or None. Runtime complexity: O(1)."""
        return self._tenants.find_tenant(domain)

    def subtenants(self, tenant_id: str, *, recursive: bool = False) -> list[Tenant]:
        """Direct (or all) tenants below ``tenant_id``, sorted by id."""
        return self._tenants.subtenants(tenant_id, recursive=recursive)

    def default_subscriptions(self, tenant_id: str) -> frozenset[str]:
        """The applications a new subtenant of this tenant is subscribed to: its own list
        when it overrides it, else the nearest ancestor's that does (else none). Runtime
        complexity: O(depth)."""
        return self._tenants.default_subscriptions(tenant_id)

    def is_subscribed(self, tenant_id: str, application: str) -> bool:
        """Is the tenant subscribed to the application, and able to use it? False while it
        is suspended (its applications are stopped; the subscription itself is kept) and for
        an unknown tenant (or application). Runtime complexity: O(1)."""
        return self._tenants.is_subscribed(tenant_id, application)

    def policies(self, tenant_id: str, *, inherited: bool = False) -> list[TenantPolicy]:
        """The policies the tenant defines, sorted by name; with ``inherited``, every policy
        usable when creating a subtenant of it: its own, then its ancestors' (the nearest
        definition of a name wins)."""
        return self._tenants.policies(tenant_id, inherited=inherited)

    def create_tenant(
        self,
        *,
        domain: str,
        name: str,
        admin_email: str,
        admin_username: str = "admin",
        parent: str | None = None,
        allow_subtenants: bool = False,
        contact_name: str = "",
        contact_phone: str = "",
        properties: PropertiesInput = (),
        options: OptionsInput = (),
        retention_rules: Iterable[RetentionRule] | None = None,
        policy: str | None = None,
        max_devices: int | None = None,
        max_root_devices: int | None = None,
        subscriptions: Iterable[str] | None = None,
        default_subscriptions: Iterable[str] | None = None,
        id: str | None = None,
        by: str | None = None,
    ) -> Tenant:
        """Create a tenant below ``parent`` (default: the acting tenant, ``by``, which is
        the management tenant unless given) with its first admin user, in one
        transaction."""
        return self._tenants.create_tenant(
            domain=domain,
            name=name,
            admin_email=admin_email,
            admin_username=admin_username,
            parent=parent,
            allow_subtenants=allow_subtenants,
            contact_name=contact_name,
            contact_phone=contact_phone,
            properties=properties,
            options=options,
            retention_rules=retention_rules,
            policy=policy,
            max_devices=max_devices,
            max_root_devices=max_root_devices,
            subscriptions=subscriptions,
            default_subscriptions=default_subscriptions,
            id=id,
            by=by,
        )

    def update_tenant(
        self,
        tenant_id: str,
        *,
        name: str = UNSET,
        contact_name: str = UNSET,
        contact_phone: str = UNSET,
        admin_email: str = UNSET,
        allow_subtenants: bool = UNSET,
        properties: PropertiesInput = UNSET,
        options: OptionsInput = UNSET,
        retention_rules: Iterable[RetentionRule] = UNSET,
        max_devices: int | None = UNSET,
        max_root_devices: int | None = UNSET,
        subscriptions: Iterable[str] = UNSET,
        default_subscriptions: Iterable[str] | None = UNSET,
        by: str | None = None,
    ) -> Tenant:
        """Edit the given fields (the rest stay); id, domain and the admin username never
        change. ``properties``, ``options``, ``retention_rules`` and ``subscriptions``
        replace the whole collection; ``default_subscriptions=None`` turns the override off,
        so the tenant inherits its parent's list again. A limit of None lifts it; lowering
        one below the current count removes nothing and refuses the next record."""
        return self._tenants.update_tenant(
            tenant_id,
            name=name,
            contact_name=contact_name,
            contact_phone=contact_phone,
            admin_email=admin_email,
            allow_subtenants=allow_subtenants,
            properties=properties,
            options=options,
            retention_rules=retention_rules,
            max_devices=max_devices,
            max_root_devices=max_root_devices,
            subscriptions=subscriptions,
            default_subscriptions=default_subscriptions,
            by=by,
        )

    def set_properties(
        self, tenant_id: str, values: Mapping[str, str | None], *, by: str | None = None
    ) -> Tenant:
        """Set custom properties (a None value removes that key); the others stay. For the
        parent or the management tenant."""
        return self._tenants.set_properties(tenant_id, values, by=by)

    def set_options(
        self, tenant_id: str, values: Mapping[tuple[str, str], str | None], *, by: str | None = None
    ) -> Tenant:
        """Set tenant options ``{(category, key): value}`` (None removes one); the others
        stay."""
        return self._tenants.set_options(tenant_id, values, by=by)

    def subscribe(
        self, tenant_id: str, applications: Iterable[str], *, by: str | None = None
    ) -> Tenant:
        """Subscribe the tenant to applications (ones it has are ignored). For the parent or
        the management tenant."""
        return self._tenants.subscribe(tenant_id, applications, by=by)

    def unsubscribe(
        self, tenant_id: str, applications: Iterable[str], *, by: str | None = None
    ) -> Tenant:
        """Remove subscriptions (ones it lacks are ignored)."""
        return self._tenants.unsubscribe(tenant_id, applications, by=by)

    def define_policy(
        self,
        tenant_id: str,
        name: str,
        *,
        description: str = "",
        options: OptionsInput = (),
        retention_rules: Iterable[RetentionRule] = (),
        by: str | None = None,
    ) -> TenantPolicy:
        """Define (or replace) a policy of the tenant, for creating its subtenants: a named
        bundle of options and retention rules, at least one of either. Tenants created with
        it earlier keep what they got."""
        return self._tenants.define_policy(
            tenant_id,
            name,
            description=description,
            options=options,
            retention_rules=retention_rules,
            by=by,
        )

    def delete_policy(self, tenant_id: str, name: str, *, by: str | None = None) -> None:
        """Delete one of the tenant's policies; NotFound if it has none of that name."""
        return self._tenants.delete_policy(tenant_id, name, by=by)

    def suspend_tenant(self, tenant_id: str, *, by: str | None = None) -> Tenant:
        """Block the tenant and every tenant below it: no user reaches anything and nothing
        is written there until :meth:`activate_tenant`. All data is kept. For the parent or
        the management tenant; the management tenant itself cannot be suspended. A tenant
        below a suspended tenant accepts nothing but activation, so suspending it raises
        TenantSuspended (naming the suspended ancestor) until that ancestor is active."""
        return self._tenants.suspend_tenant(tenant_id, by=by)

    def activate_tenant(self, tenant_id: str, *, by: str | None = None) -> Tenant:
        """Lift a suspension: every answer comes back exactly as it was (unless a tenant
        above is suspended too). For the parent or the management tenant. Activation is the
        one write a tenant below a suspended tenant accepts: it clears the tenant's own
        suspension, and the tenant stays blocked until every tenant above it is active."""
        return self._tenants.activate_tenant(tenant_id, by=by)

    def delete_tenant(
        self, tenant_id: str, *, cascade: bool = False, by: str | None = None
    ) -> None:
        """Remove the tenant and every record it holds (groups, devices, users, usage
        statistics), irreversibly; with ``cascade`` its subtenants too (refused without it
        when it has any). Only the management tenant may delete, and it cannot be deleted
        itself. A suspended tenant can be deleted. Afterwards its ids are unknown to every
        query and write, and its domain is free again."""
        return self._tenants.delete_tenant(tenant_id, cascade=cascade, by=by)

    # ------------------------------------------------------------ usage statistics (delegated)

    def record_request(self, tenant_id: str, kind: str = "api", count: int = 1) -> bool:
        """Count ``count`` requests of ``kind`` (``"api"``, ``"device"``, anything) for the
        tenant on today's UTC day. No I/O: counted in memory, flushed in batches (with the
        next write, by :meth:`flush_usage`, by the background flusher, on close)."""
        return self._usage_reports.record_request(tenant_id, kind, count)

    def flush_usage(self) -> Revision:
        """Write the requests counted in memory now, as one commit (none when nothing is
        pending). Returns the handle's revision afterwards."""
        return self._usage_reports.flush_usage()

    def usage(
        self,
        tenant_id: str,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        *,
        subtenants: bool = False,
    ) -> list[UsageDay]:
        """The tenant's usage statistics, one :class:`~tenancy.UsageDay` per UTC day from
        ``start`` to ``end`` (both included; default: from the tenant's creation to today),
        sorted by tenant id then day; with ``subtenants``, every tenant below it too.
        Requests counted in memory and not flushed yet are included. Runtime complexity:
        O(tenants x days)."""
        return self._usage_reports.usage(tenant_id, start, end, subtenants=subtenants)

    def usage_csv(
        self,
        tenant_id: str,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        *,
        subtenants: bool = False,
        sep: str = ",",
    ) -> str:
        """:meth:`usage` as CSV text, ``sep`` between fields (``";"`` for spreadsheets that
        use a decimal comma). Columns: :data:`tenancy.rules.usage.CSV_COLUMNS`, then one
        ``requests:<kind>`` column per request kind and one ``property:<key>`` column per
        custom property."""
        return self._usage_reports.usage_csv(tenant_id, start, end, subtenants=subtenants, sep=sep)

    # ------------------------------------------------------------ audit log (delegated)

    def audit_log(
        self,
        *,
        tenant: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        after_seq: int | None = None,
    ) -> Page[AuditRecord]:
        """One page of the audit log, oldest first: the records matching every filter given
        (``tenant``, ``actor``, ``target`` ids; ``start <= at < end``, a naive datetime
        taken as UTC). ``limit`` is 1 to 10,000. Pass the page's ``next`` as ``after`` for
        the next page, with the same filters (a cursor of another query is refused).
        ``after_seq``, an :attr:`AuditRecord.seq`, starts after that record instead: how to
        follow the log from the last record seen, when the last page had no ``next``."""
        return self._audit.audit_log(
            tenant=tenant,
            actor=actor,
            target=target,
            start=start,
            end=end,
            limit=limit,
            after=after,
            after_seq=after_seq,
        )

    # ------------------------------------------------------------ import and export (delegated)

    def export_to(
        self,
        path_or_fileobj: Any,
        *,
        tenant: str | None = None,
        format: str | None = None,
        device_tags: Iterable[object] | None = None,
        include_usage: bool = True,
        include_audit: bool = False,
    ) -> int:
        """Write the whole store, or ``tenant`` with its subtenants, as a document (see
        :func:`tenancy.document_schema`) to a path or a binary file; returns the records
        written. ``format``: ``"json"`` or ``"msgpack"`` (default: from the suffix, else
        JSON). ``device_tags`` (tag rules, with ``tenant``): only that tenant's devices
        that a rule matches, with their gateways. Usage statistics are included unless
        ``include_usage=False``; the audit log only with ``include_audit=True``. The same
        state gives the same bytes. Streamed: memory O(records) for the snapshot's list
        of references, a chunk encoded at a time. Runtime complexity: O(records)."""
        return self._transfer.export_to(
            path_or_fileobj, tenant=tenant, format=format, device_tags=device_tags,
            include_usage=include_usage, include_audit=include_audit,
        )  # fmt: skip

    def import_from(self, path_or_fileobj: Any, *, parent: str | None = None) -> ImportReport:
        """Import a document (a path or a binary file, JSON or MessagePack) in one
        transaction: every record validated as the write path validates it, all of it
        or, at the first bad record, nothing (InvalidDocument names its position and the
        rule). A whole store's document goes into an empty store; a tenant's goes below
        ``parent`` (onboarding; ids may be omitted and are generated) or below the
        parent it names. Runtime complexity: O(records), streamed as it is read."""
        return self._transfer.import_from(path_or_fileobj, parent=parent)

    # ------------------------------------------------------------ tenants

    def tenant(self, tenant_id: str) -> TenantScope:
        """Everything inside one tenant: groups, devices, users, memberships."""
        self.get_tenant(tenant_id)
        return TenantScope(self._writer, self._identity, tenant_id)

    # ------------------------------------------------------------ acting identities

    @property
    def identity(self) -> Identity:
        """Who this handle's writes are authorised and audited as (the application itself
        for the handle :func:`tenancy.open` returns)."""
        return self._identity

    def as_user(self, user_id: str) -> Tenancy:
        """A handle with the same API whose every write is authorised for the user (each
        needs its permission; PermissionDenied changes nothing) and audited as the user.
        It is a new handle on this handle's writer (store, index, lock); closing it closes
        nothing.

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
        """A handle acting as ``user_id`` on behalf of a support user of the management
        tenant, audited as ``"support_user$user"``. Allowed while support access is open
        for the user's tenant (for all tenants, or by the tenant's own request, which lasts
        ``support_duration``); each write re-checks it, so an ended session is refused."""
        support = actor_user(self._writer.index, support_user_id, "support user", "support_user_id")
        user = actor_user(self._writer.index, user_id, "user")
        management = self.management_tenant
        if support.tenant_id != management.id:
            rule = "support users are users of the management tenant"
            raise PermissionDenied(f"{support_user_id!r} is not a support user: {rule}",
                                   value=support_user_id, rule=rule,
                                   field="support_user_id")  # fmt: skip
        if Permission("support", "READ") not in effective_global(
            self._writer.index, support_user_id
        ):
            rule = "acting as another tenant's user needs the support permission"
            raise PermissionDenied(f"{support_user_id!r} may not give support: {rule}",
                                   value=support_user_id, rule=rule,
                                   field="support_user_id")  # fmt: skip
        if user.tenant_id == management.id:
            rule = "support acts in customer tenants, not in the management tenant"
            raise PermissionDenied(f"support may not act as {user_id!r}: {rule}",
                                   value=user_id, rule=rule, field="user_id")  # fmt: skip
        if not support_open(self._writer.index, user.tenant_id, self._writer.clock()):
            rule = "support access is open only for all tenants or on the tenant's request"
            raise PermissionDenied(
                f"support access to tenant {user.tenant_id!r} is not open: {rule}",
                value=user.tenant_id, rule=rule, field="user_id",
            )  # fmt: skip
        acting = self._acting(Identity(user_id, support_user_id))
        started = ch.SupportSessionStarted(
            tenant_id=user.tenant_id, support_user_id=support_user_id, user_id=user_id
        )
        self._writer.write(lambda: ([started], None), acting.identity)
        return acting
