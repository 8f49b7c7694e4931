"""Limits (DOMAIN.md section 6): each tenant's maximum devices (child devices included) and
maximum root devices, and the store-wide safety limits (tenants, tenant depth, and per
tenant groups, group depth, users, devices, gateway depth).

Crossing one raises LimitExceeded naming the limit and the count, and creates nothing, bulk
writes included: the store, the index and the usage statistics are exactly as before.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tenancy
from tenancy import (
    InvalidValue,
    LimitExceeded,
    PermissionDenied,
    SafetyLimits,
    Tenancy,
    Tenant,
)

Opener = Callable[..., Tenancy]


@pytest.fixture(params=["memory", "sqlite"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    handles: list[Tenancy] = []

    def open_(**options: object) -> Tenancy:
        if request.param == "memory":
            handle = tenancy.open(None, **options)
        else:
            handle = tenancy.open(str(tmp_path / f"t{len(handles)}.db"), staleness=None, **options)
        handles.append(handle)
        return handle

    yield open_
    for handle in handles:
        handle.close()


def make(tn: Tenancy, domain: str, *, parent: str | None = None, **fields: object) -> Tenant:
    return tn.create_tenant(
        domain=domain,
        name=domain.title(),
        admin_email=f"admin@{domain}.example",
        parent=parent,
        **fields,  # type: ignore[arg-type]
    )


def refused(tn: Tenancy, limit: str, count: int, maximum: int, write: Callable[[], object]) -> None:
    """``write`` raises LimitExceeded for ``limit`` at ``count`` and changes nothing."""
    revision, snapshot = tn.revision, tn.store.snapshot()
    with pytest.raises(LimitExceeded) as caught:
        write()
    error = caught.value
    assert (error.limit, error.value, error.maximum) == (limit, count, maximum)
    assert limit in str(error)
    assert str(count) in str(error)
    assert tn.revision == revision
    assert tn.store.snapshot() == snapshot
    assert tn.index.snapshot() == snapshot
    tn.index.check_invariants()


# ---------------------------------------------------------------- a tenant's own limits


def test_max_devices_counts_child_devices(opener: Opener) -> None:
    tn = opener()
    acme = make(tn, "acme", max_devices=3)
    scope = tn.tenant(acme.id)
    gateway = scope.create_device("Gateway")
    scope.create_devices([{"name": "Sensor 1", "parent": gateway.id}, {"name": "Sensor 2"}])
    refused(tn, "max_devices", 4, 3, lambda: scope.create_device("Sensor 3", parent=gateway.id))


def test_a_bulk_create_that_would_cross_the_limit_creates_none(opener: Opener) -> None:
    tn = opener()
    acme = make(tn, "acme", max_devices=10)
    scope = tn.tenant(acme.id)
    scope.create_devices({"name": f"d{i}"} for i in range(8))
    # The count is that of the first device past the limit: the 11th, not the 13th.
    refused(
        tn, "max_devices", 11, 10, lambda: scope.create_devices({"name": f"x{i}"} for i in range(5))
    )
    assert len(scope.devices()) == 8
    assert len(scope.create_devices({"name": f"y{i}"} for i in range(2))) == 2


class Counted:
    """An endless (or long) source of device specs that counts how many were read."""

    def __init__(self, stop: int | None = None) -> None:
        self.read = 0
        self.stop = stop

    def __iter__(self) -> Iterator[dict[str, object]]:
        for i in itertools.count():
            if self.stop is not None and i >= self.stop:
                return
            self.read += 1
            yield {"name": f"Generator {i}", "tags": [("site", "a")]}


@pytest.mark.parametrize(
    ("fields", "limits", "limit", "maximum"),
    [
        ({"max_devices": 1000}, None, "max_devices", 1000),
        ({"max_root_devices": 7}, None, "max_root_devices", 7),
        ({}, {"max_devices_per_tenant": 50}, "max_devices_per_tenant", 50),
        ({"max_devices": 60}, {"max_devices_per_tenant": 50}, "max_devices_per_tenant", 50),
        ({"max_devices": 40}, {"max_devices_per_tenant": 50}, "max_devices", 40),
    ],
)
def test_an_endless_generator_is_refused_at_the_first_device_past_a_limit(
    opener: Opener,
    fields: dict[str, object],
    limits: dict[str, int] | None,
    limit: str,
    maximum: int,
) -> None:
    """Bulk creation counts as it streams: it reads one spec past the limit, no more, and
    creates nothing."""
    tn = opener(**({} if limits is None else {"limits": SafetyLimits(**limits)}))
    scope = tn.tenant(make(tn, "acme", **fields).id)  # type: ignore[arg-type]
    scope.create_devices(Counted(stop=3))
    source = Counted()
    refused(tn, limit, maximum + 1, maximum, lambda: scope.create_devices(iter(source)))
    assert source.read == maximum + 1 - 3
    assert len(scope.devices()) == 3


def test_a_generator_within_the_limits_is_created_whole_in_one_revision(opener: Opener) -> None:
    tn = opener()
    scope = tn.tenant(make(tn, "acme", max_devices=500).id)
    revision = tn.revision
    made = scope.create_devices(iter(Counted(stop=500)))
    assert len(made) == 500
    assert tn.revision == revision + 1
    assert [d.name for d in made[:2]] == ["Generator 0", "Generator 1"]


def test_a_bulk_creation_that_loses_a_race_validates_the_same_specs_again(
    tmp_path: Path,
) -> None:
    """A generator is read once: when another handle commits first, the write is validated
    again on the new state with the specs already read, and counts them again."""
    path = str(tmp_path / "race.db")
    with tenancy.open(path, staleness=None) as first, tenancy.open(path, staleness=None) as other:
        acme = make(first, "acme", max_devices=4)
        other.catch_up()
        scope, rival = first.tenant(acme.id), other.tenant(acme.id)
        raced = False

        def specs() -> Iterator[dict[str, object]]:
            nonlocal raced
            for i in range(3):
                if i == 1 and not raced:
                    raced = True
                    rival.create_devices([{"name": "rival 1"}, {"name": "rival 2"}])
                yield {"name": f"mine {i}"}

        with pytest.raises(LimitExceeded) as caught:
            scope.create_devices(specs())
        # 3 of mine fitted on the first pass; on the second, after the rival's 2, the third
        # is the fifth device.
        assert (caught.value.limit, caught.value.value) == ("max_devices", 5)
        first.catch_up()
        assert sorted(d.name for d in scope.devices()) == ["rival 1", "rival 2"]


def test_bulk_creation_refuses_a_non_iterable(opener: Opener) -> None:
    tn = opener()
    scope = tn.tenant(make(tn, "acme").id)
    for bad in (None, 5):
        with pytest.raises(InvalidValue) as caught:
            scope.create_devices(bad)  # type: ignore[arg-type]
        assert caught.value.field == "specs"


def test_max_root_devices_counts_only_devices_without_a_gateway(opener: Opener) -> None:
    tn = opener()
    acme = make(tn, "acme", max_root_devices=2)
    scope = tn.tenant(acme.id)
    gateway = scope.create_device("Gateway")
    for i in range(5):
        scope.create_device(f"Child {i}", parent=gateway.id)
    scope.create_device("Second gateway")
    refused(tn, "max_root_devices", 3, 2, lambda: scope.create_device("Third gateway"))
    # A bulk call counts the roots among its new devices, parents created in it included.
    refused(
        tn,
        "max_root_devices",
        3,
        2,
        lambda: scope.create_devices(
            [{"name": "New gateway", "id": "gw-new"}, {"name": "Its child", "parent": "gw-new"}]
        ),
    )


def test_detaching_a_child_device_counts_as_a_new_root(opener: Opener) -> None:
    tn = opener()
    acme = make(tn, "acme", max_root_devices=1)
    scope = tn.tenant(acme.id)
    gateway = scope.create_device("Gateway")
    child = scope.create_device("Child", parent=gateway.id)
    refused(tn, "max_root_devices", 2, 1, lambda: scope.update_device(child.id, parent=None))
    scope.update_device(child.id, name="Renamed child")  # no parent change: no check


def test_deleting_devices_makes_room_again(opener: Opener) -> None:
    tn = opener()
    acme = make(tn, "acme", max_devices=1, max_root_devices=1)
    scope = tn.tenant(acme.id)
    first = scope.create_device("First")
    with pytest.raises(LimitExceeded):
        scope.create_device("Second")
    scope.delete_device(first.id)
    scope.create_device("Second")


def test_a_limit_can_be_lowered_below_the_count_and_lifted(opener: Opener) -> None:
    tn = opener()
    acme = make(tn, "acme")
    scope = tn.tenant(acme.id)
    scope.create_devices({"name": f"d{i}"} for i in range(5))
    tn.update_tenant(acme.id, max_devices=2)
    assert len(scope.devices()) == 5  # nothing is removed
    refused(tn, "max_devices", 6, 2, lambda: scope.create_device("one more"))
    tn.update_tenant(acme.id, max_devices=None)
    scope.create_device("one more")


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True])
def test_bad_tenant_limits_are_refused(opener: Opener, bad: object) -> None:
    tn = opener()
    with pytest.raises(InvalidValue):
        make(tn, "acme", max_devices=bad)
    acme = make(tn, "acme")
    with pytest.raises(InvalidValue):
        tn.update_tenant(acme.id, max_root_devices=bad)  # type: ignore[arg-type]


def test_a_tenant_cannot_raise_its_own_limits(opener: Opener) -> None:
    tn = opener()
    reseller = make(tn, "reseller", allow_subtenants=True)
    customer = make(tn, "customer", parent=reseller.id, max_devices=5)
    with pytest.raises(PermissionDenied):
        tn.update_tenant(customer.id, max_devices=None, by=customer.id)
    assert tn.update_tenant(customer.id, max_devices=50, by=reseller.id).max_devices == 50


# ---------------------------------------------------------------- store-wide safety limits


def test_the_default_safety_limits_are_generous() -> None:
    limits = SafetyLimits()
    assert limits.max_tenants >= 100_000
    assert limits.max_tenant_depth >= 32
    assert limits.max_groups_per_tenant >= 1_000_000
    assert limits.max_group_depth >= 1_000
    assert limits.max_users_per_tenant >= 1_000_000
    assert limits.max_devices_per_tenant >= 10_000_000
    assert limits.max_device_depth >= 100
    assert limits.max_tag_rules_per_group == 1_000  # ten times the source platform's 100
    assert tenancy.open().limits == limits


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_safety_limits_are_positive_ints(bad: object) -> None:
    with pytest.raises(InvalidValue, match="positive int"):
        SafetyLimits(max_group_depth=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        tenancy.open(limits={"max_tenants": 3})


def test_devices_per_tenant(opener: Opener) -> None:
    tn = opener(limits=SafetyLimits(max_devices_per_tenant=4))
    scope = tn.tenant(make(tn, "acme").id)
    scope.create_devices({"name": f"d{i}"} for i in range(3))
    refused(
        tn,
        "max_devices_per_tenant",
        5,
        4,
        lambda: scope.create_devices([{"name": "a"}, {"name": "b"}]),
    )
    other = tn.tenant(make(tn, "other").id)  # per tenant: another has its own room
    other.create_devices({"name": f"d{i}"} for i in range(4))


def test_gateway_depth_on_create_and_on_move(opener: Opener) -> None:
    tn = opener(limits=SafetyLimits(max_device_depth=3))
    scope = tn.tenant(make(tn, "acme").id)
    a = scope.create_device("A")
    b = scope.create_device("B", parent=a.id)
    c = scope.create_device("C", parent=b.id)
    refused(tn, "max_device_depth", 4, 3, lambda: scope.create_device("D", parent=c.id))
    refused(
        tn,
        "max_device_depth",
        4,
        3,
        lambda: scope.create_devices(
            [
                {"name": "X", "id": "x"},
                {"name": "Y", "id": "y", "parent": "x"},
                {"name": "Z", "id": "z", "parent": "y"},
                {"name": "W", "parent": "z"},
            ]
        ),
    )
    other = scope.create_device("Other")
    child = scope.create_device("Other's child", parent=other.id)
    assert child.parent_id == other.id
    # Moving "Other" (and its child) under B would put the child at depth 4.
    refused(tn, "max_device_depth", 4, 3, lambda: scope.update_device(other.id, parent=b.id))
    scope.update_device(other.id, parent=a.id)


def test_groups_per_tenant(opener: Opener) -> None:
    tn = opener(limits=SafetyLimits(max_groups_per_tenant=2))
    scope = tn.tenant(make(tn, "acme").id)
    scope.create_group("one")
    scope.create_group("two")
    refused(tn, "max_groups_per_tenant", 3, 2, lambda: scope.create_group("three"))


def test_group_depth_on_create_and_on_move(opener: Opener) -> None:
    tn = opener(limits=SafetyLimits(max_group_depth=3))
    scope = tn.tenant(make(tn, "acme").id)
    top = scope.create_group("top")
    middle = scope.create_group("middle", parent=top.id)
    bottom = scope.create_group("bottom", parent=middle.id)
    refused(tn, "max_group_depth", 4, 3, lambda: scope.create_group("too deep", parent=bottom.id))
    other = scope.create_group("other")
    scope.create_group("other child", parent=other.id)
    # Moving a subtree of height 2 under "middle" (depth 2) reaches depth 4.
    refused(tn, "max_group_depth", 4, 3, lambda: scope.move_group(other.id, middle.id))
    scope.move_group(other.id, top.id)
    scope.move_group(bottom.id, None)


def test_users_per_tenant_counting_the_admin_user(opener: Opener) -> None:
    tn = opener(limits=SafetyLimits(max_users_per_tenant=2))
    scope = tn.tenant(make(tn, "acme").id)
    scope.create_user("ana@acme.example")
    refused(tn, "max_users_per_tenant", 3, 2, lambda: scope.create_user("bo@acme.example"))


def test_tenants_in_the_store(opener: Opener) -> None:
    tn = opener(limits=SafetyLimits(max_tenants=3))
    make(tn, "one")
    make(tn, "two")
    refused(tn, "max_tenants", 4, 3, lambda: make(tn, "three"))


def test_tenant_depth(opener: Opener) -> None:
    tn = opener(limits=SafetyLimits(max_tenant_depth=2))
    top = make(tn, "top", allow_subtenants=True)
    middle = make(tn, "middle", parent=top.id, allow_subtenants=True)
    refused(tn, "max_tenant_depth", 3, 2, lambda: make(tn, "bottom", parent=middle.id))
    make(tn, "beside", parent=top.id)
