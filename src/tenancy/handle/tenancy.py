"""The facade: a :class:`Tenancy` handle holds a writer (store, index, lock, clock, limits,
usage recorder, follower) and an identity (who acts: it authorises and audits every write),
and is composed of parts on the two: the reach and access queries, the tenant lifecycle, the
usage reports and the audit log. Each public method hands its call to its part, except
:meth:`Tenancy.verify` and :meth:`Tenancy.check`, the hot paths, which read the writer's
views themselves (a delegation would cost a call, a third of verify). ``as_user`` and
``as_support`` build a new handle on the same writer with another identity.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any

from tenancy.errors import InvalidValue, named, with_field
from tenancy.handle.access import AccessQueries
from tenancy.handle.acting import actor_user, check_support
from tenancy.handle.audit import AuditLog
from tenancy.handle.feed import DEFAULT_FEED_LIMIT, ChangeFeed
from tenancy.handle.scope import TenantScope
from tenancy.handle.store_lookups import StoreLookups
from tenancy.handle.tenants import TenantLifecycle
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
from tenancy.records.changes import Commit, Revision
from tenancy.records.grants import Permission, parse_permission
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
from tenancy.records.tags import RulesInput
from tenancy.rules.access import SYSTEM as SYSTEM_IDENTITY
from tenancy.rules.access import Identity, check, membership_grants
from tenancy.rules.paging import DEFAULT_PAGE_SIZE
from tenancy.rules.validate import UNSET, OptionsInput, PropertiesInput
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
        self._feed = ChangeFeed(writer, identity)
        self._lookups = StoreLookups(writer, identity)
        self._transfer = Transfer(writer, identity)

    def _acting(self, identity: Identity) -> Tenancy:
        """A new handle on this handle's writer, acting as ``identity``."""
        acting = Tenancy.__new__(Tenancy)
        acting._compose(self._writer, identity, owner=False)
        return acting

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
        frozensets; O(min(groups of the user, groups covering the device)) at worst.

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
        reach, cover, _, _ = self._views
        try:
            return not reach[user_id].isdisjoint(cover[device_id])
        except (KeyError, TypeError):
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
        tags: RulesInput | None = None,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> list[User]:
        """Every user who reaches ``device_id`` (whom to alert), sorted by id; ``tags`` keeps users
        whose tags match every matcher. ``at_least``, ``fresh``: [freshness](api.md#freshness).
        Runtime complexity: O(c + m log c) for c covering groups and m members among them."""
        return self._queries.users_for(device_id, tags=tags, at_least=at_least, fresh=fresh)

    def groups_for(
        self,
        user_id: str,
        *,
        inherited: bool = True,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> list[Group]:
        """The groups ``user_id`` is a member of, sorted by id; with ``inherited`` every group below
        them too. ``at_least``, ``fresh``: [freshness](api.md#freshness). Runtime complexity:
        O(g log g) for g groups returned."""
        return self._queries.groups_for(
            user_id, inherited=inherited, at_least=at_least, fresh=fresh
        )

    def in_group(
        self, user_id: str, group_id: str, *, at_least: int | None = None, fresh: bool = False
    ) -> bool:
        """Is ``user_id`` a member of ``group_id`` or of an ancestor? Structural: it ignores the
        enabled flag and suspension, as :meth:`verify` does not. ``at_least``, ``fresh``:
        [freshness](api.md#freshness). Runtime complexity: O(min(depth, the user's groups))."""
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
        """One page of the devices ``group_id`` covers; with ``descendants=False`` only those it
        associates itself (and their child devices). ``limit`` and ``after`` as for
        :meth:`devices_for` (a cursor of this group with the same ``descendants``). ``at_least``,
        ``fresh``: [freshness](api.md#freshness). Runtime complexity: O(log n + limit) with
        descendants; O(d log d) over the d devices the group itself associates without."""
        return self._queries.devices_in(
            group_id, descendants=descendants, limit=limit, after=after, at_least=at_least,
            fresh=fresh,
        )  # fmt: skip

    def devices_for(
        self,
        user_id: str,
        *,
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        tags: RulesInput | None = None,
        group: str | None = None,
        permission: str | Permission | None = None,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> Page[Device]:
        """One page of the devices ``user_id`` reaches, sorted by id. ``limit`` is 1 to 10,000;
        ``after`` the previous page's ``next`` (a cursor of this listing with the same filters).
        ``tags`` keeps devices matching every matcher; ``group`` those that group covers; with
        ``permission``, exactly the devices :meth:`check` allows (a tenant-wide role lists the
        tenant, filtered by ``check`` when an owner caps it). ``at_least``, ``fresh``:
        [freshness](api.md#freshness). Runtime complexity: O(g log n + limit x g) for a user whose
        groups cover n devices through g top-most groups; a filter adds the devices it skips, a
        permission one check each. Never materialises more than one page."""
        return self._queries.devices_for(
            user_id, limit=limit, after=after, tags=tags, group=group, permission=permission,
            at_least=at_least, fresh=fresh,
        )  # fmt: skip

    def explain(
        self,
        user_id: str,
        device_id: str,
        *,
        permission: str | Permission | None = None,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> Explanation:
        """Why ``user_id`` reaches ``device_id`` (an :class:`~tenancy.Explanation`), or the
        first condition that fails; with ``permission``, also which role grants it (``role``,
        ``role_group``) or why none does (``no-role``, ``capped-by-owner``). ``at_least``,
        ``fresh``: [freshness](api.md#freshness). Runtime complexity: O(gateways x (tags x
        rules per tag + depth x associating groups)), plus the grants with a permission."""
        return self._queries.explain(
            user_id, device_id, permission=permission, at_least=at_least, fresh=fresh
        )

    # ------------------------------------------------------------ tenants (delegated)

    def get_tenant(self, tenant_id: str) -> Tenant:
        """The tenant record of ``tenant_id``; NotFound for an unknown id. Runtime complexity:
        O(1)."""
        return self._tenants.get_tenant(tenant_id)

    def find_tenant(self, domain: str) -> Tenant | None:
        """The tenant with this ``domain``, or None. Runtime complexity: O(1)."""
        return self._tenants.find_tenant(domain)

    def subtenants(self, tenant_id: str, *, recursive: bool = False) -> list[Tenant]:
        """The tenants directly below ``tenant_id`` (with ``recursive``, all the way down),
        sorted by id. Runtime complexity: O(k log k) for k tenants returned."""
        return self._tenants.subtenants(tenant_id, recursive=recursive)

    def default_subscriptions(self, tenant_id: str) -> frozenset[str]:
        """The applications a new subtenant of ``tenant_id`` is subscribed to: its own list when
        it overrides it, else the nearest ancestor's that does (else none). Runtime complexity:
        O(depth)."""
        return self._tenants.default_subscriptions(tenant_id)

    def is_subscribed(self, tenant_id: str, application: str) -> bool:
        """Is ``tenant_id`` subscribed to ``application``, and able to use it? False while it is
        suspended (its applications are stopped; the subscription itself is kept) and for an unknown
        tenant (or application). Runtime complexity: O(1)."""
        return self._tenants.is_subscribed(tenant_id, application)

    def policies(self, tenant_id: str, *, inherited: bool = False) -> list[TenantPolicy]:
        """The policies ``tenant_id`` defines, sorted by name; with ``inherited``, every policy
        usable for its new subtenants: its own, then its ancestors' (the nearest name wins). Runtime
        complexity: O(p log p) for the p policies read."""
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
        """Create a tenant below ``parent`` (default: the acting tenant ``by``, the management
        tenant unless given) with its first admin user, in one transaction. The parent must be
        active and allow subtenants; only the management tenant sets ``allow_subtenants``.

        ``domain`` is unique: 2 to 63 lowercase letters, digits and hyphens, starting with a letter,
        not ending with a hyphen. ``name``, ``contact_name``, ``contact_phone``: text.
        ``admin_email``, ``admin_username``: the first admin user's (it holds admin, and is never
        disabled or deleted). ``properties`` (``{key: value}``), ``options`` (``{(category, key):
        value}``), ``retention_rules``, ``max_devices``, ``max_root_devices`` (None: no limit): the
        tenant's settings. A ``policy`` of the parent or an ancestor gives its options (those given
        win) and retention rules (unless given). ``subscriptions`` default to the parent's default
        subscriptions; ``default_subscriptions`` is what its own subtenants get. ``id``: generated
        unless given; it never changes. ``by``: [the acting tenant](tenants.md#who-may-act-by).
        Runtime complexity: O(depth + properties + options + retention rules), one commit."""
        return self._tenants.create_tenant(
            domain=domain, name=name, admin_email=admin_email, admin_username=admin_username,
            parent=parent, allow_subtenants=allow_subtenants, contact_name=contact_name,
            contact_phone=contact_phone, properties=properties, options=options,
            retention_rules=retention_rules, policy=policy, max_devices=max_devices,
            max_root_devices=max_root_devices, subscriptions=subscriptions,
            default_subscriptions=default_subscriptions, id=id, by=by,
        )  # fmt: skip

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
        """Edit the given fields of ``tenant_id`` (the rest stay; id, domain and admin username
        never change): ``name``, ``contact_name``, ``contact_phone``, ``admin_email``,
        ``allow_subtenants``, ``max_devices``, ``max_root_devices`` as in :meth:`create_tenant`;
        ``properties``, ``options``, ``retention_rules``, ``subscriptions`` replace the whole
        collection; ``default_subscriptions=None`` inherits the parent's list again. A limit of None
        lifts it; one below the current count removes nothing and refuses the next record. ``by``:
        [the acting tenant](tenants.md#who-may-act-by). Runtime complexity: O(the fields given), one
        commit."""
        return self._tenants.update_tenant(
            tenant_id, name=name, contact_name=contact_name, contact_phone=contact_phone,
            admin_email=admin_email, allow_subtenants=allow_subtenants, properties=properties,
            options=options, retention_rules=retention_rules, max_devices=max_devices,
            max_root_devices=max_root_devices, subscriptions=subscriptions,
            default_subscriptions=default_subscriptions, by=by,
        )  # fmt: skip

    def set_properties(
        self, tenant_id: str, values: Mapping[str, str | None], *, by: str | None = None
    ) -> Tenant:
        """Set custom properties of ``tenant_id`` from ``values`` (a None value removes the key);
        the others stay. For the parent or the management tenant. ``by``: [the acting
        tenant](tenants.md#who-may-act-by). Runtime complexity: O(p log p) for the tenant's p
        properties, one commit."""
        return self._tenants.set_properties(tenant_id, values, by=by)

    def set_options(
        self, tenant_id: str, values: Mapping[tuple[str, str], str | None], *, by: str | None = None
    ) -> Tenant:
        """Set options of ``tenant_id`` from ``values``, ``{(category, key): value}`` (None
        removes one); the others stay. ``by``: [the acting tenant](tenants.md#who-may-act-by).
        Runtime complexity: O(o log o) for its o options, one commit."""
        return self._tenants.set_options(tenant_id, values, by=by)

    def subscribe(
        self, tenant_id: str, applications: Iterable[str], *, by: str | None = None
    ) -> Tenant:
        """Subscribe ``tenant_id`` to ``applications`` (ones it has are ignored), for the parent
        or the management tenant. ``by``: [the acting tenant](tenants.md#who-may-act-by). Runtime
        complexity: O(its subscriptions), one commit."""
        return self._tenants.subscribe(tenant_id, applications, by=by)

    def unsubscribe(
        self, tenant_id: str, applications: Iterable[str], *, by: str | None = None
    ) -> Tenant:
        """Remove the subscriptions of ``tenant_id`` to ``applications`` (ones it lacks are
        ignored). ``by``: [the acting tenant](tenants.md#who-may-act-by). Runtime complexity: O(its
        subscriptions), one commit."""
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
        """Define (or replace) the policy ``name`` of ``tenant_id``, for creating its subtenants:
        a named bundle of ``options`` and ``retention_rules``, at least one of either, with a
        ``description``. Returns the :class:`~tenancy.TenantPolicy`. Tenants created with it earlier
        keep what they got. ``by``: [the acting tenant](tenants.md#who-may-act-by). Runtime
        complexity: O(policies of the tenant + options + retention rules), one commit."""
        return self._tenants.define_policy(
            tenant_id, name, description=description, options=options,
            retention_rules=retention_rules, by=by,
        )  # fmt: skip

    def delete_policy(self, tenant_id: str, name: str, *, by: str | None = None) -> None:
        """Delete the policy ``name`` of ``tenant_id``; NotFound if it has none of that name.
        ``by``: [the acting tenant](tenants.md#who-may-act-by). Runtime complexity: O(policies of
        the tenant), one commit."""
        return self._tenants.delete_policy(tenant_id, name, by=by)

    def suspend_tenant(self, tenant_id: str, *, by: str | None = None) -> Tenant:
        """Block ``tenant_id`` and every tenant below it: no user reaches anything,
        ``is_subscribed`` is False, requests are not counted and nothing is written there until
        :meth:`activate_tenant`; all data is kept. For the parent or the management tenant, which
        cannot be suspended itself. Below a suspended tenant only activation is accepted: suspending
        raises TenantSuspended naming the suspended ancestor. ``by``: [the acting
        tenant](tenants.md#who-may-act-by). Runtime complexity: O(tenants below + their users x
        their groups), one commit."""
        return self._tenants.suspend_tenant(tenant_id, by=by)

    def activate_tenant(self, tenant_id: str, *, by: str | None = None) -> Tenant:
        """Lift the suspension of ``tenant_id``: every answer comes back as it was. For the
        parent or the management tenant. Accepted below a suspended tenant too: the tenant then
        stays blocked until every tenant above it is active. ``by``: [the acting
        tenant](tenants.md#who-may-act-by). Runtime complexity: as :meth:`suspend_tenant`."""
        return self._tenants.activate_tenant(tenant_id, by=by)

    def delete_tenant(
        self, tenant_id: str, *, cascade: bool = False, by: str | None = None
    ) -> None:
        """Remove ``tenant_id`` and every record it holds (groups, devices, users, memberships,
        usage statistics), irreversibly; with ``cascade`` its subtenants too (else InUse when it has
        any). Only the management tenant deletes, and is never deleted; a suspended tenant can be.
        Afterwards its ids are unknown and its domain is free; its audit trail stays. ``by``: [the
        acting tenant](tenants.md#who-may-act-by). Runtime complexity: O(records deleted x depth),
        one commit."""
        return self._tenants.delete_tenant(tenant_id, cascade=cascade, by=by)

    # ------------------------------------------------------------ usage statistics (delegated)

    def record_request(self, tenant_id: str, kind: str = "api", count: int = 1) -> bool:
        """Count ``count`` requests of ``kind`` (``"api"``, ``"device"``, anything) for
        ``tenant_id`` on today's UTC day. No I/O: counted in memory, flushed in batches (with the
        next write, by :meth:`flush_usage`, by the background flusher, on close). Returns False,
        counting nothing, while the tenant is suspended. Runtime complexity: O(1)."""
        return self._usage_reports.record_request(tenant_id, kind, count)

    def flush_usage(self) -> Revision:
        """Write the requests counted in memory now, as one commit (none when nothing is
        pending). Returns the handle's revision afterwards. Runtime complexity: O(counters pending),
        one commit."""
        return self._usage_reports.flush_usage()

    def usage(
        self,
        tenant_id: str,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        *,
        subtenants: bool = False,
    ) -> list[UsageDay]:
        """The usage statistics of ``tenant_id``, one :class:`~tenancy.UsageDay` per UTC day from
        ``start`` to ``end`` (dates or datetimes, both included; default and bounds: from the
        tenant's creation to today), sorted by tenant id then day; with ``subtenants``, every tenant
        below it too. Requests counted in memory and not flushed yet are included. Runtime
        complexity: O(tenants x days)."""
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
        """:meth:`usage` of ``tenant_id`` from ``start`` to ``end`` (with ``subtenants``) as CSV
        text, ``sep`` between fields (``";"`` for spreadsheets that use a decimal comma). Columns:
        :data:`tenancy.rules.usage.CSV_COLUMNS`, then one ``requests:<kind>`` column per request
        kind and one ``property:<key>`` column per custom property. Runtime complexity: O(tenants x
        days x columns)."""
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
        (``tenant``, ``actor``, ``target`` ids; ``start`` <= at < ``end``, a naive datetime taken
        as UTC). ``limit`` is 1 to 10,000. Pass the page's ``next`` as ``after`` for the next page,
        with the same filters. ``after_seq``, an :attr:`AuditRecord.seq` (not with ``after``),
        starts right after that record: how to follow the log from the last record seen. Reads the
        store, so every process's writes show at once; a handle acting as a user reads its tenant's
        log only, with ``audit:READ``. Runtime complexity: on SQLite O(log n + limit) with at most
        one id filter (each has an index; a time range is found by bisection); a second one is
        tested on the records the first selects. The memory store scans from the cursor."""
        return self._audit.audit_log(
            tenant=tenant, actor=actor, target=target, start=start, end=end, limit=limit,
            after=after, after_seq=after_seq,
        )  # fmt: skip

    # ------------------------------------------------------------ change feed (delegated)

    def changes(self, *, after: int = 0, limit: int = DEFAULT_FEED_LIMIT) -> list[Commit]:
        """The first ``limit`` (1 to 10,000) commits after revision ``after``, in order, read
        from the store (see :mod:`tenancy.handle.feed`). Runtime complexity: O(log n + limit)."""
        return self._feed.changes(after=after, limit=limit)

    def watch(self, *, after: int | None = None, timeout: float = 5.0) -> Iterator[Commit]:
        """Every commit after ``after`` (default: :attr:`revision`), in order, blocking for
        new ones; ends once ``timeout`` seconds (0 to 86,400) pass without one. Runtime
        complexity: O(commits given); between commits it waits without spinning."""
        return self._feed.watch(after=after, timeout=timeout)

    # ------------------------------------------------------------ store-wide look-ups (delegated)

    def tenants(self) -> list[Tenant]:
        """Every tenant, parents first (depth first, siblings by id). Runtime complexity:
        O(t log t) for the store's t tenants."""
        return self._lookups.tenants()

    def get_user(self, user_id: str) -> User:
        """The user ``user_id``, in any tenant; NotFound if unknown. Runtime complexity:
        O(1)."""
        return self._lookups.get_user(user_id)

    def get_device(self, device_id: str) -> Device:
        """The device ``device_id``, in any tenant; NotFound if unknown. Runtime
        complexity: O(1)."""
        return self._lookups.get_device(device_id)

    def get_group(self, group_id: str) -> Group:
        """The group ``group_id``, in any tenant; NotFound if unknown. Runtime complexity:
        O(its device ids and tag rules)."""
        return self._lookups.get_group(group_id)

    def find_users(self, email: str) -> list[User]:
        """The users whose email is ``email`` (ignoring case), in every tenant, sorted by
        id: who may log in with it. Runtime complexity: O(t) for the store's t tenants."""
        return self._lookups.find_users(email)

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
