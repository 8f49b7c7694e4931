"""Usage statistics per tenant and UTC day (DOMAIN.md section 6): devices, root devices,
users, groups, their peaks within the day, and the requests the application records.

Time comes from an injected clock, so no test sleeps; the one test of the background
flusher waits on the event the flusher sets.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tenancy
import tenancy.records.changes
from tenancy import (
    InvalidValue,
    MemoryStore,
    NotFound,
    Tenancy,
    Tenant,
    UsageCounts,
    UsageDay,
)
from tenancy.rules.usage import CSV_COLUMNS, current_counts

DAY = date(2026, 3, 1)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "sqlite"])
def tn(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Tenancy]:
    if request.param == "memory":
        handle = tenancy.open(clock=clock, usage_flush_interval=None)
    else:
        handle = tenancy.open(
            str(tmp_path / "t.db"), clock=clock, staleness=None, usage_flush_interval=None
        )
    yield handle
    handle.close()


def make(tn: Tenancy, domain: str, *, parent: str | None = None, **fields: object) -> Tenant:
    return tn.create_tenant(
        domain=domain,
        name=domain.title(),
        admin_email=f"admin@{domain}.example",
        parent=parent,
        **fields,  # type: ignore[arg-type]
    )


def one_day(tn: Tenancy, tenant_id: str, day: date) -> UsageDay:
    [row] = tn.usage(tenant_id, day, day)
    return row


# ---------------------------------------------------------------- counts and peaks


def test_counts_and_their_peaks_within_the_day(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    scope = tn.tenant(acme.id)
    devices = scope.create_devices({"name": f"d{i}"} for i in range(5))
    for device in devices[:3]:
        scope.delete_device(device.id)
    row = one_day(tn, acme.id, DAY)
    assert (row.tenant_id, row.day) == (acme.id, DAY)
    assert (row.devices, row.peak_devices) == (2, 5)
    assert (row.root_devices, row.peak_root_devices) == (2, 5)
    assert (row.users, row.peak_users) == (1, 1)  # the first admin user
    assert (row.groups, row.peak_groups) == (0, 0)
    assert row.counts == UsageCounts(2, 2, 1, 0)
    assert row.peaks == UsageCounts(5, 5, 1, 0)


def test_root_devices_exclude_child_devices(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    scope = tn.tenant(acme.id)
    gateway = scope.create_device("Gateway")
    children = scope.create_devices({"name": f"c{i}", "parent": gateway.id} for i in range(3))
    assert one_day(tn, acme.id, DAY).counts == UsageCounts(4, 1, 1, 0)
    scope.update_device(children[0].id, parent=None)
    row = one_day(tn, acme.id, DAY)
    assert (row.root_devices, row.peak_root_devices) == (2, 2)
    scope.update_device(children[0].id, parent=gateway.id)
    scope.delete_device(gateway.id, cascade=True)
    row = one_day(tn, acme.id, DAY)
    assert row.counts == UsageCounts(0, 0, 1, 0)
    assert row.peaks == UsageCounts(4, 2, 1, 0)


def test_users_and_groups_are_counted(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    scope = tn.tenant(acme.id)
    top = scope.create_group("top")
    scope.create_group("below", parent=top.id)
    users = [scope.create_user(f"u{i}@acme.example") for i in range(3)]
    scope.delete_user(users[0].id)
    scope.delete_group(top.id, cascade=True)
    row = one_day(tn, acme.id, DAY)
    assert (row.users, row.peak_users, row.groups, row.peak_groups) == (3, 4, 0, 2)


def test_a_day_without_activity_carries_the_previous_counts(tn: Tenancy, clock: Clock) -> None:
    acme = make(tn, "acme")
    scope = tn.tenant(acme.id)
    scope.create_devices({"name": f"d{i}"} for i in range(4))
    clock.advance(days=3)
    scope.delete_device(scope.devices().items[0].id)
    rows = tn.usage(acme.id)
    assert [r.day for r in rows] == [DAY + timedelta(days=i) for i in range(4)]
    assert [(r.devices, r.peak_devices) for r in rows] == [(4, 4), (4, 4), (4, 4), (3, 4)]
    assert all(r.requests == () for r in rows)


def test_days_are_utc_days(tn: Tenancy, clock: Clock) -> None:
    kiribati = timezone(timedelta(hours=14))
    clock.now = datetime(2026, 3, 2, 6, 0, tzinfo=kiribati)  # 2026-03-01 16:00 UTC
    acme = make(tn, "acme")
    tn.tenant(acme.id).create_device("d")
    assert [r.day for r in tn.usage(acme.id)] == [DAY]
    clock.now = datetime(2026, 3, 2, 0, 30)  # naive: taken as UTC
    assert [r.day for r in tn.usage(acme.id)] == [DAY, DAY + timedelta(days=1)]


def test_the_counts_are_recorded_in_the_write_itself(tn: Tenancy) -> None:
    """No extra revision: the write's commit carries its tenant's counts."""
    acme = make(tn, "acme")
    before = tn.revision
    tn.tenant(acme.id).create_devices({"name": f"d{i}"} for i in range(3))
    assert tn.revision == before + 1
    [commit] = tn.store.changes_since(before)
    usage = [c for c in commit.changes if isinstance(c, tenancy.records.changes.UsageRecorded)]
    assert [(u.tenant_id, u.day, u.counts) for u in usage] == [
        (acme.id, DAY, UsageCounts(3, 3, 1, 0))
    ]


def test_writes_that_change_no_count_record_nothing(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    scope = tn.tenant(acme.id)
    device = scope.create_device("d")
    before = tn.revision
    scope.tag_device(device.id, [("site", "a")])
    scope.update_device(device.id, name="renamed")
    tn.update_tenant(acme.id, name="Acme Inc")
    for commit in tn.store.changes_since(before):
        assert not any(isinstance(c, tenancy.records.changes.UsageRecorded) for c in commit.changes)


# ---------------------------------------------------------------- requests


def test_record_request_counts_in_memory_without_writing(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    revision, snapshot = tn.revision, tn.store.snapshot()
    assert tn.record_request(acme.id)
    assert tn.record_request(acme.id, "device", 3)
    assert tn.record_request(acme.id, "api", 2)
    assert tn.revision == revision
    assert tn.store.snapshot() == snapshot
    row = one_day(tn, acme.id, DAY)
    assert row.requests == (("api", 3), ("device", 3))
    assert row.total_requests == 6


def test_pending_requests_ride_with_the_next_write(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    tn.record_request(acme.id, "api", 5)
    before = tn.revision
    tn.tenant(acme.id).create_group("g")
    assert tn.revision == before + 1
    [stored] = [r for r in tn.store.snapshot().usage if r.tenant_id == acme.id]
    assert stored.requests == (("api", 5),)
    assert one_day(tn, acme.id, DAY).requests == (("api", 5),)  # counted once, not twice


def test_flush_usage_writes_one_commit_and_nothing_when_idle(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    other = make(tn, "other")
    before = tn.revision
    assert tn.flush_usage() == before
    tn.record_request(acme.id, "api", 2)
    tn.record_request(other.id, "api", 7)
    assert tn.flush_usage() == before + 1
    rows = {r.tenant_id: r for r in tn.store.snapshot().usage}
    assert rows[acme.id].requests == (("api", 2),)
    assert rows[other.id].requests == (("api", 7),)
    assert tn.flush_usage() == before + 1
    assert one_day(tn, acme.id, DAY).requests == (("api", 2),)


def test_requests_of_a_past_day_stay_on_that_day(tn: Tenancy, clock: Clock) -> None:
    acme = make(tn, "acme")
    tn.tenant(acme.id).create_device("d")
    tn.record_request(acme.id, "api", 4)
    clock.advance(days=2)
    tn.tenant(acme.id).create_device("e")
    tn.record_request(acme.id, "api", 1)
    tn.flush_usage()
    rows = tn.usage(acme.id)
    assert [(r.day, r.devices, r.total_requests) for r in rows] == [
        (DAY, 1, 4),
        (DAY + timedelta(days=1), 1, 0),
        (DAY + timedelta(days=2), 2, 1),
    ]


def test_a_suspended_tenant_records_no_requests(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    tn.suspend_tenant(acme.id)
    assert not tn.record_request(acme.id)
    tn.activate_tenant(acme.id)
    assert tn.record_request(acme.id)
    assert one_day(tn, acme.id, DAY).requests == (("api", 1),)


def test_record_request_checks_its_arguments(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    with pytest.raises(NotFound):
        tn.record_request("t00000000")
    for kind, count in (("", 1), (3, 1), ("api", 0), ("api", 1.5), ("api", True)):
        with pytest.raises(InvalidValue):
            tn.record_request(acme.id, kind, count)  # type: ignore[arg-type]
    assert tn.usage(acme.id)[0].requests == ()


def test_a_deleted_tenants_pending_requests_and_statistics_are_gone(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    tn.record_request(acme.id, "api", 3)
    tn.delete_tenant(acme.id)
    tn.flush_usage()
    assert all(r.tenant_id != acme.id for r in tn.store.snapshot().usage)
    with pytest.raises(NotFound):
        tn.usage(acme.id)


def test_a_clean_close_loses_no_request(tmp_path: Path, clock: Clock) -> None:
    path = str(tmp_path / "t.db")
    with tenancy.open(path, clock=clock, staleness=None) as tn:
        acme = make(tn, "acme")
        tn.tenant(acme.id).create_devices({"name": f"d{i}"} for i in range(3))
        tn.record_request(acme.id, "api", 10)
        tn.record_request(acme.id, "device", 2)
        expected = tn.usage(acme.id)
    with tenancy.open(path, clock=clock, staleness=None) as again:
        assert again.usage(acme.id) == expected
        assert expected[0].requests == (("api", 10), ("device", 2))
        assert expected[0].counts == UsageCounts(3, 3, 1, 0)


def test_the_background_flusher_writes_pending_requests(clock: Clock) -> None:
    with tenancy.open(clock=clock, usage_flush_interval=3600) as tn:
        acme = make(tn, "acme")
        before = tn.revision
        tn._writer.usage.flush_after = 5
        tn.record_request(acme.id, "api", 2)
        flusher = tn._writer.usage.flusher
        assert flusher is not None
        assert tn.revision == before  # the call itself did no I/O
        tn.record_request(acme.id, "api", 3)  # five pending: the flusher wakes
        assert flusher.flushed.wait(timeout=30)
        assert tn.revision == before + 1
        [stored] = [r for r in tn.store.snapshot().usage if r.tenant_id == acme.id]
        assert stored.requests == (("api", 5),)
    assert tn._writer.usage.flusher is None  # close stopped it


def test_two_handles_on_one_store_count_exactly(clock: Clock) -> None:
    store = MemoryStore()
    first = Tenancy(store, clock=clock, usage_flush_interval=None)
    second = Tenancy(store, clock=clock, usage_flush_interval=None)
    acme = make(first, "acme")
    second.catch_up()
    first.tenant(acme.id).create_devices({"name": f"a{i}"} for i in range(3))
    second.tenant(acme.id).create_devices({"name": f"b{i}"} for i in range(2))  # catches up
    first.record_request(acme.id, "api", 1)
    second.record_request(acme.id, "api", 2)
    first.flush_usage()
    second.flush_usage()
    first.catch_up()
    for handle in (first, second):
        row = one_day(handle, acme.id, DAY)
        assert row.counts == UsageCounts(5, 5, 1, 0)
        assert row.requests == (("api", 3),)


# ---------------------------------------------------------------- queries and export


def test_the_range_is_inclusive_and_clipped_to_the_tenants_life(tn: Tenancy, clock: Clock) -> None:
    clock.advance(days=1)
    acme = make(tn, "acme")  # created on March 2
    clock.advance(days=5)  # today is March 7
    days = [r.day for r in tn.usage(acme.id, date(2026, 1, 1), date(2026, 12, 31))]
    assert days[0] == date(2026, 3, 2)
    assert days[-1] == date(2026, 3, 7)
    assert len(days) == 6
    middle = tn.usage(acme.id, date(2026, 3, 3), datetime(2026, 3, 4, 23, 59, tzinfo=UTC))
    assert [r.day for r in middle] == [date(2026, 3, 3), date(2026, 3, 4)]
    assert tn.usage(acme.id, date(2026, 3, 5), date(2026, 3, 4)) == []
    with pytest.raises(InvalidValue):
        tn.usage(acme.id, "2026-03-03")  # type: ignore[arg-type]


def test_subtenants_are_listed_after_their_parent_when_asked(tn: Tenancy) -> None:
    reseller = make(tn, "reseller", allow_subtenants=True)
    one = make(tn, "one", parent=reseller.id)
    two = make(tn, "two", parent=reseller.id)
    tn.tenant(two.id).create_device("d")
    assert {r.tenant_id for r in tn.usage(reseller.id)} == {reseller.id}
    rows = tn.usage(reseller.id, subtenants=True)
    assert [r.tenant_id for r in rows] == sorted([reseller.id, one.id, two.id])
    assert {r.tenant_id: r.devices for r in rows}[two.id] == 1


def test_csv_export_with_a_chosen_separator(tn: Tenancy, clock: Clock) -> None:
    reseller = make(tn, "reseller", allow_subtenants=True, properties={"external_ref": "R-1"})
    one = tn.create_tenant(
        domain="one",
        name="One; Two & Co",
        admin_email="a@one.example",
        parent=reseller.id,
        properties={"external_ref": "C-7", "tier": "gold"},
    )
    tn.tenant(one.id).create_devices({"name": f"d{i}"} for i in range(2))
    tn.record_request(one.id, "api", 5)
    tn.record_request(one.id, "device", 1)
    text = tn.usage_csv(reseller.id, subtenants=True, sep=";")
    lines = text.splitlines()
    header = lines[0].split(";")
    assert header == [
        *CSV_COLUMNS,
        "requests:api",
        "requests:device",
        "property:external_ref",
        "property:tier",
    ]
    rows = {line.split(";")[0]: line for line in lines[1:]}
    assert rows[one.id] == f'{one.id};"One; Two & Co";2026-03-01;2;2;2;2;1;1;0;0;0;0;6;5;1;C-7;gold'
    assert rows[reseller.id] == f"{reseller.id};Reseller;2026-03-01;0;0;0;0;1;1;0;0;0;0;0;0;0;R-1;"
    assert text.endswith("\n")
    assert tn.usage_csv(one.id).splitlines()[0].startswith("tenant_id,tenant,day,devices,")
    for bad in ("", ";;", '"', "\n"):
        with pytest.raises(InvalidValue):
            tn.usage_csv(one.id, sep=bad)


def test_usage_survives_reopen(tmp_path: Path, clock: Clock) -> None:
    path = str(tmp_path / "t.db")
    with tenancy.open(path, clock=clock, staleness=None) as tn:
        acme = make(tn, "acme")
        scope = tn.tenant(acme.id)
        scope.create_devices({"name": f"d{i}"} for i in range(6))
        clock.advance(days=1)
        scope.delete_device(scope.devices().items[0].id)
        scope.create_group("g")
        tn.record_request(acme.id, "api", 3)
        expected = tn.usage(acme.id)
        tn.flush_usage()
        snapshot = tn.store.snapshot()
    with tenancy.open(path, clock=clock, staleness=None) as again:
        assert again.usage(acme.id) == expected
        assert again.store.snapshot() == snapshot
        assert again.index.snapshot() == snapshot
        assert again.index.root_device_count(acme.id) == 5


# ---------------------------------------------------------------- the counts agree with a recount

Op = tuple[str, int]
ops = st.lists(
    st.tuples(
        st.sampled_from(["create", "child", "delete", "detach", "attach", "user", "group", "day"]),
        st.integers(0, 50),
    ),
    max_size=25,
)


@given(ops)
def test_the_recorded_counts_always_agree_with_a_recount(steps: list[Op]) -> None:
    """After any sequence of writes, today's row holds the counts recomputed from the
    records, each peak is the highest count seen that day, and the index's root-device
    counter agrees with the records."""
    clock = Clock()
    with tenancy.open(clock=clock, usage_flush_interval=None) as tn:
        acme = make(tn, "acme")
        scope = tn.tenant(acme.id)
        seen: dict[date, list[UsageCounts]] = {}
        for op, n in steps:
            devices = list(scope.devices(limit=10_000))
            pick = devices[n % len(devices)] if devices else None
            if op == "create":
                scope.create_device(f"d{n}")
            elif op == "child" and pick is not None:
                scope.create_device(f"c{n}", parent=pick.id)
            elif op == "delete" and pick is not None:
                scope.delete_device(pick.id, cascade=True)
            elif op == "detach" and pick is not None:
                scope.update_device(pick.id, parent=None)
            elif op == "attach" and pick is not None and len(devices) > 1:
                target = devices[(n + 1) % len(devices)]
                if pick.id not in _ancestors(tn, target.id):
                    scope.update_device(pick.id, parent=target.id)
            elif op == "user":
                scope.create_user(f"u{len(scope.users())}-{n}@acme.example")
            elif op == "group":
                scope.create_group(f"g{n}")
            elif op == "day":
                clock.advance(days=1)
            records = tn.store.snapshot()
            recount = UsageCounts(
                len([d for d in records.devices if d.tenant_id == acme.id]),
                len([d for d in records.devices if d.tenant_id == acme.id and d.parent_id is None]),
                len([u for u in records.users if u.tenant_id == acme.id]),
                len([g for g in records.groups if g.tenant_id == acme.id]),
            )
            seen.setdefault(clock.now.date(), []).append(recount)
            assert current_counts(tn.index, acme.id) == recount
            assert one_day(tn, acme.id, clock.now.date()).counts == recount
        tn.index.check_invariants()
        for day, counts in seen.items():
            row = one_day(tn, acme.id, day)
            for field in ("devices", "root_devices", "users", "groups"):
                assert getattr(row.peaks, field) >= max(getattr(c, field) for c in counts)


def _ancestors(tn: Tenancy, device_id: str) -> set[str]:
    out = {device_id}
    parent = tn.index.devices[device_id].parent_id
    while parent is not None:
        out.add(parent)
        parent = tn.index.devices[parent].parent_id
    return out
