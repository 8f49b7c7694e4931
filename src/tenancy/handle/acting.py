"""Who acts on a handle: the checks of an acting user (it exists, is enabled, its tenant is
active), the tenant it acts for, and the audit log it may read. Functions of the index and
an :class:`~tenancy.rules.access.Identity`; the handle and its parts share them.
"""

from __future__ import annotations

from tenancy.errors import NotFound, PermissionDenied
from tenancy.index.index import Index
from tenancy.records.grants import Permission
from tenancy.records.model import User
from tenancy.rules.access import Identity, effective_global

__all__ = ["acting_tenant", "acting_user", "actor_user", "audit_tenant"]


def acting_tenant(index: Index, identity: Identity) -> str | None:
    """The tenant of the acting user, None for the application itself."""
    user_id = identity.user_id
    return None if user_id is None else acting_user(index, user_id).tenant_id


def acting_user(index: Index, user_id: str) -> User:
    """The user a handle acts as; PermissionDenied once it is gone or cannot act."""
    if user_id not in index.users:
        rule = "the acting user no longer exists"
        raise PermissionDenied(f"{user_id} may not act: {rule}", value=user_id, rule=rule)
    return actor_user(index, user_id, "user")


def actor_user(index: Index, user_id: str, role: str, field: str = "user_id") -> User:
    """The user who is to act; NotFound for an unknown id, PermissionDenied for a disabled
    user or a user of a suspended tenant."""
    try:
        user = index.users.get(user_id)
    except TypeError:  # a list or a dict where the id goes
        user = None
    if user is None:
        raise NotFound(role, user_id, field=field)
    if not user.enabled or index.blocker_of(user.tenant_id) is not None:
        rule = "a disabled user, or a user of a suspended tenant, cannot act"
        raise PermissionDenied(
            f"{role} {user_id!r} cannot act: {rule}", value=user_id, rule=rule, field=field
        )
    return user


def audit_tenant(index: Index, identity: Identity, tenant: str | None) -> str | None:
    """The tenant filter the identity may use: an acting user reads the audit log of its
    own tenant only, with audit:READ."""
    user_id = identity.user_id
    if user_id is None:
        return tenant
    own = acting_user(index, user_id).tenant_id
    if Permission("audit", "READ") not in effective_global(index, user_id):
        rule = "reading the audit log needs audit:READ"
        raise PermissionDenied(f"{identity.name} may not read the audit log: {rule}",
                               value=identity.name, rule=rule)  # fmt: skip
    if tenant not in (None, own):
        rule = "a user reads the audit log of its own tenant only"
        raise PermissionDenied(f"{identity.name} may not read tenant {tenant!r}: {rule}",
                               value=tenant, rule=rule, field="tenant")  # fmt: skip
    return own
