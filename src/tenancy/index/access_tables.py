"""The access-control records as the index keeps them: pure data, looked up by who and where.

The index owns one :class:`AccessState` and moves it forward with the same changes as the
rest (``AccessSet``, ``AccessRemoved``, user records for owners, ``TenantDeleted``). The rules
that read it (what a role grants, what a check answers) live in :mod:`tenancy.rules.access`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tenancy.records.grants import (
    AccessRecord,
    Delegation,
    InventoryGrant,
    RoleDefinition,
    RoleGrant,
    SupportRequest,
)

__all__ = ["AccessState"]


def _key(record: AccessRecord) -> tuple[str, str]:
    return (type(record).__name__, record.key)


class AccessState:
    """Every access record, and the maps a check needs, kept in step with each other."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], AccessRecord] = {}
        self.roles: dict[tuple[str, str, str], RoleDefinition] = {}
        """(tenant, kind, name) -> custom role."""
        self.user_roles: dict[str, set[str]] = defaultdict(set)
        """user -> global role names."""
        self.inventory: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
        """(principal kind, principal id) -> {(role, group)}."""
        self.on_group: dict[str, set[InventoryGrant]] = defaultdict(set)
        """group -> grants held on it (so deleting a group finds them)."""
        self.delegations: dict[str, dict[str, Delegation]] = defaultdict(dict)
        """owner -> delegate -> delegation."""
        self.delegated_to: dict[str, set[str]] = defaultdict(set)
        """delegate -> owners who delegated to it."""
        self.support: dict[str, SupportRequest] = {}
        """tenant -> its open support request."""
        self.sub_users: dict[str, set[str]] = defaultdict(set)
        """owner -> its direct sub-users."""
        self.cache: dict[str, Any] = {}
        """Per-user answers of tenancy.rules.access, valid until the next commit clears them."""

    def put(self, record: AccessRecord) -> None:
        old = self.records.get(_key(record))
        if old is not None:
            self.remove(old)
        self.records[_key(record)] = record
        match record:
            case RoleDefinition(tenant_id=t, kind=kind, name=name):
                self.roles[(t, kind, name)] = record
            case RoleGrant(user_id=u, role=role):
                self.user_roles[u].add(role)
            case InventoryGrant(principal_kind=k, principal_id=p, role=role, group_id=g):
                self.inventory[(k, p)].add((role, g))
                self.on_group[g].add(record)
            case Delegation(owner_id=o, delegate_id=d):
                self.delegations[o][d] = record
                self.delegated_to[d].add(o)
            case SupportRequest(tenant_id=t):
                self.support[t] = record

    def remove(self, record: AccessRecord) -> None:
        record = self.records.pop(_key(record), record)
        match record:
            case RoleDefinition(tenant_id=t, kind=kind, name=name):
                self.roles.pop((t, kind, name), None)
            case RoleGrant(user_id=u, role=role):
                _discard(self.user_roles, u, role)
            case InventoryGrant(principal_kind=k, principal_id=p, role=role, group_id=g):
                _discard(self.inventory, (k, p), (role, g))
                _discard(self.on_group, g, record)
            case Delegation(owner_id=o, delegate_id=d):
                delegates = self.delegations.get(o, {})
                delegates.pop(d, None)
                if not delegates:
                    self.delegations.pop(o, None)
                _discard(self.delegated_to, d, o)
            case SupportRequest(tenant_id=t):
                self.support.pop(t, None)

    def set_owner(self, user_id: str, old: str | None, new: str | None) -> None:
        if old is not None:
            _discard(self.sub_users, old, user_id)
        if new is not None:
            self.sub_users[new].add(user_id)

    def forget_user(self, user_id: str, owner: str | None) -> None:
        """A deleted user: its place among its owner's sub-users (its records went first)."""
        self.set_owner(user_id, owner, None)
        self.sub_users.pop(user_id, None)

    def drop_tenant(self, tenant_id: str) -> None:
        for record in [r for r in self.records.values() if r.tenant_id == tenant_id]:
            self.remove(record)

    def of_tenant(self, tenant_id: str) -> list[AccessRecord]:
        return [r for r in self.records.values() if r.tenant_id == tenant_id]

    def referring_to_user(self, user_id: str) -> list[AccessRecord]:
        """The records that name the user: its grants and delegations either way."""
        found: list[AccessRecord] = []
        for record in self.records.values():
            match record:
                case RoleGrant(user_id=u) if u == user_id:
                    found.append(record)
                case InventoryGrant(principal_kind="user", principal_id=p) if p == user_id:
                    found.append(record)
                case Delegation(owner_id=o, delegate_id=d) if user_id in (o, d):
                    found.append(record)
        return found

    def referring_to_group(self, group_id: str) -> list[AccessRecord]:
        """The inventory grants held on the group or by its members as a principal."""
        found: list[AccessRecord] = list(self.on_group.get(group_id, ()))
        for role, g in self.inventory.get(("group", group_id), ()):
            found.extend(
                r
                for r in self.on_group.get(g, ())
                if r.principal_kind == "group" and r.principal_id == group_id and r.role == role
            )
        return sorted(set(found), key=lambda r: r.key)

    def sorted_records(self) -> list[AccessRecord]:
        return [self.records[k] for k in sorted(self.records)]


def _discard(table: dict[Any, set[Any]], key: object, value: object) -> None:
    values = table.get(key)
    if values is not None:
        values.discard(value)
        if not values:
            del table[key]
