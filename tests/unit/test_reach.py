"""The reach rule of DOMAIN.md section 3, one condition at a time, on a small hospital chain
(see tests/unit/_world.py for its shape)."""

from __future__ import annotations

import pytest

import tenancy
from tenancy import InUse, TenancyError

from ._world import Hospital, hospital, listed, new_tenant


@pytest.fixture
def h() -> Hospital:
    return hospital()


def test_access_is_adopted_upward(h: Hospital) -> None:
    """A member of a group reaches what the group and every group below it associate;
    a member of a subgroup does not reach what its parent associates."""
    assert h.tn.verify("ceo", "gen-1")  # chain > north > sb associates gen-1
    assert h.tn.verify("ceo", "gen-3")  # chain > south
    assert h.tn.verify("regional", "gen-2")  # north > mp
    assert not h.tn.verify("regional", "gen-3")  # south is a sibling, not below
    assert h.tn.verify("site_manager", "gen-1")
    assert not h.tn.verify("site_manager", "gen-2")


def test_a_child_device_follows_its_gateway_recursively(h: Hospital) -> None:
    """sensor-1 hangs off gen-1 and probe-1 off sensor-1: whoever reaches the gateway
    reaches both, with no association of their own."""
    for user in ("ceo", "regional", "site_manager"):
        assert h.tn.verify(user, "sensor-1")
        assert h.tn.verify(user, "probe-1")


def test_moving_a_device_to_another_gateway_moves_its_reach(h: Hospital) -> None:
    h.t.update_device("sensor-1", parent="gen-3")  # probe-1 comes along
    assert not h.tn.verify("site_manager", "sensor-1")
    assert not h.tn.verify("site_manager", "probe-1")
    assert h.tn.verify("ceo", "probe-1")  # via gen-3, in south
    h.t.update_device("sensor-1", parent=None)
    assert not h.tn.verify("ceo", "sensor-1")
    assert not h.tn.verify("ceo", "probe-1")


def test_a_child_device_associated_itself_keeps_that_reach_without_its_gateway(h: Hospital) -> None:
    h.t.associate("south", device_ids=["probe-1"])
    h.t.update_device("sensor-1", parent=None)
    assert h.tn.verify("ceo", "probe-1")
    assert not h.tn.verify("site_manager", "probe-1")


def test_moving_a_group_moves_the_reach_of_its_subtree(h: Hospital) -> None:
    """Move sb (with gen-1 and its children) from north to south."""
    h.t.move_group("sb", "south")
    assert not h.tn.verify("regional", "gen-1")
    assert not h.tn.verify("regional", "probe-1")
    assert h.tn.verify("ceo", "probe-1")
    h.t.move_group("sb", None)  # a root: only its own members
    assert not h.tn.verify("ceo", "gen-1")
    assert h.tn.verify("site_manager", "gen-1")


def test_a_disabled_user_reaches_nothing_until_enabled(h: Hospital) -> None:
    assert listed(h.tn, "off") == []
    h.t.update_user("off", enabled=True)
    assert listed(h.tn, "off") == listed(h.tn, "ceo")
    h.t.update_user("ceo", enabled=False)
    assert not h.tn.verify("ceo", "gen-1")


def test_a_user_without_a_group_reaches_nothing(h: Hospital) -> None:
    assert listed(h.tn, "nobody") == []
    h.t.add_member("south", "nobody")
    assert listed(h.tn, "nobody") == ["gen-3"]
    h.t.remove_member("south", "nobody")
    assert listed(h.tn, "nobody") == []


def test_suspending_the_tenant_or_an_ancestor_blocks_reach_and_activation_restores_it() -> None:
    tn = tenancy.open()
    reseller = new_tenant(tn, "reseller", allow_subtenants=True)
    h = hospital_below(tn, reseller.tenant_id)
    before = listed(tn, "ceo")
    assert before
    tn.suspend_tenant(reseller.tenant_id)
    assert listed(tn, "ceo") == []
    assert not tn.verify("ceo", "gen-1")
    assert tn.users_for("gen-1") == []
    tn.activate_tenant(reseller.tenant_id)
    assert listed(tn, "ceo") == before
    tn.suspend_tenant(h.tenant_id)
    assert not tn.verify("ceo", "gen-1")
    tn.activate_tenant(h.tenant_id)
    assert listed(tn, "ceo") == before


def hospital_below(tn: tenancy.Tenancy, parent: str) -> tenancy.TenantScope:
    """A one-group, one-device, one-user tenant below ``parent``."""
    t = tn.tenant(
        tn.create_tenant(
            domain="clinic", name="Clinic", admin_email="a@clinic.example", parent=parent
        ).id
    )
    t.create_group("Chain", id="chain", device_ids=())
    t.create_device("Generator 1", id="gen-1")
    t.associate("chain", device_ids=["gen-1"])
    t.create_user("ceo@clinic.example", id="ceo")
    t.add_member("chain", "ceo")
    return t


def test_reach_never_crosses_tenants_even_parent_to_child() -> None:
    """A parent tenant's users do not reach a subtenant's devices: tenancy is not
    inherited down the tenant tree (only explicit sharing would cross it)."""
    tn = tenancy.open()
    reseller = new_tenant(tn, "reseller", allow_subtenants=True)
    reseller.create_group("Everything", id="all", device_tags=[(None, "x")])
    reseller.create_user("boss@reseller.example", id="boss")
    reseller.add_member("all", "boss")
    clinic = hospital_below(tn, reseller.tenant_id)
    clinic.tag_device("gen-1", [("k", "x")])
    assert not tn.verify("boss", "gen-1")
    assert tn.explain("boss", "gen-1").code == "other-tenant"


def test_unknown_ids_are_denied_and_create_nothing(h: Hospital) -> None:
    """verify, listings and explain never raise for unknown ids, and never create them."""
    revision = h.tn.revision
    records = h.tn.store.snapshot()
    assert not h.tn.verify("ghost", "gen-1")
    assert not h.tn.verify("ceo", "ghost")
    assert not h.tn.verify("", "")
    assert list(h.tn.devices_for("ghost")) == []
    assert h.tn.users_for("ghost") == []
    assert h.tn.explain("ghost", "ghost").code == "unknown-user"
    assert h.tn.groups_for("ghost") == []
    assert not h.tn.in_group("ghost", "chain")
    assert list(h.tn.devices_in("ghost")) == []
    assert h.tn.revision == revision
    assert h.tn.store.snapshot() == records


# ------------------------------------------------------------------ deletes


def test_deleting_a_device_ends_its_reach_and_its_id_associations(h: Hospital) -> None:
    h.t.delete_device("gen-2")
    assert not h.tn.verify("ceo", "gen-2")
    assert "gen-2" not in h.t.get_group("mp").device_ids
    h.t.create_device("Generator 2 again", id="gen-2")  # same id, no tags: no association
    assert not h.tn.verify("ceo", "gen-2")


def test_deleting_a_gateway_needs_cascade_and_takes_its_children(h: Hospital) -> None:
    with pytest.raises(InUse, match="cascade"):
        h.t.delete_device("gen-1")
    assert h.tn.verify("ceo", "probe-1")
    h.t.delete_device("gen-1", cascade=True)
    assert listed(h.tn, "site_manager") == []
    for gone in ("gen-1", "sensor-1", "probe-1"):
        with pytest.raises(TenancyError):
            h.t.get_device(gone)


def test_deleting_a_group_needs_cascade_for_subgroups_and_ends_memberships(h: Hospital) -> None:
    with pytest.raises(InUse, match="subgroups"):
        h.t.delete_group("north")
    h.t.delete_group("north", cascade=True)
    assert listed(h.tn, "regional") == []
    assert listed(h.tn, "site_manager") == []
    assert h.tn.groups_for("regional") == []
    assert listed(h.tn, "ceo") == ["gen-3"]


def test_deleting_a_leaf_group_removes_only_what_it_gave(h: Hospital) -> None:
    h.t.delete_group("sb")
    assert not h.tn.verify("ceo", "gen-1")
    assert h.tn.verify("ceo", "gen-2")


def test_deleting_a_user_ends_its_memberships(h: Hospital) -> None:
    h.t.delete_user("regional")
    assert listed(h.tn, "regional") == []
    assert "regional" not in [u.id for u in h.tn.users_for("gen-2")]
    h.t.create_user("regional@hospital.example", id="regional")  # same id and email: free
    assert listed(h.tn, "regional") == []


def test_deleting_a_tenant_with_cascade_removes_the_reach_of_its_subtenants() -> None:
    tn = tenancy.open()
    reseller = new_tenant(tn, "reseller", allow_subtenants=True)
    hospital_below(tn, reseller.tenant_id)
    assert tn.verify("ceo", "gen-1")
    with pytest.raises(InUse, match="cascade"):
        tn.delete_tenant(reseller.tenant_id)
    tn.delete_tenant(reseller.tenant_id, cascade=True)
    assert not tn.verify("ceo", "gen-1")
    assert tn.explain("ceo", "gen-1").code == "unknown-user"
    tn.index.check_invariants()


# ------------------------------------------------------------------ renames


def test_renaming_anything_changes_no_answer(h: Hospital) -> None:
    users = ["ceo", "regional", "site_manager", "off", "nobody"]
    before = {u: listed(h.tn, u) for u in users}
    h.tn.update_tenant(h.t.tenant_id, name="Renamed Chain")
    h.t.update_group("north", name="Northern California", description="renamed")
    h.t.update_device("gen-1", name="Generator One")
    h.t.update_user("ceo", first_name="Ada", last_name="Lovelace", username="ada")
    h.t.update_user("regional", email="REGIONAL@hospital.example")
    assert {u: listed(h.tn, u) for u in users} == before
