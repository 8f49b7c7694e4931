"""Suspension is lossless (DOMAIN.md section 6): from any state, suspending an active tenant
and activating it again brings back every answer exactly; in between, no user of the
tenant or of any tenant below it reaches anything, and every write there is refused with
TenantSuspended.

A world is drawn at random: a tree of tenants (some already suspended), each with a group
forest, tag rules, devices with gateways, users (some disabled), memberships and
subscriptions. "Every answer" is every query of the handle over every id of the world.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import tenancy
from tenancy import Tenancy, TenantSuspended

TAGS = [("site", "a"), ("site", "b"), ("kind", "gen")]
RULES: list[Any] = [("site", "a"), ("site", None), (None, "gen"), tenancy.all_of(*TAGS[1:])]
APPS = ["cockpit", "fleet", "maps"]


@dataclass
class TenantSpec:
    parent: int | None  # index of an earlier tenant; None: below the management tenant
    groups: list[tuple[int | None, list[int]]]  # (parent group, rule indexes)
    devices: list[tuple[int | None, list[int]]]  # (parent device, tag indexes)
    users: list[bool]  # enabled
    members: list[tuple[int, int]]  # (group, user)
    apps: list[int]
    suspended: bool


@dataclass
class World:
    tenants: list[TenantSpec]
    target: int
    ids: dict[str, list[str]] = field(default_factory=dict)


@st.composite
def tenant_specs(draw: st.DrawFn, index: int) -> TenantSpec:
    n_groups = draw(st.integers(0, 3))
    groups = [
        (
            draw(st.none() | st.integers(0, i - 1)) if i else None,
            draw(st.lists(st.integers(0, len(RULES) - 1), min_size=1, max_size=2)),
        )
        for i in range(n_groups)
    ]
    n_devices = draw(st.integers(0, 4))
    devices = [
        (
            draw(st.none() | st.integers(0, i - 1)) if i else None,
            draw(st.lists(st.integers(0, len(TAGS) - 1), min_size=1, max_size=2)),
        )
        for i in range(n_devices)
    ]
    users = draw(st.lists(st.booleans(), max_size=3))
    members = (
        draw(
            st.lists(
                st.tuples(st.integers(0, n_groups - 1), st.integers(0, len(users) - 1)),
                min_size=1,
            )
        )
        if n_groups and users
        else []
    )
    return TenantSpec(
        parent=draw(st.none() | st.integers(0, index - 1)) if index else None,
        groups=groups,
        devices=devices,
        users=users,
        members=members,
        apps=draw(st.lists(st.integers(0, len(APPS) - 1), max_size=2)),
        suspended=draw(st.integers(0, 3)) == 0,
    )


@st.composite
def worlds(draw: st.DrawFn) -> World:
    count = draw(st.integers(1, 4))
    tenants = [draw(tenant_specs(i)) for i in range(count)]
    target = draw(st.integers(0, count - 1))
    tenants[target].suspended = False  # the target is active; any tenant around it may not be
    return World(tenants=tenants, target=target)


def build(tn: Tenancy, world: World) -> None:
    """Create the world through the public API, then apply the drawn suspensions."""
    tenant_ids: list[str] = []
    world.ids = {"users": [], "devices": [], "groups": []}
    for i, spec in enumerate(world.tenants):
        parent = None if spec.parent is None else tenant_ids[spec.parent]
        tenant = tn.create_tenant(
            domain=f"tenant-{i}",
            name=f"Tenant {i}",
            admin_email=f"admin@t{i}.example",
            parent=parent,
            allow_subtenants=True,
            subscriptions=[APPS[a] for a in spec.apps],
        )
        tenant_ids.append(tenant.id)
        scope = tn.tenant(tenant.id)
        groups: list[str] = []
        for parent_group, rules in spec.groups:
            groups.append(
                scope.create_group(
                    f"g{len(groups)}",
                    parent=None if parent_group is None else groups[parent_group],
                    device_tags=[RULES[r] for r in rules],
                ).id
            )
        devices: list[str] = []
        for parent_device, tags in spec.devices:
            devices.append(
                scope.create_device(
                    f"d{len(devices)}",
                    tags=[TAGS[t] for t in tags],
                    parent=None if parent_device is None else devices[parent_device],
                ).id
            )
        if groups and devices:
            scope.associate(groups[0], device_ids=devices[-1:])
        users = [
            scope.create_user(f"u{j}@t{i}.example", enabled=enabled).id
            for j, enabled in enumerate(spec.users)
        ]
        for g, u in spec.members:
            scope.add_member(groups[g], users[u])
        tn.record_request(tenant.id, "api", i + 1)
        world.ids["groups"] += groups
        world.ids["devices"] += devices
        world.ids["users"] += [*users, tenant.admin_user_id or ""]
    world.ids["tenants"] = tenant_ids
    # Children first: below a suspended tenant, suspending is refused (only activation is
    # accepted there).
    for tenant_id, spec in reversed(list(zip(tenant_ids, world.tenants, strict=True))):
        if spec.suspended:
            tn.suspend_tenant(tenant_id)


def answers(tn: Tenancy, world: World) -> dict[str, Any]:
    """Every answer the handle gives about every id of the world."""
    users, devices = world.ids["users"], world.ids["devices"]
    mgmt = tn.management_tenant.id
    return {
        "verify": {(u, d): tn.verify(u, d) for u in users for d in devices},
        "explain": {(u, d): tn.explain(u, d) for u in users for d in devices},
        "devices_for": {u: list(tn.devices_for(u)) for u in users},
        "users_for": {d: tn.users_for(d) for d in devices},
        "groups_for": {u: tn.groups_for(u) for u in users},
        "in_group": {(u, g): tn.in_group(u, g) for u in users for g in world.ids["groups"]},
        "devices_in": {g: list(tn.devices_in(g)) for g in world.ids["groups"]},
        "tenants": tn.subtenants(mgmt, recursive=True),
        "subscribed": {(t, a): tn.is_subscribed(t, a) for t in world.ids["tenants"] for a in APPS},
        "usage": tn.usage(mgmt, subtenants=True),
        "scopes": {
            t: (tn.tenant(t).groups(), tn.tenant(t).users(), list(tn.tenant(t).devices()))
            for t in world.ids["tenants"]
        },
    }


@contextmanager
def handle(kind: str) -> Iterator[Tenancy]:
    if kind == "memory":
        with tenancy.open(usage_flush_interval=None) as tn:
            yield tn
        return
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "t.db")
        with tenancy.open(path, staleness=None, usage_flush_interval=None) as tn:
            yield tn


def check_round_trip(kind: str, world: World) -> None:
    with handle(kind) as tn:
        build(tn, world)
        target = world.ids["tenants"][world.target]
        assert tn.get_tenant(target).status == "active"
        blocked = tn.index.blocker_of(target) is not None
        event(f"target blocked by an ancestor: {blocked}")
        before = answers(tn, world)
        event(f"some user reaches some device: {any(before['verify'].values())}")
        revision = tn.revision
        if blocked:
            # Below a suspended tenant nothing but activation is accepted.
            with pytest.raises(TenantSuspended):
                tn.suspend_tenant(target)
            assert tn.revision == revision
            assert answers(tn, world) == before
            return

        tn.suspend_tenant(target)
        subtree = set(tn.index.tenant_subtree(target))
        for user_id in world.ids["users"]:
            user = tn.index.users[user_id]
            if user.tenant_id in subtree:
                assert list(tn.devices_for(user_id)) == []
                assert not any(tn.verify(user_id, d) for d in world.ids["devices"])
        for tenant_id in subtree:
            assert not tn.record_request(tenant_id)
            assert not any(tn.is_subscribed(tenant_id, a) for a in APPS)
            with pytest.raises(TenantSuspended):
                tn.tenant(tenant_id).create_group("refused")
            with pytest.raises(TenantSuspended):
                tn.tenant(tenant_id).create_user("refused@x.example")
            with pytest.raises(TenantSuspended):
                tn.update_tenant(tenant_id, name="refused")
        assert tn.revision == revision + 1  # only the suspension was written

        tn.activate_tenant(target)
        assert answers(tn, world) == before
        tn.index.check_invariants()


@given(worlds())
def test_suspend_then_activate_gives_back_every_answer(world: World) -> None:
    check_round_trip("memory", world)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_suspend_then_activate_gives_back_every_answer_on_sqlite(world: World) -> None:
    check_round_trip("sqlite", world)
