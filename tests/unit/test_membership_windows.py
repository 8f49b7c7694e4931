"""Memberships with a window (DOMAIN.md section 9): a membership counts at instant t exactly
when ``valid_from <= t < valid_until``, by the handle's clock, on every path and in every
process, without a write at the instant; outside its window it stays a record."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import tenancy
from tenancy import InvalidValue, Tenancy
from tenancy.testing.clock import ManualClock
from tenancy.testing.oracle import Oracle

MONDAY = datetime(2026, 11, 30, 9, tzinfo=UTC)
FRIDAY = datetime(2026, 12, 4, 17, tzinfo=UTC)
TICK = timedelta(microseconds=1)


class CountingClock(ManualClock):
    """A manual clock that counts how often it is read."""

    def __init__(self, now: datetime) -> None:
        super().__init__(now)
        self.reads = 0

    def __call__(self) -> datetime:
        self.reads += 1
        return self.now


@pytest.fixture
def clock() -> CountingClock:
    return CountingClock(MONDAY - timedelta(days=1))


class World:
    def __init__(self, tn: Tenancy) -> None:
        self.tn = tn
        acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        self.tenant_id = acme.id
        self.t = t = tn.tenant(acme.id)
        self.site = t.create_group("San Bruno", id="site", device_tags=[("site", "sb")])
        self.pumps = t.create_group(
            "Pumps", id="pumps", parent="site", device_tags=[("kind", "pump")]
        )
        t.create_device("Generator 7", id="gen-7", tags=[("site", "sb")])
        t.create_device("Pump 1", id="pump-1", tags=[("kind", "pump")])
        t.create_user("ana@acme.example", id="ana")  # the contractor
        t.create_user("bo@acme.example", id="bo")  # staff, no window
        t.add_member("site", "bo")
        t.add_member("site", "ana", valid_from=MONDAY, valid_until=FRIDAY)


@pytest.fixture
def world(clock: CountingClock) -> World:
    return World(tenancy.open(clock=clock))


def _answers(tn: Tenancy) -> dict[str, object]:
    return {
        "verify": [tn.verify(u, d) for u in ("ana", "bo") for d in ("gen-7", "pump-1")],
        "check": [tn.check(u, "device:READ", d) for u in ("ana", "bo") for d in ("gen-7",)],
        "devices_for": [d.id for d in tn.devices_for("ana")],
        "users_for": [u.id for u in tn.users_for("gen-7")],
        "explain": tn.explain("ana", "gen-7").code,
        "groups_for": [g.id for g in tn.groups_for("ana")],
        "in_group": tn.in_group("ana", "pumps"),
    }


INSIDE = {
    "verify": [True, True, True, True],
    "check": [True, True],
    "devices_for": ["gen-7", "pump-1"],
    "users_for": ["ana", "bo"],
    "explain": "allowed",
    "groups_for": ["pumps", "site"],
    "in_group": True,
}


def _outside(code: str) -> dict[str, object]:
    return {
        "verify": [False, False, True, True],
        "check": [False, True],
        "devices_for": [],
        "users_for": ["bo"],
        "explain": code,
        "groups_for": [],
        "in_group": False,
    }


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (MONDAY - TICK, _outside("not-started")),
        (MONDAY, INSIDE),  # valid_from counts
        (FRIDAY - TICK, INSIDE),
        (FRIDAY, _outside("expired")),  # valid_until does not
        (FRIDAY + timedelta(days=30), _outside("expired")),
    ],
)
def test_every_query_follows_the_clock_across_each_boundary(
    world: World, clock: CountingClock, instant: datetime, expected: dict[str, object]
) -> None:
    revision = world.tn.revision
    for step in (instant, MONDAY + timedelta(days=1), instant):  # there, inside, back
        clock.set(step)
        assert _answers(world.tn) == (INSIDE if step != instant else expected), step
        assert Oracle(world.tn).reaches("ana", "gen-7") == (
            _answers(world.tn)["explain"] == "allowed"
        )
    assert world.tn.revision == revision, "no write happens at an instant"
    world.tn.index.check_invariants()


def test_explain_says_when_it_ended_or_starts(world: World, clock: CountingClock) -> None:
    clock.set(FRIDAY)
    why = world.tn.explain("ana", "pump-1")
    assert (why.code, why.path) == ("expired", ("site",))
    assert "expired at 2026-12-04T17:00:00+00:00" in why.reason
    clock.set(MONDAY - TICK)
    assert "starts at 2026-11-30T09:00:00+00:00" in world.tn.explain("ana", "pump-1").reason


def test_a_listing_started_inside_and_continued_after_the_end_stops(
    world: World, clock: CountingClock
) -> None:
    clock.set(FRIDAY - TICK)
    first = world.tn.devices_for("ana", limit=1)
    assert [d.id for d in first.items] == ["gen-7"]
    clock.set(FRIDAY)
    rest = world.tn.devices_for("ana", limit=1, after=first.next)
    assert (rest.items, rest.next) == ((), None)


def test_a_cached_check_answer_is_never_served_past_the_end(
    world: World, clock: CountingClock
) -> None:
    clock.set(FRIDAY - TICK)
    for _ in range(3):  # the per-user answer is memoised after the first
        assert world.tn.check("ana", "device:READ", "gen-7")
    clock.set(FRIDAY)
    assert not world.tn.check("ana", "device:READ", "gen-7")
    assert world.tn.check("bo", "device:READ", "gen-7")


def test_verify_reads_no_clock_for_a_user_without_a_window(
    world: World, clock: CountingClock
) -> None:
    clock.set(MONDAY + timedelta(hours=1))
    world.tn.verify("ana", "gen-7")  # the view moves once
    reads = clock.reads
    for _ in range(100):
        assert world.tn.verify("bo", "gen-7")
        assert not world.tn.verify("bo", "no-such-device")
        assert not world.tn.verify("nobody", "gen-7")
    assert clock.reads == reads
    for _ in range(10):
        assert world.tn.verify("ana", "gen-7")
    assert clock.reads == reads + 10, "one read per call, for a user with a window"


def test_a_store_without_windows_reads_no_clock_to_answer(clock: CountingClock) -> None:
    tn = tenancy.open(clock=clock)
    t = tn.tenant(tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example").id)
    t.create_group("Site", id="site", device_tags=[("site", "sb")])
    t.create_device("Gen", id="gen", tags=[("site", "sb")])
    t.create_user("bo@acme.example", id="bo")
    t.add_member("site", "bo")
    reads = clock.reads
    assert tn.verify("bo", "gen")
    assert tn.check("bo", "device:READ", "gen")
    assert [d.id for d in tn.devices_for("bo")] == ["gen"]
    assert [u.id for u in tn.users_for("gen")] == ["bo"]
    assert tn.explain("bo", "gen").allowed
    assert clock.reads == reads


@pytest.mark.parametrize(
    ("window", "field"),
    [
        ({"valid_until": datetime(2026, 12, 4, 17)}, "valid_until"),  # naive
        ({"valid_from": datetime(2026, 12, 4, 17)}, "valid_from"),
        ({"valid_from": FRIDAY, "valid_until": MONDAY}, "valid_until"),  # reversed
        ({"valid_from": FRIDAY, "valid_until": FRIDAY}, "valid_until"),  # empty
        ({"valid_until": "2026-12-04"}, "valid_until"),  # a string
    ],
)
def test_a_bad_window_is_refused_and_changes_nothing(
    world: World, window: dict[str, object], field: str
) -> None:
    before = world.tn.store.snapshot()
    with pytest.raises(InvalidValue) as raised:
        world.t.add_member("site", "bo", **window)  # type: ignore[arg-type]
    assert raised.value.field == field
    assert world.tn.store.snapshot() == before


def test_adding_again_sets_the_window_and_removing_ends_it(
    world: World, clock: CountingClock
) -> None:
    t, tn = world.t, world.tn
    clock.set(FRIDAY + timedelta(days=1))
    assert not tn.verify("ana", "gen-7")
    assert [u.id for u in t.members("site")] == ["ana", "bo"], "an expired member is a record"
    t.add_member("site", "ana", valid_until=FRIDAY + timedelta(days=7))  # extended
    assert tn.verify("ana", "gen-7")
    revision = tn.revision
    t.add_member("site", "ana", valid_until=FRIDAY + timedelta(days=7))  # the same: nothing
    assert tn.revision == revision
    t.add_member("site", "ana")  # no window: it counts always
    clock.set(FRIDAY + timedelta(days=300))
    assert tn.verify("ana", "gen-7")
    assert tn.index.member_term("site", "ana") is None
    t.add_member("site", "ana", valid_until=FRIDAY)
    t.remove_member("site", "ana")
    assert tn.index.member_term("site", "ana") is None
    assert not [r for r in tn.store.snapshot().access if type(r).__name__ == "MembershipTerm"]
    tn.index.check_invariants()


@pytest.mark.parametrize("what", ["group", "user", "tenant"])
def test_deleting_the_group_the_user_or_the_tenant_takes_the_window(
    world: World, what: str
) -> None:
    tn = world.tn
    if what == "group":
        world.t.delete_group("site", cascade=True)
    elif what == "user":
        world.t.delete_user("ana")
    else:
        tn.delete_tenant(world.tenant_id, cascade=True)
    assert not [r for r in tn.store.snapshot().access if type(r).__name__ == "MembershipTerm"]
    assert not tn.index.timed
    tn.index.check_invariants()


@pytest.mark.parametrize("end", ["connector", "subscription"])
def test_ending_a_share_takes_the_windows_of_its_virtual_group(
    clock: CountingClock, end: str
) -> None:
    """A found case of the reach state machine: a window on a membership of a share's
    virtual group outlived the group when the share ended (the index dropped it, the
    records kept it)."""
    tn = tenancy.open(clock=clock)
    src = tn.tenant(tn.create_tenant(domain="src", name="Src", admin_email="a@src.example").id)
    dst = tn.tenant(tn.create_tenant(domain="dst", name="Dst", admin_email="a@dst.example").id)
    src.create_group("Fleet", id="fleet")
    connector = src.create_connector("to dst", destination=dst.tenant_id, groups=["fleet"])
    dst.accept_connector(
        connector.id, security_code=connector.security_code, name="Shared", group_id="shared"
    )
    dst.create_user("tech@dst.example", id="tech")
    dst.add_member("shared", "tech", valid_until=FRIDAY)
    if end == "connector":
        src.delete_connector(connector.id)
    else:
        dst.delete_subscription(dst.subscriptions()[0].id)
    assert not [r for r in tn.store.snapshot().access if type(r).__name__ == "MembershipTerm"]
    tn.index.check_invariants()


def test_the_window_is_audited(world: World) -> None:
    records = [r for r in world.tn.audit_log(tenant=world.tenant_id) if r.target == "ana"]
    after = [r.after for r in records if r.after and "valid_until" in r.after]
    assert after, records
    assert after[-1]["valid_until"] == FRIDAY.isoformat().replace("+00:00", "Z")


def test_two_handles_on_one_file_agree_across_the_end_without_a_write(
    tmp_path: Path, clock: CountingClock
) -> None:
    path = str(tmp_path / "shared.db")
    with tenancy.open(path, clock=clock) as a, tenancy.open(path, clock=clock) as b:
        World(a)
        b.catch_up()
        clock.set(FRIDAY - TICK)
        assert a.verify("ana", "gen-7")
        assert b.verify("ana", "gen-7")
        revision = a.store.head()
        clock.set(FRIDAY)
        assert not a.verify("ana", "gen-7")
        assert not b.verify("ana", "gen-7")
        assert [u.id for u in b.users_for("gen-7")] == ["bo"]
        with tenancy.open(path, clock=clock) as c:  # built from the file: no view yet
            assert not c.verify("ana", "gen-7")
            clock.set(FRIDAY - TICK)
            assert c.verify("ana", "gen-7")
        assert a.store.head() == revision


def test_export_and_import_keep_the_window(world: World, clock: CountingClock) -> None:
    out = io.BytesIO()
    world.tn.export_to(out, format="json")
    memberships = [
        json.loads(line.rstrip(","))
        for line in out.getvalue().decode().splitlines()
        if '"kind":"membership"' in line
    ]
    window = {"valid_from": "2026-11-30T09:00:00Z", "valid_until": "2026-12-04T17:00:00Z"}
    assert {"group": "site", "user": "ana", "kind": "membership", **window} in memberships
    copy = tenancy.open(clock=clock)
    copy.import_from(io.BytesIO(out.getvalue()))
    for instant in (MONDAY - TICK, MONDAY, FRIDAY - TICK, FRIDAY):
        clock.set(instant)
        assert _answers(copy) == _answers(world.tn), instant


def test_a_document_with_a_bad_window_is_refused_whole(clock: CountingClock) -> None:
    source = World(tenancy.open(clock=clock))
    out = io.BytesIO()
    source.tn.export_to(out, format="json")
    text = out.getvalue().decode().replace('"valid_until":"2026-12-04T17:00:00Z"',
                                           '"valid_until":"2026-11-01T00:00:00Z"')  # fmt: skip
    copy = tenancy.open(clock=clock)
    before = copy.store.snapshot()
    with pytest.raises(tenancy.InvalidDocument) as raised:
        copy.import_from(io.BytesIO(text.encode()))
    assert raised.value.field == "valid_until"
    assert copy.store.snapshot() == before


def test_reach_diff_counts_an_end_between_the_two_revisions(
    world: World, clock: CountingClock
) -> None:
    clock.set(MONDAY + timedelta(hours=1))
    world.t.create_device("Generator 8", id="gen-8", tags=[("site", "sb")])
    start = world.tn.revision
    clock.set(FRIDAY + timedelta(hours=1))
    diff = world.tn.reach_diff(start, tenant=world.tenant_id)
    assert diff.lost == [("ana", "gen-7"), ("ana", "gen-8"), ("ana", "pump-1")]
    assert diff.gained == []


def test_a_share_with_a_window_gives_reach_only_inside_it(clock: CountingClock) -> None:
    """A connector's window (DOMAIN.md sections 7 and 9): outside it the destination's users
    reach nothing of it, explain says why, and its members read the clock, nobody else."""
    tn = tenancy.open(clock=clock)
    src = tn.tenant(tn.create_tenant(domain="src", name="Src", admin_email="a@src.example").id)
    dst = tn.tenant(tn.create_tenant(domain="dst", name="Dst", admin_email="a@dst.example").id)
    src.create_group("Fleet", id="fleet", device_tags=[("kind", "gen")])
    src.create_device("Gen", id="gen", tags=[("kind", "gen")])
    src.create_user("owner@src.example", id="owner")
    src.add_member("fleet", "owner")
    connector = src.create_connector(
        "to dst", destination=dst.tenant_id, groups=["fleet"], valid_until=FRIDAY
    )
    code = connector.security_code
    dst.accept_connector(connector.id, security_code=code, name="Src fleet", group_id="shared")
    dst.create_user("tech@dst.example", id="tech")
    dst.add_member("shared", "tech")
    clock.set(FRIDAY - TICK)
    assert tn.verify("tech", "gen")
    assert [u.id for u in tn.users_for("gen")] == ["owner", "tech"]
    clock.set(FRIDAY)
    assert not tn.verify("tech", "gen")
    assert tn.verify("owner", "gen")
    assert [u.id for u in tn.users_for("gen")] == ["owner"]
    why = tn.explain("tech", "gen")
    assert (why.code, why.connector_id) == ("expired", connector.id)
    assert Oracle(tn).explain_code("tech", "gen")[0] == "expired"
    reads = clock.reads
    assert tn.verify("owner", "gen")
    assert clock.reads == reads, "a user who reaches by its own groups reads no clock"
    src.set_connector_window(connector.id, valid_from=FRIDAY + timedelta(days=3))
    assert tn.explain("tech", "gen").code == "not-started"
    clock.set(FRIDAY + timedelta(days=3))
    assert tn.verify("tech", "gen")
    src.set_connector_window(connector.id)  # no window: the share has no end
    clock.set(FRIDAY + timedelta(days=3000))
    assert tn.verify("tech", "gen")
    assert not tn.index.timed
    tn.index.check_invariants()
    with pytest.raises(InvalidValue):
        src.set_connector_window(connector.id, valid_from=FRIDAY, valid_until=MONDAY)


def test_what_if_sees_windows_as_the_clock_does(world: World, clock: CountingClock) -> None:
    """A proposed membership counts in a what-if as it would count now; a proposed end of
    a window that already passed loses what it gave."""
    clock.set(MONDAY + timedelta(hours=1))
    t_id = world.tenant_id
    ended = world.tn.what_if(lambda w: w.tenant(t_id).add_member("pumps", "bo", valid_until=MONDAY))
    assert (ended.gained, ended.lost) == ([], [])  # bo reaches pump-1 through site anyway
    shortened = world.tn.what_if(
        lambda w: w.tenant(t_id).add_member("site", "ana", valid_until=MONDAY + TICK)
    )
    assert shortened.lost == [("ana", "gen-7"), ("ana", "pump-1")]
    assert world.tn.verify("ana", "gen-7"), "nothing was kept"
    clock.set(MONDAY - TICK)
    started = world.tn.what_if(lambda w: w.tenant(t_id).add_member("site", "ana"))
    assert started.gained == [("ana", "gen-7"), ("ana", "pump-1")]


def test_the_access_review_lists_memberships_with_their_windows(
    world: World, clock: CountingClock
) -> None:
    def row(user_id: str) -> dict[str, str]:
        rows = csv.DictReader(io.StringIO(world.tn.access_review_csv(tenant=world.tenant_id)))
        return next(r for r in rows if r["user_id"] == user_id)

    clock.set(MONDAY - TICK)
    ana = row("ana")
    assert ana["memberships"] == (
        "site starts at 2026-11-30T09:00:00+00:00 until 2026-12-04T17:00:00+00:00"
    )
    assert (ana["reach_count"], ana["expires"]) == ("0", "2026-12-04T17:00:00+00:00")
    clock.set(FRIDAY)
    ana = row("ana")
    assert ana["memberships"] == "site expired at 2026-12-04T17:00:00+00:00"
    assert (ana["reach_count"], ana["expires"]) == ("0", "")
    assert (row("bo")["memberships"], row("bo")["reach_count"]) == ("site", "2")


def test_member_windows_lists_the_windows_of_a_group(world: World) -> None:
    windows = world.t.member_windows("site")
    assert list(windows) == ["ana"]
    assert (windows["ana"].valid_from, windows["ana"].valid_until) == (MONDAY, FRIDAY)
    assert world.t.member_windows("pumps") == {}
    with pytest.raises(tenancy.NotFound):
        world.t.member_windows("no-such-group")
