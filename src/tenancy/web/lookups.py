"""Store-wide look-ups for the admin page, walked from one tenant down through the public API.

An id in a URL names a user, device or group somewhere in the store, but this branch of
tenancy looks records up inside one tenant only (``tn.tenant(t).get_user(...)``). Until the
store-wide calls (``tn.tenants()``, ``tn.get_user``, ``tn.get_device``, ``tn.get_group``,
``tn.find_users``) land, these functions walk from the tenant the operator may see (its
``root``) through ``subtenants`` and each tenant's scope. They are the only place that
knows about the walk: swapping each body for the store-wide call (and a check that the
record's tenant is in ``visible_tenants``) is the whole migration.

Every function answers None (or an empty list) for an id it cannot find below ``root``, so
an id from a URL is never trusted: whatever it is (long, unicode, ``../``, markup), it is a
string compared with the ids the library knows.

Runtime complexity: O(tenants below root) per look-up (one failed dictionary look-up per
tenant), which is what the store-wide calls will remove.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import tenancy
from tenancy import Device, Group, Tenancy, Tenant, TenantScope, User

__all__ = [
    "find_device",
    "find_group",
    "find_tenant",
    "find_user",
    "find_users_by_email",
    "visible_tenants",
]

R = TypeVar("R")


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


def find_tenant(tn: Tenancy, root: str, tenant_id: str) -> Tenant | None:
    """The tenant ``tenant_id`` when it is ``root`` or below it, else None."""
    return next((t for t in visible_tenants(tn, root) if t.id == tenant_id), None)


def _first(tn: Tenancy, root: str, look: Callable[[TenantScope], R]) -> R | None:
    for tenant in visible_tenants(tn, root):
        try:
            return look(tn.tenant(tenant.id))
        except (tenancy.NotFound, tenancy.CrossTenantReference):
            continue  # not in this tenant (CrossTenantReference: in another one)
    return None


def find_user(tn: Tenancy, root: str, user_id: str) -> User | None:
    """The user ``user_id`` of a tenant at or below ``root``, else None."""
    return _first(tn, root, lambda scope: scope.get_user(user_id))


def find_device(tn: Tenancy, root: str, device_id: str) -> Device | None:
    """The device ``device_id`` of a tenant at or below ``root``, else None."""
    return _first(tn, root, lambda scope: scope.get_device(device_id))


def find_group(tn: Tenancy, root: str, group_id: str) -> Group | None:
    """The group ``group_id`` of a tenant at or below ``root``, else None."""
    return _first(tn, root, lambda scope: scope.get_group(group_id))


def find_users_by_email(tn: Tenancy, root: str, email: str) -> list[User]:
    """The users with this email (case-insensitive) in every tenant at or below ``root``."""
    found = []
    for tenant in visible_tenants(tn, root):
        try:
            user = tn.tenant(tenant.id).find_user(email)
        except tenancy.InvalidValue:
            return []
        if user is not None:
            found.append(user)
    return found
