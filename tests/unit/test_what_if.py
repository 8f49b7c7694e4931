"""tn.what_if(fn): proposed writes validated and applied to an overlay of the index, answered
as a ReachDiff, with nothing kept (DOMAIN.md section 9; issue 17 item 4).

Each scenario is checked against doing the same writes for real on a copy of the store
(exported with its secrets and imported into a fresh handle) and diffing the naive oracle's
reach pairs before and after.
"""

from __future__ import annotations

import io
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

import tenancy
from tenancy import Tenancy
from tenancy.index.index import Index
from tenancy.index.overlay import OverlayDict, OverlaySet, overlay_of
from tenancy.records.review import Pair, ReachDiff
from tenancy.testing.oracle import Oracle

from ._world import hospital, new_tenant

Writes = Callable[[Tenancy], object]


def _pairs(source: Tenancy, tenant_id: str | None) -> set[Pair]:
    oracle = Oracle(source)
    return {
        (u.id, d)
        for u in oracle.users.values()
        if tenant_id is None or u.tenant_id == tenant_id
        for d in oracle.devices_for(u.id)
    }


def expected(tn: Tenancy, fn: Writes, tenant: str | None = None) -> ReachDiff:
    """The diff of doing ``fn`` for real on a copy of ``tn``'s store, by the oracle."""
    document = io.BytesIO()
    tn.export_to(document, include_secrets=True)
    with tenancy.open() as copy:
        copy.import_from(io.BytesIO(document.getvalue()))
        before = _pairs(copy, tenant)
        fn(copy)
        after = _pairs(copy, tenant)
    return ReachDiff.between(
        before, after, tenant_id=tenant or "", from_revision=tn.revision,
        to_revision=tn.revision,
    )  # fmt: skip


def state(tn: Tenancy) -> tuple[Any, ...]:
    """Everything a what-if must leave as it was."""
    return (
        tn.revision,
        tn.store.head(),
        tn.index.snapshot(),
        tn.store.snapshot(),
        tn.audit_log(limit=1_000),
        tn.changes(),
        {name: repr(value) for name, value in tn.index.tables().items()},
    )


def check(tn: Tenancy, fn: Writes, tenant: str | None = None) -> ReachDiff:
    """what_if(fn) equals the oracle's diff, keeps nothing, leaves a sound index."""
    want = expected(tn, fn, tenant)
    before = state(tn)

    def rehearse(w: Tenancy) -> None:
        fn(w)
        w.index.check_invariants()  # the overlay holds up as an index, too

    got = tn.what_if(rehearse, tenant=tenant)
    assert state(tn) == before
    tn.index.check_invariants()
    assert got == want
    return got


# ---------------------------------------------------------------- the answer


def test_a_move_loses_the_reach_of_the_members_above() -> None:
    h = hospital()
    diff = check(h.tn, lambda w: w.tenant(h.t.tenant_id).move_group("sb", parent=None))
    assert diff.lost == [
        (u, d) for u in ("ceo", "regional") for d in ("gen-1", "probe-1", "sensor-1")
    ]
    assert diff.gained == []
    assert diff.lost_by_user == {"ceo": 3, "regional": 3}
    assert diff.lost_by_device == {"gen-1": 2, "probe-1": 2, "sensor-1": 2}
    assert (diff.tenant_id, diff.from_revision, diff.to_revision) == (
        "",
        h.tn.revision,
        h.tn.revision,
    )


def test_a_move_under_another_group_gains_and_loses() -> None:
    h = hospital()
    diff = check(h.tn, lambda w: w.tenant(h.t.tenant_id).move_group("mp", parent="south"))
    assert diff.lost == [("regional", "gen-2")]
    assert diff.gained == []  # south has no member; chain covers both places


def test_a_move_that_changes_covers_and_no_reach_is_empty() -> None:
    h = hospital()
    t = h.t
    t.create_group("Spare", id="spare", parent="chain")
    diff = check(h.tn, lambda w: w.tenant(t.tenant_id).move_group("south", parent="spare"))
    assert diff.gained == diff.lost == []


def test_delete_a_group_with_its_subtree() -> None:
    h = hospital()
    diff = check(h.tn, lambda w: w.tenant(h.t.tenant_id).delete_group("north", cascade=True))
    assert ("site_manager", "gen-1") in diff.lost
    assert diff.gained == []


def test_membership_changes() -> None:
    h = hospital()
    tid = h.t.tenant_id

    def writes(w: Tenancy) -> None:
        t = w.tenant(tid)
        t.add_member("south", "nobody")
        t.remove_member("north", "regional")
        t.update_user("off", enabled=True)

    diff = check(h.tn, writes)
    assert ("nobody", "gen-3") in diff.gained
    assert ("regional", "gen-2") in diff.lost
    assert diff.gained_by_user["off"] == len(h.tn.devices_for("ceo", limit=100).items)


def test_tag_changes_and_device_deletion() -> None:
    h = hospital()
    tid = h.t.tenant_id

    def writes(w: Tenancy) -> None:
        t = w.tenant(tid)
        t.tag_device("lone", [("zone", "south")])
        t.untag_device("gen-2", [("kind", "generator")])
        t.delete_device("gen-1", cascade=True)
        t.create_device("New", id="new-1", tags=[("region", "north")])
        t.associate("south", device_tags=[("site", "mp")])

    diff = check(h.tn, writes)
    assert ("ceo", "lone") in diff.gained
    assert ("ceo", "new-1") in diff.gained
    assert ("site_manager", "probe-1") in diff.lost


def test_a_user_created_and_deleted_and_a_tenant_suspended() -> None:
    h = hospital()
    tid = h.t.tenant_id
    other = new_tenant(h.tn, "clinic")
    other.create_group("All", id="all", device_tags=[("k", None)])
    other.create_device("Pump", id="pump", tags=[("k", "v")])
    other.create_user("x@clinic.example", id="x")
    other.add_member("all", "x")

    def writes(w: Tenancy) -> None:
        t = w.tenant(tid)
        t.create_user("new@hospital.example", id="newbie")
        t.add_member("sb", "newbie")
        t.delete_user("regional")
        w.suspend_tenant(other.tenant_id)

    diff = check(h.tn, writes)
    assert ("newbie", "gen-1") in diff.gained
    assert ("x", "pump") in diff.lost


def test_sharing_a_site_with_another_tenant() -> None:
    tn = tenancy.open()
    plant = new_tenant(tn, "plant")
    svc = new_tenant(tn, "svc")
    plant.create_group("Site", id="site", device_tags=[("site", "a")])
    plant.create_device("Gateway", id="gw", tags=[("site", "a")])
    plant.create_device("Child", id="child", parent="gw")
    svc.create_user("tech@svc.example", id="tech")
    connector = plant.create_connector("to-svc", destination=svc.tenant_id, groups=["site"])

    def accept(w: Tenancy) -> None:
        sub = w.tenant(svc.tenant_id).accept_connector(
            connector.id, security_code=connector.security_code, name="Plant"
        )
        w.tenant(svc.tenant_id).add_member(sub.group_id, "tech")

    diff = check(tn, accept)
    assert diff.gained == [("tech", "child"), ("tech", "gw")]
    accept(tn)
    assert tn.verify("tech", "gw")
    diff = check(tn, lambda w: w.tenant(plant.tenant_id).suspend_connector(connector.id))
    assert diff.lost == [("tech", "child"), ("tech", "gw")]
    diff = check(tn, lambda w: w.tenant(plant.tenant_id).delete_group("site"))
    assert ("tech", "gw") in diff.lost


def test_tenant_restricts_the_pairs_to_its_users() -> None:
    h = hospital()
    other = new_tenant(h.tn, "clinic")
    other.create_group("All", id="all", device_tags=[("k", None)])
    other.create_device("Pump", id="pump", tags=[("k", "v")])
    other.create_user("x@clinic.example", id="x")

    def writes(w: Tenancy) -> None:
        w.tenant(other.tenant_id).add_member("all", "x")
        w.tenant(h.t.tenant_id).move_group("sb", parent=None)

    mine = check(h.tn, writes, tenant=other.tenant_id)
    assert (mine.tenant_id, mine.gained, mine.lost) == (other.tenant_id, [("x", "pump")], [])
    everyone = check(h.tn, writes)
    assert ("x", "pump") in everyone.gained
    assert everyone.lost
    with pytest.raises(tenancy.NotFound):
        h.tn.what_if(writes, tenant="no-such-tenant")


def test_a_what_if_inside_a_what_if() -> None:
    h = hospital()
    tid = h.t.tenant_id
    inner: list[ReachDiff] = []

    def outer(w: Tenancy) -> None:
        w.tenant(tid).move_group("sb", parent=None)
        inner.append(w.what_if(lambda v: v.tenant(tid).move_group("sb", parent="south")))
        assert w.get_group("sb").parent_id is None

    diff = check(h.tn, outer)
    assert ("regional", "gen-1") in diff.lost
    assert inner[0].gained == [(u, d) for u in ("ceo",) for d in ("gen-1", "probe-1", "sensor-1")]


def test_an_empty_what_if_is_an_empty_diff() -> None:
    h = hospital()
    diff = check(h.tn, lambda w: None)
    assert diff.gained == diff.lost == []
    assert diff.gained_by_user == {}


# ---------------------------------------------------------------- nothing kept


def test_nothing_reaches_the_store_or_another_handle(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with tenancy.open(path, staleness=None) as tn, tenancy.open(path, staleness=None) as other:
        h = hospital(tn)
        other.catch_up()
        head, snapshot = other.revision, other.index.snapshot()
        audit, feed = tn.audit_log(limit=1_000), tn.changes()
        for _ in range(2):
            tn.record_request(h.t.tenant_id, "api")  # pending counts stay pending
        pending = tn._writer.usage.pending

        def writes(w: Tenancy) -> None:
            t = w.tenant(h.t.tenant_id)
            t.move_group("sb", parent=None)
            t.create_device("New", id="new-1", tags=[("region", "north")])
            w.record_request(h.t.tenant_id, "api")
            w.flush_usage()
            assert w.verify("regional", "new-1")
            assert not w.verify("regional", "gen-1")

        diff = tn.what_if(writes)
        assert ("regional", "gen-1") in diff.lost
        assert tn.store.head() == head == tn.revision
        assert other.catch_up() == head
        assert other.index.snapshot() == snapshot
        assert tn.audit_log(limit=1_000) == audit
        assert tn.changes() == feed
        assert tn._writer.usage.pending == pending
        assert tn.verify("regional", "gen-1")
        assert "new-1" not in tn.index.devices
        tn.index.check_invariants()


def test_readers_on_other_threads_see_nothing_while_it_runs() -> None:
    h = hospital()
    seen: list[bool] = []

    def writes(w: Tenancy) -> None:
        w.tenant(h.t.tenant_id).move_group("sb", parent=None)
        assert not w.verify("regional", "gen-1")
        reader = threading.Thread(target=lambda: seen.append(h.tn.verify("regional", "gen-1")))
        reader.start()
        reader.join()
        seen.append(h.tn.verify("regional", "gen-1"))
        seen.append(h.tn.get_group("sb").parent_id == "north")

    h.tn.what_if(writes)
    assert seen == [True, True, True]
    assert h.tn.get_group("sb").parent_id == "north"


def test_the_throwaway_handle_refuses_writes_after_what_if() -> None:
    h = hospital()
    kept: list[Tenancy] = []
    h.tn.what_if(kept.append)
    with pytest.raises(tenancy.InvalidValue, match="only while fn runs"):
        kept[0].tenant(h.t.tenant_id).move_group("sb", parent=None)
    assert h.tn.get_group("sb").parent_id == "north"


# ---------------------------------------------------------------- errors as usual


def test_an_error_comes_out_and_nothing_is_kept() -> None:
    h = hospital()
    before = state(h.tn)

    def writes(w: Tenancy) -> None:
        t = w.tenant(h.t.tenant_id)
        t.move_group("sb", parent=None)  # applied to the overlay, then thrown away
        t.move_group("chain", parent="mp")  # a cycle

    with pytest.raises(tenancy.CycleError):
        h.tn.what_if(writes)
    assert state(h.tn) == before
    with pytest.raises(tenancy.NotFound):
        h.tn.what_if(lambda w: w.tenant(h.t.tenant_id).move_group("no-such-group", parent=None))
    with pytest.raises(ZeroDivisionError):
        h.tn.what_if(lambda w: 1 / 0)
    with pytest.raises(tenancy.InvalidValue):
        h.tn.what_if("not callable")  # type: ignore[arg-type]
    assert state(h.tn) == before
    h.tn.index.check_invariants()


def test_limits_apply() -> None:
    tn = tenancy.open(limits=tenancy.SafetyLimits(max_group_depth=3))
    h = hospital(tn)
    h.t.create_group("Top", id="top")
    with pytest.raises(tenancy.LimitExceeded):
        tn.what_if(lambda w: w.tenant(h.t.tenant_id).move_group("chain", parent="top"))
    assert tn.get_group("chain").parent_id is None


def test_an_acting_user_rehearses_as_itself() -> None:
    h = hospital()
    tid = h.t.tenant_id
    h.t.create_user("aud@hospital.example", id="auditor")
    h.t.grant_role("auditor", "readonly")  # audit:READ, and no group:UPDATE
    auditor = h.tn.as_user("auditor")
    with pytest.raises(tenancy.PermissionDenied, match="group:UPDATE"):
        auditor.what_if(lambda w: w.tenant(tid).move_group("sb", parent=None))
    assert h.tn.get_group("sb").parent_id == "north"
    with pytest.raises(tenancy.PermissionDenied, match="audit:READ"):
        h.tn.as_user("regional").what_if(lambda w: None)
    admin_id = h.tn.get_tenant(tid).admin_user_id
    assert admin_id is not None
    admin = h.tn.as_user(admin_id)
    other = new_tenant(h.tn, "clinic")
    with pytest.raises(tenancy.PermissionDenied):
        admin.what_if(lambda w: None, tenant=other.tenant_id)
    diff = admin.what_if(lambda w: w.tenant(tid).move_group("sb", parent=None))
    assert diff.tenant_id == tid
    assert ("regional", "gen-1") in diff.lost
    seen: list[Any] = []
    admin.what_if(lambda w: seen.append(w.identity))
    assert seen == [admin.identity]


# ---------------------------------------------------------------- the overlay itself


def _plain_tables(value: object, path: str) -> list[str]:
    """The dicts and sets reachable from ``value`` through the objects of tenancy that hold
    tables, other than overlays: none may be left in an overlay."""
    if isinstance(value, OverlayDict | OverlaySet):
        return []
    if isinstance(value, dict | set):
        return [path]
    found: list[str] = []
    if type(value).__module__.startswith("tenancy."):
        slots = [n for c in type(value).__mro__ for n in c.__dict__.get("__slots__", ())]
        names = [*slots, *getattr(value, "__dict__", {})]
        for name in names:
            if hasattr(value, name):
                found += _plain_tables(getattr(value, name), f"{path}.{name}")
    return found


def test_the_overlay_wraps_every_table_and_writes_none_of_the_base() -> None:
    h = hospital()
    base = h.tn.index
    side_table: defaultdict[str, set[str]] = defaultdict(set, {"ana": {"g1"}})
    setattr(base, "_clock_side", side_table)  # noqa: B010 - a table another change adds
    try:
        overlay = overlay_of(base)
        tables = overlay.tables()
        plain = [p for name, t in tables.items() for p in _plain_tables(t, name)]
        assert plain == ["access.cache"]  # the overlay's own memo, empty (rule O3)
        access, tags = cast(Any, tables["access"]), cast(Any, tables["tags"])
        assert not access.cache
        assert tables["group_rules"] is tags.group_rules  # aliases stay aliases
        side = tables["clock_side"]
        assert isinstance(side, OverlayDict)
        side["ana"].add("g2")
        side["bo"].add("g3")
        assert side_table == {"ana": {"g1"}}
        assert dict(side) == {"ana": {"g1", "g2"}, "bo": {"g3"}}
    finally:
        delattr(base, "_clock_side")


def test_overlay_dict_behaves_as_a_dict_and_leaves_its_base() -> None:
    base: defaultdict[str, set[str]] = defaultdict(set, {"a": {"1"}, "b": {"2"}})
    kept = {k: set(v) for k, v in base.items()}
    d: OverlayDict[str, set[str]] = OverlayDict(base, set)
    d["a"].add("x")
    d["c"].add("3")
    del d["b"]
    assert "b" not in d
    assert d.get("b") is None
    assert d.get("z") is None
    assert "z" not in d
    assert d.pop("z", None) is None
    assert d.setdefault("e", {"5"}) == {"5"}
    assert dict(d) == {"a": {"1", "x"}, "c": {"3"}, "e": {"5"}}
    assert len(d) == 3
    assert d.peek("b", None) is None
    assert sorted(d.written()) == ["a", "b", "c", "e"]
    d["b"] = {"9"}
    assert d["b"] == {"9"}
    assert len(d) == 4
    assert base == kept
    assert not isinstance(base.get("z"), set)
    s: OverlaySet[str] = OverlaySet({"a", "b"})
    s.add("c")
    s.discard("a")
    assert set(s) == {"b", "c"}
    assert len(s) == 2
    assert "a" not in s
    assert set(s) == {"b", "c"}
    assert s == cast(Any, {"b", "c"})  # a set compares equal to one with its members


def test_an_index_built_from_a_snapshot_agrees_with_the_overlay() -> None:
    h = hospital()
    overlay = overlay_of(h.tn.index)
    assert overlay.snapshot() == h.tn.index.snapshot()
    assert Index.build(overlay.snapshot()).snapshot() == overlay.snapshot()
    overlay.check_invariants()
