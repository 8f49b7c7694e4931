"""The access review (DOMAIN.md section 9): reach_diff from the change log, its refusals,
and access_review_csv."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import tenancy
from tenancy import InvalidValue, NotFound, PermissionDenied, ReachDiff

World = tuple[tenancy.Tenancy, str, dict[str, str]]


@pytest.fixture
def world() -> World:
    tn = tenancy.open()
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
    t = tn.tenant(acme.id)
    north = t.create_group("North", device_tags=[("site", "north")])
    south = t.create_group("South", device_tags=[("site", "south")])
    t.create_device("Gen N", id="gen-n", tags=[("site", "north")])
    t.create_device("Gen S", id="gen-s", tags=[("site", "south")])
    t.create_device("Gen S2", id="gen-s2", tags=[("site", "south")])
    t.create_user("ana@acme.example", id="ana")
    t.create_user("bo@acme.example", id="bo")
    t.add_member(north.id, "ana")
    t.add_member(south.id, "bo")
    return tn, acme.id, {"north": north.id, "south": south.id}


def test_a_membership_added_is_gained_and_one_removed_is_lost(world: World) -> None:
    tn, acme, g = world
    t = tn.tenant(acme)
    start = tn.revision
    t.add_member(g["south"], "ana")
    t.remove_member(g["south"], "bo")
    diff = tn.reach_diff(start, tenant=acme)
    assert isinstance(diff, ReachDiff)
    assert diff.gained == [("ana", "gen-s"), ("ana", "gen-s2")]
    assert diff.lost == [("bo", "gen-s"), ("bo", "gen-s2")]
    assert diff.gained_by_user == {"ana": 2}
    assert diff.lost_by_user == {"bo": 2}
    assert diff.gained_by_device == {"gen-s": 1, "gen-s2": 1}
    assert diff.lost_by_device == {"gen-s": 1, "gen-s2": 1}
    assert (diff.tenant_id, diff.from_revision, diff.to_revision) == (acme, start, tn.revision)
    # to_revision defaults to the head; equal revisions differ in nothing.
    assert tn.reach_diff(start, tn.revision, tenant=acme) == diff
    assert tn.reach_diff(tn.revision, tn.revision, tenant=acme).gained == []


def test_a_group_moved_and_a_device_tagged(world: World) -> None:
    tn, acme, g = world
    t = tn.tenant(acme)
    start = tn.revision
    t.move_group(g["south"], parent=g["north"])
    moved = tn.revision
    t.tag_device("gen-n", [("site", "south")])
    assert tn.reach_diff(start, moved, tenant=acme).gained == [("ana", "gen-s"), ("ana", "gen-s2")]
    diff = tn.reach_diff(moved, tenant=acme)
    assert diff.gained == [("bo", "gen-n")]
    assert diff.lost == []


def test_a_tenant_suspended_between_the_revisions_loses_everything(world: World) -> None:
    tn, acme, _ = world
    start = tn.revision
    tn.suspend_tenant(acme)
    diff = tn.reach_diff(start, tenant=acme)
    assert diff.gained == []
    assert diff.lost == [("ana", "gen-n"), ("bo", "gen-s"), ("bo", "gen-s2")]
    assert diff.lost_by_user == {"ana": 1, "bo": 2}
    suspended = tn.revision
    tn.activate_tenant(acme)
    assert tn.reach_diff(suspended, tenant=acme).gained == diff.lost
    assert tn.reach_diff(start, tenant=acme).gained == []


def test_other_tenants_are_ignored_and_a_new_tenant_gains_all(world: World) -> None:
    tn, acme, _ = world
    start = tn.revision
    globex = tn.create_tenant(domain="globex", name="Globex", admin_email="it@globex.example")
    o = tn.tenant(globex.id)
    grp = o.create_group("All", device_tags=[("site", None)])
    o.create_device("Pump", id="pump", tags=[("site", "x")])
    o.create_user("cy@globex.example", id="cy")
    o.add_member(grp.id, "cy")
    assert tn.reach_diff(start, tenant=acme).gained == []
    # Globex did not exist at ``start``: it had no pairs there.
    assert tn.reach_diff(start, tenant=globex.id).gained == [("cy", "pump")]
    assert tn.reach_diff(0, tenant=globex.id).gained == [("cy", "pump")]
    # Deleted now, its past is still reviewable.
    created = tn.revision
    tn.delete_tenant(globex.id)
    assert tn.reach_diff(created, tenant=globex.id).lost == [("cy", "pump")]


def test_refusals_name_the_field_the_value_and_the_rule(world: World) -> None:
    tn, acme, _ = world
    head = tn.revision
    cases: list[tuple[tuple[Any, ...], str, object]] = [
        ((-1,), "from_revision", -1),
        ((head + 1,), "from_revision", head + 1),
        ((0, head + 1), "to_revision", head + 1),
        ((3, 2), "from_revision", 3),
        ((True,), "from_revision", True),
        (("1",), "from_revision", "1"),
    ]
    for args, field, value in cases:
        with pytest.raises(InvalidValue) as error:
            tn.reach_diff(*args, tenant=acme)
        assert (error.value.field, error.value.value) == (field, value)
        assert error.value.rule
    with pytest.raises(InvalidValue) as error:
        tn.reach_diff(0, tenant=["acme"])  # type: ignore[arg-type]
    assert error.value.field == "tenant"
    with pytest.raises(NotFound) as missing:
        tn.reach_diff(0, tenant="no-such-tenant")
    assert missing.value.field == "tenant"
    assert tn.revision == head  # a review writes nothing


def test_a_log_pruned_by_retention_is_refused(tmp_path: Path) -> None:
    with tenancy.open(f"sqlite:///{tmp_path / 'short.db'}?retention=3") as tn:
        acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        t = tn.tenant(acme.id)
        for n in range(5):
            t.create_group(f"G{n}")
        with pytest.raises(InvalidValue) as error:
            tn.reach_diff(tn.revision - 1, tenant=acme.id)
        assert error.value.field == "from_revision"
        assert f"starts after revision {tn.revision - 3}" in error.value.rule


def test_a_sqlite_store_replays_in_chunks_and_agrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenancy.handle import review

    monkeypatch.setattr(review, "_CHUNK", 2)
    with tenancy.open(f"sqlite:///{tmp_path / 'app.db'}") as tn:
        acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        t = tn.tenant(acme.id)
        site = t.create_group("Site", device_tags=[("site", None)])
        start = tn.revision
        for n in range(4):
            t.create_device(f"D{n}", id=f"d{n}", tags=[("site", "a")])
        t.create_user("ana@acme.example", id="ana")
        t.add_member(site.id, "ana")
        diff = tn.reach_diff(start, tenant=acme.id)
        assert diff.gained == [("ana", f"d{n}") for n in range(4)]


def test_an_acting_user_needs_audit_read_in_its_own_tenant(world: World) -> None:
    tn, acme, _ = world
    admin = tn.as_user(_admin(tn, acme))
    assert admin.reach_diff(0, tenant=acme) == tn.reach_diff(0, tenant=acme)
    assert admin.access_review_csv(tenant=acme) == tn.access_review_csv(tenant=acme)
    with pytest.raises(PermissionDenied):
        tn.as_user("ana").reach_diff(0, tenant=acme)
    with pytest.raises(PermissionDenied):
        tn.as_user("ana").access_review_csv(tenant=acme)
    with pytest.raises(PermissionDenied) as other:
        admin.reach_diff(0, tenant=tn.management_tenant.id)
    assert other.value.field == "tenant"


def test_the_csv_lists_every_user_with_reach_roles_grants_and_expiry(world: World) -> None:
    tn, acme, g = world
    t = tn.tenant(acme)
    admin_id = _admin(tn, acme)
    t.grant_role("bo", "business")
    t.grant_inventory_role("ana", "operator", group=g["south"])
    t.grant_inventory_role(g["north"], "manager", group=g["north"], to="group")
    soon = datetime(2031, 5, 1, 12, tzinfo=UTC)
    later = datetime(2032, 1, 1, tzinfo=UTC)
    t.delegate("ana", "bo", until=later)
    t.delegate(admin_id, "bo", until=soon)
    t.update_user("ana", enabled=False)
    text = tn.access_review_csv(tenant=acme)
    assert text == tn.access_review_csv(tenant=acme)  # deterministic
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["user_id"] for r in rows] == sorted([admin_id, "ana", "bo"])
    by_id = {r["user_id"]: r for r in rows}
    ana, bo = by_id["ana"], by_id["bo"]
    assert (ana["enabled"], ana["reach_count"]) == ("false", "0")
    assert (
        ana["inventory_grants"] == f"manager@{g['north']} via {g['north']}; operator@{g['south']}"
    )
    assert (bo["enabled"], bo["reach_count"], bo["global_roles"]) == ("true", "2", "business")
    assert bo["delegations"] == "; ".join(
        sorted([f"ana until {later.isoformat()}", f"{admin_id} until {soon.isoformat()}"])
    )
    assert bo["expires"] == soon.isoformat()
    assert by_id[admin_id]["global_roles"] == "admin"
    assert by_id[admin_id]["expires"] == ""
    with pytest.raises(NotFound):
        tn.access_review_csv(tenant="no-such-tenant")


def _admin(tn: tenancy.Tenancy, tenant_id: str) -> str:
    admin = tn.get_tenant(tenant_id).admin_user_id
    assert admin is not None
    return admin
