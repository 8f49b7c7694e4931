"""Limits: each tenant's device limits and the store-wide safety limits (DOMAIN.md section 6).

Two kinds, checked the same way:

- a tenant's own limits, fields of its record: ``max_devices`` (every device, child devices
  included) and ``max_root_devices`` (devices without a gateway), set by its parent or the
  management tenant;
- the store's :class:`~tenancy.records.model.SafetyLimits`, given to :func:`tenancy.open`, which
  stop an accidental run from creating millions of records: tenants, tenant depth, per
  tenant groups, group depth, users, devices and gateway depth, tag rules per group, and
  connectors per source tenant.

Every check runs while a command validates, before it builds a single change, and raises
:class:`~tenancy.errors.LimitExceeded` naming the limit and the count the write would
reach; a write that would cross a limit, a bulk one included, creates nothing. Lowering a
limit below the current count is allowed: it removes nothing and refuses the next record.

Each check costs what the write touches: counts come from the index's per-tenant sets and
its root-device counter, depths from the closure (a group's depth is the size of its
ancestors-or-self set).
"""

from __future__ import annotations

from collections.abc import Iterable

from tenancy.errors import LimitExceeded
from tenancy.index.index import Index
from tenancy.records.model import Device, SafetyLimits, Tenant

__all__ = [
    "DEFAULT_LIMITS",
    "NewDevices",
    "check_device_move",
    "check_group_move",
    "check_group_rules",
    "check_new_connector",
    "check_new_devices",
    "check_new_group",
    "check_new_tenant",
    "check_new_user",
    "tenant_depth",
]

DEFAULT_LIMITS = SafetyLimits()


def _check(limit: str, count: int, maximum: int | None) -> None:
    if maximum is not None and count > maximum:
        raise LimitExceeded(limit, count, maximum)


def tenant_depth(index: Index, tenant_id: str) -> int:
    """Levels below the management tenant (which is at depth 0). O(depth)."""
    depth = 0
    parent = index.tenants[tenant_id].parent_id
    while parent is not None:
        depth += 1
        parent = index.tenants[parent].parent_id
    return depth


def check_new_tenant(limits: SafetyLimits, index: Index, parent_id: str) -> None:
    """A new tenant below ``parent_id``: the tenant count and the tenant depth."""
    _check("max_tenants", len(index.tenants) + 1, limits.max_tenants)
    _check("max_tenant_depth", tenant_depth(index, parent_id) + 1, limits.max_tenant_depth)


def check_new_group(
    limits: SafetyLimits, index: Index, tenant_id: str, parent_id: str | None
) -> None:
    """A new group of ``tenant_id`` below ``parent_id``: the group count and its depth."""
    count = len(index.groups_of_tenant(tenant_id)) + 1
    _check("max_groups_per_tenant", count, limits.max_groups_per_tenant)
    depth = 1 if parent_id is None else len(index.group_path(parent_id)) + 1
    _check("max_group_depth", depth, limits.max_group_depth)


def check_group_move(
    limits: SafetyLimits, index: Index, group_id: str, parent_id: str | None
) -> None:
    """Moving a group (with its subtree) below ``parent_id``: the depth its deepest
    descendant would reach. O(subtree), which the move itself costs anyway."""
    path = index.group_path
    own = len(path(group_id))
    height = max(len(path(g)) - own for g in index.groups_below(group_id, include_self=True))
    above = 0 if parent_id is None else len(path(parent_id))
    _check("max_group_depth", above + 1 + height, limits.max_group_depth)


def check_group_rules(limits: SafetyLimits, count: int) -> None:
    """A group about to hold ``count`` tag rules (a creation's, or an association's new
    rules with those it has)."""
    _check("max_tag_rules_per_group", count, limits.max_tag_rules_per_group)


def check_new_connector(limits: SafetyLimits, index: Index, tenant_id: str) -> None:
    """A new connector with ``tenant_id`` as its source."""
    count = len(index.access.connectors_from(tenant_id)) + 1
    _check("max_connectors_per_tenant", count, limits.max_connectors_per_tenant)


def check_new_user(limits: SafetyLimits, index: Index, tenant_id: str) -> None:
    count = len(index.users_of_tenant(tenant_id)) + 1
    _check("max_users_per_tenant", count, limits.max_users_per_tenant)


def _device_depth(index: Index, device_id: str, memo: dict[str, int]) -> int:
    """Levels from the root device down to ``device_id`` (a root device is at depth 1)."""
    chain: list[str] = []
    walk: str | None = device_id
    while walk is not None and walk not in memo:
        chain.append(walk)
        walk = index.devices[walk].parent_id
    depth = 0 if walk is None else memo[walk]
    for did in reversed(chain):
        depth += 1
        memo[did] = depth
    return memo[device_id]


class NewDevices:
    """New devices of one tenant counted against the limits as a bulk creation streams:
    :meth:`add` raises LimitExceeded at the first device past one, so a creation from an
    endless generator stops there instead of reading it all. The tenant's ``max_devices``
    and ``max_root_devices``, and the store's devices per tenant and gateway depth; O(1) a
    device, plus O(depth) once per existing gateway named.
    """

    __slots__ = ("_depth", "_index", "_limits", "_room", "_roots", "_tenant", "count", "roots")

    def __init__(self, limits: SafetyLimits, index: Index, tenant: Tenant) -> None:
        self._limits, self._index, self._tenant = limits, index, tenant
        self.count = index.device_count(tenant.id)
        self.roots = index.root_device_count(tenant.id)
        self._depth: dict[str, int] = {}
        # The fewest devices any count limit allows; crossing it names the limit.
        allowed = [limits.max_devices_per_tenant]
        if tenant.max_devices is not None:
            allowed.append(tenant.max_devices)
        self._roots = tenant.max_root_devices
        self._room = min(allowed)

    def add(self, device: Device) -> None:
        """Count one more new device (its parent, if new, was added before it)."""
        self.count += 1
        if self.count > self._room:
            _check("max_devices_per_tenant", self.count, self._limits.max_devices_per_tenant)
            _check("max_devices", self.count, self._tenant.max_devices)
        parent = device.parent_id
        if parent is None:
            self.roots += 1
            _check("max_root_devices", self.roots, self._roots)
            depth = 1
        else:
            memo = self._depth
            depth = (
                memo[parent] if parent in memo else _device_depth(self._index, parent, memo)
            ) + 1
        self._depth[device.id] = depth
        _check("max_device_depth", depth, self._limits.max_device_depth)

    def add_many(self, count: int, parent_id: str | None) -> None:
        """Count ``count`` more new devices at once, all under the existing device
        ``parent_id`` (None: root devices), before any of them is built: a bulk creation of
        a known size (a recipe's) past a limit is refused at once, naming the count the
        write would reach, however large it is. O(depth of the parent)."""
        self.count += count
        if self.count > self._room:
            _check("max_devices_per_tenant", self.count, self._limits.max_devices_per_tenant)
            _check("max_devices", self.count, self._tenant.max_devices)
        if parent_id is None:
            self.roots += count
            _check("max_root_devices", self.roots, self._roots)
            depth = 1
        else:
            depth = _device_depth(self._index, parent_id, self._depth) + 1
        _check("max_device_depth", depth, self._limits.max_device_depth)


def check_new_devices(
    limits: SafetyLimits, index: Index, tenant: Tenant, devices: Iterable[Device]
) -> None:
    """New devices of ``tenant`` (a parent may be one of them, listed earlier), checked as
    :class:`NewDevices` counts them: the first device past a limit raises."""
    counter = NewDevices(limits, index, tenant)
    for device in devices:
        counter.add(device)


def check_device_move(
    limits: SafetyLimits, index: Index, tenant: Tenant, device_id: str, parent_id: str | None
) -> None:
    """Giving a device another gateway (None detaches it): a detached device becomes a
    root device, and the device's own child devices move with it. O(its subtree)."""
    old = index.devices[device_id]
    if parent_id is None and old.parent_id is not None:
        roots = index.root_device_count(tenant.id) + 1
        _check("max_root_devices", roots, tenant.max_root_devices)
    height, frontier = 0, [device_id]
    while frontier:
        height += 1
        frontier = [c for d in frontier for c in index.child_devices(d)]
    above = 0 if parent_id is None else _device_depth(index, parent_id, {})
    _check("max_device_depth", above + height, limits.max_device_depth)
