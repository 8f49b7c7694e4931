"""The arithmetic of usage statistics (DOMAIN.md section 6): pure functions over the index.

The UTC day of a moment, a tenant's current counts, what a list of changes adds to and
removes from each tenant's counts, the daily rows of a date range (a day that recorded
nothing carries the previous day's closing counts forward) and their CSV form. The handle
(tenancy.handle.usage) stamps the counts on its commits and answers the usage queries with
these functions.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

import msgspec

from tenancy.errors import InvalidValue
from tenancy.index.index import Index
from tenancy.records import changes as ch
from tenancy.records.model import Tenant, UsageCounts, UsageDay
from tenancy.records.sharing import Connector, Subscription

__all__ = [
    "CSV_COLUMNS",
    "count_deltas",
    "current_counts",
    "shared_devices",
    "shares_touched",
    "usage_csv",
    "usage_days",
    "utc_day",
]


CSV_COLUMNS = (
    "tenant_id",
    "tenant",
    "day",
    "devices",
    "peak_devices",
    "root_devices",
    "peak_root_devices",
    "users",
    "peak_users",
    "groups",
    "peak_groups",
    "shared_devices",
    "peak_shared_devices",
    "requests",
)
"""The fixed columns of :func:`usage_csv`; ``requests:<kind>`` and ``property:<key>``
columns follow, one per request kind and custom property present, sorted."""


_DEVICES, _ROOTS, _USERS, _GROUPS = range(4)


def utc_day(moment: datetime | date, field: str = "day") -> date:
    """The UTC day of a moment (a naive datetime is taken as UTC); a date is itself."""
    if isinstance(moment, datetime):
        if moment.tzinfo is not None and moment.tzinfo is not UTC:
            moment = moment.astimezone(UTC)
        return moment.date()
    if isinstance(moment, date):
        return moment
    raise InvalidValue(moment, "a day is a datetime.date or a datetime.datetime", field=field)


def current_counts(index: Index, tenant_id: str) -> UsageCounts:
    """The tenant's counts now, from the index (shared devices not counted: see
    :func:`shared_devices`). Runtime complexity: O(1)."""
    return UsageCounts(
        index.device_count(tenant_id),
        index.root_device_count(tenant_id),
        len(index.users_of_tenant(tenant_id)),
        len(index.groups_of_tenant(tenant_id)),
    )


# ---------------------------------------------------------------- shared devices


def shared_devices(index: Index, tenant_id: str) -> set[str]:
    """The devices of other tenants shared into ``tenant_id`` now: what the virtual groups
    of its subscriptions cover. The index puts a device in a virtual group's cover only
    while its share is live and shares it (:mod:`tenancy.index.shares`, rules S1 to S3),
    so a paused, suspended or blocked share counts nothing and a share never chains.
    Runtime complexity: O(the devices shared into it); nothing for a tenant without
    subscriptions."""
    access = index.access
    out: set[str] = set()
    for sid in access.subscriptions_of(tenant_id):
        subscription = access.subscription(sid)
        if subscription is not None:
            out.update(index.devices_covered_by(subscription.group_id))
    return out


_SOURCE_CHANGES: frozenset[type] = frozenset({
    ch.DeviceCreated, ch.DeviceDeleted, ch.DeviceMoved, ch.DeviceTagged, ch.DeviceUntagged,
    ch.GroupCreated, ch.GroupDeleted, ch.GroupMoved, ch.GroupUpdated, ch.Associated,
    ch.Dissociated,
})  # fmt: skip
"""Changes to a source's devices and groups: they may change what its shares cover."""
_DEVICE_CHANGES: frozenset[type] = frozenset({
    ch.DeviceDeleted, ch.DeviceMoved, ch.DeviceTagged, ch.DeviceUntagged,
})  # fmt: skip


def shares_touched(changes: Sequence[ch.Change], index: Index) -> set[str]:
    """The tenants whose count of shared devices the changes may change, read against the
    index before them: the destination of a connector or subscription put or removed,
    the destinations of the accepted connectors of a tenant whose devices or groups
    change, and every tenant with shares in or out below a tenant suspended or activated.
    Runtime complexity: O(changes), O(1) each for a commit that touches no share (a
    look-up of the tenant's connectors); a suspension walks the tenant's subtree."""
    access = index.access
    out: set[str] = set()
    if not access.all_connectors():  # no share yet: only this commit's can count
        for change in changes:
            if type(change) is ch.AccessSet:
                record = change.record
                if isinstance(record, Connector):
                    out.add(record.destination_tenant_id)
                elif isinstance(record, Subscription):
                    out.add(record.tenant_id)
        return out
    sources: set[str] = set()

    def source(tenant_id: str | None) -> None:
        if tenant_id is not None and tenant_id not in sources and access.connectors_from(tenant_id):
            sources.add(tenant_id)

    for change in changes:
        kind = type(change)
        if kind is ch.AccessSet or kind is ch.AccessRemoved:
            record = change.record  # type: ignore[union-attr]
            if isinstance(record, Connector):
                out.add(record.destination_tenant_id)
            elif isinstance(record, Subscription):
                out.add(record.tenant_id)
        elif kind in _SOURCE_CHANGES:
            if kind is ch.DeviceCreated:
                source(change.device.tenant_id)  # type: ignore[union-attr]
            elif kind is ch.GroupCreated:
                source(change.group.tenant_id)  # type: ignore[union-attr]
            elif kind in _DEVICE_CHANGES:
                device = index.devices.get(change.device_id)  # type: ignore[union-attr]
                source(None if device is None else device.tenant_id)
            else:
                group = index.groups.get(change.group_id)  # type: ignore[union-attr]
                source(None if group is None else group.tenant_id)
        elif kind is ch.TenantSuspended or kind is ch.TenantActivated:
            for tid in index.tenant_subtree(change.tenant_id):  # type: ignore[union-attr]
                source(tid)
                if access.subscriptions_of(tid):
                    out.add(tid)
    for tid in sources:
        for cid in access.connectors_from(tid):
            connector = access.connector(cid)
            if connector is not None and access.subscription_of(cid) is not None:
                out.add(connector.destination_tenant_id)
    return out


def count_deltas(
    changes: Sequence[ch.Change], index: Index
) -> tuple[dict[str, list[int]], set[str]]:
    """What ``changes`` add to each tenant's counts, read against ``index`` as it was
    before them: ``({tenant: [devices, roots, users, groups]}, deleted tenants)``. A tenant
    created by the changes gets an entry even if nothing is counted for it.
    Runtime complexity: O(changes)."""
    deltas: dict[str, list[int]] = {}
    deleted: set[str] = set()
    # Devices, groups and users created or moved earlier in the same commit.
    device_state: dict[str, tuple[str, str | None]] = {}
    owner: dict[str, str] = {}

    def bump(tenant_id: str, field: int, n: int) -> None:
        row = deltas.get(tenant_id)
        if row is None:
            row = deltas[tenant_id] = [0, 0, 0, 0]
        row[field] += n

    def device(device_id: str) -> tuple[str, str | None] | None:
        state = device_state.get(device_id)
        if state is None:
            record = index.devices.get(device_id)
            if record is None:
                return None
            state = (record.tenant_id, record.parent_id)
        return state

    for change in changes:
        kind = type(change)
        if kind is ch.DeviceCreated:
            d = change.device  # type: ignore[union-attr]
            bump(d.tenant_id, _DEVICES, 1)
            if d.parent_id is None:
                bump(d.tenant_id, _ROOTS, 1)
            device_state[d.id] = (d.tenant_id, d.parent_id)
        elif kind is ch.DeviceDeleted:
            state = device(change.device_id)  # type: ignore[union-attr]
            if state is not None:
                bump(state[0], _DEVICES, -1)
                if state[1] is None:
                    bump(state[0], _ROOTS, -1)
        elif kind is ch.DeviceMoved:
            did, parent = change.device_id, change.parent_id  # type: ignore[union-attr]
            state = device(did)
            if state is not None:
                if (state[1] is None) != (parent is None):
                    bump(state[0], _ROOTS, 1 if parent is None else -1)
                device_state[did] = (state[0], parent)
        elif kind is ch.UserCreated:
            u = change.user  # type: ignore[union-attr]
            bump(u.tenant_id, _USERS, 1)
            owner[u.id] = u.tenant_id
        elif kind is ch.UserDeleted:
            uid = change.user_id  # type: ignore[union-attr]
            user = index.users.get(uid)
            tid = owner.get(uid) or (user.tenant_id if user is not None else None)
            if tid is not None:
                bump(tid, _USERS, -1)
        elif kind is ch.GroupCreated:
            g = change.group  # type: ignore[union-attr]
            bump(g.tenant_id, _GROUPS, 1)
            owner[g.id] = g.tenant_id
        elif kind is ch.GroupDeleted:
            gid = change.group_id  # type: ignore[union-attr]
            info = index.groups.get(gid)
            tid = owner.get(gid) or (info.tenant_id if info is not None else None)
            if tid is not None:
                bump(tid, _GROUPS, -1)
        elif kind is ch.TenantCreated:
            deltas.setdefault(change.tenant.id, [0, 0, 0, 0])  # type: ignore[union-attr]
        elif kind is ch.TenantDeleted:
            deleted.add(change.tenant_id)  # type: ignore[union-attr]
        elif kind not in _UNCOUNTED:
            raise ch.unknown_change(change)
    return deltas, deleted


_UNCOUNTED: frozenset[type] = frozenset({
    ch.TenantUpdated, ch.TenantSuspended, ch.TenantActivated, ch.GroupUpdated, ch.GroupMoved,
    ch.Associated, ch.Dissociated, ch.DeviceRenamed, ch.DeviceTagged, ch.DeviceUntagged,
    ch.UserUpdated, ch.MemberAdded, ch.MemberRemoved, ch.UsageRecorded, ch.AccessSet,
    ch.AccessRemoved, ch.SupportSessionStarted, ch.ConnectorAcceptRefused,
})  # fmt: skip
"""The change types that change no count; count_deltas refuses any type it does not name."""


def counts_on(index: Index, tenant_id: str, day: date, today: date) -> UsageCounts:
    """The tenant's counts at the end of ``day`` (now, for today)."""
    row = index.usage_on(tenant_id, day)
    if row is not None:
        return row.counts
    if day < today:
        last = index.usage_before(tenant_id, day)
        if last is not None:
            return last.counts
    return current_counts(index, tenant_id)


def _day_range(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def _first_day(index: Index, tenant: Tenant, today: date) -> date:
    if tenant.created_at is not None:
        return utc_day(tenant.created_at)
    first = index.usage_between(tenant.id, date.min, today)
    return first[0].day if first else today


def usage_days(
    index: Index,
    tenant_id: str,
    start: date | None,
    end: date | None,
    *,
    today: date,
    pending: Callable[[str, date], dict[str, int]] | None = None,
    shared: Callable[[str, date], tuple[int, int] | None] | None = None,
) -> list[UsageDay]:
    """One row per UTC day from ``start`` to ``end`` (both included), clipped to the days
    the tenant existed up to today. ``pending`` adds requests not flushed yet, ``shared``
    the (count, peak) of shared devices counted and not flushed yet.
    Runtime complexity: O(log rows + days)."""
    tenant = index.tenants[tenant_id]
    first = max(start or date.min, _first_day(index, tenant, today))
    last = min(end or today, today)
    if first > last:
        return []
    stored = {row.day: row for row in index.usage_between(tenant_id, first, last)}
    carry = index.usage_before(tenant_id, first)
    counts = carry.counts if carry is not None else current_counts(index, tenant_id)
    shared_now = (
        carry.shared_devices if carry is not None else len(shared_devices(index, tenant_id))
    )
    days = []
    for day in _day_range(first, last):
        row = stored.get(day)
        if row is None:
            row = UsageDay(
                tenant_id=tenant_id,
                day=day,
                devices=counts.devices,
                root_devices=counts.root_devices,
                users=counts.users,
                groups=counts.groups,
                peak_devices=counts.devices,
                peak_root_devices=counts.root_devices,
                peak_users=counts.users,
                peak_groups=counts.groups,
                shared_devices=shared_now,
                peak_shared_devices=shared_now,
            )
        counts, shared_now = row.counts, row.shared_devices
        newer = shared(tenant_id, day) if shared is not None else None
        if newer is not None:
            row = msgspec.structs.replace(
                row, shared_devices=newer[0],
                peak_shared_devices=max(row.peak_shared_devices, newer[1]),
            )  # fmt: skip
        extra = pending(tenant_id, day) if pending is not None else None
        if extra:
            requests = dict(row.requests)
            for kind, n in extra.items():
                requests[kind] = requests.get(kind, 0) + n
            row = UsageDay(
                **{f: getattr(row, f) for f in row.__struct_fields__ if f != "requests"},
                requests=tuple(sorted(requests.items())),
            )
        days.append(row)
    return days


class _Sink:
    """A write() target for csv.writer that keeps the text in memory (no file, no io)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)


def usage_csv(rows: Sequence[UsageDay], tenants: dict[str, Tenant], sep: str = ",") -> str:
    """The rows as CSV text with a header: :data:`CSV_COLUMNS`, then one ``requests:<kind>``
    column per request kind and one ``property:<key>`` column per custom property of the
    tenants, sorted. Lines end with ``\\n``; fields are quoted only when they must be."""
    if not isinstance(sep, str) or len(sep) != 1 or sep in '"\r\n':
        raise InvalidValue(
            sep, "a CSV separator is one character, not a quote or a newline", field="sep"
        )
    kinds = sorted({k for row in rows for k, _ in row.requests})
    keys = sorted({k for t in tenants.values() for k, _ in t.properties})
    sink = _Sink()
    writer = csv.writer(sink, delimiter=sep, lineterminator="\n")
    writer.writerow(
        [*CSV_COLUMNS, *(f"requests:{k}" for k in kinds), *(f"property:{k}" for k in keys)]
    )
    for row in rows:
        tenant = tenants[row.tenant_id]
        requests = dict(row.requests)
        properties = dict(tenant.properties)
        writer.writerow(
            [
                row.tenant_id,
                tenant.name,
                row.day.isoformat(),
                row.devices,
                row.peak_devices,
                row.root_devices,
                row.peak_root_devices,
                row.users,
                row.peak_users,
                row.groups,
                row.peak_groups,
                row.shared_devices,
                row.peak_shared_devices,
                row.total_requests,
                *(requests.get(k, 0) for k in kinds),
                *(properties.get(k, "") for k in keys),
            ]
        )
    return "".join(sink.parts)
