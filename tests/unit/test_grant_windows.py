"""Time-bounded role grants and delegations (DOMAIN.md section 9, issue 17): ``valid_from``
and ``valid_until`` on global role grants, inventory role grants and delegations.

A grant counts at ``t`` exactly when ``valid_from <= t < valid_until`` by the handle's
clock. Every test here drives an injected, mutable clock across each boundary (exactly at
it, one microsecond either side, and back again) and asks every path: the handle's check
(its inlined hot path included), the rule's check, listings by permission, explain, the
ceilings of grants, and writes authorised by a role that has ended.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import msgspec
import pytest

import tenancy
from tenancy import InvalidValue, MemoryStore, PermissionDenied, TenancyError
from tenancy.records import changes as ch
from tenancy.records.grants import Delegation, InventoryGrant, RoleGrant
from tenancy.rules.access import check
from tenancy.testing.access_oracle import AccessOracle

MONDAY = datetime(2026, 3, 2, 9, tzinfo=UTC)
FRIDAY = datetime(2026, 3, 6, 17, tzinfo=UTC)
US = timedelta(microseconds=1)


class Clock:
    """A clock the test sets: forward, back, never sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class World:
    """Tenant acme: group site > floor covering devices d1 (site) and d2 (floor); users
    ana (member of site and crew, no owner), bob (no group), sub (owned by ana, member of
    site)."""

    def __init__(self, now: datetime = MONDAY - timedelta(days=1)) -> None:
        self.clock = Clock(now)
        self.store = MemoryStore()
        self.tn = tenancy.Tenancy(self.store, clock=self.clock, staleness=None)
        acme = self.tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        self.tenant_id = acme.id
        self.admin = acme.admin_user_id
        t = self.t = self.tn.tenant(acme.id)
        t.create_group("site", id="site", device_tags=[("site", "sb")])
        t.create_group("floor", id="floor", parent="site", device_tags=[("floor", "1")])
        t.create_device("d1", id="d1", tags=[("site", "sb")])
        t.create_device("d2", id="d2", tags=[("floor", "1")])
        t.create_user("ana@acme.example", id="ana")
        t.create_user("bob@acme.example", id="bob")
        t.create_user("sub@acme.example", id="sub", owner="ana")
        t.create_group("crew", id="crew")  # no devices: a principal for group grants
        t.add_member("site", "ana")
        t.add_member("crew", "ana")
        t.add_member("site", "sub")

    def at(self, now: datetime) -> World:
        self.clock.now = now
        return self

    def oracle(self) -> AccessOracle:
        return AccessOracle(self.store.snapshot(), now=self.clock.now)

    def agree(self, user_id: str, permission: str, device_id: str) -> bool:
        """The handle's check, the rule's check, the listing, explain and the oracle all
        give one answer; that answer."""
        tn = self.tn
        answer = tn.check(user_id, permission, device_id)
        assert check(tn.index, user_id, permission, device_id, self.clock.now) == answer
        assert self.oracle().check(user_id, permission, device_id) == answer
        listed = [d.id for d in tn.devices_for(user_id, permission=permission).items]
        assert (device_id in listed) == answer, (listed, user_id, permission, device_id)
        assert tn.explain(user_id, device_id, permission=permission).allowed == answer
        return answer


def around(boundary: datetime) -> list[tuple[datetime, bool]]:
    """(instant, is at or after the boundary) one microsecond before, at, and after it."""
    return [(boundary - US, False), (boundary, True), (boundary + US, True)]


# ------------------------------------------------------------------ global role grants


def test_a_global_grant_counts_from_valid_from_until_valid_until() -> None:
    w = World()
    w.t.grant_role("bob", "readonly", valid_from=MONDAY, valid_until=FRIDAY)
    for instant, started in around(MONDAY):
        assert w.at(instant).agree("bob", "device:READ", "d1") is started
    for instant, ended in around(FRIDAY):
        assert w.at(instant).agree("bob", "device:READ", "d1") is not ended
    # The clock moves back: the grant counts again, then not yet.
    assert w.at(FRIDAY - US).agree("bob", "device:READ", "d2")
    assert not w.at(MONDAY - US).agree("bob", "device:READ", "d2")
    assert w.at(MONDAY).agree("bob", "device:READ", "d2")


def test_the_cached_answer_of_a_bounded_user_is_never_served_past_the_instant() -> None:
    """The per-user memo is replaced at every apply, not when time passes: asking many
    times on each side of the boundary, with no write between, still flips the answer."""
    w = World()
    w.t.grant_role("bob", "readonly", valid_until=FRIDAY)
    revision = w.tn.revision
    for _ in range(3):
        w.at(FRIDAY - US)
        assert all(w.tn.check("bob", "device:READ", "d1") for _ in range(3))
        w.at(FRIDAY)
        assert not any(w.tn.check("bob", "device:READ", "d1") for _ in range(3))
    assert w.tn.revision == revision, "no write was needed"
    entry = w.tn.index.access.cache["bob"]
    assert not entry.simple, "a bounded user never takes the clockless hot path"


def test_an_unbounded_user_stays_on_the_hot_path() -> None:
    w = World()
    w.t.grant_role("bob", "readonly", valid_until=FRIDAY)
    w.tn.check("ana", "device:READ", "d1")
    assert w.tn.index.access.cache["ana"].simple
    assert not w.tn.index.access.cache["ana"].bounded


def test_a_sub_user_is_capped_by_an_owner_whose_grant_ended() -> None:
    w = World()
    w.t.grant_role("ana", "business", valid_until=FRIDAY)
    w.t.grant_role("sub", "business")  # within the ceiling while ana holds it
    assert w.at(FRIDAY - US).agree("sub", "device:ADMIN", "d1")
    assert not w.at(FRIDAY).agree("sub", "device:ADMIN", "d1")
    explained = w.tn.explain("sub", "d1", permission="device:ADMIN")
    assert explained.code == "capped-by-owner"
    assert f"expired at {FRIDAY.isoformat()}" in explained.reason


def test_the_ceiling_of_a_grant_uses_the_owners_grants_in_force_now() -> None:
    w = World()
    w.t.grant_role("ana", "business", valid_from=MONDAY)
    with pytest.raises(InvalidValue):
        w.t.grant_role("sub", "business")  # ana does not hold it yet
    w.at(MONDAY).t.grant_role("sub", "business")


def test_a_role_that_ended_authorises_no_write() -> None:
    w = World()
    w.t.grant_role("bob", "business", valid_until=FRIDAY)
    acting = w.tn.as_user("bob").tenant(w.tenant_id)
    w.at(FRIDAY - US)
    acting.create_group("made while it held")
    w.at(FRIDAY)
    revision = w.tn.revision
    with pytest.raises(PermissionDenied):
        acting.create_group("made after it ended")
    with pytest.raises(PermissionDenied):
        acting.update_device("d1", name="renamed")
    assert w.tn.revision == revision


def test_explain_says_expired_at_and_starts_at() -> None:
    w = World()
    w.t.grant_role("bob", "readonly", valid_from=MONDAY, valid_until=FRIDAY)
    before = w.at(MONDAY - US).tn.explain("bob", "d1", permission="device:READ")
    assert before.code == "no-role"
    assert f"global role 'readonly' starts at {MONDAY.isoformat()}" in before.reason
    during = w.at(MONDAY).tn.explain("bob", "d1", permission="device:READ")
    assert during.allowed
    assert during.role == "global:readonly"
    after = w.at(FRIDAY).tn.explain("bob", "d1", permission="device:READ")
    assert after.code == "no-role"
    assert f"expired at {FRIDAY.isoformat()}" in after.reason


def test_a_listing_started_before_the_instant_and_continued_after_it() -> None:
    w = World()
    w.t.grant_role("bob", "readonly", valid_until=FRIDAY)
    first = w.at(FRIDAY - US).tn.devices_for("bob", permission="device:READ", limit=1)
    assert [d.id for d in first.items] == ["d1"]
    assert first.next is not None
    rest = w.at(FRIDAY).tn.devices_for("bob", permission="device:READ", after=first.next)
    assert not rest.items


# ------------------------------------------------------------------ inventory role grants


@pytest.mark.parametrize("to", ["user", "group"])
def test_an_inventory_grant_counts_inside_its_window(to: Literal["user", "group"]) -> None:
    w = World()
    principal = "ana" if to == "user" else "crew"
    w.t.grant_inventory_role(
        principal, "operator", group="floor", to=to, valid_from=MONDAY, valid_until=FRIDAY
    )
    for instant, started in around(MONDAY):
        assert w.at(instant).agree("ana", "device:UPDATE", "d2") is started
    for instant, ended in around(FRIDAY):
        assert w.at(instant).agree("ana", "device:UPDATE", "d2") is not ended
    assert not w.at(MONDAY).agree("ana", "device:UPDATE", "d1")  # floor does not cover d1
    assert w.at(MONDAY).agree("ana", "device:READ", "d2")  # the member role, unbounded
    explained = w.at(FRIDAY).tn.explain("ana", "d2", permission="device:UPDATE")
    assert explained.code == "no-role"
    assert f"inventory role 'operator' on group 'floor' expired at {FRIDAY.isoformat()}" in (
        explained.reason
    )


def test_an_inventory_ceiling_uses_the_owners_grants_in_force_now() -> None:
    w = World()
    w.t.grant_inventory_role("ana", "manager", group="site", valid_until=FRIDAY)
    w.t.grant_inventory_role("sub", "manager", group="floor")
    assert w.at(FRIDAY - US).agree("sub", "device:ADMIN", "d2")
    assert not w.at(FRIDAY).agree("sub", "device:ADMIN", "d2")
    with pytest.raises(InvalidValue):
        w.t.grant_inventory_role("sub", "manager", group="site")


# ------------------------------------------------------------------ re-granting, records


def test_regranting_with_other_bounds_replaces_the_window() -> None:
    w = World()
    first = w.t.grant_role("bob", "readonly", valid_until=MONDAY)
    revision = w.tn.revision
    assert w.t.grant_role("bob", "readonly", valid_until=MONDAY) == first
    assert w.tn.revision == revision, "the same window writes nothing"
    second = w.t.grant_role("bob", "readonly", valid_until=FRIDAY)
    assert second.key == first.key
    assert second.valid_until == FRIDAY
    grants = [r for r in w.store.snapshot().access if isinstance(r, RoleGrant)]
    assert [g.valid_until for g in grants if g.user_id == "bob"] == [FRIDAY]
    assert w.at(MONDAY).agree("bob", "device:READ", "d1")
    w.t.grant_role("bob", "readonly")  # no window: for good
    assert w.at(FRIDAY + timedelta(days=365)).agree("bob", "device:READ", "d1")
    inv = w.t.grant_inventory_role("bob", "viewer", group="site", valid_until=FRIDAY)
    again = w.t.grant_inventory_role("bob", "viewer", group="site", valid_from=MONDAY)
    assert again.key == inv.key
    assert w.t.inventory_grants_of("bob") == [again]


def test_an_expired_grant_stays_a_record_until_revoked() -> None:
    w = World()
    w.t.grant_role("bob", "readonly", valid_until=MONDAY)
    w.at(FRIDAY)
    assert w.t.roles_of("bob") == ["readonly"]
    assert w.t.role_grants_of("bob") == [
        RoleGrant(tenant_id=w.tenant_id, user_id="bob", role="readonly", valid_until=MONDAY)
    ]
    w.t.revoke_role("bob", "readonly")
    assert w.t.roles_of("bob") == []


def test_records_written_before_windows_existed_still_decode() -> None:
    old = {"type": "RoleGrant", "tenant_id": "t", "user_id": "u", "role": "readonly"}
    grant = msgspec.json.decode(msgspec.json.encode(old), type=RoleGrant)
    assert (grant.valid_from, grant.valid_until) == (None, None)
    old_delegation = {"type": "Delegation", "tenant_id": "t", "owner_id": "o", "delegate_id": "d"}
    delegation = msgspec.json.decode(msgspec.json.encode(old_delegation), type=Delegation)
    assert delegation.valid_from is None
    assert delegation.valid_until is None


def test_the_audit_record_carries_the_window() -> None:
    w = World()
    w.t.grant_role("bob", "readonly", valid_from=MONDAY, valid_until=FRIDAY)
    entry = w.tn.audit_log(tenant=w.tenant_id, limit=1000).items[-1]
    assert entry.action == "AccessSet"
    assert entry.after["valid_from"] == "2026-03-02T09:00:00Z", entry.after
    assert entry.after["valid_until"] == "2026-03-06T17:00:00Z", entry.after
    w.t.revoke_role("bob", "readonly")
    removed = w.tn.audit_log(tenant=w.tenant_id, limit=1000).items[-1]
    assert removed.before["valid_until"] == "2026-03-06T17:00:00Z", removed


@pytest.mark.parametrize("format", ["json", "msgpack"])
def test_the_window_round_trips_through_export_and_import(format: str) -> None:
    w = World()
    w.t.define_role("recruiter", ["user_management:CREATE"])
    w.t.grant_role("bob", "recruiter")
    w.t.grant_role("bob", "readonly", valid_from=MONDAY, valid_until=FRIDAY)
    w.t.grant_inventory_role("crew", "operator", group="floor", to="group", valid_until=FRIDAY)
    w.t.delegate("ana", "bob", valid_from=MONDAY, valid_until=FRIDAY)
    sink = io.BytesIO()
    w.tn.export_to(sink, format=format)
    windowed = (RoleGrant, InventoryGrant, Delegation)

    def bounded(tn: tenancy.Tenancy) -> dict[tuple[str, str], object]:
        return {
            (type(r).__name__, r.key): r
            for r in tn.store.snapshot().access
            if isinstance(r, windowed)
        }

    with tenancy.open(clock=w.clock) as copy:
        copy.import_from(io.BytesIO(sink.getvalue()))
        assert bounded(copy) == bounded(w.tn)
        for instant in (MONDAY - US, MONDAY, FRIDAY - US, FRIDAY):
            w.at(instant)
            for user, perm, device in [
                ("bob", "device:READ", "d1"),
                ("ana", "device:UPDATE", "d2"),
            ]:
                assert copy.check(user, perm, device) == w.tn.check(user, perm, device)


# ------------------------------------------------------------------ delegations


def test_a_delegation_counts_inside_its_window() -> None:
    w = World()
    w.t.define_role("recruiter", ["user_management:CREATE"])
    w.t.grant_role("bob", "recruiter")
    d = w.t.delegate("ana", "bob", valid_from=MONDAY, valid_until=FRIDAY)
    assert d.until == d.valid_until == FRIDAY
    assert d.valid_from == MONDAY
    acting = w.tn.as_user("bob").tenant(w.tenant_id)
    for instant, counts in [
        (MONDAY - US, False), (MONDAY, True), (FRIDAY - US, True), (FRIDAY, False),
        (MONDAY + US, True),  # and back
    ]:  # fmt: skip
        w.at(instant)
        if counts:
            acting.update_user("sub", first_name=f"n{instant.microsecond}")
        else:
            with pytest.raises(PermissionDenied):
                acting.update_user("sub", first_name="refused")


def test_until_and_valid_until_are_one_field() -> None:
    w = World()
    w.t.define_role("recruiter", ["user_management:CREATE"])
    w.t.grant_role("bob", "recruiter")
    assert w.t.delegate("ana", "bob", until=FRIDAY).valid_until == FRIDAY
    assert w.t.delegate("ana", "bob", until=FRIDAY, valid_until=FRIDAY).until == FRIDAY
    unchanged(
        w, lambda: w.t.delegate("ana", "bob", until=MONDAY, valid_until=FRIDAY), "valid_until"
    )
    unchanged(w, lambda: w.t.delegate("ana", "bob", valid_from=FRIDAY, until=MONDAY), "valid_until")


# ------------------------------------------------------------------ validation


def unchanged(w: World, write: Callable[[], object], field: str) -> None:
    """The write raises InvalidValue naming ``field`` and its rule, and writes nothing."""
    revision, snapshot = w.tn.revision, w.store.snapshot()
    with pytest.raises(InvalidValue) as raised:
        write()
    assert raised.value.field == field, raised.value
    assert raised.value.rule
    assert w.tn.revision == revision
    assert w.store.snapshot() == snapshot


NAIVE = datetime(2026, 3, 6, 17)


@pytest.mark.parametrize(
    ("bounds", "field"),
    [
        ({"valid_until": NAIVE}, "valid_until"),
        ({"valid_from": NAIVE}, "valid_from"),
        ({"valid_from": FRIDAY, "valid_until": MONDAY}, "valid_until"),
        ({"valid_from": FRIDAY, "valid_until": FRIDAY}, "valid_until"),
        ({"valid_until": "2026-03-06T17:00:00+00:00"}, "valid_until"),
    ],
)
def test_a_naive_reversed_or_empty_window_is_refused(bounds: dict[str, object], field: str) -> None:
    w = World()
    w.t.define_role("recruiter", ["user_management:CREATE"])
    w.t.grant_role("bob", "recruiter")
    unchanged(w, lambda: w.t.grant_role("ana", "readonly", **bounds), field)  # type: ignore[arg-type]
    unchanged(
        w,
        lambda: w.t.grant_inventory_role("ana", "viewer", group="site", **bounds),  # type: ignore[arg-type]
        field,
    )
    unchanged(w, lambda: w.t.delegate("ana", "bob", **bounds), field)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "record",
    [
        RoleGrant(tenant_id="t", user_id="u", role="r", valid_until=NAIVE),
        RoleGrant(tenant_id="t", user_id="u", role="r", valid_from=FRIDAY, valid_until=MONDAY),
        InventoryGrant(
            tenant_id="t", principal_kind="user", principal_id="u", role="r", group_id="g",
            valid_from=NAIVE,
        ),
        InventoryGrant(
            tenant_id="t", principal_kind="user", principal_id="u", role="r", group_id="g",
            valid_from=FRIDAY, valid_until=FRIDAY,
        ),
        Delegation(tenant_id="t", owner_id="o", delegate_id="d", valid_from=NAIVE),
        Delegation(tenant_id="t", owner_id="o", delegate_id="d", valid_from=FRIDAY, until=MONDAY),
    ],
)  # fmt: skip
def test_the_stores_wall_refuses_a_bad_window(record: object) -> None:
    with pytest.raises(InvalidValue) as raised:
        ch.check_changes([ch.AccessSet(record=record)])  # type: ignore[arg-type]
    assert raised.value.field in ("valid_from", "valid_until")
    store = MemoryStore()
    with pytest.raises(TenancyError):
        store.commit([ch.AccessSet(record=record)], expected_revision=store.head())  # type: ignore[arg-type]
    assert store.head() == 0


# ------------------------------------------------------------------ the access review


def test_the_review_shows_each_window_for_the_clock_and_the_next_end() -> None:
    w = World()
    w.t.define_role("recruiter", ["user_management:CREATE"])
    w.t.grant_role("bob", "recruiter")
    w.t.grant_role("bob", "readonly", valid_from=MONDAY, valid_until=FRIDAY)
    w.t.grant_inventory_role("bob", "viewer", group="site", valid_until=MONDAY)
    w.t.grant_inventory_role("crew", "operator", group="floor", to="group", valid_from=MONDAY)
    w.t.delegate("ana", "bob", valid_until=FRIDAY + timedelta(days=1))

    def rows() -> dict[str, dict[str, str]]:
        text = w.tn.access_review_csv(tenant=w.tenant_id)
        return {r["user_id"]: r for r in csv.DictReader(io.StringIO(text))}

    m, f = MONDAY.isoformat(), FRIDAY.isoformat()
    later = (FRIDAY + timedelta(days=1)).isoformat()
    bob = rows()["bob"]  # Sunday
    assert bob["global_roles"] == f"readonly starts at {m} until {f}; recruiter"
    assert bob["inventory_grants"] == f"viewer@site until {m}"
    assert bob["delegations"] == f"ana until {later}"
    assert bob["expires"] == m
    assert rows()["ana"]["inventory_grants"] == f"operator@floor via crew starts at {m}"
    w.at(MONDAY)
    bob = rows()["bob"]
    assert bob["global_roles"] == f"readonly until {f}; recruiter"
    assert bob["inventory_grants"] == f"viewer@site expired at {m}"
    assert bob["expires"] == f
    assert rows()["ana"]["inventory_grants"] == "operator@floor via crew"
    w.at(FRIDAY)
    bob = rows()["bob"]
    assert bob["global_roles"] == f"readonly expired at {f}; recruiter"
    assert bob["expires"] == later


# ------------------------------------------------------------------ other processes


def test_two_handles_on_one_sqlite_file_agree_across_a_boundary(tmp_path: Path) -> None:
    """The rule depends on the clock, not on a write at the instant: a second handle on the
    same file, with the same clock, gives the same answers on both sides."""
    clock = Clock(MONDAY - US)
    path = tmp_path / "grants.db"
    with tenancy.open(path, clock=clock, staleness=None) as first:
        acme = first.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        t = first.tenant(acme.id)
        t.create_group("site", id="site", device_tags=[("site", "sb")])
        t.create_device("d1", id="d1", tags=[("site", "sb")])
        t.create_user("ana@acme.example", id="ana")
        t.add_member("site", "ana")
        t.grant_inventory_role("ana", "operator", group="site", valid_from=MONDAY)
        t.grant_role("ana", "readonly", valid_until=FRIDAY)
        with tenancy.open(path, clock=clock, staleness=None) as second:
            second.catch_up()
            for instant in (MONDAY - US, MONDAY, FRIDAY - US, FRIDAY, MONDAY):
                clock.now = instant
                expected = {"device:UPDATE": instant >= MONDAY, "group:READ": instant < FRIDAY}
                for perm, allowed in expected.items():
                    assert first.check("ana", perm, "d1") is allowed, (instant, perm)
                    assert second.check("ana", perm, "d1") is allowed, (instant, perm)


def test_a_check_reads_the_clock_only_once_a_grant_has_a_window() -> None:
    """While no grant of the store has a window, no check depends on the instant: the
    slow path (a user with an inventory grant) reads no clock; once one has, it does."""
    w = World()
    w.t.grant_inventory_role("ana", "operator", group="floor")
    calls = 0
    now = w.clock.now

    def counting() -> datetime:
        nonlocal calls
        calls += 1
        return now

    w.tn._writer.clock = counting  # the writer's clock, as Tenancy(clock=) sets it
    assert w.tn.check("ana", "device:UPDATE", "d2")
    assert not w.tn.check("ana", "device:UPDATE", "d1")
    assert calls == 0
    w.t.grant_inventory_role("bob", "viewer", group="site", valid_until=FRIDAY)
    calls = 0
    assert w.tn.check("ana", "device:UPDATE", "d2")
    assert calls == 1
