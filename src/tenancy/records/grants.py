"""Access-control records: permissions, roles, grants, delegations and support requests.

Tenancy (which devices are in a user's slice) is decided by groups; access control (what
the user may do to them) is decided by these records, the layer DOMAIN.md section 5 puts on
top. They are immutable values, stored and logged like every other record: a change
:class:`~tenancy.records.changes.AccessSet` puts one, and
:class:`~tenancy.records.changes.AccessRemoved` takes it away. Each has a ``key``, unique
among records of its kind, and the ``tenant_id`` it
belongs to.

A permission is ``(type, level)``, written ``"device:READ"``. ``ADMIN`` implies every level
of its type; ``CHANGE`` (create, edit and delete) implies ``CREATE`` and ``UPDATE``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Literal, NamedTuple, TypeAlias

import msgspec

from tenancy.errors import InvalidValue
from tenancy.records.recipes import Recipe
from tenancy.records.sharing import Connector, Subscription
from tenancy.records.terms import MembershipTerm

__all__ = [
    "ADMIN_ROLE",
    "BUILTIN_GLOBAL_ROLES",
    "BUILTIN_INVENTORY_ROLES",
    "LEVELS",
    "PERMISSION_TYPES",
    "AccessRecord",
    "Delegation",
    "InventoryGrant",
    "Permission",
    "PrincipalKind",
    "RoleDefinition",
    "RoleGrant",
    "RoleKind",
    "SupportRequest",
    "expand",
    "parse_permission",
    "parse_permissions",
]

PERMISSION_TYPES = ("device", "group", "user_management", "tenant_management", "audit", "support")
LEVELS = ("READ", "CREATE", "UPDATE", "CHANGE", "ADMIN")
ADMIN_ROLE = "admin"


class Permission(NamedTuple):
    """A permission, a named tuple ``(type, level)``: ``Permission("device", "READ")``, also
    written ``"device:READ"`` (``str()`` gives that). Types: ``device``, ``group``,
    ``user_management``, ``tenant_management``, ``audit``, ``support``; levels ``READ``,
    ``CREATE``, ``UPDATE``, ``ADMIN`` (every level of its type), and ``CHANGE`` (create and
    update) for ``tenant_management`` only."""

    type: str
    level: str

    def __str__(self) -> str:
        return f"{self.type}:{self.level}"


@cache
def _parse_text(text: str) -> Permission:
    type_, sep, level = text.partition(":")
    return _checked(Permission(type_, level) if sep else Permission(text, ""))


def _checked(permission: Permission) -> Permission:
    if permission.type not in PERMISSION_TYPES:
        raise InvalidValue(
            str(permission), f"a permission type is one of {', '.join(PERMISSION_TYPES)}"
        )
    if permission.level not in LEVELS:
        raise InvalidValue(str(permission), f"a permission level is one of {', '.join(LEVELS)}")
    if permission.level == "CHANGE" and permission.type != "tenant_management":
        raise InvalidValue(str(permission), "only tenant_management has the CHANGE level")
    return permission


def parse_permission(raw: object) -> Permission:
    """``"device:READ"``, ``("device", "READ")`` or a Permission, checked."""
    if isinstance(raw, Permission):
        return _checked(raw)
    if isinstance(raw, str):
        return _parse_text(raw)
    if isinstance(raw, tuple) and len(raw) == 2:
        return _checked(Permission(str(raw[0]), str(raw[1])))
    raise InvalidValue(raw, 'a permission is "type:LEVEL", (type, level) or a Permission')


def parse_permissions(raw: Iterable[object]) -> frozenset[str]:
    """Permissions as the sorted, checked strings records keep."""
    if isinstance(raw, str):
        raw = [raw]
    return frozenset(str(parse_permission(p)) for p in raw)


_IMPLIED = {
    "ADMIN": LEVELS,
    "CHANGE": ("CHANGE", "CREATE", "UPDATE"),
}


@cache
def expand(permissions: frozenset[str]) -> frozenset[Permission]:
    """Every permission the given ones imply: ADMIN gives every level of its type, CHANGE
    gives CREATE and UPDATE. A membership test on the result decides a check."""
    out: set[Permission] = set()
    for text in permissions:
        p = _parse_text(text)
        for level in _IMPLIED.get(p.level, (p.level,)):
            if level != "CHANGE" or p.type == "tenant_management":
                out.add(Permission(p.type, level))
    return frozenset(out)


def _all(level: str, *types: str) -> frozenset[str]:
    return frozenset(f"{t}:{level}" for t in types)


_TENANT_TYPES = ("device", "group", "user_management", "tenant_management", "audit")

BUILTIN_GLOBAL_ROLES: dict[str, frozenset[str]] = {
    # Everything in the tenant; in the management tenant this includes support access.
    ADMIN_ROLE: _all("ADMIN", *_TENANT_TYPES, "support"),
    # Devices, groups and users of the tenant, not the tenant itself.
    "business": _all("ADMIN", "device", "group", "user_management"),
    # READ of everything in the tenant.
    "readonly": _all("READ", *_TENANT_TYPES),
}
BUILTIN_INVENTORY_ROLES: dict[str, frozenset[str]] = {
    "viewer": frozenset({"device:READ"}),
    "operator": frozenset({"device:READ", "device:UPDATE"}),
    "manager": frozenset({"device:ADMIN"}),
}

RoleKind: TypeAlias = Literal["global", "inventory"]
PrincipalKind: TypeAlias = Literal["user", "group"]


class RoleDefinition(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A custom role of one tenant: a named set of permissions, tenant-wide (global) or on
    a group (inventory: device permissions only). ``kind`` is ``"global"`` or
    ``"inventory"``; ``permissions`` a frozenset of ``"type:LEVEL"`` texts."""

    tenant_id: str
    name: str
    kind: RoleKind
    permissions: frozenset[str]

    @property
    def key(self) -> str:
        return f"{self.tenant_id}/{self.kind}/{self.name}"


class RoleGrant(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A global role held by a user, tenant-wide; from ``valid_from`` until ``valid_until``
    when set (aware datetimes: it counts at ``t`` when ``valid_from <= t < valid_until``,
    DOMAIN.md section 9; an expired grant stays a record until revoked)."""

    tenant_id: str
    user_id: str
    role: str
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.user_id}/{self.role}"


class InventoryGrant(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """An inventory role held on ``group_id`` (and every device it covers) by a user or by
    every member of a group; from ``valid_from`` until ``valid_until`` when set (as
    :class:`RoleGrant`)."""

    tenant_id: str
    principal_kind: PrincipalKind
    principal_id: str
    role: str
    group_id: str
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.principal_kind}/{self.principal_id}/{self.role}/{self.group_id}"


class Delegation(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """``delegate_id`` manages the user hierarchy of ``owner_id``, from ``valid_from`` and
    until ``until`` when set (as :class:`RoleGrant`'s window; :attr:`valid_until` is
    ``until`` under the name the other grants use, the stored field keeping its name so
    documents and stores written before stay readable)."""

    tenant_id: str
    owner_id: str
    delegate_id: str
    until: datetime | None = None
    valid_from: datetime | None = None

    @property
    def valid_until(self) -> datetime | None:
        """The end of the delegation's window: :attr:`until`."""
        return self.until

    @property
    def key(self) -> str:
        return f"{self.owner_id}/{self.delegate_id}"


class SupportRequest(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A tenant's open request for support access: support users may act as its users
    until ``until``."""

    tenant_id: str
    requested_by: str
    until: datetime

    @property
    def key(self) -> str:
        return self.tenant_id


AccessRecord: TypeAlias = (
    RoleDefinition | RoleGrant | InventoryGrant | Delegation | SupportRequest
    | Connector | Subscription | Recipe | MembershipTerm
)  # fmt: skip
"""Every kind of access-table record: the access-control records of this module, the
sharing records of :mod:`tenancy.records.sharing`, the device recipes of
:mod:`tenancy.records.recipes` and the membership terms of :mod:`tenancy.records.terms`,
kept the same way."""
