"""pycasbin as a peer: RBAC with a role hierarchy, the model its documentation gives for
hierarchical resources ("RBAC with resource roles").

- ``g, user, group``: a user's memberships (user roles);
- ``g2, device, group``: the groups that associate a device directly (by id or by a tag
  rule: rule 1 of the index, given from the workload's plan); ``g2, group, parent group``:
  the group tree; ``g2, child device, gateway``: a child device follows its gateway;
- ``p, group, group, read``: the members of a group may read what is in it.

The matcher ``g(r.sub, p.sub) && g2(r.obj, p.obj)`` then holds exactly when one of the
user's groups covers the device: the role manager walks up from the device. The policies
are loaded as casbin loads them from storage (an adapter feeding policy lines, then the role
links built once), not one ``add_policy`` at a time, which checks for duplicates by a scan
of the list and so makes a bulk load quadratic.

casbin has no listing query. The listings are what its API offers: the user's roles
(``get_roles_for_user``), then the resource role manager's ``get_users`` walked down to the
devices, sorted; whom to alert is the device's implicit roles (its covering groups) and the
users of each (``get_users_for_role``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import casbin  # type: ignore[import-untyped,import-not-found,unused-ignore]
from casbin.persist.adapter import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
    Adapter,
    load_policy_line,
)

from tenancy.testing.workload import Workload

__all__ = ["MODEL", "CasbinRBAC", "policy_lines"]

MODEL = """
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _
g2 = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && g2(r.obj, p.obj) && r.act == p.act
"""

VERSION: str = getattr(casbin, "__version__", "")


def policy_lines(w: Workload) -> Iterator[str]:
    """The workload as casbin policy lines, as a file or database adapter would hold them."""
    for gid in w.group_parent:
        yield f"p, {gid}, {gid}, read"
    for gid, parent in w.group_parent.items():
        if parent is not None:
            yield f"g2, {gid}, {parent}"
    for did, device in w.devices.items():
        for gid in w.associating(did):
            yield f"g2, {did}, {gid}"
        if device.parent_id is not None:
            yield f"g2, {did}, {device.parent_id}"
    for uid, groups in w.user_groups.items():
        for gid in groups:
            yield f"g, {uid}, {gid}"


class _PlanAdapter(Adapter):  # type: ignore[misc]
    """Feeds policy lines to casbin like its file adapter does, without the file."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines

    def load_policy(self, model: Any) -> None:
        for line in self._lines:
            load_policy_line(line, model)


class CasbinRBAC:
    """The workload in a pycasbin Enforcer."""

    def __init__(self, w: Workload) -> None:
        logging.getLogger("casbin").setLevel(logging.ERROR)  # it logs each denial otherwise
        model = casbin.Enforcer.new_model(text=MODEL)
        self.e: Any = casbin.Enforcer(model, _PlanAdapter(policy_lines(w)))
        self.g2: Any = self.e.get_named_role_manager("g2")
        self.groups = frozenset(w.group_parent)

    def verify(self, user_id: str, device_id: str) -> bool:
        return bool(self.e.enforce(user_id, device_id, "read"))

    def all_devices(self, user_id: str) -> list[str]:
        """Every device the user reaches, sorted: a walk down the resource roles."""
        seen: set[str] = set()
        frontier = [
            obj
            for role in self.e.get_roles_for_user(user_id)
            for _, obj, act in self.e.get_permissions_for_user(role)
            if act == "read"
        ]
        while frontier:
            name = frontier.pop()
            if name in seen:
                continue
            seen.add(name)
            frontier.extend(self.g2.get_users(name))
        return sorted(seen - self.groups)

    def first_page(self, user_id: str, limit: int) -> list[str]:
        return self.all_devices(user_id)[:limit]

    def users_for(self, device_id: str) -> list[str]:
        """Every user who reaches the device: the policies on its implicit resource roles
        (its covering groups), then the users holding each policy's subject role."""
        users: set[str] = set()
        for obj in self.e.get_implicit_roles_for_user(device_id):
            for sub, _, act in self.e.get_filtered_policy(1, obj):
                if act == "read":
                    users.update(self.e.get_users_for_role(sub))
        return sorted(users)

    # ----------------------------------------------------------------- writes

    def tag(self, device_id: str, group_id: str) -> None:
        """A new tag that a group's rule matches: one more resource role link."""
        self.e.add_named_grouping_policy("g2", device_id, group_id)

    def untag(self, device_id: str, group_id: str) -> None:
        self.e.remove_named_grouping_policy("g2", device_id, group_id)

    def add_member(self, group_id: str, user_id: str) -> None:
        self.e.add_grouping_policy(user_id, group_id)

    def remove_member(self, group_id: str, user_id: str) -> None:
        self.e.remove_grouping_policy(user_id, group_id)

    def create_device(self, device_id: str, group_ids: list[str]) -> None:
        for gid in group_ids:
            self.e.add_named_grouping_policy("g2", device_id, gid)

    def move_group(self, group_id: str, old_parent: str, new_parent: str) -> None:
        self.e.remove_named_grouping_policy("g2", group_id, old_parent)
        self.e.add_named_grouping_policy("g2", group_id, new_parent)
