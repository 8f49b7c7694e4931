"""Role administration of a TenantScope (tenancy.roles): custom roles, global and inventory
grants, the default member role, owners and sub-users with their ceiling, delegation, and
support requests. Every write here is made by the trusted application (the bare handle);
tests/unit/test_acting.py makes them as users."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import tenancy
from tenancy import (
    AlreadyExists,
    CrossTenantReference,
    CycleError,
    InUse,
    InvalidValue,
    NotFound,
    TenancyError,
)
from tenancy.records.grants import Delegation, InventoryGrant, RoleGrant

from ._world import Hospital, hospital, new_tenant

START = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    """An injectable clock: tests move time forward, never sleep."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def h() -> Hospital:
    return hospital()


def unchanged(tn: tenancy.Tenancy, write: Callable[[], object], error: type[TenancyError]) -> None:
    """The write raises ``error``, naming its rule, and changes nothing."""
    revision = tn.revision
    snapshot = tn.store.snapshot()
    with pytest.raises(error) as raised:
        write()
    assert raised.value.rule
    assert tn.revision == revision
    assert tn.store.snapshot() == snapshot


# ------------------------------------------------------------------ custom roles


def test_define_a_custom_role_of_each_kind(h: Hospital) -> None:
    record = h.t.define_role("auditor", ["audit:READ", ("device", "READ")])  # type: ignore[list-item]
    assert record.kind == "global"
    assert record.permissions == {"audit:READ", "device:READ"}
    record = h.t.define_role("tech", "device:UPDATE", kind="inventory")
    assert record.permissions == {"device:UPDATE"}
    assert record.key == f"{h.t.tenant_id}/inventory/tech"


@pytest.mark.parametrize(
    ("name", "permissions", "kind", "error"),
    [
        ("admin", ["device:READ"], "global", AlreadyExists),
        ("viewer", ["device:READ"], "inventory", AlreadyExists),
        ("x", [], "global", InvalidValue),
        ("x", ["group:READ"], "inventory", InvalidValue),
        ("x", ["device:WRITE"], "global", InvalidValue),
        ("", ["device:READ"], "global", InvalidValue),
        (" x", ["device:READ"], "global", InvalidValue),
        ("x", ["device:READ"], "tenant", InvalidValue),
    ],
)
def test_a_bad_role_definition_is_refused_and_changes_nothing(
    h: Hospital, name: str, permissions: list[str], kind: str, error: type[TenancyError]
) -> None:
    unchanged(h.tn, lambda: h.t.define_role(name, permissions, kind=kind), error)  # type: ignore[arg-type]


def test_a_custom_role_name_may_be_used_once_per_kind(h: Hospital) -> None:
    h.t.define_role("tech", ["device:UPDATE"], kind="inventory")
    h.t.define_role("tech", ["group:READ"])
    h.t.grant_role("nobody", "tech")
    h.t.delete_role("tech", kind="inventory")  # the global one is held, not this one
    assert h.t.roles_of("nobody") == ["tech"]


def test_a_held_role_cannot_be_deleted_until_revoked(h: Hospital) -> None:
    h.t.define_role("tech", ["device:UPDATE"], kind="inventory")
    h.t.grant_inventory_role("north", "tech", group="north", to="group")
    unchanged(h.tn, lambda: h.t.delete_role("tech", kind="inventory"), InUse)
    h.t.revoke_inventory_role("north", "tech", group="north", to="group")
    h.t.delete_role("tech", kind="inventory")
    unchanged(h.tn, lambda: h.t.delete_role("tech", kind="inventory"), NotFound)
    unchanged(h.tn, lambda: h.t.grant_inventory_role("ceo", "tech", group="chain"), NotFound)


def test_custom_roles_belong_to_their_tenant(h: Hospital) -> None:
    h.t.define_role("tech", ["device:UPDATE"], kind="inventory")
    other = new_tenant(h.tn, "clinic")
    other.create_group("Ward", id="ward")
    other.create_user("x@clinic.example", id="x")
    unchanged(h.tn, lambda: other.grant_inventory_role("x", "tech", group="ward"), NotFound)


# ------------------------------------------------------------------ global grants


def test_the_first_admin_of_every_tenant_holds_the_admin_role(h: Hospital) -> None:
    assert h.t.roles_of(h.t.record.admin_user_id or "") == ["admin"]
    management = h.tn.management_tenant
    assert h.tn.tenant(management.id).roles_of(management.admin_user_id or "") == ["admin"]


def test_grant_and_revoke_a_global_role(h: Hospital) -> None:
    assert h.t.roles_of("nobody") == []
    record = h.t.grant_role("nobody", "readonly")
    assert record == RoleGrant(tenant_id=h.t.tenant_id, user_id="nobody", role="readonly")
    h.t.grant_role("nobody", "business")
    assert h.t.roles_of("nobody") == ["business", "readonly"]
    h.t.revoke_role("nobody", "readonly")
    assert h.t.roles_of("nobody") == ["business"]


def test_granting_a_held_role_or_revoking_a_missing_one_writes_nothing(h: Hospital) -> None:
    h.t.grant_role("nobody", "readonly")
    revision = h.tn.revision
    h.t.grant_role("nobody", "readonly")
    h.t.revoke_role("nobody", "business")
    h.t.revoke_inventory_role("nobody", "viewer", group="chain")
    assert h.tn.revision == revision


@pytest.mark.parametrize(
    ("user", "role", "error"),
    [("nobody", "owner", NotFound), ("no-such-user", "readonly", NotFound)],
)
def test_a_grant_names_an_existing_role_and_user(
    h: Hospital, user: str, role: str, error: type[TenancyError]
) -> None:
    unchanged(h.tn, lambda: h.t.grant_role(user, role), error)


def test_a_grant_names_a_user_of_this_tenant(h: Hospital) -> None:
    other = new_tenant(h.tn, "clinic")
    unchanged(h.tn, lambda: other.grant_role("nobody", "readonly"), CrossTenantReference)


def test_the_first_admin_keeps_the_admin_role(h: Hospital) -> None:
    admin = h.t.record.admin_user_id or ""
    unchanged(h.tn, lambda: h.t.revoke_role(admin, "admin"), InvalidValue)
    h.t.grant_role("nobody", "admin")
    h.t.revoke_role("nobody", "admin")  # any other admin can lose it


# ------------------------------------------------------------------ inventory grants


def test_grant_and_list_inventory_roles_of_a_user_and_of_a_group(h: Hospital) -> None:
    record = h.t.grant_inventory_role("regional", "operator", group="mp")
    assert record == InventoryGrant(
        tenant_id=h.t.tenant_id,
        principal_kind="user",
        principal_id="regional",
        role="operator",
        group_id="mp",
    )
    h.t.grant_inventory_role("regional", "manager", group="sb")
    h.t.grant_inventory_role("north", "viewer", group="south", to="group")
    assert [(g.role, g.group_id) for g in h.t.inventory_grants_of("regional")] == [
        ("manager", "sb"),
        ("operator", "mp"),
    ]
    assert [(g.role, g.group_id) for g in h.t.inventory_grants_of("north", to="group")] == [
        ("viewer", "south")
    ]
    assert h.t.inventory_grants_of("ceo") == []


@pytest.mark.parametrize(
    ("principal", "role", "group", "to", "error"),
    [
        ("regional", "operator", "no-such-group", "user", NotFound),
        ("no-such-user", "operator", "mp", "user", NotFound),
        ("no-such-group", "operator", "mp", "group", NotFound),
        ("regional", "admin", "mp", "user", NotFound),  # a global role, not an inventory one
        ("regional", "operator", "mp", "team", InvalidValue),
    ],
)
def test_a_bad_inventory_grant_is_refused_and_changes_nothing(
    h: Hospital, principal: str, role: str, group: str, to: str, error: type[TenancyError]
) -> None:
    unchanged(
        h.tn,
        lambda: h.t.grant_inventory_role(principal, role, group=group, to=to),  # type: ignore[arg-type]
        error,
    )


def test_deleting_a_group_takes_the_grants_on_it_and_through_it(h: Hospital) -> None:
    h.t.grant_inventory_role("regional", "operator", group="mp")
    h.t.grant_inventory_role("mp", "viewer", group="south", to="group")
    h.t.delete_group("mp")
    assert h.t.inventory_grants_of("regional") == []
    assert h.t.inventory_grants_of("mp", to="group") == []
    assert not h.tn.index.access.record("InventoryGrant", "group/mp/viewer/south")
    h.tn.index.check_invariants()


# ------------------------------------------------------------------ default member role


def test_the_default_member_role_is_viewer_and_can_be_changed_or_cleared(h: Hospital) -> None:
    assert h.t.default_member_role() == "viewer"
    h.t.define_role("looker", ["device:READ"], kind="inventory")
    h.t.set_default_member_role("looker")
    assert h.t.default_member_role() == "looker"
    h.t.set_default_member_role(None)
    assert h.t.default_member_role() is None
    unchanged(h.tn, lambda: h.t.set_default_member_role("no-such-role"), NotFound)
    unchanged(h.tn, lambda: h.t.set_default_member_role("admin"), NotFound)  # global


def test_the_default_member_role_is_per_tenant(h: Hospital) -> None:
    other = new_tenant(h.tn, "clinic")
    h.t.set_default_member_role("operator")
    assert other.default_member_role() == "viewer"


# ------------------------------------------------------------------ owners and sub-users


def test_set_owner_and_list_sub_users(h: Hospital) -> None:
    user = h.t.set_owner("regional", "ceo")
    assert user.owner_id == "ceo"
    h.t.set_owner("site_manager", "regional")
    h.t.set_owner("nobody", "ceo")
    assert [u.id for u in h.t.sub_users("ceo")] == ["nobody", "regional"]
    assert [u.id for u in h.t.sub_users("ceo", recursive=True)] == [
        "nobody",
        "regional",
        "site_manager",
    ]
    assert h.t.sub_users("site_manager") == []
    h.t.set_owner("nobody", None)
    assert [u.id for u in h.t.sub_users("ceo")] == ["regional"]


def test_create_a_user_as_a_sub_user(h: Hospital) -> None:
    user = h.t.create_user("new@hospital.example", owner="regional")
    assert user.owner_id == "regional"
    assert [u.id for u in h.t.sub_users("regional")] == [user.id]
    unchanged(h.tn, lambda: h.t.create_user("x@hospital.example", owner="no-such"), NotFound)


@pytest.mark.parametrize(("user", "owner"), [("ceo", "ceo"), ("ceo", "site_manager")])
def test_an_owner_cycle_is_refused(h: Hospital, user: str, owner: str) -> None:
    h.t.set_owner("regional", "ceo")
    h.t.set_owner("site_manager", "regional")
    unchanged(h.tn, lambda: h.t.set_owner(user, owner), CycleError)


def test_the_first_admin_never_gets_an_owner(h: Hospital) -> None:
    """An owner would cap the admin's permissions: no tenant can lock itself out."""
    admin = h.t.record.admin_user_id or ""
    unchanged(h.tn, lambda: h.t.set_owner(admin, "ceo"), InvalidValue)


def test_an_owner_cannot_be_deleted_while_it_has_sub_users(h: Hospital) -> None:
    h.t.set_owner("site_manager", "regional")
    unchanged(h.tn, lambda: h.t.delete_user("regional"), InUse)
    h.t.set_owner("site_manager", None)
    h.t.delete_user("regional")


def test_deleting_a_user_takes_its_grants_and_delegations(h: Hospital) -> None:
    h.t.grant_role("regional", "business")
    h.t.grant_inventory_role("regional", "operator", group="mp")
    h.t.delegate("ceo", "regional")
    h.t.grant_role("site_manager", "business")
    h.t.delegate("regional", "site_manager")
    h.t.delete_user("regional")
    assert [r for r in h.tn.store.snapshot().access if "regional" in r.key.split("/")] == []
    h.tn.index.check_invariants()


# ------------------------------------------------------------------ the ceiling


def test_a_sub_user_is_never_granted_a_global_permission_its_owner_lacks(h: Hospital) -> None:
    h.t.set_owner("nobody", "regional")
    unchanged(h.tn, lambda: h.t.grant_role("nobody", "readonly"), InvalidValue)
    h.t.grant_role("regional", "business")
    unchanged(h.tn, lambda: h.t.grant_role("nobody", "readonly"), InvalidValue)  # no audit
    h.t.grant_role("regional", "readonly")
    h.t.grant_role("nobody", "readonly")
    assert h.t.roles_of("nobody") == ["readonly"]


def test_the_ceiling_runs_up_the_chain_of_owners(h: Hospital) -> None:
    h.t.grant_role("regional", "readonly")
    h.t.set_owner("regional", "ceo")  # the ceo holds no global role
    h.t.set_owner("nobody", "regional")
    unchanged(h.tn, lambda: h.t.grant_role("nobody", "readonly"), InvalidValue)


def test_a_sub_user_gets_an_inventory_role_only_where_its_owner_holds_it(h: Hospital) -> None:
    h.t.set_owner("nobody", "site_manager")
    with pytest.raises(InvalidValue) as raised:
        h.t.grant_inventory_role("nobody", "viewer", group="mp")  # the owner is in sb only
    assert "site_manager" in str(raised.value)
    h.t.grant_inventory_role("nobody", "viewer", group="sb")  # membership gives viewer
    unchanged(
        h.tn, lambda: h.t.grant_inventory_role("nobody", "operator", group="sb"), InvalidValue
    )
    h.t.grant_inventory_role("site_manager", "operator", group="sb")
    h.t.grant_inventory_role("nobody", "operator", group="sb")


def test_an_owners_role_on_a_group_above_covers_a_grant_below(h: Hospital) -> None:
    h.t.set_owner("nobody", "regional")
    h.t.grant_inventory_role("regional", "manager", group="north")
    h.t.grant_inventory_role("nobody", "manager", group="mp")


def test_a_grant_to_a_group_respects_the_ceiling_of_each_member(h: Hospital) -> None:
    h.t.set_owner("nobody", "site_manager")
    h.t.add_member("mp", "nobody")
    unchanged(
        h.tn,
        lambda: h.t.grant_inventory_role("mp", "operator", group="mp", to="group"),
        InvalidValue,
    )
    h.t.set_owner("nobody", None)
    h.t.grant_inventory_role("mp", "operator", group="mp", to="group")


def test_taking_a_permission_from_an_owner_takes_it_from_its_subtree(h: Hospital) -> None:
    h.t.grant_role("ceo", "readonly")
    h.t.set_owner("regional", "ceo")
    h.t.set_owner("nobody", "regional")
    h.t.grant_role("regional", "readonly")
    h.t.grant_role("nobody", "readonly")
    assert h.tn.check("nobody", "audit:READ", "lone")
    h.t.revoke_role("ceo", "readonly")
    assert not h.tn.check("regional", "audit:READ", "lone")
    assert not h.tn.check("nobody", "audit:READ", "lone")
    assert h.t.roles_of("nobody") == ["readonly"]  # still granted, capped at check time
    h.t.grant_role("ceo", "readonly")
    assert h.tn.check("nobody", "audit:READ", "lone")


# ------------------------------------------------------------------ delegation


def test_delegate_to_a_user_holding_user_management_create(h: Hospital) -> None:
    unchanged(h.tn, lambda: h.t.delegate("ceo", "regional"), InvalidValue)
    h.t.grant_role("regional", "business")
    record = h.t.delegate("ceo", "regional")
    assert record == Delegation(tenant_id=h.t.tenant_id, owner_id="ceo", delegate_id="regional")
    h.t.revoke_delegation("ceo", "regional")
    assert not h.tn.index.access.delegations_by("ceo")
    revision = h.tn.revision
    h.t.revoke_delegation("ceo", "regional")  # none: nothing to do
    assert h.tn.revision == revision


@pytest.mark.parametrize(
    ("owner", "delegate", "until", "error"),
    [
        ("ceo", "ceo", None, InvalidValue),
        ("ceo", "no-such-user", None, NotFound),
        ("no-such-user", "regional", None, NotFound),
        ("ceo", "regional", datetime(2026, 1, 2), InvalidValue),  # naive: no time zone
    ],
)
def test_a_bad_delegation_is_refused(
    h: Hospital, owner: str, delegate: str, until: datetime | None, error: type[TenancyError]
) -> None:
    h.t.grant_role("ceo", "business")
    h.t.grant_role("regional", "business")
    unchanged(h.tn, lambda: h.t.delegate(owner, delegate, until=until), error)


def test_a_delegation_may_end_at_a_time(h: Hospital) -> None:
    h.t.grant_role("regional", "business")
    until = START + timedelta(days=7)
    assert h.t.delegate("ceo", "regional", until=until).until == until


# ------------------------------------------------------------------ support requests


def support_world(
    duration: timedelta = timedelta(hours=24),
) -> tuple[tenancy.Tenancy, tenancy.TenantScope, Clock]:
    clock = Clock()
    tn = tenancy.open(clock=clock, support_duration=duration)
    t = new_tenant(tn, "acme")
    t.create_user("ana@acme.example", id="ana")
    return tn, t, clock


def test_a_support_request_lasts_24_hours_by_default_and_each_new_one_extends_it() -> None:
    _, t, clock = support_world()
    assert t.support_until() is None
    record = t.request_support("ana")
    assert record.until == START + timedelta(hours=24)
    assert record.requested_by == "ana"
    clock.now += timedelta(hours=20)
    t.request_support("ana")
    assert t.support_until() == START + timedelta(hours=44)


def test_a_support_request_can_be_ended_early() -> None:
    tn, t, _ = support_world()
    t.request_support("ana")
    t.end_support()
    assert t.support_until() is None
    revision = tn.revision
    t.end_support()  # none: nothing to do
    assert tn.revision == revision


def test_the_support_duration_is_configurable() -> None:
    tn, t, _ = support_world(timedelta(hours=2))
    assert t.request_support("ana").until == START + timedelta(hours=2)
    assert t.request_support("ana", duration=timedelta(minutes=30)).until == START + timedelta(
        minutes=30
    )
    unchanged(tn, lambda: t.request_support("ana", duration=timedelta(0)), InvalidValue)
    unchanged(tn, lambda: t.request_support("no-such-user"), NotFound)
    with pytest.raises(InvalidValue):
        tenancy.open(support_duration=timedelta(hours=-1))


# ------------------------------------------------------------------ durability


def test_roles_grants_owners_and_requests_survive_reopening_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "access.db"
    with tenancy.open(path) as tn:
        t = new_tenant(tn, "acme")
        t.create_group("Site", id="site", device_tags=[("site", None)])
        t.create_device("Pump", id="pump", tags=[("site", "sb")])
        for user in ("ana", "raj"):
            t.create_user(f"{user}@acme.example", id=user)
        t.add_member("site", "ana")
        t.add_member("site", "raj")
        t.define_role("tech", ["device:UPDATE"], kind="inventory")
        t.grant_inventory_role("ana", "tech", group="site")
        t.grant_role("ana", "business")
        t.set_owner("raj", "ana")
        t.delegate("ana", t.record.admin_user_id or "")
        t.request_support("ana")
        before = tn.store.snapshot().access
        answers = [tn.check(u, "device:UPDATE", "pump") for u in ("ana", "raj")]
    with tenancy.open(path) as tn:
        assert tn.store.snapshot().access == before
        assert [tn.check(u, "device:UPDATE", "pump") for u in ("ana", "raj")] == answers
        tn.index.check_invariants()
