"""Access questions answered from the index alone: why a user may or may not do something
to a device (:func:`explain_permission`). Pure; the handle (tenancy.handle.access) asks
them on its index.
"""

from __future__ import annotations

import attrs

from tenancy.index.index import Index
from tenancy.records.grants import parse_permission
from tenancy.records.model import Explanation
from tenancy.rules.access import find_role_source
from tenancy.rules.reach import explain

__all__ = [
    "explain_permission",
]


def explain_permission(
    index: Index, user_id: str, device_id: str, permission: object
) -> Explanation:
    """Why the user may (or may not) do ``permission`` to the device: the reach explanation
    plus the role that grants it, or the first missing link (no role; an owner lacking it).

    Runtime complexity: O(depth x grants x owners).
    """
    perm = parse_permission(permission)
    reach = explain(index, user_id, device_id)
    user = index.users.get(user_id)
    device = index.devices.get(device_id)
    if (
        user is None
        or device is None
        or reach.code
        in (
            "other-tenant",
            "not-shared",
            "not-accepted",
            "connector-suspended",
            "subscription-paused",
            "tenant-suspended",
            "user-disabled",
        )
    ):
        return attrs.evolve(reach, permission=str(perm))
    source = find_role_source(index, user, perm, device)
    if source is None:
        why = (
            f"user {user_id!r} reaches device {device_id!r}, but no role of it grants {perm}"
            if reach.allowed
            else f"no global role of user {user_id!r} grants {perm}, and it does not reach "
            f"device {device_id!r} ({reach.reason})"
        )
        return attrs.evolve(reach, allowed=False, code="no-role", reason=why, permission=str(perm))
    owner_id = user.owner_id
    seen = {user.id}
    while owner_id is not None and owner_id not in seen:
        seen.add(owner_id)
        owner = index.users.get(owner_id)
        if owner is None or find_role_source(index, owner, perm, device) is None:
            return attrs.evolve(
                reach,
                allowed=False,
                code="capped-by-owner",
                reason=f"user {user_id!r} holds {perm} through {source.kind} role "
                f"{source.role!r}, but its owner {owner_id!r} does not, and a sub-user never "
                "exceeds its owner",
                permission=str(perm),
                role=f"{source.kind}:{source.role}",
                role_group=source.group_id,
                capped_by=owner_id,
            )
        owner_id = owner.owner_id
    where = "tenant-wide" if source.group_id is None else f"on group {source.group_id!r}"
    return attrs.evolve(
        reach,
        allowed=True,
        code="allowed",
        reason=f"{source.kind} role {source.role!r} of user {user_id!r} grants {perm} {where}"
        + (f"; {reach.reason}" if reach.allowed else ""),
        permission=str(perm),
        role=f"{source.kind}:{source.role}",
        role_group=source.group_id,
    )
