"""Who acts on a handle: the checks of an acting user (it exists, is enabled, its tenant is
active), the tenant it acts for, and the audit log it may read. Functions of the index and
an :class:`~tenancy.rules.access.Identity`; the handle and its parts share them.
"""

from __future__ import annotations

from datetime import datetime

from tenancy.errors import NotFound, PermissionDenied
from tenancy.index.index import Index
from tenancy.records.grants import Permission
from tenancy.records.model import User
from tenancy.rules.access import Identity, effective_global, support_open

__all__ = ["acting_tenant", "acting_user", "actor_user", "audit_tenant", "check_support"]


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


def audit_tenant(index: Index, identity: Identity, tenant: str | None, now: datetime) -> str | None:
    """The tenant filter the identity may use: an acting user reads the audit log of its
    own tenant only, with audit:READ (held at ``now``)."""
    user_id = identity.user_id
    if user_id is None:
        return tenant
    own = acting_user(index, user_id).tenant_id
    if Permission("audit", "READ") not in effective_global(index, user_id, now):
        rule = "reading the audit log needs audit:READ"
        raise PermissionDenied(f"{identity.name} may not read the audit log: {rule}",
                               value=identity.name, rule=rule)  # fmt: skip
    if tenant not in (None, own):
        rule = "a user reads the audit log of its own tenant only"
        raise PermissionDenied(f"{identity.name} may not read tenant {tenant!r}: {rule}",
                               value=tenant, rule=rule, field="tenant")  # fmt: skip
    return own


def check_support(
    index: Index, support_user_id: str, user_id: str, management_id: str, now: datetime
) -> User:
    """The user a support session may act as, checked: ``support_user_id`` is an able user
    of the management tenant holding ``support:READ``, ``user_id`` an able user of a
    customer tenant whose support is open at ``now``; else NotFound or PermissionDenied
    naming the argument and the rule. Runtime complexity: O(the support user's global
    roles)."""
    support = actor_user(index, support_user_id, "support user", "support_user_id")
    user = actor_user(index, user_id, "user")
    if support.tenant_id != management_id:
        rule = "support users are users of the management tenant"
        raise PermissionDenied(f"{support_user_id!r} is not a support user: {rule}",
                               value=support_user_id, rule=rule,
                               field="support_user_id")  # fmt: skip
    if Permission("support", "READ") not in effective_global(index, support_user_id, now):
        rule = "acting as another tenant's user needs the support permission"
        raise PermissionDenied(f"{support_user_id!r} may not give support: {rule}",
                               value=support_user_id, rule=rule,
                               field="support_user_id")  # fmt: skip
    if user.tenant_id == management_id:
        rule = "support acts in customer tenants, not in the management tenant"
        raise PermissionDenied(f"support may not act as {user_id!r}: {rule}",
                               value=user_id, rule=rule, field="user_id")  # fmt: skip
    if not support_open(index, user.tenant_id, now):
        rule = "support access is open only for all tenants or on the tenant's request"
        raise PermissionDenied(
            f"support access to tenant {user.tenant_id!r} is not open: {rule}",
            value=user.tenant_id, rule=rule, field="user_id",
        )  # fmt: skip
    return user
