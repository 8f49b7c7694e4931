"""DOMAIN.md section 4: each invariant, named, checked against the naive oracle.

Invariant 2 (agreement after ANY sequence of operations) is also what the stateful machine
in test_reach_stateful.py checks after every step; here it is checked on random worlds and
after a reopen. Durability runs over every entry of STORE_FACTORIES.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import tenancy
from tenancy import (
    AlreadyExists,
    CrossTenantReference,
    CycleError,
    InUse,
    InvalidValue,
    LimitExceeded,
    MemoryStore,
    NotFound,
    PermissionDenied,
    SafetyLimits,
    Store,
    Tenancy,
    TenancyError,
    TenantSuspended,
)
from tenancy.testing import strategies as ts
from tenancy.testing.oracle import Oracle

from ._support import UNKNOWN_DEVICE, UNKNOWN_USER, observe, reach_pairs, walk_devices_for

worlds = ts.world_plans()
populated = ts.world_plans(min_devices=1, min_groups=1, min_users=1)


def _build(plan: ts.WorldPlan, **options: Any) -> tuple[Tenancy, ts.World]:
    tn = tenancy.open()
    return tn, ts.build_world(tn, plan, **options)


# ---------------------------------------------------------------------- 1. adoption


@given(plan=worlds)
def test_invariant_1_adoption(plan: ts.WorldPlan) -> None:
    """A member of g reaches every device that g or any group below g associates (same
    tenant, active, enabled), however the forest is shaped."""
    tn, _ = _build(plan)
    o = Oracle(tn)
    for group_id, user_id in o.memberships:
        if not o.users[user_id].enabled:
            continue
        for below in o.group_descendants(group_id):
            for device_id in o.devices:
                if o.associates(below, device_id):
                    assert tn.verify(user_id, device_id), (user_id, group_id, below, device_id)


def test_invariant_1_adoption_has_no_depth_cap() -> None:
    """Adoption works through a chain of 1,000 nested groups: no silent depth cap."""
    tn = tenancy.open()
    t = tn.tenant(tn.create_tenant(domain="deep", name="Deep", admin_email="a@deep.example").id)
    parent = None
    chain = []
    for i in range(1000):
        parent = t.create_group(f"level {i}", parent=parent, id=f"level-{i}").id
        chain.append(parent)
    device = t.create_device("Leaf device", id="leaf")
    t.associate(chain[-1], device_ids=[device.id])
    boss = t.create_user("boss@deep.example", id="boss")
    t.add_member(chain[0], boss.id)
    assert tn.verify("boss", "leaf")
    explanation = tn.explain("boss", "leaf")
    assert explanation.path == tuple(chain)


# ---------------------------------------------------------------------- 2. agreement


def _check_agreement(tn: Tenancy) -> None:
    o = Oracle(tn)
    users = [*o.users, UNKNOWN_USER]
    devices = [*o.devices, UNKNOWN_DEVICE]
    listed = {u: walk_devices_for(tn, u, limit=2) for u in users}
    alerted = {d: [u.id for u in tn.users_for(d)] for d in devices}
    for u in users:
        assert listed[u] == o.devices_for(u)
        for d in devices:
            expected = o.reaches(u, d)
            assert tn.verify(u, d) == expected, (u, d)
            assert (d in listed[u]) == expected, (u, d)
            assert (u in alerted[d]) == expected, (u, d)
            assert tn.explain(u, d).allowed == expected, (u, d)


@given(plan=worlds)
def test_invariant_2_agreement(plan: ts.WorldPlan) -> None:
    """verify(u, d) == d in devices_for(u) == u in users_for(d) == the oracle, for every
    pair (unknown ids included), on a fresh world and again after a reopen."""
    tn, _ = _build(plan)
    _check_agreement(tn)
    _check_agreement(Tenancy(tn.store))


# ---------------------------------------------------------------------- 3. monotonicity


def _nth(items: list[Any], i: int) -> Any:
    return sorted(items, key=repr)[i % len(items)]


def _grow(tn: Tenancy, world: ts.World, op: str, data: st.DataObject) -> None:
    t = tn.tenant(world.tenant_id)
    i = data.draw(st.integers(0, 100), label="which")
    g = world.group_ids[i % len(world.group_ids)]
    d = world.device_ids[i % len(world.device_ids)]
    u = world.user_ids[i % len(world.user_ids)]
    if op == "add_member":
        t.add_member(g, u)
    elif op == "associate_id":
        t.associate(g, device_ids=[d])
    elif op == "associate_rule":
        t.associate(g, device_tags=[data.draw(ts.tag_rules(), label="rule")])
    elif op == "tag_device":
        t.tag_device(d, [data.draw(ts.tag_pairs(), label="tag")])
    elif op == "create_group":
        t.create_group(
            "new",
            parent=data.draw(st.sampled_from([None, g]), label="parent"),
            device_ids=[d],
            device_tags=data.draw(st.lists(ts.tag_rules(), max_size=2), label="rules"),
        )
    else:
        raise AssertionError(op)


def _shrink(tn: Tenancy, world: ts.World, op: str, data: st.DataObject) -> None:
    t = tn.tenant(world.tenant_id)
    o = Oracle(tn)
    i = data.draw(st.integers(0, 100), label="which")
    if op == "remove_member":
        assume(o.memberships)
        g, u = _nth(list(o.memberships), i)
        t.remove_member(g, u)
    elif op == "dissociate_id":
        pairs = [(g.id, d) for g in o.groups.values() for d in g.device_ids]
        assume(pairs)
        g, d = _nth(pairs, i)
        t.dissociate(g, device_ids=[d])
    elif op == "dissociate_rule":
        rules = [(g.id, r) for g in o.groups.values() for r in g.device_tags]
        assume(rules)
        g, r = _nth(rules, i)
        t.dissociate(g, device_tags=[tenancy.AllOf(r)])
    elif op == "untag_device":
        tags = [(d.id, tag) for d in o.devices.values() for tag in d.tags]
        assume(tags)
        d, tag = _nth(tags, i)
        t.untag_device(d, [tag])
    elif op == "delete_group":
        t.delete_group(world.group_ids[i % len(world.group_ids)], cascade=True)
    else:
        raise AssertionError(op)


@given(
    plan=populated,
    op=st.sampled_from(
        ["add_member", "associate_id", "associate_rule", "tag_device", "create_group"]
    ),
    data=st.data(),
)
def test_invariant_3_monotonicity_adding_never_removes_reach(
    plan: ts.WorldPlan, op: str, data: st.DataObject
) -> None:
    """Adding a membership, an association (id or rule), a tag or a group keeps every
    (user, device) pair that was reached."""
    tn, world = _build(plan)
    before = reach_pairs(tn)
    _grow(tn, world, op, data)
    assert before <= reach_pairs(tn)


@given(
    plan=populated,
    op=st.sampled_from(
        ["remove_member", "dissociate_id", "dissociate_rule", "untag_device", "delete_group"]
    ),
    data=st.data(),
)
def test_invariant_3_monotonicity_removing_never_adds_reach(
    plan: ts.WorldPlan, op: str, data: st.DataObject
) -> None:
    """Removing a membership, an association (id or rule), a tag or a group reaches no pair
    that was not reached before."""
    tn, world = _build(plan)
    before = reach_pairs(tn)
    _shrink(tn, world, op, data)
    assert reach_pairs(tn) <= before


# ---------------------------------------------------------------------- 4. isolation


@given(plan_a=populated, plan_b=populated, nested=st.booleans(), data=st.data())
def test_invariant_4_isolation(
    plan_a: ts.WorldPlan, plan_b: ts.WorldPlan, nested: bool, data: st.DataObject
) -> None:
    """Two tenants with the same tag alphabet (so each one's rules would match the other's
    devices), side by side or one inside the other: no user reaches, lists or is alerted
    for a device of another tenant, and a write that would connect them is refused."""
    tn = tenancy.open()
    a = ts.build_world(tn, plan_a, domain="alpha", prefix="a-", allow_subtenants=nested)
    b = ts.build_world(
        tn, plan_b, domain="beta", prefix="b-", parent=a.tenant_id if nested else None
    )
    for mine, theirs in ((a, b), (b, a)):
        for u in mine.user_ids:
            assert set(walk_devices_for(tn, u)) <= set(mine.device_ids)
            for d in theirs.device_ids:
                assert not tn.verify(u, d)
                assert tn.explain(u, d).code == "other-tenant"
        for d in mine.device_ids:
            alerted = {u.id for u in tn.users_for(d)}
            assert alerted <= set(mine.user_ids) | {tn.get_tenant(mine.tenant_id).admin_user_id}
    before, revision = observe(tn), tn.revision
    t = tn.tenant(a.tenant_id)
    i = data.draw(st.integers(0, 100))
    g, d, u = a.group_ids[i % len(a.group_ids)], b.device_ids[0], b.user_ids[0]
    attempts: list[Callable[[], object]] = [
        lambda: t.associate(g, device_ids=[d]),
        lambda: t.add_member(g, u),
        lambda: t.move_group(g, b.group_ids[0]),
        lambda: t.create_device("x", parent=d),
        lambda: t.update_device(a.device_ids[0], parent=d),
    ]
    for attempt in attempts:
        with pytest.raises(CrossTenantReference):
            attempt()
    assert tn.revision == revision
    assert observe(tn) == before


# ---------------------------------------------------------------------- 5. renaming


@given(plan=populated, data=st.data())
def test_invariant_5_renaming_changes_nothing(plan: ts.WorldPlan, data: st.DataObject) -> None:
    """New names for the tenant and every group, device and user (and new emails and
    descriptions) change no answer: verify, devices_for, users_for, explain, groups_for."""
    tn, world = _build(plan)
    before = observe(tn)
    t = tn.tenant(world.tenant_id)
    name = ts.names()
    tn.update_tenant(world.tenant_id, name=data.draw(name))
    for g in world.group_ids:
        t.update_group(g, name=data.draw(name), description=data.draw(name))
    for d in world.device_ids:
        t.update_device(d, name=data.draw(name))
    for k, u in enumerate(world.user_ids):
        t.update_user(
            u,
            first_name=data.draw(name),
            last_name=data.draw(name),
            username=data.draw(name),
            email=f"renamed{k}@acme.example",
        )
    assert observe(tn) == before
    assert observe(Tenancy(tn.store)) == before


# ---------------------------------------------------------------------- 6. no cycles


@given(plan=populated)
def test_invariant_6_no_cycles(plan: ts.WorldPlan) -> None:
    """Putting a group under itself or any group below it, or a device under itself or any
    of its child devices, raises CycleError naming it and the rule, and changes nothing."""
    tn, world = _build(plan)
    t = tn.tenant(world.tenant_id)
    before, revision = observe(tn), tn.revision
    o = Oracle(tn)
    attempts = 0
    for g in world.group_ids:
        for below in sorted(o.group_descendants(g)):
            with pytest.raises(CycleError) as caught:
                t.move_group(g, below)
            assert repr(g) in str(caught.value)
            assert caught.value.rule in str(caught.value)
            attempts += 1
    for d in world.device_ids:
        for below in sorted(x for x in o.devices if d in o.device_gateways(x)):
            with pytest.raises(CycleError) as caught:
                t.update_device(d, parent=below)
            assert repr(d) in str(caught.value)
            assert caught.value.rule in str(caught.value)
            attempts += 1
    assert attempts >= len(world.group_ids) + len(world.device_ids)
    assert tn.revision == revision
    assert observe(tn) == before
    tn.index.check_invariants()


# ---------------------------------------------------------------------- 7. durability


@attrs.frozen
class StoreFactory:
    """How to get a store in a fresh directory, and how to close and reopen it."""

    name: str
    open: Callable[[Path], Store]
    reopen: Callable[[Store, Path], Store]


def _reopen_memory(store: Store, directory: Path) -> Store:
    return store  # a memory store lives as long as the object: reopening is a new handle


def _open_sqlite(directory: Path) -> Store:
    from tenancy.store.sqlite import SQLiteStore  # only this factory needs it

    return SQLiteStore(directory / "durable.db")


def _reopen_sqlite(store: Store, directory: Path) -> Store:
    store.close()
    return _open_sqlite(directory)


STORE_FACTORIES: list[StoreFactory] = [
    StoreFactory("memory", lambda directory: MemoryStore(), _reopen_memory),
    StoreFactory("sqlite", _open_sqlite, _reopen_sqlite),
]


@pytest.mark.parametrize("factory", STORE_FACTORIES, ids=lambda f: f.name)
@given(plan=worlds, suspend=st.booleans())
def test_invariant_7_durability(factory: StoreFactory, plan: ts.WorldPlan, suspend: bool) -> None:
    """Close and reopen the store: a new handle, whose index is rebuilt from the store,
    gives every answer the old one gave (a suspended tenant stays suspended)."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        store = factory.open(directory)
        tn = Tenancy(store)
        world = ts.build_world(tn, plan)
        if suspend:
            tn.suspend_tenant(world.tenant_id)
        before, revision = observe(tn), tn.revision
        tn.close()
        again = Tenancy(factory.reopen(store, directory))
        try:
            assert again.revision == revision
            assert observe(again) == before
            again.index.check_invariants()
        finally:
            again.close()


# ---------------------------------------------------------------------- 8. atomicity


@attrs.frozen
class Fixture:
    """A fixed world for the rejected writes: acme (two nested groups, a gateway and its
    child, two users), beta (one of each), and gamma, suspended, with a subtenant."""

    tn: Tenancy
    acme: str
    beta: str
    gamma: str
    gamma_sub: str


def _fixture() -> Fixture:
    tn = tenancy.open(limits=SafetyLimits(max_devices_per_tenant=3))
    acme = tn.create_tenant(
        domain="acme", name="Acme", admin_email="admin@acme.example", allow_subtenants=True
    ).id
    beta = tn.create_tenant(domain="beta", name="Beta", admin_email="admin@beta.example").id
    gamma = tn.create_tenant(
        domain="gamma", name="Gamma", admin_email="admin@gamma.example", allow_subtenants=True
    ).id
    gamma_sub = tn.create_tenant(
        domain="gamma-sub", name="Gamma Sub", admin_email="a@sub.example", parent=gamma
    ).id
    t = tn.tenant(acme)
    t.create_group("Region", id="g0", device_tags=[("site", None)])
    t.create_group("Site", id="g1", parent="g0", device_ids=())
    t.create_device("Gateway", id="d0", tags=[("site", "a")])
    t.create_device("Sensor", id="d1", parent="d0")
    t.create_user("ana@acme.example", id="u0")
    t.create_user("bo@acme.example", id="u1")
    t.add_member("g0", "u0")
    b = tn.tenant(beta)
    b.create_group("Beta group", id="bg")
    b.create_device("Beta device", id="bd")
    b.create_user("cy@beta.example", id="bu")
    tn.tenant(gamma).create_group("Gamma group", id="gg")
    tn.suspend_tenant(gamma)
    return Fixture(tn=tn, acme=acme, beta=beta, gamma=gamma, gamma_sub=gamma_sub)


Write = Callable[[Fixture], object]


def _case(name: str, write: Write, error: type[TenancyError], value: object) -> Any:
    return pytest.param(write, error, value, id=name)


REJECTED: list[Any] = [
    # unknown ids
    _case("unknown-group", lambda f: f.tn.tenant(f.acme).associate("nope"), NotFound, "nope"),
    _case(
        "unknown-device",
        lambda f: f.tn.tenant(f.acme).associate("g0", device_ids=["nope"]),
        NotFound,
        "nope",
    ),
    _case("unknown-user", lambda f: f.tn.tenant(f.acme).add_member("g0", "nope"), NotFound, "nope"),
    _case("unknown-tenant", lambda f: f.tn.suspend_tenant("t99999999"), NotFound, "t99999999"),
    _case(
        "unknown-parent-tenant",
        lambda f: f.tn.create_tenant(
            domain="new", name="New", admin_email="a@new.example", parent="t99999999"
        ),
        NotFound,
        "t99999999",
    ),
    # cycles
    _case("group-cycle", lambda f: f.tn.tenant(f.acme).move_group("g0", "g1"), CycleError, "g0"),
    _case("group-self", lambda f: f.tn.tenant(f.acme).move_group("g1", "g1"), CycleError, "g1"),
    _case(
        "device-cycle",
        lambda f: f.tn.tenant(f.acme).update_device("d0", parent="d1"),
        CycleError,
        "d0",
    ),
    _case(
        "device-self",
        lambda f: f.tn.tenant(f.acme).update_device("d0", parent="d0"),
        CycleError,
        "d0",
    ),
    # cross-tenant references
    _case(
        "cross-tenant-device",
        lambda f: f.tn.tenant(f.acme).associate("g0", device_ids=["bd"]),
        CrossTenantReference,
        "bd",
    ),
    _case(
        "cross-tenant-member",
        lambda f: f.tn.tenant(f.acme).add_member("g0", "bu"),
        CrossTenantReference,
        "bu",
    ),
    _case(
        "cross-tenant-group-parent",
        lambda f: f.tn.tenant(f.acme).move_group("g1", "bg"),
        CrossTenantReference,
        "bg",
    ),
    _case(
        "cross-tenant-gateway",
        lambda f: f.tn.tenant(f.acme).create_device("x", parent="bd"),
        CrossTenantReference,
        "bd",
    ),
    _case(
        "cross-tenant-write",
        lambda f: f.tn.tenant(f.beta).tag_device("d0", [("k", "v")]),
        CrossTenantReference,
        "d0",
    ),
    # duplicates
    _case(
        "duplicate-group-id",
        lambda f: f.tn.tenant(f.beta).create_group("x", id="g0"),
        AlreadyExists,
        "g0",
    ),
    _case(
        "duplicate-device-id",
        lambda f: f.tn.tenant(f.acme).create_device("x", id="bd"),
        AlreadyExists,
        "bd",
    ),
    _case(
        "duplicate-user-id",
        lambda f: f.tn.tenant(f.acme).create_user("new@acme.example", id="bu"),
        AlreadyExists,
        "bu",
    ),
    _case(
        "duplicate-email-ignoring-case",
        lambda f: f.tn.tenant(f.acme).create_user("ANA@Acme.example"),
        AlreadyExists,
        "ANA@Acme.example",
    ),
    _case(
        "duplicate-email-on-update",
        lambda f: f.tn.tenant(f.acme).update_user("u1", email="Ana@acme.example"),
        AlreadyExists,
        "Ana@acme.example",
    ),
    _case(
        "duplicate-domain",
        lambda f: f.tn.create_tenant(domain="beta", name="B", admin_email="a@b.example"),
        AlreadyExists,
        "beta",
    ),
    _case(
        "duplicate-tenant-id",
        lambda f: f.tn.create_tenant(
            domain="other", name="O", admin_email="a@o.example", id=f.beta
        ),
        AlreadyExists,
        "BETA",
    ),
    # malformed input
    _case(
        "empty-tag-value",
        lambda f: f.tn.tenant(f.acme).tag_device("d0", [("site", "")]),
        InvalidValue,
        ("site", ""),
    ),
    _case(
        "tag-not-a-pair",
        lambda f: f.tn.tenant(f.acme).create_device("x", tags=[("site",)]),  # type: ignore[list-item]
        InvalidValue,
        ("site",),
    ),
    _case(
        "matcher-none-none",
        lambda f: f.tn.tenant(f.acme).associate("g0", device_tags=[(None, None)]),
        InvalidValue,
        (None, None),
    ),
    _case(
        "rules-as-a-string",
        lambda f: f.tn.tenant(f.acme).create_group("x", device_tags="site"),  # type: ignore[arg-type]
        InvalidValue,
        "site",
    ),
    _case(
        "bulk-create-one-bad-spec",
        lambda f: f.tn.tenant(f.acme).create_devices(
            [{"name": "ok", "id": "new-1"}, {"name": "bad", "tags": [("k", "")]}]
        ),
        InvalidValue,
        ("k", ""),
    ),
    _case("blank-group-name", lambda f: f.tn.tenant(f.acme).create_group("  "), InvalidValue, "  "),
    _case(
        "bad-email",
        lambda f: f.tn.tenant(f.acme).create_user("no-at-sign"),
        InvalidValue,
        "no-at-sign",
    ),
    # suspended tenants
    _case(
        "write-in-suspended-tenant",
        lambda f: f.tn.tenant(f.gamma).create_group("x"),
        TenantSuspended,
        "GAMMA",
    ),
    _case(
        "write-below-suspended-tenant",
        lambda f: f.tn.tenant(f.gamma_sub).create_device("x"),
        TenantSuspended,
        "GAMMA_SUB",
    ),
    _case(
        "subtenant-of-suspended-tenant",
        lambda f: f.tn.create_tenant(
            domain="new", name="New", admin_email="a@new.example", parent=f.gamma
        ),
        TenantSuspended,
        "GAMMA",
    ),
    # bad domains
    _case(
        "domain-uppercase",
        lambda f: f.tn.create_tenant(domain="Acme2", name="A", admin_email="a@a.example"),
        InvalidValue,
        "Acme2",
    ),
    _case(
        "domain-leading-digit",
        lambda f: f.tn.create_tenant(domain="2acme", name="A", admin_email="a@a.example"),
        InvalidValue,
        "2acme",
    ),
    _case(
        "domain-trailing-hyphen",
        lambda f: f.tn.create_tenant(domain="acme-", name="A", admin_email="a@a.example"),
        InvalidValue,
        "acme-",
    ),
    # deletes that would orphan or lock out, and the management tenant
    _case(
        "delete-group-with-subgroups",
        lambda f: f.tn.tenant(f.acme).delete_group("g0"),
        InUse,
        "g0",
    ),
    _case(
        "delete-gateway-with-children",
        lambda f: f.tn.tenant(f.acme).delete_device("d0"),
        InUse,
        "d0",
    ),
    _case(
        "delete-tenant-with-subtenants",
        lambda f: f.tn.delete_tenant(f.gamma),
        InUse,
        "GAMMA",
    ),
    _case(
        "suspend-management",
        lambda f: f.tn.suspend_tenant(f.tn.management_tenant.id),
        InvalidValue,
        "MGMT",
    ),
    _case(
        "delete-management",
        lambda f: f.tn.delete_tenant(f.tn.management_tenant.id),
        InvalidValue,
        "MGMT",
    ),
    # limits and permissions
    _case(
        "device-limit",
        lambda f: f.tn.tenant(f.acme).create_devices([{"name": "a"}, {"name": "b"}]),
        LimitExceeded,
        4,
    ),
    _case(
        "permission-delete-by-customer",
        lambda f: f.tn.delete_tenant(f.beta, by=f.acme),
        PermissionDenied,
        "ACME",
    ),
]


def _resolve(value: object, f: Fixture) -> object:
    """Placeholders for ids only known once the fixture exists."""
    names = {
        "ACME": f.acme,
        "BETA": f.beta,
        "GAMMA": f.gamma,
        "GAMMA_SUB": f.gamma_sub,
        "MGMT": f.tn.management_tenant.id,
    }
    return names.get(value, value) if isinstance(value, str) else value


@pytest.mark.parametrize(("write", "error", "value"), REJECTED)
def test_invariant_8_atomicity(write: Write, error: type[TenancyError], value: object) -> None:
    """A rejected write raises the fitting TenancyError, whose message names the offending
    value and the rule, and changes nothing: same revision, same store records, same
    answers from this handle and from a new one built from the store."""
    f = _fixture()
    tn = f.tn
    value = _resolve(value, f)
    before, records, revision = observe(tn), tn.store.snapshot(), tn.revision
    with pytest.raises(error) as caught:
        write(f)
    exc = caught.value
    assert type(exc) is error or error is InvalidValue, f"{type(exc).__name__}: {exc}"
    assert exc.value == value, (exc.value, value)
    assert repr(value) in str(exc), f"the message does not name {value!r}: {exc}"
    assert exc.rule, exc
    assert exc.rule in str(exc), f"the message does not state the rule: {exc}"
    assert tn.revision == revision
    assert tn.store.snapshot() == records
    assert tn.index.snapshot() == records
    tn.index.check_invariants()
    assert observe(tn) == before
    assert observe(Tenancy(tn.store)) == before
