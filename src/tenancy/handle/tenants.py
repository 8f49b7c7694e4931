"""Tenant lifecycle and settings: create, edit, suspend, activate and delete tenants; their
custom properties, options, policies, subscriptions and limits (DOMAIN.md section 6).

A part of :class:`~tenancy.handle.tenancy.Tenancy`: it validates against the writer's index
and writes through the writer's single write path. Every edit of a tenant's fields is one
``TenantUpdated`` change carrying the whole new record.

**Who may do what.** There is no acting user yet (``as_user`` comes with access control),
so the tenant methods take ``by=``: the id of the tenant acting, None meaning the
application itself, which acts as the management tenant. The rules, each raising
:class:`~tenancy.errors.PermissionDenied` when broken:

- create a subtenant of P: P itself or the management tenant; only the management tenant
  sets ``allow_subtenants``;
- suspend, activate, and manage a tenant's properties, limits and subscriptions: its parent
  or the management tenant;
- edit a tenant's descriptive fields, options, retention rules, default subscriptions and
  policies: the tenant itself, its parent or the management tenant;
- delete: the management tenant only.

An acting tenant must exist (NotFound) and be active (TenantSuspended).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from tenancy import ids as _ids
from tenancy.errors import AlreadyExists, InUse, InvalidValue, NotFound, PermissionDenied
from tenancy.errors import TenantSuspended as TenantSuspendedError
from tenancy.handle.acting import acting_tenant
from tenancy.handle.writer import Writer
from tenancy.index.index import Index
from tenancy.records import changes as ch
from tenancy.records.changes import Change
from tenancy.records.grants import ADMIN_ROLE, RoleGrant
from tenancy.records.model import (
    ACTIVE,
    MAX_INT,
    SUSPENDED,
    RetentionRule,
    SafetyLimits,
    Tenant,
    TenantOption,
    TenantPolicy,
    User,
)
from tenancy.rules.access import Identity
from tenancy.rules.limits import check_new_tenant
from tenancy.rules.sharing import tenant_share_removals
from tenancy.rules.tenant_rules import editors, may_edit
from tenancy.rules.validate import (
    UNSET,
    OptionsInput,
    PropertiesInput,
    check_bool,
    check_domain,
    check_email,
    check_line,
    check_name,
    check_text,
    lookup,
    parse_applications,
    parse_key,
    parse_options,
    parse_properties,
    parse_retention_rules,
    replace,
    unique_id,
)

__all__ = [
    "DEFAULT_APPLICATIONS_OPTIONS",
    "MANAGEMENT_DOMAIN",
    "TenantLifecycle",
]

MANAGEMENT_DOMAIN = "management"
R = TypeVar("R")

DEFAULT_APPLICATIONS_OPTIONS = (
    ("configuration", "default.tenant.applications"),
    ("configuration", "default.tenant.microservices"),
)
"""Options that, applied at creation (by a policy or given), set the new tenant's default
subscriptions: the comma-separated applications of both, as in the source platform."""


# ---------------------------------------------------------------- input checks


def _check_limit(field: str, value: object) -> int | None:
    if value is not None and (type(value) is not int or not 0 <= value <= MAX_INT):
        raise InvalidValue(
            value, f"{field} is an int from 0 to 2**63 - 1, or None for no limit", field=field
        )
    return value


def _subscriptions_from_options(options: tuple[TenantOption, ...]) -> frozenset[str] | None:
    lists = [v for c, k, v in options if (c, k) in DEFAULT_APPLICATIONS_OPTIONS]
    if not lists:
        return None
    names = [a.strip() for v in lists for a in v.split(",") if a.strip()]
    return parse_applications(names, "options")


def _deny(actor: str, action: str, who: str, *, target: str = "", field: str = "by") -> None:
    rule = f"only {who} may {action}"
    raise PermissionDenied(
        f"tenant {actor!r} may not {action}{target}: {rule}", value=actor, rule=rule, field=field
    )


# ---------------------------------------------------------------- the part


class TenantLifecycle:
    """The tenant methods of a :class:`~tenancy.Tenancy` handle, a part it holds."""

    def __init__(self, writer: Writer, identity: Identity) -> None:
        self._writer = writer
        self._identity = identity

    @property
    def _index(self) -> Index:
        return self._writer.index

    def _write(self, make: Callable[[], tuple[list[Change], R]]) -> R:
        return self._writer.write(make, self._identity)

    def _acting_tenant(self) -> str | None:
        """The tenant of the acting user, None for the application itself."""
        return acting_tenant(self._writer.index, self._identity)

    # ------------------------------------------------------------ reading

    @property
    def management_tenant(self) -> Tenant:
        """The root of the tenant tree, created when the store was initialised."""
        index = self._index
        return index.tenants[index.tenant_by_domain(MANAGEMENT_DOMAIN)]  # type: ignore[index]

    @property
    def limits(self) -> SafetyLimits:
        """The store-wide safety limits this handle enforces."""
        return self._writer.limits

    def create_management_tenant(self) -> None:
        """Create the management tenant, the root of the tenant tree, with its first admin,
        in revision 1 of a new store (nothing when another process did it first). Runtime
        complexity: one commit."""

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
                allow_subtenants=True, created_at=self._writer.clock(), admin_email=admin.email,
                admin_username=admin.username, admin_user_id=admin.id,
            )  # fmt: skip
            admin_role = RoleGrant(tenant_id=tenant.id, user_id=admin.id, role=ADMIN_ROLE)
            return [
                ch.TenantCreated(tenant=tenant),
                ch.UserCreated(user=admin),
                ch.AccessSet(record=admin_role),  # the first admin holds the admin role
            ], None

        self._write(make)

    def get_tenant(self, tenant_id: str) -> Tenant:
        """The tenant record of ``tenant_id``; NotFound for an unknown id. Runtime complexity:
        O(1)."""
        return self._tenant(tenant_id, "tenant_id")

    def _tenant(self, tenant_id: object, field: str) -> Tenant:
        return lookup(self._index.tenants, tenant_id, "tenant", field)

    def find_tenant(self, domain: str) -> Tenant | None:
        """The tenant with this ``domain``, or None. Runtime complexity: O(1)."""
        try:
            tenant_id = self._index.tenant_by_domain(domain)
        except TypeError:
            check_domain(domain)  # an unhashable domain: say why it is not one
            raise
        return None if tenant_id is None else self._index.tenants[tenant_id]

    def subtenants(self, tenant_id: str, *, recursive: bool = False) -> list[Tenant]:
        """The tenants directly below ``tenant_id`` (with ``recursive``, all the way down),
        sorted by id. Runtime complexity: O(k log k) for k tenants returned."""
        self.get_tenant(tenant_id)
        if check_bool("recursive", recursive):
            ids = [t for t in self._index.tenant_subtree(tenant_id) if t != tenant_id]
        else:
            ids = list(self._index.child_tenants(tenant_id))
        return [self._index.tenants[t] for t in sorted(ids)]

    def default_subscriptions(self, tenant_id: str) -> frozenset[str]:
        """The applications a new subtenant of ``tenant_id`` is subscribed to: its own list when
        it overrides it, else the nearest ancestor's that does (else none). Runtime complexity:
        O(depth).

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> _ = tn.update_tenant(tn.management_tenant.id, default_subscriptions=["cockpit"])
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        >>> sorted(acme.subscriptions), sorted(tn.default_subscriptions(acme.id))
        (['cockpit'], ['cockpit'])
        >>> _ = tn.update_tenant(acme.id, default_subscriptions=["fleet"])
        >>> sorted(tn.default_subscriptions(acme.id))
        ['fleet']
        >>> _ = tn.update_tenant(acme.id, default_subscriptions=None)  # inherit again
        >>> sorted(tn.default_subscriptions(acme.id))
        ['cockpit']
        """
        tenant: Tenant | None = self.get_tenant(tenant_id)
        while tenant is not None:
            if tenant.default_subscriptions is not None:
                return tenant.default_subscriptions
            tenant = None if tenant.parent_id is None else self._index.tenants[tenant.parent_id]
        return frozenset()

    def is_subscribed(self, tenant_id: str, application: str) -> bool:
        """Is ``tenant_id`` subscribed to ``application``, and able to use it? False while it is
        suspended (its applications are stopped; the subscription itself is kept) and for an unknown
        tenant (or application). Runtime complexity: O(1)."""
        try:
            tenant = self._index.tenants.get(tenant_id)
            return (
                tenant is not None
                and self._index.blocker_of(tenant_id) is None
                and application in tenant.subscriptions
            )
        except TypeError:  # an unhashable id or name is none of them
            return False

    def policies(self, tenant_id: str, *, inherited: bool = False) -> list[TenantPolicy]:
        """The policies ``tenant_id`` defines, sorted by name; with ``inherited``, every policy
        usable for its new subtenants: its own, then its ancestors' (the nearest name wins). Runtime
        complexity: O(p log p) for the p policies read."""
        tenant: Tenant | None = self.get_tenant(tenant_id)
        check_bool("inherited", inherited)
        found: dict[str, TenantPolicy] = {}
        while tenant is not None:
            for policy in tenant.policies:
                found.setdefault(policy.name, policy)
            if not inherited or tenant.parent_id is None:
                break
            tenant = self._index.tenants[tenant.parent_id]
        return [found[name] for name in sorted(found)]

    # ------------------------------------------------------------ who acts

    def _check_active(self, tenant_id: str) -> None:
        blocker = self._index.blocker_of(tenant_id)
        if blocker is not None:
            raise TenantSuspendedError(tenant_id, blocker)

    def _actor(self, by: str | None) -> str:
        """The acting tenant's id: ``by``, else the acting user's tenant, else the management
        tenant (the application itself)."""
        acting = self._acting_tenant()
        if by is None:
            return acting or self.management_tenant.id
        self._tenant(by, "by")
        self._check_active(by)
        if acting is not None and by != acting:
            rule = "a handle acting as a user acts for the user's own tenant only"
            raise PermissionDenied(
                f"a user of tenant {acting!r} may not act as tenant {by!r}: {rule}",
                value=by, rule=rule, field="by",
            )  # fmt: skip
        return by

    def _allow(
        self, actor: str, target: Tenant, field: str, what: str = "", *, arg: str = ""
    ) -> None:
        """PermissionDenied unless tenant ``actor`` may change ``field`` of ``target``
        (tenancy.rules.tenant_rules); ``what`` names the action, by default the change. The
        refusal names the argument ``arg``: by default ``by`` when the actor was named by
        it, else ``tenant_id`` (the target it may not touch)."""
        if may_edit(actor, target, field, management=(self.management_tenant.id,)):
            return
        # "may not suspend tenant 't1'", "may not change the name of tenant 't1'"
        where = f" tenant {target.id!r}" if what else f" of tenant {target.id!r}"
        what = what or f"change the {field}"
        if not arg:
            default_actor = self._acting_tenant() or self.management_tenant.id
            arg = "tenant_id" if actor == default_actor else "by"
        _deny(actor, what, editors(field), target=where, field=arg)

    def _management_only(self, actor: str, what: str, field: str = "by") -> None:
        if actor != self.management_tenant.id:
            _deny(actor, what, "the management tenant", field=field)

    # ------------------------------------------------------------ creating

    def _find_policy(self, parent_id: str, name: str) -> TenantPolicy:
        for policy in self.policies(parent_id, inherited=True):
            if policy.name == name:
                return policy
        raise NotFound(
            "tenant policy", name, where=f"tenant {parent_id!r} or above", field="policy"
        )

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

        def make() -> tuple[list[Change], Tenant]:
            index = self._index
            actor = self._actor(by)
            parent_id = actor if parent is None else parent
            parent_field = "by" if parent is None else "parent"
            actor_field = "parent" if by is None else "by"  # whose choice was refused
            parent_tenant = self._tenant(parent_id, parent_field)
            if actor not in (self.management_tenant.id, parent_id):
                _deny(
                    actor,
                    "create subtenants",
                    "the parent itself or the management tenant",
                    target=f" below tenant {parent_id!r}",
                    field=actor_field,
                )
            self._check_active(parent_id)
            if parent_tenant.parent_id is not None and not parent_tenant.allow_subtenants:
                raise InvalidValue(
                    parent_id,
                    "a tenant gets subtenants only when allow_subtenants is set",
                    field=parent_field,
                )
            if check_bool("allow_subtenants", allow_subtenants):
                self._management_only(
                    actor, "allow a tenant to create subtenants", "allow_subtenants"
                )
            check_domain(domain)
            if index.tenant_by_domain(domain) is not None:
                raise AlreadyExists(
                    "tenant domain", domain, rule="tenant domains are unique", field="domain"
                )
            if id is not None:
                _ids.check_id("tenant", id)
                if id in index.tenants:
                    raise AlreadyExists("tenant", id, field="id")
            check_email(admin_email, "admin_email")
            check_name("admin user", admin_username, "admin_username")
            if policy is not None and not isinstance(policy, str):
                raise InvalidValue(policy, "a policy is named by a string", field="policy")
            applied = None if policy is None else self._find_policy(parent_id, policy)
            merged = {(c, k): v for c, k, v in applied.options} if applied else {}
            merged.update(((c, k), v) for c, k, v in parse_options(options))
            all_options = tuple((c, k, v) for (c, k), v in sorted(merged.items()))
            if retention_rules is not None:
                rules = parse_retention_rules(retention_rules)
            else:
                rules = applied.retention_rules if applied else ()
            defaults = (
                _subscriptions_from_options(all_options)
                if default_subscriptions is None
                else parse_applications(default_subscriptions, "default_subscriptions")
            )
            subscribed = (
                self.default_subscriptions(parent_id)
                if subscriptions is None
                else parse_applications(subscriptions, "subscriptions")
            )
            check_new_tenant(self._writer.limits, index, parent_id)
            tenant_id = id or unique_id(_ids.new_tenant_id, index.tenants)
            admin = User(
                id=unique_id(_ids.new_user_id, index.users), tenant_id=tenant_id,
                email=admin_email, username=admin_username,
            )  # fmt: skip
            tenant = Tenant(
                id=tenant_id,
                domain=domain,
                name=check_name("tenant", name),
                parent_id=parent_id,
                allow_subtenants=allow_subtenants,
                status=ACTIVE,
                created_at=self._writer.clock(),
                contact_name=check_line("contact_name", contact_name),
                contact_phone=check_line("contact_phone", contact_phone),
                admin_email=admin_email,
                admin_username=admin_username,
                admin_user_id=admin.id,
                properties=parse_properties(properties),
                options=all_options,
                retention_rules=rules,
                max_devices=_check_limit("max_devices", max_devices),
                max_root_devices=_check_limit("max_root_devices", max_root_devices),
                subscriptions=subscribed,
                default_subscriptions=defaults,
                policy=policy,
            )
            admin_role = RoleGrant(tenant_id=tenant.id, user_id=admin.id, role=ADMIN_ROLE)
            return [
                ch.TenantCreated(tenant=tenant),
                ch.UserCreated(user=admin),
                ch.AccessSet(record=admin_role),  # the first admin holds the admin role
            ], tenant

        return self._write(make)

    # ------------------------------------------------------------ editing

    def _edit(
        self,
        tenant_id: str,
        by: str | None,
        edit: Callable[[Tenant, str], dict[str, Any]],
    ) -> Tenant:
        """Validate and write one edit of a tenant's fields as one TenantUpdated."""

        def make() -> tuple[list[Change], Tenant]:
            actor = self._actor(by)
            old = self.get_tenant(tenant_id)
            self._check_active(tenant_id)
            new = replace(old, **edit(old, actor))
            return ([] if new == old else [ch.TenantUpdated(tenant=new)]), new

        return self._write(make)

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

        def edit(old: Tenant, actor: str) -> dict[str, Any]:
            fields: dict[str, Any] = {}
            own: dict[str, tuple[Any, Callable[[Any], Any]]] = {
                "name": (name, lambda v: check_name("tenant", v)),
                "contact_name": (contact_name, lambda v: check_line("contact_name", v)),
                "contact_phone": (contact_phone, lambda v: check_line("contact_phone", v)),
                "admin_email": (admin_email, lambda v: check_email(v, "admin_email")),
                "options": (options, parse_options),
                "retention_rules": (retention_rules, parse_retention_rules),
                "default_subscriptions": (
                    default_subscriptions,
                    lambda v: None if v is None else parse_applications(v, "default_subscriptions"),
                ),
            }
            managed: dict[str, tuple[Any, Callable[[Any], Any]]] = {
                "properties": (properties, parse_properties),
                "max_devices": (max_devices, lambda v: _check_limit("max_devices", v)),
                "max_root_devices": (
                    max_root_devices,
                    lambda v: _check_limit("max_root_devices", v),
                ),
                "subscriptions": (subscriptions, lambda v: parse_applications(v, "subscriptions")),
            }
            for table in (own, managed):
                for field, (value, check) in table.items():
                    if value is not UNSET:
                        self._allow(actor, old, field, arg=field)
                        fields[field] = check(value)
            if allow_subtenants is not UNSET:
                value = check_bool("allow_subtenants", allow_subtenants)
                self._allow(actor, old, "allow_subtenants", arg="allow_subtenants")
                if old.parent_id is None and not value:
                    raise InvalidValue(
                        value,
                        "the management tenant always allows subtenants",
                        field="allow_subtenants",
                    )
                fields["allow_subtenants"] = value
            return fields

        return self._edit(tenant_id, by, edit)

    def set_properties(
        self, tenant_id: str, values: Mapping[str, str | None], *, by: str | None = None
    ) -> Tenant:
        """Set custom properties of ``tenant_id`` from ``values`` (a None value removes the key);
        the others stay. For the parent or the management tenant. ``by``: [the acting
        tenant](tenants.md#who-may-act-by). Runtime complexity: O(p log p) for the tenant's p
        properties, one commit."""

        if not isinstance(values, Mapping):
            raise InvalidValue(values, "properties to set are a mapping", field="values")

        def edit(old: Tenant, actor: str) -> dict[str, Any]:
            self._allow(actor, old, "properties")
            current = dict(old.properties)
            for key, value in dict(values).items():
                if value is None:
                    current.pop(parse_key("property key", key, "values"), None)
                else:
                    current[parse_key("property key", key, "values")] = value
            return {"properties": parse_properties(current, "values")}

        return self._edit(tenant_id, by, edit)

    def set_options(
        self,
        tenant_id: str,
        values: Mapping[tuple[str, str], str | None],
        *,
        by: str | None = None,
    ) -> Tenant:
        """Set options of ``tenant_id`` from ``values``, ``{(category, key): value}`` (None
        removes one); the others stay. ``by``: [the acting tenant](tenants.md#who-may-act-by).
        Runtime complexity: O(o log o) for its o options, one commit."""

        if not isinstance(values, Mapping):
            raise InvalidValue(
                values, "options to set are {(category, key): value}", field="values"
            )

        def edit(old: Tenant, actor: str) -> dict[str, Any]:
            self._allow(actor, old, "options")
            current = {(c, k): v for c, k, v in old.options}
            for pair, value in dict(values).items():
                if not isinstance(pair, tuple) or len(pair) != 2:
                    raise InvalidValue(
                        pair, "an option is named by (category, key)", field="values"
                    )
                if value is None:
                    current.pop(pair, None)
                else:
                    current[pair] = value
            return {"options": parse_options(current, "values")}

        return self._edit(tenant_id, by, edit)

    def subscribe(
        self, tenant_id: str, applications: Iterable[str], *, by: str | None = None
    ) -> Tenant:
        """Subscribe ``tenant_id`` to ``applications`` (ones it has are ignored), for the parent
        or the management tenant. ``by``: [the acting tenant](tenants.md#who-may-act-by). Runtime
        complexity: O(its subscriptions), one commit."""

        def edit(old: Tenant, actor: str) -> dict[str, Any]:
            self._allow(actor, old, "subscriptions")
            return {"subscriptions": old.subscriptions | parse_applications(applications)}

        return self._edit(tenant_id, by, edit)

    def unsubscribe(
        self, tenant_id: str, applications: Iterable[str], *, by: str | None = None
    ) -> Tenant:
        """Remove the subscriptions of ``tenant_id`` to ``applications`` (ones it lacks are
        ignored). ``by``: [the acting tenant](tenants.md#who-may-act-by). Runtime complexity: O(its
        subscriptions), one commit."""

        def edit(old: Tenant, actor: str) -> dict[str, Any]:
            self._allow(actor, old, "subscriptions")
            return {"subscriptions": old.subscriptions - parse_applications(applications)}

        return self._edit(tenant_id, by, edit)

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
        policy = TenantPolicy(
            name=check_name("policy", name),
            description=check_text("description", description),
            options=parse_options(options),
            retention_rules=parse_retention_rules(retention_rules),
        )
        if not policy.options and not policy.retention_rules:
            raise InvalidValue(
                name, "a policy bundles at least one option or retention rule", field="options"
            )

        def edit(old: Tenant, actor: str) -> dict[str, Any]:
            self._allow(actor, old, "policies")
            others = [p for p in old.policies if p.name != name]
            return {"policies": tuple(sorted([*others, policy], key=lambda p: p.name))}

        self._edit(tenant_id, by, edit)
        return policy

    def delete_policy(self, tenant_id: str, name: str, *, by: str | None = None) -> None:
        """Delete the policy ``name`` of ``tenant_id``; NotFound if it has none of that name.
        ``by``: [the acting tenant](tenants.md#who-may-act-by). Runtime complexity: O(policies of
        the tenant), one commit."""

        def edit(old: Tenant, actor: str) -> dict[str, Any]:
            self._allow(actor, old, "policies")
            if not isinstance(name, str) or old.get_policy(name) is None:
                raise NotFound("tenant policy", name, where=f"tenant {tenant_id!r}", field="name")
            return {"policies": tuple(p for p in old.policies if p.name != name)}

        self._edit(tenant_id, by, edit)

    # ------------------------------------------------------------ suspension and deletion

    def suspend_tenant(self, tenant_id: str, *, by: str | None = None) -> Tenant:
        """Block ``tenant_id`` and every tenant below it: no user reaches anything,
        ``is_subscribed`` is False, requests are not counted and nothing is written there until
        :meth:`activate_tenant`; all data is kept. For the parent or the management tenant, which
        cannot be suspended itself. Below a suspended tenant only activation is accepted: suspending
        raises TenantSuspended naming the suspended ancestor. ``by``: [the acting
        tenant](tenants.md#who-may-act-by). Runtime complexity: O(tenants below + their users x
        their groups), one commit."""

        def make() -> tuple[list[Change], Tenant]:
            actor = self._actor(by)
            tenant = self.get_tenant(tenant_id)
            if tenant.parent_id is None:
                raise InvalidValue(
                    tenant_id, "the management tenant cannot be suspended", field="tenant_id"
                )
            self._allow(actor, tenant, "status", "suspend")
            blocker = self._index.blocker_of(tenant.parent_id)
            if blocker is not None:
                raise TenantSuspendedError(tenant_id, blocker)
            if tenant.status == SUSPENDED:
                return [], tenant
            return [ch.TenantSuspended(tenant_id=tenant_id)], replace(tenant, status=SUSPENDED)

        return self._write(make)

    def activate_tenant(self, tenant_id: str, *, by: str | None = None) -> Tenant:
        """Lift the suspension of ``tenant_id``: every answer comes back as it was. For the
        parent or the management tenant. Accepted below a suspended tenant too: the tenant then
        stays blocked until every tenant above it is active. ``by``: [the acting
        tenant](tenants.md#who-may-act-by). Runtime complexity: as :meth:`suspend_tenant`."""

        def make() -> tuple[list[Change], Tenant]:
            actor = self._actor(by)
            tenant = self.get_tenant(tenant_id)
            if tenant.parent_id is not None:
                self._allow(actor, tenant, "status", "activate")
            if tenant.status == ACTIVE:
                return [], tenant
            return [ch.TenantActivated(tenant_id=tenant_id)], replace(tenant, status=ACTIVE)

        return self._write(make)

    def delete_tenant(
        self, tenant_id: str, *, cascade: bool = False, by: str | None = None
    ) -> None:
        """Remove ``tenant_id`` and every record it holds (groups, devices, users, memberships,
        usage statistics), irreversibly; with ``cascade`` its subtenants too (else InUse when it has
        any). Only the management tenant deletes, and is never deleted; a suspended tenant can be.
        Every connector from or to a deleted tenant goes with it (with its subscription and
        virtual group). Afterwards its ids are unknown and its domain is free; its audit trail
        stays. ``by``: [the acting tenant](tenants.md#who-may-act-by). Runtime complexity:
        O(records deleted x depth), one commit."""

        def make() -> tuple[list[Change], None]:
            actor = self._actor(by)
            self._management_only(actor, "delete tenants")
            tenant = self.get_tenant(tenant_id)
            if tenant.parent_id is None:
                raise InvalidValue(
                    tenant_id, "the management tenant cannot be deleted", field="tenant_id"
                )
            subtree = list(self._index.tenant_subtree(tenant_id))
            if len(subtree) > 1 and not check_bool("cascade", cascade):
                raise InUse(
                    "tenant", tenant_id, "it has subtenants; pass cascade=True to delete them too",
                    field="tenant_id",
                )  # fmt: skip
            # Shares from or to a deleted tenant end first, in the tenants that stay too.
            ends = tenant_share_removals(self._index, subtree)
            return [*ends, *(ch.TenantDeleted(tenant_id=t) for t in reversed(subtree))], None

        self._write(make)
