"""oso 0.27 as a peer: the hierarchy as recursive Polar rules over the application's objects.

oso keeps no data of its own: the application's objects are asked for their attributes while
a query runs. The objects are what an application would have in memory: groups with their
parent, devices with the groups that associate them directly (by id or by a tag rule: rule
1 of the index, given from the workload's plan) and their gateway, users with the ids of
their groups. The rules walk *up* from the device (its associating groups, their ancestors,
its gateway's), the cheap direction, and meet the user's groups:

.. code-block:: text

    allow(user: User, "read", device: Device) if
        covers(group, device) and group.id in user.group_ids;

oso 0.27 has no listing for recursive rules (its data filtering does not take them), so a
listing is the device list filtered with ``is_allowed``, as its documentation suggests for
that case; whom to alert, the user list filtered the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version

from oso import Oso  # type: ignore[import-not-found,unused-ignore]

from tenancy.testing.workload import Workload

__all__ = ["POLICY", "Device", "Group", "OsoPolar", "User"]

VERSION = version("oso")

POLICY = """
allow(user: User, "read", device: Device) if
    covers(group, device) and group.id in user.group_ids;

covers(group, device: Device) if
    associated in device.groups and within(associated, group);
covers(group, device: Device) if
    device.gateway != nil and covers(group, device.gateway);

within(g: Group, g);
within(g: Group, ancestor) if
    g.parent != nil and within(g.parent, ancestor);
"""


class Group:
    __slots__ = ("id", "parent")

    def __init__(self, group_id: str, parent: Group | None) -> None:
        self.id = group_id
        self.parent = parent


class Device:
    __slots__ = ("gateway", "groups", "id")

    def __init__(self, device_id: str, groups: list[Group], gateway: Device | None) -> None:
        self.id = device_id
        self.groups = groups
        self.gateway = gateway


class User:
    __slots__ = ("group_ids", "id")

    def __init__(self, user_id: str, group_ids: list[str]) -> None:
        self.id = user_id
        self.group_ids = group_ids


class OsoPolar:
    """The workload as Python objects, and an Oso instance with the rules loaded."""

    def __init__(self, w: Workload) -> None:
        self.groups: dict[str, Group] = {}
        for gid, parent in w.group_parent.items():  # parents first
            self.groups[gid] = Group(gid, None if parent is None else self.groups[parent])
        self.devices: dict[str, Device] = {}
        for did, plan in w.devices.items():  # gateways before their children
            gateway = None if plan.parent_id is None else self.devices[plan.parent_id]
            self.devices[did] = Device(did, [self.groups[g] for g in w.associating(did)], gateway)
        self.users = {uid: User(uid, list(gs)) for uid, gs in w.user_groups.items()}
        self.sorted_devices = sorted(self.devices)
        self.sorted_users = sorted(self.users)
        self.oso = Oso()
        for cls in (Group, Device, User):
            self.oso.register_class(cls)  # type: ignore[no-untyped-call,unused-ignore]
        self.oso.load_str(POLICY)
        self._allowed: Callable[[object, str, object], bool] = self.oso.is_allowed

    def verify(self, user_id: str, device_id: str) -> bool:
        return self._allowed(self.users[user_id], "read", self.devices[device_id])

    def first_page(self, user_id: str, limit: int) -> list[str]:
        """The device list, in id order, filtered with is_allowed until a page is full."""
        user, devices, allowed = self.users[user_id], self.devices, self._allowed
        page: list[str] = []
        for did in self.sorted_devices:
            if allowed(user, "read", devices[did]):
                page.append(did)
                if len(page) == limit:
                    break
        return page

    def all_devices(self, user_id: str) -> list[str]:
        return self.first_page(user_id, len(self.sorted_devices) + 1)

    def users_for(self, device_id: str) -> list[str]:
        device, users, allowed = self.devices[device_id], self.users, self._allowed
        return [u for u in self.sorted_users if allowed(users[u], "read", device)]
