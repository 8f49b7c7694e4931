"""The tenant calls of the handle: :class:`~tenancy.Tenancy` inherits them from
:class:`TenantCalls`, which hands each to the handle's tenant lifecycle part
(:class:`~tenancy.handle.tenants.TenantLifecycle`, which holds the rules).

A base class of real methods rather than a mixin with placeholders: it needs only the
``_tenants`` part that the handle sets when it is composed, and keeps ``tn.create_tenant``
where shared/API.md puts it while handle/tenancy.py stays one readable page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tenancy.handle.tenants import TenantLifecycle
from tenancy.records.model import RetentionRule, Tenant, TenantPolicy
from tenancy.rules.validate import UNSET, OptionsInput, PropertiesInput

__all__ = ["TenantCalls"]


class TenantCalls:
    """Get, create, edit, suspend, activate and delete tenants, their settings and their
    policies (see :class:`~tenancy.Tenancy`)."""

    _tenants: TenantLifecycle
    """The part that holds the tenant rules; set by the handle when it is composed."""

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
        """Edit the given fields of ``tenant_id`` (the rest stay; id, domain and admin username
        never change): ``name``, ``contact_name``, ``contact_phone``, ``admin_email``,
        ``allow_subtenants``, ``max_devices``, ``max_root_devices`` as in :meth:`create_tenant`;
        ``properties``, ``options``, ``retention_rules``, ``subscriptions`` replace the whole
        collection; ``default_subscriptions=None`` inherits the parent's list again. A limit of None
        lifts it; one below the current count removes nothing and refuses the next record. ``by``:
        [the acting tenant](tenants.md#who-may-act-by). Runtime complexity: O(the fields given), one
        commit."""
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
            tenant_id,
            name,
            description=description,
            options=options,
            retention_rules=retention_rules,
            by=by,
        )

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
