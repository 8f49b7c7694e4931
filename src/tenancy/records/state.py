"""The plain record state that the reference store keeps: the meaning of every change.

:class:`RecordState` is the executable meaning of each change on records alone, with no
closure and no index: the memory store keeps one, and the store contract suite compares
every adapter against it. It starts from, and gives back, a
:class:`~tenancy.records.snapshot.Snapshot`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import msgspec
from sortedcontainers import SortedDict

from tenancy.records import changes as ch
from tenancy.records.grants import AccessRecord
from tenancy.records.model import ACTIVE, SUSPENDED, Group, TagRule, UsageDay
from tenancy.records.snapshot import Snapshot

__all__ = [
    "RecordState",
    "UsageTable",
    "access_key",
    "merge_usage",
]


def access_key(record: AccessRecord) -> tuple[str, str]:
    """(kind, key): what identifies an access-control record among all of them."""
    return (type(record).__name__, record.key)


def merge_usage(row: UsageDay | None, change: ch.UsageRecorded) -> UsageDay:
    """The meaning of :class:`~tenancy.records.changes.UsageRecorded` on a tenant's row of that
    day (None when the day has none yet): counts replaced, peaks by max, requests summed.

    Every store applies it with this function, so they all agree. It runs with every
    counting commit, so it is written for speed: no intermediate records.
    """
    c, p = change.counts, change.peaks
    if row is None:
        peak_devices, peak_roots = max(p.devices, c.devices), max(p.root_devices, c.root_devices)
        peak_users, peak_groups = max(p.users, c.users), max(p.groups, c.groups)
        shared = c.shared_devices or 0
        peak_shared = max(p.shared_devices or 0, shared)
        requests = change.requests
    else:
        peak_devices = max(row.peak_devices, p.devices, c.devices)
        peak_roots = max(row.peak_root_devices, p.root_devices, c.root_devices)
        peak_users = max(row.peak_users, p.users, c.users)
        peak_groups = max(row.peak_groups, p.groups, c.groups)
        # None: the change did not count shared devices, the row keeps its count.
        shared = row.shared_devices if c.shared_devices is None else c.shared_devices
        peak_shared = max(row.peak_shared_devices, p.shared_devices or 0, shared)
        requests = row.requests
    if change.requests and requests is not change.requests:
        summed = dict(requests)
        for kind, n in change.requests:
            summed[kind] = summed.get(kind, 0) + n
        requests = tuple(sorted(summed.items()))
    return UsageDay(
        tenant_id=change.tenant_id,
        day=change.day,
        devices=c.devices,
        root_devices=c.root_devices,
        users=c.users,
        groups=c.groups,
        peak_devices=peak_devices,
        peak_root_devices=peak_roots,
        peak_users=peak_users,
        peak_groups=peak_groups,
        requests=requests,
        shared_devices=shared,
        peak_shared_devices=peak_shared,
    )


class UsageTable:
    """Usage rows by tenant and UTC day, moved forward by :class:`UsageRecorded` changes.

    The reference store keeps one, and so does the index (which answers the usage queries
    from it without I/O). Rows of one tenant are kept sorted by day for range queries.
    """

    __slots__ = ("_rows",)

    def __init__(self, rows: Iterable[UsageDay] = ()) -> None:
        self._rows: dict[str, SortedDict] = {}
        for row in rows:
            self._days(row.tenant_id)[row.day] = row

    def _days(self, tenant_id: str) -> SortedDict:
        days = self._rows.get(tenant_id)
        if days is None:
            days = self._rows[tenant_id] = SortedDict()
        return days

    def apply(self, change: ch.UsageRecorded) -> None:
        """Merge one change into its row (the caller checks that the tenant exists)."""
        days = self._rows.get(change.tenant_id)
        if days is None:
            days = self._rows[change.tenant_id] = SortedDict()
        day = change.day
        days[day] = merge_usage(days.get(day), change)

    def drop(self, tenant_id: str) -> None:
        """Forget every row of a deleted tenant."""
        self._rows.pop(tenant_id, None)

    def get(self, tenant_id: str, day: date) -> UsageDay | None:
        days = self._rows.get(tenant_id)
        return None if days is None else days.get(day)

    def last_before(self, tenant_id: str, day: date) -> UsageDay | None:
        """The tenant's latest row strictly before ``day``, or None.
        Runtime complexity: O(log days)."""
        days = self._rows.get(tenant_id)
        if not days:
            return None
        i = days.bisect_left(day)
        return None if i == 0 else days.peekitem(i - 1)[1]

    def between(self, tenant_id: str, start: date, end: date) -> list[UsageDay]:
        """The tenant's rows from ``start`` to ``end``, both included, sorted by day.
        Runtime complexity: O(log days + rows returned)."""
        days = self._rows.get(tenant_id)
        if not days:
            return []
        return [days[d] for d in days.irange(start, end)]

    def rows(self) -> list[UsageDay]:
        """Every row, sorted by (tenant_id, day)."""
        return [row for t in sorted(self._rows) for row in self._rows[t].values()]


class _GroupRow:
    """A group with mutable association sets, so one association costs O(1), not a copy."""

    __slots__ = ("description", "device_ids", "device_tags", "id", "name", "parent_id", "tenant_id")

    def __init__(self, group: Group) -> None:
        self.id = group.id
        self.tenant_id = group.tenant_id
        self.name = group.name
        self.description = group.description
        self.parent_id = group.parent_id
        self.device_ids: set[str] = set(group.device_ids)
        self.device_tags: set[TagRule] = set(group.device_tags)

    def record(self) -> Group:
        return Group(
            id=self.id,
            tenant_id=self.tenant_id,
            name=self.name,
            description=self.description,
            parent_id=self.parent_id,
            device_ids=frozenset(self.device_ids),
            device_tags=frozenset(self.device_tags),
        )


class RecordState:
    """Current records, moved forward one change at a time. Pure: no I/O."""

    def __init__(self, snapshot: Snapshot | None = None) -> None:
        snapshot = snapshot or Snapshot()
        self.revision: ch.Revision = snapshot.revision
        self.tenants = {t.id: t for t in snapshot.tenants}
        self.groups = {g.id: _GroupRow(g) for g in snapshot.groups}
        self.devices = {d.id: d for d in snapshot.devices}
        self.users = {u.id: u for u in snapshot.users}
        self.memberships = set(snapshot.memberships)
        self.usage = UsageTable(snapshot.usage)
        self.access = {access_key(r): r for r in snapshot.access}

    def snapshot(self) -> Snapshot:
        return Snapshot(
            revision=self.revision,
            tenants=[self.tenants[k] for k in sorted(self.tenants)],
            groups=[self.groups[k].record() for k in sorted(self.groups)],
            devices=[self.devices[k] for k in sorted(self.devices)],
            users=[self.users[k] for k in sorted(self.users)],
            memberships=sorted(self.memberships),
            usage=self.usage.rows(),
            access=[self.access[k] for k in sorted(self.access)],
        )

    def apply_commit(self, revision: ch.Revision, changes: Iterable[ch.Change]) -> None:
        for change in changes:
            self.apply(change)
        self.revision = revision

    def apply(self, change: ch.Change) -> None:
        match change:
            case ch.UsageRecorded(tenant_id=tid):  # first: most commits carry one
                if tid in self.tenants:
                    self.usage.apply(change)
            case ch.TenantCreated(tenant=t) | ch.TenantUpdated(tenant=t):
                self.tenants[t.id] = t
            case ch.AccessSet(record=r):
                self.access[access_key(r)] = r
            case ch.AccessRemoved(record=r):
                self.access.pop(access_key(r), None)
            case ch.SupportSessionStarted() | ch.ConnectorAcceptRefused():
                pass
            case ch.TenantSuspended(tenant_id=tid):
                self.tenants[tid] = msgspec.structs.replace(self.tenants[tid], status=SUSPENDED)
            case ch.TenantActivated(tenant_id=tid):
                self.tenants[tid] = msgspec.structs.replace(self.tenants[tid], status=ACTIVE)
            case ch.TenantDeleted(tenant_id=tid):
                self._delete_tenant(tid)
            case ch.GroupCreated(group=g):
                self.groups[g.id] = _GroupRow(g)
            case ch.GroupUpdated(group_id=gid, name=name, description=description):
                self.groups[gid].name = name
                self.groups[gid].description = description
            case ch.GroupMoved(group_id=gid, parent_id=parent_id):
                self.groups[gid].parent_id = parent_id
            case ch.GroupDeleted(group_id=gid):
                del self.groups[gid]
                self.memberships = {m for m in self.memberships if m[0] != gid}
            case ch.Associated(group_id=gid, device_ids=ids, device_tags=rules):
                self.groups[gid].device_ids |= ids
                self.groups[gid].device_tags |= rules
            case ch.Dissociated(group_id=gid, device_ids=ids, device_tags=rules):
                self.groups[gid].device_ids -= ids
                self.groups[gid].device_tags -= rules
            case ch.DeviceCreated(device=d):
                self.devices[d.id] = d
            case ch.DeviceRenamed(device_id=did, name=name):
                self.devices[did] = msgspec.structs.replace(self.devices[did], name=name)
            case ch.DeviceTagged(device_id=did, tags=tags):
                d = self.devices[did]
                self.devices[did] = msgspec.structs.replace(d, tags=d.tags | tags)
            case ch.DeviceUntagged(device_id=did, tags=tags):
                d = self.devices[did]
                self.devices[did] = msgspec.structs.replace(d, tags=d.tags - tags)
            case ch.DeviceMoved(device_id=did, parent_id=parent_id):
                self.devices[did] = msgspec.structs.replace(self.devices[did], parent_id=parent_id)
            case ch.DeviceDeleted(device_id=did):
                del self.devices[did]
                for row in self.groups.values():
                    row.device_ids.discard(did)
            case ch.UserCreated(user=u) | ch.UserUpdated(user=u):
                self.users[u.id] = u
            case ch.UserDeleted(user_id=uid):
                del self.users[uid]
                self.memberships = {m for m in self.memberships if m[1] != uid}
            case ch.MemberAdded(group_id=gid, user_id=uid):
                self.memberships.add((gid, uid))
            case ch.MemberRemoved(group_id=gid, user_id=uid):
                self.memberships.discard((gid, uid))
            case _:
                raise ch.unknown_change(change)

    def _delete_tenant(self, tenant_id: str) -> None:
        del self.tenants[tenant_id]
        self.usage.drop(tenant_id)
        self.access = {k: r for k, r in self.access.items() if r.tenant_id != tenant_id}
        gone_groups = {k for k, g in self.groups.items() if g.tenant_id == tenant_id}
        gone_users = {k for k, u in self.users.items() if u.tenant_id == tenant_id}
        for k in gone_groups:
            del self.groups[k]
        for k in gone_users:
            del self.users[k]
        for k in [k for k, d in self.devices.items() if d.tenant_id == tenant_id]:
            del self.devices[k]
        self.memberships = {
            m for m in self.memberships if m[0] not in gone_groups and m[1] not in gone_users
        }
