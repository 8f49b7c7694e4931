"""A tenant scope's members(group) and child_devices(device): direct ones, sorted by id,
NotFound (naming the argument) for an id that is not of the tenant."""

from __future__ import annotations

import pytest

import tenancy


def _world() -> tuple[tenancy.Tenancy, tenancy.TenantScope, tenancy.TenantScope]:
    tn = tenancy.open()
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
    other = tn.create_tenant(domain="other", name="Other", admin_email="it@other.example")
    t = tn.tenant(acme.id)
    t.create_group("Region", id="region")
    t.create_group("Site", id="site", parent="region")
    for uid in ("cy", "ana", "bob"):
        t.create_user(f"{uid}@acme.example", id=uid)
    t.add_member("region", "cy")
    t.add_member("region", "ana")
    t.add_member("site", "bob")
    t.create_device("Gateway", id="gw")
    t.create_device("B", id="b", parent="gw")
    t.create_device("A", id="a", parent="gw")
    t.create_device("Grandchild", id="a1", parent="a")
    o = tn.tenant(other.id)
    o.create_group("Theirs", id="theirs")
    o.create_device("Theirs", id="their-device")
    return tn, t, o


def test_members_are_the_direct_ones_sorted_by_id() -> None:
    _, t, _ = _world()
    assert [u.id for u in t.members("region")] == ["ana", "cy"]
    assert [u.id for u in t.members("site")] == ["bob"]
    t.remove_member("region", "ana")
    assert [u.id for u in t.members("region")] == ["cy"]


def test_child_devices_are_the_direct_ones_sorted_by_id() -> None:
    _, t, _ = _world()
    assert [d.id for d in t.child_devices("gw")] == ["a", "b"]
    assert [d.id for d in t.child_devices("a")] == ["a1"]
    assert t.child_devices("b") == []


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda t: t.members("nope"), "group_id"),
        (lambda t: t.members("theirs"), "group_id"),
        (lambda t: t.child_devices("nope"), "device_id"),
        (lambda t: t.child_devices("their-device"), "device_id"),
    ],
)
def test_an_id_of_no_group_or_device_of_the_tenant_is_refused(call: object, field: str) -> None:
    _, t, _ = _world()
    with pytest.raises(tenancy.TenancyError) as refused:
        call(t)  # type: ignore[operator]
    assert refused.value.field == field
