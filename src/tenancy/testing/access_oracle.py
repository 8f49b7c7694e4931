"""A naive, from-scratch definition of access control to check :func:`tenancy.rules.access.check`
against.

Everything here follows DOMAIN.md section 5 over the plain records of a
:class:`~tenancy.Snapshot` (its users, groups, tenants and access records), with reach taken
from the naive reach oracle (:class:`tenancy.testing.oracle.Oracle`). Nothing here uses
the index, the access state, its caches, or :mod:`tenancy.rules.access` and
:func:`tenancy.records.grants.expand`: every answer is recomputed by walking the records. It is slow
on purpose and short enough to check by reading.

- A permission is ``(type, level)``, written ``"type:LEVEL"``. A held permission implies
  itself; ``ADMIN`` implies every level of its type; ``CHANGE`` (tenant management only)
  implies ``CREATE`` and ``UPDATE``.
- Built-in global roles: admin (every permission of the tenant: device, group,
  user_management, tenant_management, audit, and support, which matters in the management
  tenant), business (ADMIN of device, group and user_management: not the tenant itself, not
  the audit log), readonly (READ of device, group, user_management, tenant_management and
  audit). Built-in inventory roles: viewer (device READ), operator (device READ, UPDATE),
  manager (device ADMIN). A tenant may define custom roles of either kind.
- User u *itself holds* p on device d when u and d are in one tenant, that tenant and every
  tenant above it are active, u is enabled, and either a global role u holds grants p (on
  every device of the tenant), or p is a device permission, u reaches d, and one of these
  grants p: the tenant's default member role (the option ``("access",
  "default_member_role")``, ``"viewer"`` when unset, none when empty: membership grants it on
  the user's groups, so on every device u reaches); an inventory role held on a group that
  covers d, by u or by a group u is a direct member of.
- ``check(u, p, d)``: u itself holds p on d, and so do its owner, its owner's owner, and so
  on up the chain (a sub-user never exceeds its owner; reach is not capped).
- ``holds_on_group(u, p, g)`` (the ceiling a grant must respect): u and every owner above
  it, each active, holds p tenant-wide, or through the default member role as a member of g
  or a group above g, or through an inventory role held on g or a group above g.
- Time (DOMAIN.md section 9): the oracle answers for one instant ``now``. A global role
  grant, an inventory role grant or a delegation with ``valid_from`` / ``valid_until``
  exists at ``now`` only when ``valid_from <= now`` (or it has none) and ``now <
  valid_until`` (or it has none); every rule above reads only the grants that exist at
  ``now``: a grant outside its window is as if it had never been made.
- Support access to a tenant is open when the management tenant's option ``("support",
  "enabled_for_all_tenants")`` is ``"true"``, or the tenant's support request ends later
  than now.

>>> import tenancy
>>> from tenancy.testing.access_oracle import AccessOracle
>>> tn = tenancy.open()
>>> t = tn.tenant(tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example").id)
>>> g = t.create_group("Site", device_tags=[("site", None)], id="site")
>>> d = t.create_device("Generator", tags=[("site", "sb")], id="gen-1")
>>> u = t.create_user("ana@acme.example", id="ana")
>>> t.add_member("site", "ana")
>>> oracle = AccessOracle(tn)
>>> oracle.check("ana", "device:READ", "gen-1"), oracle.check("ana", "device:UPDATE", "gen-1")
(True, False)
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from tenancy.records.grants import (
    Delegation,
    InventoryGrant,
    RoleDefinition,
    RoleGrant,
    SupportRequest,
)
from tenancy.records.model import ACTIVE
from tenancy.testing.oracle import Oracle, Source

__all__ = ["BUILTIN_GLOBAL", "BUILTIN_INVENTORY", "AccessOracle", "implied"]

_LEVELS = ("READ", "CREATE", "UPDATE", "CHANGE", "ADMIN")
_TENANT_TYPES = ("device", "group", "user_management", "tenant_management", "audit")


def _every(level: str, types: tuple[str, ...]) -> frozenset[str]:
    return frozenset(f"{t}:{level}" for t in types)


BUILTIN_GLOBAL: dict[str, frozenset[str]] = {
    "admin": _every("ADMIN", (*_TENANT_TYPES, "support")),
    "business": _every("ADMIN", ("device", "group", "user_management")),
    "readonly": _every("READ", _TENANT_TYPES),
}
BUILTIN_INVENTORY: dict[str, frozenset[str]] = {
    "viewer": frozenset({"device:READ"}),
    "operator": frozenset({"device:READ", "device:UPDATE"}),
    "manager": frozenset({"device:ADMIN"}),
}


@cache
def implied(held: str) -> frozenset[str]:
    """Every permission one held permission gives, as ``"type:LEVEL"`` strings."""
    type_, _, level = held.partition(":")
    if level == "ADMIN":
        levels = [lv for lv in _LEVELS if lv != "CHANGE" or type_ == "tenant_management"]
    elif level == "CHANGE":
        levels = ["CHANGE", "CREATE", "UPDATE"]
    else:
        levels = [level]
    return frozenset(f"{type_}:{lv}" for lv in levels)


def _text(permission: object) -> str:
    if isinstance(permission, tuple):
        return f"{permission[0]}:{permission[1]}"
    return str(permission)


class AccessOracle:
    """The naive definitions over one snapshot, at the instant ``now`` (the real time when
    not given). Build one per state and instant; it never changes.

    Unknown ids give False (never an exception), as the library must.
    """

    def __init__(self, source: Source, *, now: datetime | None = None) -> None:
        self.reach = Oracle(source)
        self.now = datetime.now(UTC) if now is None else now
        records = self.reach.snapshot.access
        self.custom: dict[tuple[str, str, str], frozenset[str]] = {
            (r.tenant_id, r.kind, r.name): r.permissions
            for r in records
            if isinstance(r, RoleDefinition)
        }
        self.all_role_grants: list[RoleGrant] = [r for r in records if isinstance(r, RoleGrant)]
        """Every global role grant, in force at ``now`` or not (a record until revoked)."""
        self.all_inventory: list[InventoryGrant] = [
            r for r in records if isinstance(r, InventoryGrant)
        ]
        """Every inventory grant, in force at ``now`` or not."""
        self.role_grants: list[RoleGrant] = [
            r for r in self.all_role_grants if self._exists(r.valid_from, r.valid_until)
        ]
        """The global role grants that exist at ``now``: the only ones the rules read."""
        self.inventory: list[InventoryGrant] = [
            r for r in self.all_inventory if self._exists(r.valid_from, r.valid_until)
        ]
        """The inventory grants that exist at ``now``."""
        self.delegations: list[Delegation] = [
            r for r in records if isinstance(r, Delegation) and self._exists(r.valid_from, r.until)
        ]
        """The delegations that exist at ``now`` (``until`` is their end)."""
        self.support: list[SupportRequest] = [r for r in records if isinstance(r, SupportRequest)]
        self._reaches: dict[tuple[str, str], bool] = {}
        self._covers: dict[tuple[str, str], bool] = {}
        self._holds: dict[tuple[str, str, str], bool] = {}

    def _exists(self, start: datetime | None, end: datetime | None) -> bool:
        """Section 9, written out: from ``start`` (included) to ``end`` (excluded)."""
        if start is not None and self.now < start:
            return False
        return not (end is not None and self.now >= end)

    # ------------------------------------------------------------------ roles

    def role_grants_permission(self, tenant_id: str, kind: str, role: str, perm: str) -> bool:
        """Does the role (built-in, else the tenant's custom one) give the permission?"""
        builtin = BUILTIN_GLOBAL if kind == "global" else BUILTIN_INVENTORY
        held = builtin.get(role)
        if held is None:
            held = self.custom.get((tenant_id, kind, role), frozenset())
        return any(perm in implied(p) for p in held)

    def default_member_role(self, tenant_id: str) -> str | None:
        value = self.reach.tenants[tenant_id].get_option("access", "default_member_role")
        if value is None:
            return "viewer"
        return value or None

    # ------------------------------------------------------------------ the rules

    def active(self, user_id: str) -> bool:
        """The user is enabled and its tenant and every tenant above it are active."""
        user = self.reach.users[user_id]
        return user.enabled and all(
            self.reach.tenants[t].status == ACTIVE
            for t in self.reach.tenant_ancestors(user.tenant_id)
        )

    def owners(self, user_id: str) -> list[str]:
        """The user's owner, its owner, and so on."""
        chain: list[str] = []
        walk = self.reach.users[user_id].owner_id
        while walk is not None:
            assert walk not in (*chain, user_id), f"owner cycle through {walk!r}"
            chain.append(walk)
            walk = self.reach.users[walk].owner_id
        return chain

    def holds_globally(self, user_id: str, perm: str) -> bool:
        """A global role the user itself holds gives the permission (tenant-wide)."""
        user = self.reach.users[user_id]
        return any(
            g.user_id == user_id
            and self.role_grants_permission(user.tenant_id, "global", g.role, perm)
            for g in self.role_grants
        )

    def _inventory_of(self, user_id: str) -> list[InventoryGrant]:
        """The inventory grants held by the user, or by a group it is a direct member of."""
        groups = self.reach.member_groups(user_id)
        return [
            g
            for g in self.inventory
            if (g.principal_kind == "user" and g.principal_id == user_id)
            or (g.principal_kind == "group" and g.principal_id in groups)
        ]

    def reaches(self, user_id: str, device_id: str) -> bool:
        key = (user_id, device_id)
        if key not in self._reaches:
            self._reaches[key] = self.reach.reaches(user_id, device_id)
        return self._reaches[key]

    def covers(self, group_id: str, device_id: str) -> bool:
        key = (group_id, device_id)
        if key not in self._covers:
            self._covers[key] = self.reach.covers(group_id, device_id)
        return self._covers[key]

    def holds_itself(self, user_id: str, perm: str, device_id: str) -> bool:
        """The user, without regard to its owners, holds the permission on the device."""
        key = (user_id, perm, device_id)
        if key not in self._holds:
            self._holds[key] = self._holds_itself(user_id, perm, device_id)
        return self._holds[key]

    def _holds_itself(self, user_id: str, perm: str, device_id: str) -> bool:
        user = self.reach.users.get(user_id)
        device = self.reach.devices.get(device_id)
        if user is None or device is None or user.tenant_id != device.tenant_id:
            return False
        if not self.active(user_id):
            return False
        if self.holds_globally(user_id, perm):
            return True
        if not perm.startswith("device:") or not self.reaches(user_id, device_id):
            return False
        member_role = self.default_member_role(user.tenant_id)
        if member_role is not None and self.role_grants_permission(
            user.tenant_id, "inventory", member_role, perm
        ):
            return True
        return any(
            self.covers(g.group_id, device_id)
            and self.role_grants_permission(user.tenant_id, "inventory", g.role, perm)
            for g in self._inventory_of(user_id)
        )

    def check(self, user_id: str, permission: object, device_id: str) -> bool:
        """DOMAIN.md section 5: the user holds it, and so does every owner above it."""
        perm = _text(permission)
        if user_id not in self.reach.users:
            return False
        return self.holds_itself(user_id, perm, device_id) and all(
            self.holds_itself(owner, perm, device_id) for owner in self.owners(user_id)
        )

    def devices_for(self, user_id: str, permission: object) -> list[str]:
        """Sorted ids of every device ``check`` allows."""
        return sorted(d for d in self.reach.devices if self.check(user_id, permission, d))

    # ------------------------------------------------------------------ ceilings

    def holds_tenant_wide(self, user_id: str, permission: object) -> bool:
        """The user and every owner above it are active and hold the permission through a
        global role (what a global role granted to a sub-user of it may give)."""
        perm = _text(permission)
        chain = [user_id, *self.owners(user_id)]
        return all(self.active(u) and self.holds_globally(u, perm) for u in chain)

    def holds_on_group(self, user_id: str, permission: object, group_id: str) -> bool:
        """The user and every owner above it, each active, hold the permission on every
        device the group covers: tenant-wide, or by a role that applies to the group."""
        perm = _text(permission)
        above = set(self.reach.group_ancestors(group_id))
        for holder in [user_id, *self.owners(user_id)]:
            user = self.reach.users[holder]
            if not self.active(holder) or user.tenant_id != self.reach.groups[group_id].tenant_id:
                return False
            if self.holds_globally(holder, perm):
                continue
            member_role = self.default_member_role(user.tenant_id)
            if (
                member_role is not None
                and self.reach.member_groups(holder) & above
                and self.role_grants_permission(user.tenant_id, "inventory", member_role, perm)
            ):
                continue
            if any(
                g.group_id in above
                and self.role_grants_permission(user.tenant_id, "inventory", g.role, perm)
                for g in self._inventory_of(holder)
            ):
                continue
            return False
        return True

    # ------------------------------------------------------------------ support

    def support_open(self, tenant_id: str, now: datetime) -> bool:
        """Support access to the tenant is open: for all tenants, or by its own request."""
        management = [t for t in self.reach.tenants.values() if t.parent_id is None]
        if any(t.get_option("support", "enabled_for_all_tenants") == "true" for t in management):
            return True
        return any(r.tenant_id == tenant_id and r.until > now for r in self.support)
