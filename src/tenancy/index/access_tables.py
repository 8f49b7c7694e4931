"""The access-control records as the index keeps them: pure data, looked up by who and where.

The index owns one :class:`AccessState` and moves it forward with the same changes as the
rest (``AccessSet``, ``AccessRemoved``, user records for owners, ``TenantDeleted``). The rules
that read it (what a role grants, what a check answers) live in :mod:`tenancy.rules.access`.

Its tables are private, like the index's: other modules read them through the methods of
the sections "reads", and only the index changes them.
The one public attribute, :attr:`AccessState.cache`, is not a table but the memo of the
answers :mod:`tenancy.rules.access` works out, which it fills and every apply replaces.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Set
from datetime import datetime
from typing import Any, TypeAlias

from tenancy.records.grants import (
    AccessRecord,
    Delegation,
    InventoryGrant,
    RoleDefinition,
    RoleGrant,
    SupportRequest,
)
from tenancy.records.sharing import Connector, Subscription

__all__ = ["AccessState", "Window"]

Window: TypeAlias = tuple[datetime | None, datetime | None]
"""``(valid_from, valid_until)`` of a time-bounded grant (tenancy.records.window)."""

_NONE: frozenset[Any] = frozenset()
_NO_DELEGATIONS: Mapping[str, Delegation] = {}
_NO_WINDOWS: Mapping[Any, Window] = {}


def _key(record: AccessRecord) -> tuple[str, str]:
    return (type(record).__name__, record.key)


class AccessState:
    """Every access record, and the maps a check needs, kept in step with each other."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], AccessRecord] = {}
        self._roles: dict[tuple[str, str, str], RoleDefinition] = {}
        """(tenant, kind, name) -> custom role."""
        self._user_roles: dict[str, set[str]] = defaultdict(set)
        """user -> global role names."""
        self._inventory: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
        """(principal kind, principal id) -> {(role, group)}."""
        self._on_group: dict[str, set[InventoryGrant]] = defaultdict(set)
        """group -> grants held on it (so deleting a group finds them)."""
        self._role_windows: dict[str, dict[str, Window]] = {}
        """user -> role -> window, for the global role grants that have one only."""
        self._inventory_windows: dict[tuple[str, str, str, str], Window] = {}
        """(principal kind, principal id, role, group) -> window, for the inventory grants
        that have one only: empty, it costs a check nothing."""
        self._delegations: dict[str, dict[str, Delegation]] = defaultdict(dict)
        """owner -> delegate -> delegation."""
        self._delegated_to: dict[str, set[str]] = defaultdict(set)
        """delegate -> owners who delegated to it."""
        self._support: dict[str, SupportRequest] = {}
        """tenant -> its open support request."""
        self._sub_users: dict[str, set[str]] = defaultdict(set)
        """owner -> its direct sub-users."""
        self._connectors: dict[str, Connector] = {}
        """connector id -> connector."""
        self._outgoing: dict[str, set[str]] = defaultdict(set)
        """source tenant -> its connectors."""
        self._incoming: dict[str, set[str]] = defaultdict(set)
        """destination tenant -> the connectors offered to it."""
        self._filtered: dict[str, set[str]] = defaultdict(set)
        """group or device id -> the connectors whose filters name it."""
        self._subscriptions: dict[str, Subscription] = {}
        """subscription id -> subscription."""
        self._accepted: dict[str, str] = {}
        """connector id -> the id of its subscription."""
        self._tenant_subscriptions: dict[str, set[str]] = defaultdict(set)
        """destination tenant -> its subscriptions."""
        self._virtual: dict[str, str] = {}
        """virtual group id -> the id of the subscription it belongs to."""
        self.cache: dict[str, Any] = {}
        """Per-user answers of tenancy.rules.access, valid until the next commit clears them
        (an answer that depends on a time-bounded grant also carries the interval of
        instants it holds for, which tenancy.rules.access checks against its ``now``)."""

    # ----------------------------------------------------------------- reads

    def record(self, kind: str, key: str) -> AccessRecord | None:
        """The record of this type name (``"RoleGrant"``...) and key, or None. O(1)."""
        return self._records.get((kind, key))

    def role(self, tenant_id: str, kind: str, name: str) -> RoleDefinition | None:
        """The tenant's custom role of this kind (``"global"`` or ``"inventory"``) and name,
        or None. O(1)."""
        return self._roles.get((tenant_id, kind, name))

    def global_roles_of(self, user_id: str) -> Set[str]:
        """The names of the global roles granted to the user. O(1)."""
        return self._user_roles.get(user_id, _NONE)

    def inventory_of(self, principal_kind: str, principal_id: str) -> Set[tuple[str, str]]:
        """``(role, group)`` of every inventory grant held by the principal (``"user"`` or
        ``"group"`` and its id). O(1)."""
        return self._inventory.get((principal_kind, principal_id), _NONE)

    def role_windows_of(self, user_id: str) -> Mapping[str, Window]:
        """role -> ``(valid_from, valid_until)`` of the user's global role grants that have
        a window (those without one are not in it). O(1)."""
        return self._role_windows.get(user_id, _NO_WINDOWS)

    @property
    def windowed(self) -> bool:
        """Does any global or inventory role grant of the store have a window? While none
        has, no answer of :func:`tenancy.rules.access.check` depends on the instant, and
        the handle reads no clock for it. O(1)."""
        return bool(self._role_windows) or bool(self._inventory_windows)

    @property
    def inventory_windows(self) -> Mapping[tuple[str, str, str, str], Window]:
        """``(principal kind, principal id, role, group)`` -> ``(valid_from, valid_until)``
        of every inventory grant that has a window; empty when none has. O(1)."""
        return self._inventory_windows

    def delegation(self, owner_id: str, delegate_id: str) -> Delegation | None:
        """The owner's delegation of its hierarchy to the delegate, or None. O(1)."""
        return self._delegations.get(owner_id, _NO_DELEGATIONS).get(delegate_id)

    def delegations_by(self, owner_id: str) -> Mapping[str, Delegation]:
        """delegate id -> the owner's delegation to it. O(1)."""
        return self._delegations.get(owner_id, _NO_DELEGATIONS)

    def delegators_of(self, delegate_id: str) -> Set[str]:
        """The owners who delegated the management of their hierarchy to the delegate.
        O(1)."""
        return self._delegated_to.get(delegate_id, _NONE)

    def support_request(self, tenant_id: str) -> SupportRequest | None:
        """The tenant's support request, or None (whether or not it expired). O(1)."""
        return self._support.get(tenant_id)

    def sub_users_of(self, owner_id: str) -> Set[str]:
        """The ids of the owner's direct sub-users. O(1)."""
        return self._sub_users.get(owner_id, _NONE)

    def connector(self, connector_id: str) -> Connector | None:
        """The connector of this id, or None. O(1)."""
        return self._connectors.get(connector_id)

    def connectors_from(self, tenant_id: str) -> Set[str]:
        """The ids of the connectors the tenant is the source of. O(1)."""
        return self._outgoing.get(tenant_id, _NONE)

    def connectors_to(self, tenant_id: str) -> Set[str]:
        """The ids of the connectors offered to the tenant (its destination). O(1)."""
        return self._incoming.get(tenant_id, _NONE)

    def connectors_naming(self, record_id: str) -> Set[str]:
        """The ids of the connectors whose filters name this group or device. O(1)."""
        return self._filtered.get(record_id, _NONE)

    def all_connectors(self) -> Mapping[str, Connector]:
        """connector id -> connector, every one. O(1)."""
        return self._connectors

    def subscription(self, subscription_id: str) -> Subscription | None:
        """The subscription of this id, or None. O(1)."""
        return self._subscriptions.get(subscription_id)

    def subscription_of(self, connector_id: str) -> Subscription | None:
        """The subscription accepting the connector, or None while it is not accepted.
        O(1)."""
        sid = self._accepted.get(connector_id)
        return None if sid is None else self._subscriptions[sid]

    def subscriptions_of(self, tenant_id: str) -> Set[str]:
        """The ids of the tenant's subscriptions (connectors it accepted). O(1)."""
        return self._tenant_subscriptions.get(tenant_id, _NONE)

    def all_subscriptions(self) -> Mapping[str, Subscription]:
        """subscription id -> subscription, every one. O(1)."""
        return self._subscriptions

    def virtual_group(self, group_id: str) -> Subscription | None:
        """The subscription whose virtual group this is, or None for an ordinary group.
        O(1)."""
        sid = self._virtual.get(group_id)
        return None if sid is None else self._subscriptions[sid]

    # ----------------------------------------------------------------- upkeep (the index)

    def _put(self, record: AccessRecord) -> None:
        old = self._records.get(_key(record))
        if old is not None:
            self._remove(old)
        self._records[_key(record)] = record
        match record:
            case RoleDefinition(tenant_id=t, kind=kind, name=name):
                self._roles[(t, kind, name)] = record
            case RoleGrant(user_id=u, role=role):
                self._user_roles[u].add(role)
                if record.valid_from is not None or record.valid_until is not None:
                    self._role_windows.setdefault(u, {})[role] = (
                        record.valid_from,
                        record.valid_until,
                    )
            case InventoryGrant(principal_kind=k, principal_id=p, role=role, group_id=g):
                self._inventory[(k, p)].add((role, g))
                self._on_group[g].add(record)
                if record.valid_from is not None or record.valid_until is not None:
                    self._inventory_windows[(k, p, role, g)] = (
                        record.valid_from,
                        record.valid_until,
                    )
            case Delegation(owner_id=o, delegate_id=d):
                self._delegations[o][d] = record
                self._delegated_to[d].add(o)
            case SupportRequest(tenant_id=t):
                self._support[t] = record
            case Connector(id=cid):
                self._connectors[cid] = record
                self._outgoing[record.source_tenant_id].add(cid)
                self._incoming[record.destination_tenant_id].add(cid)
                for named in record.group_ids | record.device_ids:
                    self._filtered[named].add(cid)
            case Subscription(id=sid, tenant_id=t, connector_id=cid, group_id=g):
                self._subscriptions[sid] = record
                self._accepted[cid] = sid
                self._tenant_subscriptions[t].add(sid)
                self._virtual[g] = sid

    def _remove(self, record: AccessRecord) -> None:
        record = self._records.pop(_key(record), record)
        match record:
            case RoleDefinition(tenant_id=t, kind=kind, name=name):
                self._roles.pop((t, kind, name), None)
            case RoleGrant(user_id=u, role=role):
                _discard(self._user_roles, u, role)
                windows = self._role_windows.get(u)
                if windows is not None:
                    windows.pop(role, None)
                    if not windows:
                        del self._role_windows[u]
            case InventoryGrant(principal_kind=k, principal_id=p, role=role, group_id=g):
                _discard(self._inventory, (k, p), (role, g))
                _discard(self._on_group, g, record)
                self._inventory_windows.pop((k, p, role, g), None)
            case Delegation(owner_id=o, delegate_id=d):
                delegates = self._delegations.get(o, {})
                delegates.pop(d, None)
                if not delegates:
                    self._delegations.pop(o, None)
                _discard(self._delegated_to, d, o)
            case SupportRequest(tenant_id=t):
                self._support.pop(t, None)
            case Connector(id=cid):
                self._connectors.pop(cid, None)
                _discard(self._outgoing, record.source_tenant_id, cid)
                _discard(self._incoming, record.destination_tenant_id, cid)
                for named in record.group_ids | record.device_ids:
                    _discard(self._filtered, named, cid)
            case Subscription(id=sid, tenant_id=t, connector_id=cid, group_id=g):
                self._subscriptions.pop(sid, None)
                if self._accepted.get(cid) == sid:
                    del self._accepted[cid]
                _discard(self._tenant_subscriptions, t, sid)
                if self._virtual.get(g) == sid:
                    del self._virtual[g]

    def _set_owner(self, user_id: str, old: str | None, new: str | None) -> None:
        if old is not None:
            _discard(self._sub_users, old, user_id)
        if new is not None:
            self._sub_users[new].add(user_id)

    def _forget_user(self, user_id: str, owner: str | None) -> None:
        """A deleted user: its place among its owner's sub-users (its records went first)."""
        self._set_owner(user_id, owner, None)
        self._sub_users.pop(user_id, None)

    def _drop_tenant(self, tenant_id: str) -> None:
        for record in [r for r in self._records.values() if r.tenant_id == tenant_id]:
            self._remove(record)

    # ----------------------------------------------------------------- reads, O(records)

    def of_tenant(self, tenant_id: str) -> list[AccessRecord]:
        """The tenant's records. O(records)."""
        return [r for r in self._records.values() if r.tenant_id == tenant_id]

    def referring_to_user(self, user_id: str) -> list[AccessRecord]:
        """The records that name the user: its grants and delegations either way.
        O(records)."""
        found: list[AccessRecord] = []
        for record in self._records.values():
            match record:
                case RoleGrant(user_id=u) if u == user_id:
                    found.append(record)
                case InventoryGrant(principal_kind="user", principal_id=p) if p == user_id:
                    found.append(record)
                case Delegation(owner_id=o, delegate_id=d) if user_id in (o, d):
                    found.append(record)
        return found

    def referring_to_group(self, group_id: str) -> list[AccessRecord]:
        """The inventory grants held on the group or by its members as a principal.
        O(grants on the groups involved)."""
        found: list[AccessRecord] = list(self._on_group.get(group_id, ()))
        for role, g in self._inventory.get(("group", group_id), ()):
            found.extend(
                r
                for r in self._on_group.get(g, ())
                if r.principal_kind == "group" and r.principal_id == group_id and r.role == role
            )
        return sorted(set(found), key=lambda r: r.key)

    def sorted_records(self) -> list[AccessRecord]:
        """Every record, by type name and key. O(records log records)."""
        return [self._records[k] for k in sorted(self._records)]


def _discard(table: dict[Any, set[Any]], key: object, value: object) -> None:
    values = table.get(key)
    if values is not None:
        values.discard(value)
        if not values:
            del table[key]
