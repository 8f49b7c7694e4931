"""Look-ups for the admin page: a record anywhere in the store, shown only when its tenant
is the operator's own or below it.

An id in a URL names a user, device or group somewhere in the store. The store-wide calls
(``tn.get_user``, ``tn.get_device``, ``tn.get_group``, ``tn.find_users``) find it in O(1);
:func:`_visible` then walks up from its tenant to see whether the operator's tenant
(``root``) is on the way, so an operator never learns of a record outside its subtree.

Every function answers None (or an empty list) for an id it cannot find below ``root``, so
an id from a URL is never trusted: whatever it is (long, unicode, ``../``, markup), it is a
string compared with the ids the library knows.

Runtime complexity: O(depth of the record's tenant) per look-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import tenancy
from tenancy import Device, Group, Tenancy, Tenant, User

__all__ = [
    "find_device",
    "find_group",
    "find_tenant",
    "find_user",
    "find_users_by_email",
    "visible_tenants",
]

R = TypeVar("R", Device, Group, User)


def visible_tenants(tn: Tenancy, root: str) -> list[Tenant]:
    """``root`` and every tenant below it, parents first (depth first, children by id)."""
    try:
        top = tn.get_tenant(root)
    except tenancy.NotFound:
        return []
    below = tn.subtenants(root, recursive=True)
    children: dict[str, list[Tenant]] = {}
    for tenant in below:  # sorted by id, so each list of children is too
        children.setdefault(tenant.parent_id or "", []).append(tenant)
    ordered: list[Tenant] = []
    stack = [top]
    while stack:
        tenant = stack.pop()
        ordered.append(tenant)
        stack.extend(reversed(children.get(tenant.id, [])))
    return ordered


def _visible(tn: Tenancy, root: str, tenant_id: str | None) -> bool:
    """Is ``tenant_id`` the tenant ``root`` or below it? O(depth)."""
    while tenant_id is not None:
        if tenant_id == root:
            return True
        try:
            tenant_id = tn.get_tenant(tenant_id).parent_id
        except tenancy.NotFound:
            return False
    return False


def find_tenant(tn: Tenancy, root: str, tenant_id: str) -> Tenant | None:
    """The tenant ``tenant_id`` when it is ``root`` or below it, else None."""
    try:
        tenant = tn.get_tenant(tenant_id)
    except (tenancy.NotFound, tenancy.InvalidValue):
        return None
    return tenant if _visible(tn, root, tenant.id) else None


def _record(tn: Tenancy, root: str, get: Callable[[str], R], record_id: str) -> R | None:
    try:
        record = get(record_id)
    except (tenancy.NotFound, tenancy.InvalidValue):
        return None
    return record if _visible(tn, root, record.tenant_id) else None


def find_user(tn: Tenancy, root: str, user_id: str) -> User | None:
    """The user ``user_id`` of a tenant at or below ``root``, else None."""
    return _record(tn, root, tn.get_user, user_id)


def find_device(tn: Tenancy, root: str, device_id: str) -> Device | None:
    """The device ``device_id`` of a tenant at or below ``root``, else None."""
    return _record(tn, root, tn.get_device, device_id)


def find_group(tn: Tenancy, root: str, group_id: str) -> Group | None:
    """The group ``group_id`` of a tenant at or below ``root``, else None."""
    return _record(tn, root, tn.get_group, group_id)


def find_users_by_email(tn: Tenancy, root: str, email: str) -> list[User]:
    """The users with this email (ignoring case) in every tenant at or below ``root``."""
    try:
        found = tn.find_users(email)
    except tenancy.InvalidValue:
        return []
    return [u for u in found if _visible(tn, root, u.tenant_id)]
