"""The audit log (DOMAIN.md section 5): every write appends one record per change (time,
tenant, actor, action, target, before and after) in the same transaction as the write;
append-only; queried by tenant, actor, target and time range, with a cursor; on the memory
and the SQLite store alike.

Time comes from a clock the tests move by hand.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

import tenancy
from tenancy import (
    AlreadyExists,
    AuditRecord,
    CycleError,
    InvalidValue,
    LimitExceeded,
    MemoryStore,
    NotFound,
    SafetyLimits,
    StoreError,
    Tenancy,
    TenancyError,
    TenantSuspended,
)
from tenancy.records.changes import (
    Change,
    Commit,
    DeviceCreated,
    DeviceTagged,
    MemberAdded,
    Revision,
    TenantActivated,
    UsageRecorded,
    UserCreated,
)
from tenancy.records.changes import (
    TenantSuspended as Suspended,
)
from tenancy.records.model import Device, User
from tenancy.records.snapshot import Snapshot
from tenancy.rules.audit import audit_records
from tenancy.store import migrations
from tenancy.store.protocol import Capabilities, Store
from tenancy.store.sqlite import SQLiteStore
from tenancy.testing.contract import random_operation, seeded_random

EVERYTHING = 10_000
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "sqlite"])
def tn(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Tenancy]:
    """A handle on each store, with the test's clock."""
    target = None if request.param == "memory" else tmp_path / "audit.db"
    handle = tenancy.open(target, clock=clock, staleness=None, usage_flush_interval=None)
    yield handle
    handle.close()


class Log:
    """Reads the records appended since the last look."""

    def __init__(self, tn: Tenancy) -> None:
        self.tn = tn
        self.seen = _last_seq(tn)

    def new(self) -> list[AuditRecord]:
        page = self.tn.audit_log(after_seq=self.seen, limit=EVERYTHING)
        records = list(page)
        if records:
            self.seen = records[-1].seq
        return records

    def one(self) -> AuditRecord:
        records = self.new()
        assert len(records) == 1, [(r.action, r.target) for r in records]
        return records[0]


def _last_seq(tn: Tenancy) -> int:
    records = tn.audit_log(limit=EVERYTHING).items
    return records[-1].seq if records else 0


def _whole(tn: Tenancy) -> list[AuditRecord]:
    return list(tn.audit_log(limit=EVERYTHING))


def _json(value: Any) -> Any:
    """A record as the audit log shows it: JSON values."""
    return msgspec.json.decode(msgspec.json.encode(value, order="deterministic"))


# ---------------------------------------------------------------- what each write records


def test_every_tenant_write_is_recorded(tn: Tenancy) -> None:
    """Creating, editing, suspending, activating and deleting tenants each leave records
    with the tenant as target and tenant, the old and new record or status."""
    log = Log(tn)
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example",
                            allow_subtenants=True)  # fmt: skip
    created = log.new()
    assert [r.action for r in created][:2] == ["TenantCreated", "UserCreated"]
    assert all(r.tenant_id == acme.id and r.actor == "system" for r in created)
    assert created[0].target == acme.id
    assert created[0].before is None
    assert created[0].after == _json(acme)
    assert created[1].target == acme.admin_user_id
    assert created[1].after["email"] == "a@acme.example"

    renamed = tn.update_tenant(acme.id, name="Acme Health")
    record = log.one()
    assert (record.action, record.target, record.tenant_id) == ("TenantUpdated", acme.id, acme.id)
    assert record.before == _json(acme)
    assert record.after == _json(renamed)

    sub = tn.create_tenant(domain="acme-east", name="East", admin_email="e@acme.example",
                           parent=acme.id)  # fmt: skip
    log.new()
    tn.suspend_tenant(acme.id)
    record = log.one()
    assert (record.action, record.target) == ("TenantSuspended", acme.id)
    assert (record.before, record.after) == ({"status": "active"}, {"status": "suspended"})
    tn.activate_tenant(acme.id)
    record = log.one()
    assert (record.action, record.before, record.after) == (
        "TenantActivated", {"status": "suspended"}, {"status": "active"},
    )  # fmt: skip

    trail = tn.audit_log(tenant=sub.id, limit=EVERYTHING).items
    tn.delete_tenant(acme.id, cascade=True)
    deleted = log.new()
    assert [(r.action, r.target) for r in deleted] == [
        ("TenantDeleted", sub.id), ("TenantDeleted", acme.id),
    ]  # fmt: skip
    assert deleted[1].before["name"] == "Acme Health"
    assert deleted[1].after is None
    # The trail of a deleted tenant stays: it is the record of what happened to it.
    assert tn.audit_log(tenant=sub.id, limit=EVERYTHING).items == (*trail, deleted[0])


def test_every_group_write_is_recorded(tn: Tenancy) -> None:
    """Group creation, rename, move, associations and deletion: the group is the target,
    the record or the fields changed are before and after."""
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    t = tn.tenant(acme.id)
    gen = t.create_device("Generator", id="SN-1")
    log = Log(tn)
    region = t.create_group("Region", device_tags=[("site", None)])
    record = log.one()
    assert (record.action, record.target, record.tenant_id) == ("GroupCreated", region.id, acme.id)
    assert record.after["device_tags"] == [[["site", None]]]
    site = t.create_group("Site")
    log.new()

    t.update_group(site.id, name="San Bruno", description="SB")
    record = log.one()
    assert record.before == {"name": "Site", "description": ""}
    assert record.after == {"name": "San Bruno", "description": "SB"}

    t.move_group(site.id, parent=region.id)
    record = log.one()
    assert (record.action, record.before, record.after) == (
        "GroupMoved", {"parent_id": None}, {"parent_id": region.id},
    )  # fmt: skip

    t.associate(site.id, device_ids=[gen.id], device_tags=[("tier", "gold")])
    record = log.one()
    assert (record.action, record.target) == ("Associated", site.id)
    assert record.before is None
    assert record.after == {"device_ids": [gen.id], "device_tags": [[["tier", "gold"]]]}

    t.dissociate(site.id, device_ids=[gen.id])
    record = log.one()
    assert (record.action, record.after) == ("Dissociated", None)
    assert record.before == {"device_ids": [gen.id], "device_tags": []}

    t.delete_group(region.id, cascade=True)
    records = [r for r in log.new() if r.action == "GroupDeleted"]
    assert [r.target for r in records] == [site.id, region.id]
    assert records[0].before["device_tags"] == [[["tier", "gold"]]]
    assert records[0].before["name"] == "San Bruno"
    assert all(r.after is None and r.tenant_id == acme.id for r in records)


def test_every_device_write_is_recorded(tn: Tenancy) -> None:
    """Device creation (one record per device, in bulk too), rename, move, tags and
    deletion, with the device as target."""
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    t = tn.tenant(acme.id)
    log = Log(tn)
    gateway = t.create_device("Gateway", id="GW-1", tags=[("site", "sb")])
    record = log.one()
    assert (record.action, record.target, record.tenant_id) == ("DeviceCreated", "GW-1", acme.id)
    assert record.after == _json(gateway)

    made = t.create_devices(
        [{"id": f"SN-{i:03d}", "name": f"Sensor {i}", "parent": "GW-1"} for i in range(250)]
    )
    records = log.new()
    assert [r.target for r in records] == [d.id for d in made]
    assert [r.after for r in records] == [_json(d) for d in made]
    assert {(r.action, r.revision, r.at) for r in records} == {("DeviceCreated", tn.revision, T0)}

    t.update_device("SN-000", name="Sensor zero", parent=None)
    records = log.new()
    assert [(r.action, r.before, r.after) for r in records] == [
        ("DeviceRenamed", {"name": "Sensor 0"}, {"name": "Sensor zero"}),
        ("DeviceMoved", {"parent_id": "GW-1"}, {"parent_id": None}),
    ]
    t.tag_device("GW-1", [("tier", "gold")])
    record = log.one()
    assert record.before == {"tags": [["site", "sb"]]}
    assert record.after == {"tags": [["site", "sb"], ["tier", "gold"]]}
    t.untag_device("GW-1", [("site", "sb")])
    assert log.one().after == {"tags": [["tier", "gold"]]}

    t.delete_device("GW-1", cascade=True)
    records = log.new()
    assert len(records) == 250
    assert {r.action for r in records} == {"DeviceDeleted"}
    assert records[-1].target == "GW-1"
    assert records[-1].before == {
        "id": "GW-1", "tenant_id": acme.id, "name": "Gateway", "tags": [["tier", "gold"]],
        "parent_id": None,
    }  # fmt: skip


def test_every_user_and_membership_write_is_recorded(tn: Tenancy) -> None:
    """Users: created, updated (old and new record), deleted; memberships are about the
    user, the group in before or after."""
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    t = tn.tenant(acme.id)
    site = t.create_group("Site")
    log = Log(tn)
    ana = t.create_user("ana@acme.example", first_name="Ana", tags={"notify": "sms"})
    record = log.one()
    assert (record.action, record.target, record.tenant_id) == ("UserCreated", ana.id, acme.id)
    assert record.after == _json(ana)
    updated = t.update_user(ana.id, enabled=False)
    record = log.one()
    assert (record.action, record.before, record.after) == (
        "UserUpdated", _json(ana), _json(updated),
    )  # fmt: skip

    t.add_member(site.id, ana.id)
    record = log.one()
    assert (record.action, record.target, record.tenant_id) == ("MemberAdded", ana.id, acme.id)
    assert (record.before, record.after) == (None, {"group_id": site.id})
    t.remove_member(site.id, ana.id)
    record = log.one()
    assert (record.action, record.before, record.after) == (
        "MemberRemoved", {"group_id": site.id}, None,
    )  # fmt: skip

    t.delete_user(ana.id)
    record = next(r for r in log.new() if r.action == "UserDeleted")
    assert (record.target, record.before, record.after) == (ana.id, _json(updated), None)
    assert [r.action for r in tn.audit_log(target=ana.id, limit=EVERYTHING)] == [
        "UserCreated", "UserUpdated", "MemberAdded", "MemberRemoved", "UserDeleted",
    ]  # fmt: skip


def test_a_write_that_changes_nothing_records_nothing(tn: Tenancy) -> None:
    """Adding a membership twice, tagging with tags the device has, suspending a suspended
    tenant: no change, no commit, no record."""
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    t = tn.tenant(acme.id)
    site = t.create_group("Site")
    ana = t.create_user("ana@acme.example")
    gen = t.create_device("Gen", tags=[("k", "v")])
    t.add_member(site.id, ana.id)
    log = Log(tn)
    t.add_member(site.id, ana.id)
    t.tag_device(gen.id, [("k", "v")])
    t.update_group(site.id, name="Site")
    assert log.new() == []


def test_records_carry_time_revision_and_tenant(tn: Tenancy, clock: Clock) -> None:
    """``at`` is the handle's clock at the write, ``revision`` the write's revision; the
    records of one write share both."""
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    log = Log(tn)
    clock.advance(minutes=5)
    tn.tenant(acme.id).create_devices([{"name": "A"}, {"name": "B"}])
    records = log.new()
    assert {(r.at, r.revision) for r in records} == {(T0 + timedelta(minutes=5), tn.revision)}
    assert [r.seq for r in records] == [records[0].seq, records[0].seq + 1]


# ---------------------------------------------------------------- who wrote


def test_the_actor_is_who_the_handle_acts_as(tn: Tenancy) -> None:
    """The bare handle writes as "system", an ``as_user`` handle as the user's id and an
    ``as_support`` handle as "support_user$user", whose session start is on record."""
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    t = tn.tenant(acme.id)
    ana = t.create_user("ana@acme.example")
    t.request_support(ana.id)
    admin_id = acme.admin_user_id
    assert admin_id is not None
    log = Log(tn)
    tn.as_user(admin_id).tenant(acme.id).create_group("By the admin")
    record = log.one()
    assert (record.actor, record.action) == (admin_id, "GroupCreated")

    support_id = tn.management_tenant.admin_user_id
    assert support_id is not None
    support = tn.as_support(support_id, admin_id)
    started = log.one()
    assert (started.action, started.actor, started.target, started.tenant_id) == (
        "SupportSessionStarted", f"{support_id}${admin_id}", admin_id, acme.id,
    )  # fmt: skip
    assert started.after == {"support_user_id": support_id, "user_id": admin_id}
    support.tenant(acme.id).create_group("By support")
    assert log.one().actor == f"{support_id}${admin_id}"
    assert [r.action for r in tn.audit_log(actor=f"{support_id}${admin_id}")] == [
        "SupportSessionStarted", "GroupCreated",
    ]  # fmt: skip


# ---------------------------------------------------------------- both land or neither


def _refusals(tn: Tenancy, t: tenancy.TenantScope, ids: dict[str, str]) -> list[Any]:
    return [
        lambda: t.create_device("Twin", id=ids["device"]),  # AlreadyExists
        lambda: t.create_group("", parent=None),  # InvalidValue
        lambda: t.move_group(ids["region"], parent=ids["site"]),  # CycleError
        lambda: t.add_member("g-missing", ids["user"]),  # NotFound
        lambda: t.create_devices([{"name": "ok"}, {"name": "bad", "parent": "nope"}]),
        lambda: tn.delete_tenant(tn.management_tenant.id),
    ]


def test_a_refused_write_appends_no_record(tn: Tenancy) -> None:
    """A write refused for bad input, a cycle, an unknown id, a suspended tenant or a
    limit writes neither its changes nor any audit record."""
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    t = tn.tenant(acme.id)
    region = t.create_group("Region")
    site = t.create_group("Site", parent=region.id)
    gen = t.create_device("Gen")
    ana = t.create_user("ana@acme.example")
    ids = {"region": region.id, "site": site.id, "device": gen.id, "user": ana.id}
    before, head = _whole(tn), tn.revision
    for attempt in _refusals(tn, t, ids):
        with pytest.raises((AlreadyExists, InvalidValue, CycleError, NotFound)):
            attempt()
        assert (_whole(tn), tn.revision) == (before, head)
    tn.suspend_tenant(acme.id)
    before, head = _whole(tn), tn.revision
    with pytest.raises(TenantSuspended):
        t.create_device("While suspended")
    assert (_whole(tn), tn.revision) == (before, head)


def test_a_write_over_a_limit_appends_no_record() -> None:
    """Crossing a safety limit refuses the whole bulk write and its records."""
    tn = tenancy.open(limits=SafetyLimits(max_devices_per_tenant=5))
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    before = _whole(tn)
    with pytest.raises(LimitExceeded):
        tn.tenant(acme.id).create_devices([{"name": f"D{i}"} for i in range(6)])
    assert _whole(tn) == before


class _SabotagedStore:
    """Passes every call to ``store``, but a commit it is told to sabotage carries a last
    change that cannot apply, so the store refuses the whole of it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sabotage = False

    @property
    def capabilities(self) -> Capabilities:
        return self.store.capabilities

    def head(self) -> Revision:
        return self.store.head()

    def snapshot(self) -> Snapshot:
        return self.store.snapshot()

    def commit(
        self,
        changes: Sequence[Change],
        *,
        expected_revision: Revision,
        audit: Sequence[AuditRecord] = (),
    ) -> Revision:
        if self.sabotage:
            changes = [*changes, Suspended(tenant_id="t-missing")]
        return self.store.commit(changes, expected_revision=expected_revision, audit=audit)

    def audit_log(self, **filters: Any) -> list[AuditRecord]:
        return self.store.audit_log(**filters)

    def changes_since(self, revision: Revision) -> list[Commit]:
        return self.store.changes_since(revision)

    def close(self) -> None:
        self.store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_commit_the_store_refuses_appends_no_record(tmp_path: Path, kind: str) -> None:
    """When the store itself fails a commit (after the facade built its audit records),
    neither the changes nor the records land."""
    inner: Store = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "s.db")
    store = _SabotagedStore(inner)
    tn = Tenancy(store, staleness=None)
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    before, head = _whole(tn), tn.revision
    store.sabotage = True
    with pytest.raises(StoreError):
        tn.tenant(acme.id).create_devices([{"name": "A"}, {"name": "B"}])
    assert (inner.audit_log(limit=EVERYTHING), inner.head()) == (before, head)
    store.sabotage = False
    tn.tenant(acme.id).create_device("C")
    assert [r.seq for r in _whole(tn)] == list(range(1, len(before) + 2))
    tn.close()


def test_usage_statistics_make_no_record(tn: Tenancy) -> None:
    """Flushing counted requests is a commit of UsageRecorded only: no audit record; the
    usage stamped on a write adds none to the write's records either."""
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    log = Log(tn)
    tn.record_request(acme.id, "api", 5)
    head = tn.revision
    tn.flush_usage()
    assert tn.revision == head + 1
    assert log.new() == []
    tn.tenant(acme.id).create_device("Gen")
    assert [r.action for r in log.new()] == ["DeviceCreated"]
    usage_only = [c for c in tn.store.changes_since(0) if all(
        isinstance(x, UsageRecorded) for x in c.changes)]  # fmt: skip
    assert usage_only


# ---------------------------------------------------------------- queries


def _world(tn: Tenancy, clock: Clock) -> tuple[str, str, str]:
    """Two tenants written over three hours; returns (acme, beta, ana)."""
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    beta = tn.create_tenant(domain="beta", name="Beta", admin_email="b@beta.example")
    t, b = tn.tenant(acme.id), tn.tenant(beta.id)
    ana = t.create_user("ana@acme.example")
    for hour in range(3):
        clock.advance(hours=1)
        t.create_device(f"Acme {hour}", id=f"A-{hour}")
        b.create_device(f"Beta {hour}", id=f"B-{hour}")
        t.update_device(f"A-{hour}", name=f"Acme {hour}b")
    return acme.id, beta.id, ana.id


def test_queries_filter_by_tenant_actor_target_and_time(tn: Tenancy, clock: Clock) -> None:
    """Each filter, and their combinations, select exactly the matching records, oldest
    first; time ranges are half-open."""
    acme, beta, ana = _world(tn, clock)
    log = _whole(tn)

    def pick(**f: Any) -> list[int]:
        return [r.seq for r in tn.audit_log(limit=EVERYTHING, **f)]

    def naive(keep: Any) -> list[int]:
        return [r.seq for r in log if keep(r)]

    assert pick(tenant=beta) == naive(lambda r: r.tenant_id == beta)
    assert pick(target="A-1") == naive(lambda r: r.target == "A-1")
    assert [r.action for r in tn.audit_log(target="A-1")] == ["DeviceCreated", "DeviceRenamed"]
    assert pick(actor="system") == [r.seq for r in log]
    assert pick(actor=ana) == []
    one, two = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    assert pick(start=one, end=two) == naive(lambda r: one <= r.at < two)
    assert pick(start=two) == naive(lambda r: r.at >= two)
    assert pick(end=one) == naive(lambda r: r.at < one)
    assert pick(tenant=acme, start=two) == naive(lambda r: r.tenant_id == acme and r.at >= two)
    assert pick(tenant=acme, target="B-1") == []
    assert pick(start=two.replace(tzinfo=None)) == pick(start=two)  # naive means UTC
    assert pick(tenant="t-unknown") == []


def test_pages_follow_the_cursor(tn: Tenancy, clock: Clock) -> None:
    """``next`` is the cursor of the following page, None on the last; walking the pages
    gives every matching record once, in order."""
    acme, _, _ = _world(tn, clock)
    whole = list(tn.audit_log(tenant=acme, limit=EVERYTHING))
    for size in (1, 2, 5, len(whole), len(whole) + 1):
        seen: list[AuditRecord] = []
        page = tn.audit_log(tenant=acme, limit=size)
        seen.extend(page)
        while page.next is not None:
            assert len(page) == size
            page = tn.audit_log(tenant=acme, limit=size, after=page.next)
            seen.extend(page)
        assert seen == whole, size
    last = tn.audit_log(tenant=acme, limit=len(whole))
    assert last.next is None


def test_a_cursor_is_stable_under_new_writes(tn: Tenancy, clock: Clock) -> None:
    """Records written after a page was read come after it: the next page starts right
    where the last one ended."""
    _world(tn, clock)
    page = tn.audit_log(limit=3)
    assert page.next is not None
    tn.create_tenant(domain="gamma", name="Gamma", admin_email="g@gamma.example")
    rest = tn.audit_log(limit=EVERYTHING, after=page.next)
    assert [r.seq for r in (*page, *rest)] == [r.seq for r in _whole(tn)]


@pytest.mark.parametrize(
    "bad",
    [
        {"limit": 0},
        {"limit": 10_001},
        {"limit": True},
        {"after": "x"},
        {"after": "-1"},
        {"after": 5},
        {"after": "1"},  # a bare seq is not a cursor: after_seq takes one
        {"after_seq": -1},
        {"after_seq": "3"},
        {"after_seq": True},
        {"after_seq": 1, "after": "x"},
        {"tenant": 5},
        {"actor": ["system"]},
        {"target": b"SN-1"},
        {"start": "2026-03-02"},
        {"end": 1},
    ],
    ids=repr,
)
def test_bad_query_arguments_raise(tn: Tenancy, bad: dict[str, Any]) -> None:
    """A malformed page size, cursor, id or time raises InvalidValue."""
    with pytest.raises(InvalidValue):
        tn.audit_log(**bad)


# ---------------------------------------------------------------- SQLite: durable, shared


def test_the_log_survives_reopening_and_retention(tmp_path: Path, clock: Clock) -> None:
    """On SQLite the log is in the file: reopened, it gives the same records, and the
    change log's retention (which prunes the change log) never prunes it."""
    path = tmp_path / "kept.db"
    with Tenancy(SQLiteStore(path, retention=2), clock=clock, staleness=None) as tn:
        _world(tn, clock)
        log = _whole(tn)
        assert tn.store.changes_since(tn.revision - 2)  # the log is kept this far back
        with pytest.raises(TenancyError):
            tn.store.changes_since(0)  # ... and pruned below
    assert log[0].seq == 1
    with tenancy.open(path, staleness=None) as again:
        assert _whole(again) == log
        again.tenant(log[-1].tenant_id or "").create_device("After reopening")
        assert _whole(again)[-1].seq == log[-1].seq + 1


def test_two_handles_on_one_file_share_one_log(tmp_path: Path) -> None:
    """Writes of two handles (two processes' worth) on one file land in one numbering,
    and each reads the other's records at once."""
    path = tmp_path / "shared.db"
    with tenancy.open(path, staleness=None) as first, tenancy.open(path, staleness=None) as second:
        acme = first.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
        second.catch_up()
        second.tenant(acme.id).create_device("From the second", id="SN-2")
        first.tenant(acme.id).create_device("From the first", id="SN-1")
        log = _whole(first)
        assert log == _whole(second)
        assert [r.target for r in log[-2:]] == ["SN-2", "SN-1"]
        assert [r.seq for r in log] == list(range(1, len(log) + 1))


# ---------------------------------------------------------------- the log and the changes


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_audit_log_follows_the_change_log(tmp_path: Path, kind: str) -> None:
    """After random operations through the public API, each commit has exactly one
    record per change but usage statistics, in order, named after it, stamped with its
    revision; nothing else is in the log."""
    rng = seeded_random(f"audit after random operations on {kind}")
    store: Store = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "r.db")
    tn = Tenancy(store, staleness=None)
    for _ in range(150):
        with contextlib.suppress(TenancyError):
            random_operation(tn, rng)
    expected = [
        (commit.revision, type(change).__name__)
        for commit in store.changes_since(0)
        for change in commit.changes
        if not isinstance(change, UsageRecorded)
    ]
    log = _whole(tn)
    assert [(r.revision, r.action) for r in log] == expected
    assert {r.actor for r in log} == {"system"}
    tn.close()


def test_records_of_one_commit_see_each_other() -> None:
    """``before`` of a change is the record as the earlier changes of the same commit
    left it; records created in the commit give their tenant to later changes."""
    tn = tenancy.open()
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    site = tn.tenant(acme.id).create_group("Site")
    ana = User(id="u-new", tenant_id=acme.id, email="new@acme.example")
    gen = Device(id="d-new", tenant_id=acme.id, name="New", tags=frozenset({("k", "v")}))
    changes: list[Change] = [
        Suspended(tenant_id=acme.id),
        TenantActivated(tenant_id=acme.id),
        UserCreated(user=ana),
        MemberAdded(group_id=site.id, user_id=ana.id),
        DeviceCreated(device=gen),
        DeviceTagged(device_id=gen.id, tags=frozenset({("x", "y")})),
    ]
    records = audit_records(tn.index, changes, actor="system", at=T0, revision=99)
    assert [r.before for r in records[:2]] == [{"status": "active"}, {"status": "suspended"}]
    assert records[3].tenant_id == acme.id
    assert records[5].tenant_id == acme.id
    assert records[5].before == {"tags": frozenset({("k", "v")})}
    assert records[5].after == {"tags": frozenset({("k", "v"), ("x", "y")})}


def test_a_change_type_the_audit_does_not_know_is_refused() -> None:
    """A change type the audit has no case for raises InvalidValue naming it (issue 12:
    no interpreter is silent), where it was once recorded with its fields guessed; the
    write it came with is then refused whole."""

    class DeviceBlinked(msgspec.Struct, frozen=True, tag=True, kw_only=True):
        device_id: str
        times: int

    tn = tenancy.open()
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    gen = tn.tenant(acme.id).create_device("Gen")
    blink: Any = DeviceBlinked(device_id=gen.id, times=3)
    with pytest.raises(InvalidValue, match="DeviceBlinked"):
        audit_records(tn.index, [blink], actor="u-1", at=T0, revision=7)


def test_times_are_kept_in_utc() -> None:
    """A naive clock is taken as UTC, an aware one converted to UTC."""
    tn = tenancy.open()
    aware = datetime(2026, 3, 2, 10, 0, tzinfo=UTC).astimezone()
    for at in (datetime(2026, 3, 2, 10, 0), aware):
        [record] = audit_records(
            tn.index, [Suspended(tenant_id=tn.management_tenant.id)], actor="system",
            at=at, revision=2,
        )  # fmt: skip
        assert record.at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
        assert record.at.tzinfo is UTC


def test_random_pages_agree_with_the_whole_log(tn: Tenancy, clock: Clock) -> None:
    """Random filters and page sizes, paged to the end, give the filtered whole log."""
    acme, beta, _ = _world(tn, clock)
    log = _whole(tn)
    rng = random.Random(20260302)
    for _ in range(30):
        query: dict[str, Any] = {}
        if rng.random() < 0.5:
            query["tenant"] = rng.choice([acme, beta])
        if rng.random() < 0.3:
            query["target"] = rng.choice(["A-0", "B-2", "A-2"])
        if rng.random() < 0.5:
            query["start"] = T0 + timedelta(minutes=rng.randrange(0, 240))
        expected = [
            r for r in log
            if r.tenant_id == query.get("tenant", r.tenant_id)
            and r.target == query.get("target", r.target)
            and r.at >= query.get("start", r.at)
        ]  # fmt: skip
        size = rng.randint(1, 4)
        seen: list[AuditRecord] = []
        cursor = None
        while True:
            page = tn.audit_log(limit=size, after=cursor, **query)
            seen.extend(page)
            if page.next is None:
                break
            cursor = page.next
        assert seen == expected, query


def test_a_file_of_the_schema_before_the_audit_log_is_migrated(tmp_path: Path) -> None:
    """A file written before migration 5 opens with an empty audit log, and its next
    writes are audited."""
    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    assert migrations.migrate(conn, target=4) == [1, 2, 3, 4]
    conn.execute("COMMIT")
    conn.close()
    with tenancy.open(path, staleness=None) as tn:
        assert [r.action for r in tn.audit_log()][:2] == ["TenantCreated", "UserCreated"]
        assert tn.audit_log().items[0].seq == 1


def test_an_acting_user_reads_only_its_own_tenants_audit_log_and_only_with_audit_read() -> None:
    """as_user handles need audit:READ (the admin role has it) and see their own tenant only;
    a plain user is refused, and asking for another tenant is refused, not silently empty."""
    tn = tenancy.open()
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
    beta = tn.create_tenant(domain="beta", name="Beta", admin_email="it@beta.example")
    plain = tn.tenant(acme.id).create_user("ana@acme.example")
    assert acme.admin_user_id is not None
    admin = tn.as_user(acme.admin_user_id)
    records = admin.audit_log(limit=1000).items
    assert records
    assert {r.tenant_id for r in records} == {acme.id}
    with pytest.raises(tenancy.PermissionDenied, match="audit:READ"):
        tn.as_user(plain.id).audit_log()
    with pytest.raises(tenancy.PermissionDenied, match="its own tenant"):
        admin.audit_log(tenant=beta.id)
    assert {r.tenant_id for r in tn.audit_log(limit=1000).items} >= {acme.id, beta.id}
