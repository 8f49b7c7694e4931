"""The oracle itself, on hand-written snapshots: the property tests are only as good as it."""

from __future__ import annotations

import attrs
import pytest

from tenancy import Association, Device, Explanation, Group, Snapshot, TagMatcher, Tenant, User
from tenancy.testing import oracle
from tenancy.testing.oracle import Oracle

from ._world import hospital


def _snapshot(**overrides: object) -> Snapshot:
    """mgmt > acme > clinic; acme has root > site (rule site=sb), a gateway gw (site=sb)
    with a child sensor; users ana (member of root), off (disabled); clinic has a device."""
    fields: dict[str, object] = {
        "tenants": [
            Tenant(id="mgmt", domain="management", name="M", allow_subtenants=True),
            Tenant(id="acme", domain="acme", name="A", parent_id="mgmt", allow_subtenants=True),
            Tenant(id="clinic", domain="clinic", name="C", parent_id="acme"),
        ],
        "groups": [
            Group(id="root", tenant_id="acme", name="Root"),
            Group(
                id="site",
                tenant_id="acme",
                name="Site",
                parent_id="root",
                device_tags=frozenset({(TagMatcher("site", "sb"),)}),
            ),
            Group(id="other", tenant_id="acme", name="Other", device_ids=frozenset({"lone"})),
        ],
        "devices": [
            Device(id="gw", tenant_id="acme", name="GW", tags=frozenset({("site", "sb")})),
            Device(id="sensor", tenant_id="acme", name="S", parent_id="gw"),
            Device(id="lone", tenant_id="acme", name="L"),
            Device(id="far", tenant_id="clinic", name="F", tags=frozenset({("site", "sb")})),
        ],
        "users": [
            User(id="ana", tenant_id="acme", email="ana@a.example"),
            User(id="off", tenant_id="acme", email="off@a.example", enabled=False),
            User(id="cy", tenant_id="clinic", email="cy@c.example"),
        ],
        "memberships": [("root", "ana"), ("root", "off")],
    }
    fields.update(overrides)
    return Snapshot(**fields)  # type: ignore[arg-type]


def test_the_matcher_forms() -> None:
    tags = [("site", "sb"), ("kind", "gen")]
    assert oracle.matcher_matches(("site", "sb"), tags)
    assert oracle.matcher_matches(("site", None), tags)
    assert oracle.matcher_matches((None, "gen"), tags)
    assert not oracle.matcher_matches(("site", "gen"), tags)  # both sides on the same tag
    assert oracle.rule_matches((TagMatcher("site", None), TagMatcher(None, "gen")), tags)
    assert oracle.rule_matches((), tags)  # the empty rule (no filter) matches everything


def test_reach_adopts_upward_and_follows_gateways() -> None:
    s = _snapshot()
    assert oracle.reaches(s, "ana", "gw")
    assert oracle.reaches(s, "ana", "sensor")
    assert not oracle.reaches(s, "ana", "lone")
    assert oracle.devices_for(s, "ana") == ["gw", "sensor"]
    assert oracle.users_for(s, "sensor") == ["ana"]


def test_tag_rules_stay_in_their_tenant() -> None:
    s = _snapshot()
    o = Oracle(s)
    assert not o.associates("site", "far")
    assert not oracle.reaches(s, "cy", "far")
    assert oracle.explain_code(s, "ana", "far") == ("other-tenant", None)


def test_the_denial_order() -> None:
    s = _snapshot()
    assert oracle.explain_code(s, "ghost", "ghost") == ("unknown-user", None)
    assert oracle.explain_code(s, "ana", "ghost") == ("unknown-device", None)
    assert oracle.explain_code(s, "off", "gw") == ("user-disabled", None)
    assert oracle.explain_code(s, "ana", "lone") == ("no-covering-group", None)
    assert oracle.explain_code(s, "ana", "gw") == ("allowed", None)


def test_a_suspended_ancestor_blocks_and_the_topmost_is_named() -> None:
    base = _snapshot()
    tenants = [
        Tenant(id=t.id, domain=t.domain, name=t.name, parent_id=t.parent_id, status="suspended")
        if t.id in {"acme", "clinic"}
        else t
        for t in base.tenants
    ]
    s = _snapshot(tenants=tenants)
    assert Oracle(s).suspended_blocker("clinic") == "acme"
    assert oracle.explain_code(s, "cy", "far") == ("tenant-suspended", "acme")
    assert oracle.explain_code(s, "ana", "gw") == ("tenant-suspended", "acme")


def test_listing_filters() -> None:
    s = _snapshot()
    assert oracle.devices_for(s, "ana", tags=[("site", None)]) == ["gw"]
    assert oracle.devices_for(s, "ana", group="site") == ["gw", "sensor"]
    assert oracle.devices_for(s, "ana", group="other") == []
    assert oracle.devices_for(s, "ana", group="ghost") == []
    o = Oracle(s)
    assert o.devices_in("root") == ["gw", "sensor"]
    assert o.devices_in("root", descendants=False) == []
    assert o.devices_in("site", descendants=False) == ["gw", "sensor"]
    assert o.groups_for("ana") == ["root", "site"]
    assert o.groups_for("ana", inherited=False) == ["root"]
    assert o.in_group("ana", "site")
    assert not o.in_group("ana", "other")


def test_a_cycle_in_the_records_fails_loudly() -> None:
    groups = [
        Group(id="a", tenant_id="acme", name="A", parent_id="b"),
        Group(id="b", tenant_id="acme", name="B", parent_id="a"),
    ]
    with pytest.raises(AssertionError, match="cycle"):
        Oracle(_snapshot(groups=groups)).group_ancestors("a")
    devices = [
        Device(id="x", tenant_id="acme", name="X", parent_id="y"),
        Device(id="y", tenant_id="acme", name="Y", parent_id="x"),
    ]
    with pytest.raises(AssertionError, match="cycle"):
        Oracle(_snapshot(devices=devices)).device_gateways("x")


def test_proves_accepts_a_real_proof_and_rejects_forged_ones() -> None:
    o = Oracle(_snapshot())
    association = Association(
        group_id="site",
        kind="tag_rule",
        device_id="gw",
        rule=(TagMatcher("site", "sb"),),
        via=("gw",),
    )
    real = Explanation(
        allowed=True,
        code="allowed",
        reason="",
        user_id="ana",
        device_id="sensor",
        path=("root", "site"),
        association=association,
    )
    assert o.proves(real)
    # ana is not a member of site
    assert not o.proves(attrs.evolve(real, path=("site",)))
    # other is not site's parent
    assert not o.proves(attrs.evolve(real, path=("other", "site")))
    # the association is gw's, but via does not lead from sensor to gw
    wrong_via = attrs.evolve(association, via=())
    assert not o.proves(attrs.evolve(real, association=wrong_via))
    # site does not list gw by id
    by_id = Association(group_id="site", kind="device_id", device_id="gw", via=("gw",))
    assert not o.proves(attrs.evolve(real, association=by_id))
    # a rule the group does not have
    other_rule = attrs.evolve(association, rule=(TagMatcher("site", None),))
    assert not o.proves(attrs.evolve(real, association=other_rule))
    assert not o.proves(attrs.evolve(real, allowed=False, code="no-covering-group"))


def test_the_oracle_reads_a_handle_through_its_store() -> None:
    h = hospital()
    o = Oracle(h.tn)
    assert o.snapshot == h.tn.store.snapshot()
    assert oracle.devices_for(h.tn, "regional") == ["gen-1", "gen-2", "probe-1", "sensor-1"]
