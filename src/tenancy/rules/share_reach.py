"""Explaining reach through a cross-tenant share (DOMAIN.md section 7): which subscription,
connector and filter let a user of the destination reach a device of the source, or the
first link that is missing.

The links, checked in this order for each connector from the device's tenant to the
user's that shares the device by its filters: the user's tenant (and those above it) is
active; the device's tenant too; the user is enabled; the connector was accepted (it has
a subscription); the connector is active; it is inside its window (DOMAIN.md section 9:
``expired`` or ``not-started``); the subscription is active; the user is a member
of the virtual group or of a group above it. A share that gives reach wins; otherwise the
first connector's (by id) first missing link is the answer. Pure, like tenancy.rules.reach.
"""

from __future__ import annotations

from tenancy.index.index import Index
from tenancy.records.model import Device, Explanation, ExplanationCode, User, rule_matches
from tenancy.records.sharing import Connector
from tenancy.records.window import window_text

__all__ = ["explain_share", "sharing_filter"]


def sharing_filter(index: Index, connector: Connector, device: Device) -> str | None:
    """The filter (a group or device id) of the connector that shares the device, whatever
    the statuses; None if none does (rule S2 of tenancy.index.shares)."""
    if device.tenant_id != connector.source_tenant_id:
        return None
    if connector.tags is not None and not rule_matches(connector.tags, device.tags):
        return None
    own = index.own_cover_of(device.id)
    groups = sorted(connector.group_ids & own)
    if groups:
        return groups[0]
    walk: Device | None = device
    while walk is not None:
        if walk.id in connector.device_ids:
            return walk.id
        walk = None if walk.parent_id is None else index.devices.get(walk.parent_id)
    return None


def _suspended(index: Index, tenant_id: str) -> str | None:
    blocker = index.blocker_of(tenant_id)
    if blocker is None:
        return None
    via = "" if blocker == tenant_id else f", below suspended tenant {blocker!r}"
    return f"tenant {tenant_id!r} is suspended{via}"


def _through(
    index: Index, user: User, device: Device, connector: Connector, filter_id: str
) -> Explanation:
    def answer(code: ExplanationCode, reason: str, **more: object) -> Explanation:
        return Explanation(
            allowed=code == "allowed", code=code, reason=reason, user_id=user.id,
            device_id=device.id, connector_id=connector.id, filter_id=filter_id,
            **more,  # type: ignore[arg-type]
        )  # fmt: skip

    for tenant_id in (user.tenant_id, device.tenant_id):
        suspended = _suspended(index, tenant_id)
        if suspended is not None:
            return answer("tenant-suspended", suspended)
    if not user.enabled:
        return answer("user-disabled", f"user {user.id!r} is disabled")
    sub = index.access.subscription_of(connector.id)
    if sub is None:
        return answer(
            "not-accepted",
            f"connector {connector.id!r} shares device {device.id!r} but tenant "
            f"{user.tenant_id!r} has not accepted it (with its security code)",
        )
    if connector.status != "active":
        return answer(
            "connector-suspended", f"connector {connector.id!r} is suspended by its source",
            subscription_id=sub.id,
        )  # fmt: skip
    view = index.view  # set: every query retimes first when a connector has a window
    outside = "" if view is None else window_text(connector.valid_from, connector.valid_until, view)
    if outside:
        return answer(
            "expired" if outside.startswith("expired") else "not-started",
            f"the share of connector {connector.id!r} {outside}",
            subscription_id=sub.id,
        )  # fmt: skip
    if sub.status != "active":
        return answer(
            "subscription-paused", f"subscription {sub.id!r} is paused by its tenant",
            subscription_id=sub.id,
        )  # fmt: skip
    up = index.group_path(sub.group_id)
    nearest_first = lambda g: -len(index.group_path(g))  # noqa: E731
    member_of = sorted(index.groups_of_user(user.id) & set(up), key=nearest_first)
    if not member_of:
        return answer(
            "no-covering-group",
            f"user {user.id!r} is a member neither of virtual group {sub.group_id!r} of "
            f"subscription {sub.id!r} nor of a group above it",
            subscription_id=sub.id,
        )  # fmt: skip
    path = index.group_path_down(member_of[0], sub.group_id)
    kind = "group" if filter_id in connector.group_ids else "device"
    return answer(
        "allowed",
        f"user {user.id!r} is a member of group {path[0]!r}"
        + (f", above virtual group {sub.group_id!r}" if len(path) > 1 else ", the virtual group")
        + f" of subscription {sub.id!r}, which accepted connector {connector.id!r} of tenant "
        f"{connector.source_tenant_id!r}; its filter ({kind} {filter_id!r}) shares device "
        f"{device.id!r}",
        subscription_id=sub.id,
        path=path,
    )


def explain_share(index: Index, user: User, device: Device) -> Explanation | None:
    """Why a user of one tenant reaches a device of another through a share, or the first
    missing link (see the module); None when no connector from the device's tenant to the
    user's shares the device. O(connectors between the two tenants x (filters + depth))."""
    access = index.access
    cids = sorted(access.connectors_from(device.tenant_id) & access.connectors_to(user.tenant_id))
    failures: list[Explanation] = []
    for cid in cids:
        connector = access.connector(cid)
        if connector is None:  # pragma: no cover - the tables are kept together
            continue
        filter_id = sharing_filter(index, connector, device)
        if filter_id is None:
            continue
        answer = _through(index, user, device, connector, filter_id)
        if answer.allowed:
            return answer
        failures.append(answer)
    if failures:
        return failures[0]
    if cids:
        return Explanation(
            allowed=False, code="not-shared",
            reason=f"no connector of tenant {device.tenant_id!r} to tenant {user.tenant_id!r} "
            f"shares device {device.id!r} (by its groups, devices and tags)",
            user_id=user.id, device_id=device.id,
        )  # fmt: skip
    return None
