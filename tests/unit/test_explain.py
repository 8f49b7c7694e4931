"""explain(u, d): the proof of reach, or the first failing condition in DOMAIN.md order."""

from __future__ import annotations

import pytest

import tenancy
from tenancy import Association, TagMatcher

from ._world import Hospital, hospital, new_tenant


@pytest.fixture
def h() -> Hospital:
    return hospital()


def test_allowed_by_id_gives_the_path_down_from_the_membership_group(h: Hospital) -> None:
    e = h.tn.explain("ceo", "gen-1")
    assert e.allowed
    assert bool(e)
    assert e.code == "allowed"
    assert e.path == ("chain", "north", "sb")
    assert e.association == Association(group_id="sb", kind="device_id", device_id="gen-1")
    assert "'ceo'" in e.reason
    assert "'chain'" in e.reason
    assert "'sb'" in e.reason


def test_allowed_by_tag_rule_names_the_rule(h: Hospital) -> None:
    e = h.tn.explain("regional", "gen-2")
    assert e.path == ("north", "mp")
    assert e.association is not None
    assert e.association.kind == "tag_rule"
    assert e.association.rule == (TagMatcher("kind", "generator"), TagMatcher("site", "mp"))
    assert "kind=generator and site=mp" in e.reason
    e = h.tn.explain("ceo", "gen-3")
    assert e.association is not None
    assert e.association.rule == (TagMatcher(None, "south"),)
    assert "*=south" in e.reason


def test_allowed_through_a_gateway_says_which_parent_devices(h: Hospital) -> None:
    """probe-1 > sensor-1 > gen-1: the association is gen-1's, reached via both."""
    e = h.tn.explain("site_manager", "probe-1")
    assert e.path == ("sb",)
    assert e.association == Association(
        group_id="sb", kind="device_id", device_id="gen-1", via=("sensor-1", "gen-1")
    )
    assert "gateway" in e.reason


def test_the_nearest_gateway_with_an_association_is_the_proof(h: Hospital) -> None:
    h.t.associate("south", device_ids=["sensor-1"])
    e = h.tn.explain("ceo", "probe-1")
    assert e.association is not None
    assert e.association.device_id == "sensor-1"
    assert e.association.via == ("sensor-1",)
    assert e.path == ("chain", "south")


def test_the_shortest_path_is_given_when_there_are_several(h: Hospital) -> None:
    h.t.add_member("sb", "ceo")
    assert h.tn.explain("ceo", "gen-1").path == ("sb",)


def test_denial_unknown_user_comes_first(h: Hospital) -> None:
    e = h.tn.explain("ghost", "also-ghost")
    assert not e.allowed
    assert not bool(e)
    assert e.code == "unknown-user"
    assert "'ghost'" in e.reason
    assert e.path == ()
    assert e.association is None


def test_denial_unknown_device(h: Hospital) -> None:
    e = h.tn.explain("ceo", "ghost")
    assert e.code == "unknown-device"
    assert "'ghost'" in e.reason


def test_denial_other_tenant_comes_before_suspension_and_disabled(h: Hospital) -> None:
    other = new_tenant(h.tn, "other")
    other.create_device("theirs", id="theirs")
    h.tn.suspend_tenant(other.tenant_id)
    e = h.tn.explain("off", "theirs")  # disabled user, suspended device tenant
    assert e.code == "other-tenant"
    assert h.t.tenant_id in e.reason
    assert other.tenant_id in e.reason


def test_denial_tenant_suspended_names_the_suspended_ancestor() -> None:
    tn = tenancy.open()
    reseller = new_tenant(tn, "reseller", allow_subtenants=True)
    clinic = tn.tenant(
        tn.create_tenant(
            domain="clinic",
            name="Clinic",
            admin_email="a@clinic.example",
            parent=reseller.tenant_id,
        ).id
    )
    clinic.create_device("d", id="d")
    clinic.create_user("u@clinic.example", id="u", enabled=False)
    tn.suspend_tenant(reseller.tenant_id)
    e = tn.explain("u", "d")  # also disabled, but suspension comes first
    assert e.code == "tenant-suspended"
    assert repr(reseller.tenant_id) in e.reason
    assert repr(clinic.tenant_id) in e.reason
    tn.activate_tenant(reseller.tenant_id)
    tn.suspend_tenant(clinic.tenant_id)
    e = tn.explain("u", "d")
    assert e.code == "tenant-suspended"
    assert repr(clinic.tenant_id) in e.reason
    assert repr(reseller.tenant_id) not in e.reason


def test_denial_user_disabled_comes_before_no_covering_group(h: Hospital) -> None:
    e = h.tn.explain("off", "lone")
    assert e.code == "user-disabled"
    assert "'off'" in e.reason


def test_denial_no_covering_group(h: Hospital) -> None:
    e = h.tn.explain("site_manager", "gen-3")
    assert e.code == "no-covering-group"
    assert "'gen-3'" in e.reason
    e = h.tn.explain("nobody", "gen-3")
    assert e.code == "no-covering-group"
    assert "member of no group" in e.reason


def test_explain_agrees_with_verify_for_every_pair(h: Hospital) -> None:
    snapshot = h.tn.store.snapshot()
    for u in snapshot.users:
        for d in snapshot.devices:
            assert h.tn.explain(u.id, d.id).allowed == h.tn.verify(u.id, d.id), (u.id, d.id)
