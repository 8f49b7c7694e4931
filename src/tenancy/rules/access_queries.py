"""Access questions answered from the index alone: why a user may or may not do something
to a device (:func:`explain_permission`). Pure; the handle (tenancy.handle.access) asks
them on its index.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from tenancy.index.index import Index
from tenancy.records.grants import Permission, parse_permission
from tenancy.records.model import Device, Explanation, User
from tenancy.records.window import in_window, window_text
from tenancy.rules.access import (
    DEVICE_READ,
    _access_of,
    _expanded,
    _inventory_grants,
    _member_role,
    _reaches,
)
from tenancy.rules.reach import explain

__all__ = [
    "RoleSource",
    "explain_permission",
    "find_idle_source",
    "find_role_source",
]

# The role sources below read the per-user answers of tenancy.rules.access (its cache and
# its helpers), so that explain and check can never disagree on what a grant gives.


@attrs.frozen
class RoleSource:
    """Where a permission comes from: a global role, an inventory role on a group, or the
    default member role through a membership."""

    kind: str  # "global" | "inventory" | "member"
    role: str
    group_id: str | None = None


def find_role_source(
    index: Index, user: User, perm: Permission, device: Device, now: datetime
) -> RoleSource | None:
    """The first source (global, then member, then inventory grants) that grants ``perm``
    on the device to the user itself at ``now``, or None. On a device shared into the
    user's tenant only READ, and only through a membership or an inventory role (rule 6)."""
    acc = _access_of(index, user, now)
    if not acc.active:
        return None
    if device.tenant_id != acc.tenant_id:
        if perm != DEVICE_READ:
            return None
    else:
        windows = index.access.role_windows_of(user.id)
        for role in sorted(index.access.global_roles_of(user.id)):
            if role in windows and not in_window(*windows[role], now):
                continue
            if perm in _expanded(index, user.tenant_id, "global", role):
                return RoleSource("global", role)
    if perm.type != "device" or not _reaches(index, user.id, device.id):
        return None
    cover = index.cover_of(device.id)
    if perm in acc.member_perms:
        member_of = sorted(cover & index.groups_of_user(user.id))
        member_role = _member_role(index, user.tenant_id) or ""
        return RoleSource("member", member_role, member_of[0] if member_of else None)
    for role, g in sorted(_inventory_grants(index, user.id, now)):
        if g in cover and perm in _expanded(index, user.tenant_id, "inventory", role):
            return RoleSource("inventory", role, g)
    return None


def find_idle_source(
    index: Index, user: User, perm: Permission, device: Device, now: datetime
) -> tuple[RoleSource, str] | None:
    """A grant of the user itself that would grant ``perm`` on the device but does not
    count at ``now`` (rule 7), with why: ``"expired at ..."`` or ``"starts at ..."``
    (:func:`tenancy.records.window.window_text`); global grants first, then inventory
    grants, each by role and group; None when there is none. What explain tells after
    "no role". Runtime complexity: O(grants of the user)."""
    state = index.access
    if device.tenant_id == user.tenant_id:
        windows = state.role_windows_of(user.id)
        for role in sorted(windows):
            text = window_text(*windows[role], now)
            if text and perm in _expanded(index, user.tenant_id, "global", role):
                return RoleSource("global", role), text
    if perm.type != "device" or not _reaches(index, user.id, device.id):
        return None
    if device.tenant_id != user.tenant_id and perm != DEVICE_READ:
        return None
    cover = index.cover_of(device.id)
    found: list[tuple[str, str, str]] = []
    inventory_windows = state.inventory_windows
    for kind, principal in (
        ("user", user.id),
        *(("group", g) for g in index.groups_of_user(user.id)),
    ):
        for role, g in state.inventory_of(kind, principal):
            window = inventory_windows.get((kind, principal, role, g))
            text = "" if window is None else window_text(*window, now)
            if text and g in cover and perm in _expanded(index, user.tenant_id, "inventory", role):
                found.append((role, g, text))
    if not found:
        return None
    role, g, text = min(found)
    return RoleSource("inventory", role, g), text


def explain_permission(
    index: Index, user_id: str, device_id: str, permission: object, now: datetime
) -> Explanation:
    """Why the user may (or may not) do ``permission`` to the device at ``now``: the reach
    explanation plus the role that grants it, or the first missing link (no role; an owner
    lacking it). A grant that would give it but is outside its window at ``now`` is named
    in the reason of ``no-role`` and ``capped-by-owner``: ``"... (global role 'readonly'
    expired at 2026-01-02T00:00:00+00:00)"``, or ``starts at``.

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
    source = find_role_source(index, user, perm, device, now)
    if source is None:
        why = (
            f"user {user_id!r} reaches device {device_id!r}, but no role of it grants {perm}"
            if reach.allowed
            else f"no global role of user {user_id!r} grants {perm}, and it does not reach "
            f"device {device_id!r} ({reach.reason})"
        )
        why += _idle(index, user, perm, device, now)
        return attrs.evolve(reach, allowed=False, code="no-role", reason=why, permission=str(perm))
    owner_id = user.owner_id
    seen = {user.id}
    while owner_id is not None and owner_id not in seen:
        seen.add(owner_id)
        owner = index.users.get(owner_id)
        if owner is None or find_role_source(index, owner, perm, device, now) is None:
            return attrs.evolve(
                reach,
                allowed=False,
                code="capped-by-owner",
                reason=f"user {user_id!r} holds {perm} through {source.kind} role "
                f"{source.role!r}, but its owner {owner_id!r} does not, and a sub-user never "
                "exceeds its owner"
                + ("" if owner is None else _idle(index, owner, perm, device, now)),
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


def _idle(index: Index, user: User, perm: Permission, device: Device, now: datetime) -> str:
    """`` (global role 'r' expired at ...)`` for a grant of ``user`` that would give ``perm``
    on the device outside its window at ``now``, or ``""``."""
    idle = find_idle_source(index, user, perm, device, now)
    if idle is None:
        return ""
    source, text = idle
    where = "" if source.group_id is None else f" on group {source.group_id!r}"
    return f" ({source.kind} role {source.role!r}{where} {text})"
