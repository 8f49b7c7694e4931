"""Acting identities (tenancy.access rule 5): ``as_user`` and ``as_support``.

Every kind of write, made through ``tn.as_user(u)``, needs its permission: refused
(PermissionDenied, and nothing changes: revision, store and every answer) for a user who
holds nothing, and for a user who holds every other permission; accepted, and audited as
the user, for a user who holds exactly what it needs. Then the paths that are not
tenant-wide: inventory roles on devices, owners and their sub-users, delegation, a user's
own record, tenants and their parents, and support sessions, with time from an injected
clock (no test sleeps).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs
import pytest

import tenancy
from tenancy import (
    CrossTenantReference,
    InvalidValue,
    NotFound,
    PermissionDenied,
    Tenancy,
    TenancyError,
    TenantScope,
)
from tenancy.records.grants import LEVELS, PERMISSION_TYPES, expand, parse_permission

START = datetime(2026, 1, 1, tzinfo=UTC)
PERMISSIONS = sorted(
    f"{t}:{lv}"
    for t in PERMISSION_TYPES
    for lv in LEVELS
    if lv != "CHANGE" or t == "tenant_management"
)


class Clock:
    """An injectable clock: tests move time forward, never sleep."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@attrs.frozen
class World:
    """Acme (allowed subtenants; its subtenant acme-east), and Other.

    Acme: region > site {site=sb} and other {site=la}; devices gen {site=sb} > sensor, and la
    {site=la}; users boss (the first admin), ana (member of site), raj (member of region,
    holding readonly and operator on site), pat (no group, no role), sub (ana's sub-user),
    dan (holding only user_management:CREATE, the "recruiter" role). Custom roles: "r"
    (global, audit:READ) and "spare" (inventory, unheld).
    """

    tn: Tenancy
    t: TenantScope
    clock: Clock
    boss: str
    east: str
    other: TenantScope


@pytest.fixture
def w() -> World:
    clock = Clock()
    tn = tenancy.open(clock=clock)
    acme = tn.create_tenant(
        domain="acme", name="Acme", admin_email="it@acme.example", allow_subtenants=True
    )
    t = tn.tenant(acme.id)
    east = tn.create_tenant(
        domain="acme-east", name="East", admin_email="e@e.example", parent=acme.id
    )
    other = tn.tenant(tn.create_tenant(domain="other", name="Other", admin_email="o@o.example").id)
    t.create_group("Region", id="region")
    t.create_group("Site", id="site", parent="region", device_tags=[("site", "sb")])
    t.create_group("Other", id="other", device_tags=[("site", "la")])
    t.create_device("Gen", id="gen", tags=[("site", "sb")])
    t.create_device("Sensor", id="sensor", parent="gen")
    t.create_device("LA", id="la", tags=[("site", "la")])
    for user in ("ana", "raj", "pat", "dan"):
        t.create_user(f"{user}@acme.example", id=user)
    t.create_user("sub@acme.example", id="sub", owner="ana")
    t.add_member("site", "ana")
    t.add_member("region", "raj")
    t.grant_role("raj", "readonly")
    t.grant_inventory_role("raj", "operator", group="site")
    t.define_role("r", ["audit:READ"])
    t.define_role("spare", ["device:READ"], kind="inventory")
    t.define_role("recruiter", ["user_management:CREATE"])
    t.grant_role("dan", "recruiter")
    return World(tn=tn, t=t, clock=clock, boss=acme.admin_user_id or "", east=east.id, other=other)


def answers(tn: Tenancy) -> dict[str, object]:
    """Every answer of the handle about its store, as plain data."""
    snap = tn.store.snapshot()
    users = [u.id for u in snap.users]
    devices = [d.id for d in snap.devices]
    return {
        "check": {
            (u, p, d)
            for u in users
            for d in devices
            for p in ("device:READ", "device:UPDATE", "device:ADMIN", "group:UPDATE")
            if tn.check(u, p, d)
        },
        "verify": {(u, d) for u in users for d in devices if tn.verify(u, d)},
        "lists": {u: [d.id for d in tn.devices_for(u, permission="device:UPDATE")] for u in users},
    }


def refused(
    tn: Tenancy,
    write: Callable[[], object],
    error: type[TenancyError] = PermissionDenied,
) -> TenancyError:
    """The write raises ``error``, naming its rule, and changes nothing."""
    revision = tn.revision
    snapshot = tn.store.snapshot()
    before = answers(tn)
    with pytest.raises(error) as raised:
        write()
    assert raised.value.rule
    assert raised.value.rule in str(raised.value)
    assert tn.revision == revision, "a refused write moved the revision"
    assert tn.store.snapshot() == snapshot, "a refused write changed the store"
    assert answers(tn) == before, "a refused write changed an answer"
    return raised.value


def accepted(tn: Tenancy, actor: str, write: Callable[[], object]) -> None:
    """The write commits, and every audit record of it names the actor."""
    revision = tn.revision
    write()
    assert tn.revision > revision
    records = [r for r in tn.audit_log(limit=10_000) if r.revision > revision]
    assert records
    assert {r.actor for r in records} == {actor}


# ------------------------------------------------------------------ each write needs its permission

Write = Callable[[World, TenantScope, Tenancy], object]

WRITES: dict[str, tuple[tuple[str, ...], Write]] = {
    "create_group": (("group:CREATE",), lambda w, t, tn: t.create_group("New")),
    "update_group": (("group:UPDATE",), lambda w, t, tn: t.update_group("site", name="SB")),
    "move_group": (("group:UPDATE",), lambda w, t, tn: t.move_group("other", "region")),
    "associate": (("group:UPDATE",), lambda w, t, tn: t.associate("other", device_ids=["gen"])),
    "dissociate": (
        ("group:UPDATE",),
        lambda w, t, tn: t.dissociate("site", device_tags=[("site", "sb")]),
    ),
    "delete_group": (("group:ADMIN",), lambda w, t, tn: t.delete_group("other")),
    "create_device": (("device:CREATE",), lambda w, t, tn: t.create_device("New")),
    "rename_device": (("device:UPDATE",), lambda w, t, tn: t.update_device("la", name="L")),
    "move_device": (("device:UPDATE",), lambda w, t, tn: t.update_device("la", parent="gen")),
    "tag_device": (("device:UPDATE",), lambda w, t, tn: t.tag_device("la", [("k", "v")])),
    "untag_device": (("device:UPDATE",), lambda w, t, tn: t.untag_device("la", [("site", "la")])),
    "delete_device": (("device:ADMIN",), lambda w, t, tn: t.delete_device("la")),
    "create_user": (("user_management:CREATE",), lambda w, t, tn: t.create_user("n@acme.example")),
    "update_user": (
        ("user_management:UPDATE",),
        lambda w, t, tn: t.update_user("raj", last_name="R"),
    ),
    "disable_user": (
        ("user_management:UPDATE",),
        lambda w, t, tn: t.update_user("raj", enabled=False),
    ),
    "delete_user": (("user_management:ADMIN",), lambda w, t, tn: t.delete_user("raj")),
    "add_member": (("user_management:UPDATE",), lambda w, t, tn: t.add_member("other", "raj")),
    "remove_member": (
        ("user_management:UPDATE",),
        lambda w, t, tn: t.remove_member("region", "raj"),
    ),
    "set_owner": (("user_management:UPDATE",), lambda w, t, tn: t.set_owner("raj", "ana")),
    "define_role": (
        ("user_management:ADMIN", "device:READ"),
        lambda w, t, tn: t.define_role("looker", ["device:READ"]),
    ),
    "delete_role": (
        ("user_management:ADMIN",),
        lambda w, t, tn: t.delete_role("spare", kind="inventory"),
    ),
    "grant_role": (
        ("user_management:ADMIN", "audit:READ"),
        lambda w, t, tn: t.grant_role("raj", "r"),
    ),
    "revoke_role": (("user_management:ADMIN",), lambda w, t, tn: t.revoke_role("raj", "readonly")),
    "grant_inventory_role": (
        ("user_management:ADMIN", "device:READ"),
        lambda w, t, tn: t.grant_inventory_role("raj", "viewer", group="other"),
    ),
    "grant_inventory_role_to_group": (
        ("user_management:ADMIN", "device:READ"),
        lambda w, t, tn: t.grant_inventory_role("site", "viewer", group="other", to="group"),
    ),
    "revoke_inventory_role": (
        ("user_management:ADMIN",),
        lambda w, t, tn: t.revoke_inventory_role("raj", "operator", group="site"),
    ),
    "delegate_for_another": (("user_management:ADMIN",), lambda w, t, tn: t.delegate("ana", "dan")),
    "set_default_member_role": (
        ("tenant_management:UPDATE",),
        lambda w, t, tn: t.set_default_member_role("operator"),
    ),
    "update_own_tenant": (
        ("tenant_management:UPDATE",),
        lambda w, t, tn: tn.update_tenant(t.tenant_id, contact_phone="+1 555 0100"),
    ),
    "create_subtenant": (
        ("tenant_management:CREATE",),
        lambda w, t, tn: tn.create_tenant(domain="acme-west", name="W", admin_email="w@w.example"),
    ),
    "suspend_subtenant": (
        ("tenant_management:UPDATE",),
        lambda w, t, tn: tn.suspend_tenant(w.east),
    ),
    "set_subtenant_properties": (
        ("tenant_management:UPDATE",),
        lambda w, t, tn: tn.set_properties(w.east, {"crm": "42"}),
    ),
}


def acting_as(w: World, user: str) -> tuple[Tenancy, TenantScope]:
    acting = w.tn.as_user(user)
    return acting, acting.tenant(w.t.tenant_id)


def related(permission: str) -> set[str]:
    """The permissions that hold or imply this one (ADMIN implies the rest of its type)."""
    wanted = parse_permission(permission)
    return {p for p in PERMISSIONS if wanted in expand(frozenset({p}))}


@pytest.mark.parametrize("name", sorted(WRITES))
def test_a_write_is_refused_to_a_user_holding_nothing(w: World, name: str) -> None:
    _, write = WRITES[name]
    acting, t = acting_as(w, "pat")
    refused(w.tn, lambda: write(w, t, acting))


@pytest.mark.parametrize("name", sorted(WRITES))
def test_a_write_is_accepted_with_exactly_its_permissions_and_audited(w: World, name: str) -> None:
    needed, write = WRITES[name]
    w.t.define_role("exactly", needed)
    w.t.grant_role("pat", "exactly")
    acting, t = acting_as(w, "pat")
    accepted(w.tn, "pat", lambda: write(w, t, acting))


@pytest.mark.parametrize(
    ("name", "missing"),
    sorted((name, p) for name, (needed, _) in WRITES.items() for p in needed),
)
def test_a_write_is_refused_to_a_user_holding_every_other_permission(
    w: World, name: str, missing: str
) -> None:
    _, write = WRITES[name]
    w.t.define_role("all-but", sorted(set(PERMISSIONS) - related(missing)))
    w.t.grant_role("pat", "all-but")
    acting, t = acting_as(w, "pat")
    refused(w.tn, lambda: write(w, t, acting))


@pytest.mark.parametrize("name", sorted(WRITES))
def test_the_tenant_admin_may_make_every_write(w: World, name: str) -> None:
    _, write = WRITES[name]
    acting, t = acting_as(w, w.boss)
    accepted(w.tn, w.boss, lambda: write(w, t, acting))


# ------------------------------------------------------------------ the acting handle


def test_as_user_gives_a_handle_with_the_same_answers(w: World) -> None:
    acting = w.tn.as_user("ana")
    assert acting.identity.name == "ana"
    assert w.tn.identity.name == "system"
    assert acting.revision == w.tn.revision
    assert answers(acting) == answers(w.tn)
    assert acting.management_tenant == w.tn.management_tenant
    w.t.add_member("other", "ana")  # the handles share one index
    assert acting.verify("ana", "la")
    acting.close()  # closes nothing: the handle it came from owns the store
    assert w.tn.verify("ana", "la")


def test_as_user_refuses_an_unknown_disabled_or_suspended_user(w: World) -> None:
    with pytest.raises(NotFound):
        w.tn.as_user("no-such-user")
    w.t.update_user("pat", enabled=False)
    with pytest.raises(PermissionDenied):
        w.tn.as_user("pat")
    w.tn.suspend_tenant(w.t.tenant_id)
    with pytest.raises(PermissionDenied):
        w.tn.as_user(w.boss)


def test_an_acting_handle_stops_when_its_user_is_disabled_deleted_or_suspended(
    w: World,
) -> None:
    t = w.tn.as_user("ana").tenant(w.t.tenant_id)
    t.create_user("s2@acme.example", owner="ana")
    w.t.update_user("ana", enabled=False)
    refused(w.tn, lambda: t.create_user("s3@acme.example", owner="ana"))
    w.t.update_user("ana", enabled=True)
    t.create_user("s3@acme.example", owner="ana")
    admin = w.tn.as_user(w.boss).tenant(w.t.tenant_id)
    w.tn.suspend_tenant(w.t.tenant_id)
    with pytest.raises(TenancyError):  # the tenant is suspended (TenantSuspended) for all
        admin.create_group("X")
    w.tn.activate_tenant(w.t.tenant_id)
    gone = w.tn.as_user("pat").tenant(w.t.tenant_id)
    w.t.delete_user("pat")
    refused(w.tn, lambda: gone.create_user("p@acme.example"))


def test_an_acting_user_writes_only_inside_its_own_tenant(w: World) -> None:
    other = w.tn.as_user(w.boss).tenant(w.other.tenant_id)
    refused(w.tn, lambda: other.create_group("Mine now"))
    refused(w.tn, lambda: other.create_user("x@other.example"))
    refused(w.tn, lambda: other.define_role("x", ["device:READ"]))
    refused(w.tn, lambda: other.request_support(w.other.record.admin_user_id or ""))
    with pytest.raises(CrossTenantReference):  # a record of another tenant is never named
        w.tn.as_user(w.boss).tenant(w.t.tenant_id).add_member(
            "site", w.other.record.admin_user_id or ""
        )


# ------------------------------------------------------------------ devices through inventory roles


def test_an_inventory_role_authorises_writes_on_the_devices_it_covers(w: World) -> None:
    t = w.tn.as_user("raj").tenant(w.t.tenant_id)  # operator on site, a member of region
    accepted(w.tn, "raj", lambda: t.tag_device("gen", [("k", "v")]))
    accepted(w.tn, "raj", lambda: t.update_device("sensor", name="Probe"))
    refused(w.tn, lambda: t.tag_device("la", [("k", "v")]))  # not on site
    refused(w.tn, lambda: t.delete_device("sensor"))  # operator is no manager
    refused(w.tn, lambda: t.create_device("New"))  # creating is tenant-wide
    w.t.grant_inventory_role("raj", "manager", group="site")
    accepted(w.tn, "raj", lambda: t.delete_device("sensor"))


def test_a_device_goes_only_under_a_gateway_the_actor_may_update(w: World) -> None:
    w.t.add_member("other", "raj")
    w.t.grant_inventory_role("raj", "operator", group="other")
    t = w.tn.as_user("raj").tenant(w.t.tenant_id)
    accepted(w.tn, "raj", lambda: t.update_device("la", parent="gen"))
    w.t.revoke_inventory_role("raj", "operator", group="site")
    w.t.update_device("la", parent=None)
    refused(w.tn, lambda: t.update_device("la", parent="gen"))


# ------------------------------------------------------------------ owners and sub-users


def test_a_user_creates_and_manages_its_own_sub_users(w: World) -> None:
    t = w.tn.as_user("ana").tenant(w.t.tenant_id)
    refused(w.tn, lambda: t.create_user("free@acme.example"))  # no owner: user management
    refused(w.tn, lambda: t.create_user("x@acme.example", owner="raj"))  # not its own
    accepted(w.tn, "ana", lambda: t.create_user("s2@acme.example", id="s2", owner="ana"))
    accepted(w.tn, "ana", lambda: t.create_user("s3@acme.example", id="s3", owner="s2"))
    accepted(w.tn, "ana", lambda: t.update_user("s3", first_name="Sam", enabled=False))
    accepted(w.tn, "ana", lambda: t.set_owner("s3", "sub"))  # within its own subtree
    accepted(w.tn, "ana", lambda: t.delete_user("s3"))
    refused(w.tn, lambda: t.update_user("raj", first_name="R"))
    refused(w.tn, lambda: t.delete_user("raj"))


def test_an_owner_cannot_release_a_sub_user_from_its_cap(w: World) -> None:
    t = w.tn.as_user("ana").tenant(w.t.tenant_id)
    refused(w.tn, lambda: t.set_owner("sub", None))
    refused(w.tn, lambda: t.set_owner("sub", "raj"))
    w.tn.as_user(w.boss).tenant(w.t.tenant_id).set_owner("sub", None)  # user management may


def test_an_owner_adds_its_sub_users_only_to_its_own_groups_and_below(w: World) -> None:
    t = w.tn.as_user("ana").tenant(w.t.tenant_id)
    accepted(w.tn, "ana", lambda: t.add_member("site", "sub"))
    accepted(w.tn, "ana", lambda: t.remove_member("site", "sub"))
    refused(w.tn, lambda: t.add_member("region", "sub"))  # above its own group
    refused(w.tn, lambda: t.add_member("other", "sub"))
    refused(w.tn, lambda: t.add_member("site", "raj"))  # not its sub-user


def test_an_owner_grants_its_sub_users_only_what_it_holds(w: World) -> None:
    t = w.tn.as_user("ana").tenant(w.t.tenant_id)
    accepted(w.tn, "ana", lambda: t.grant_inventory_role("sub", "viewer", group="site"))
    # the actor holds no more than viewer on site; as the owner, neither may its sub-user
    refused(w.tn, lambda: t.grant_inventory_role("sub", "operator", group="site"), InvalidValue)
    refused(w.tn, lambda: t.grant_inventory_role("sub", "viewer", group="other"), InvalidValue)
    w.t.set_owner("sub", None)
    w.t.set_owner("sub", "ana")
    refused(w.tn, lambda: t.grant_role("sub", "readonly"), InvalidValue)
    refused(w.tn, lambda: t.grant_inventory_role("site", "viewer", group="site", to="group"))
    w.t.grant_inventory_role("ana", "operator", group="site")
    accepted(w.tn, "ana", lambda: t.grant_inventory_role("sub", "operator", group="site"))
    accepted(w.tn, "ana", lambda: t.revoke_inventory_role("sub", "operator", group="site"))


def test_no_user_grants_itself_more_than_it_holds(w: World) -> None:
    w.t.grant_role("pat", "business")
    t = w.tn.as_user("pat").tenant(w.t.tenant_id)
    refused(w.tn, lambda: t.grant_role("pat", "admin"))
    refused(w.tn, lambda: t.grant_role("pat", "readonly"))  # audit and tenant READ
    accepted(w.tn, "pat", lambda: t.grant_inventory_role("pat", "manager", group="site"))


def test_redefining_a_held_role_cannot_raise_its_holders_above_the_actor(w: World) -> None:
    w.t.define_role("mine", ["device:READ"])
    w.t.grant_role("pat", "business")
    w.t.grant_role("pat", "mine")
    t = w.tn.as_user("pat").tenant(w.t.tenant_id)
    refused(w.tn, lambda: t.define_role("mine", ["tenant_management:ADMIN"]))
    refused(w.tn, lambda: t.define_role("r", ["audit:ADMIN"]))
    accepted(w.tn, "pat", lambda: t.define_role("mine", ["device:UPDATE", "group:READ"]))
    assert not w.tn.check("pat", "tenant_management:UPDATE", "gen")


def test_a_user_edits_its_own_names_but_nothing_that_grants(w: World) -> None:
    t = w.tn.as_user("sub").tenant(w.t.tenant_id)
    accepted(w.tn, "sub", lambda: t.update_user("sub", first_name="Sue", email="sue@acme.example"))
    refused(w.tn, lambda: t.update_user("sub", tags={"role": "boss"}))
    refused(w.tn, lambda: t.update_user("sub", enabled=False))
    refused(w.tn, lambda: t.set_owner("sub", None))  # escaping its owner
    refused(w.tn, lambda: t.add_member("site", "sub"))  # giving itself reach


# ------------------------------------------------------------------ delegation


def test_a_delegate_manages_the_owners_hierarchy_until_it_is_revoked(w: World) -> None:
    ana = w.tn.as_user("ana").tenant(w.t.tenant_id)
    dan = w.tn.as_user("dan").tenant(w.t.tenant_id)
    refused(w.tn, lambda: dan.update_user("sub", first_name="S"))
    refused(w.tn, lambda: ana.delegate("ana", "pat"), InvalidValue)  # no user_management:CREATE
    accepted(w.tn, "ana", lambda: ana.delegate("ana", "dan"))
    accepted(w.tn, "dan", lambda: dan.update_user("sub", first_name="S"))
    accepted(w.tn, "dan", lambda: dan.create_user("d2@acme.example", owner="sub"))
    refused(w.tn, lambda: dan.update_user("raj", first_name="R"))  # not ana's
    refused(w.tn, lambda: dan.update_user("ana", first_name="A"))  # the owner itself
    accepted(w.tn, "ana", lambda: ana.revoke_delegation("ana", "dan"))
    refused(w.tn, lambda: dan.update_user("sub", first_name="T"))


def test_a_delegation_ends_at_its_time(w: World) -> None:
    w.t.delegate("ana", "dan", until=START + timedelta(hours=1))
    dan = w.tn.as_user("dan").tenant(w.t.tenant_id)
    accepted(w.tn, "dan", lambda: dan.update_user("sub", first_name="S"))
    w.clock.now = START + timedelta(hours=1)
    refused(w.tn, lambda: dan.update_user("sub", first_name="T"))


def test_a_delegation_lapses_when_the_delegate_loses_user_management_create(w: World) -> None:
    w.t.delegate("ana", "dan")
    dan = w.tn.as_user("dan").tenant(w.t.tenant_id)
    w.t.revoke_role("dan", "recruiter")
    refused(w.tn, lambda: dan.update_user("sub", first_name="S"))
    w.t.grant_role("dan", "recruiter")
    accepted(w.tn, "dan", lambda: dan.update_user("sub", first_name="S"))


def test_only_the_owner_delegates_its_hierarchy_and_either_side_ends_it(w: World) -> None:
    raj = w.tn.as_user("raj").tenant(w.t.tenant_id)
    refused(w.tn, lambda: raj.delegate("ana", "dan"))
    w.t.delegate("ana", "dan")
    dan = w.tn.as_user("dan").tenant(w.t.tenant_id)
    refused(w.tn, lambda: raj.revoke_delegation("ana", "dan"))
    accepted(w.tn, "dan", lambda: dan.revoke_delegation("ana", "dan"))


def test_a_delegate_grants_the_owners_sub_users_no_more_than_the_owner_holds(w: World) -> None:
    w.t.grant_role("dan", "business")
    w.t.delegate("ana", "dan")
    dan = w.tn.as_user("dan").tenant(w.t.tenant_id)
    # the ceiling: ana holds viewer on site only
    refused(w.tn, lambda: dan.grant_inventory_role("sub", "manager", group="site"), InvalidValue)
    accepted(w.tn, "dan", lambda: dan.grant_inventory_role("sub", "viewer", group="site"))


# ------------------------------------------------------------------ tenants


def test_a_tenant_admin_manages_its_subtenants_and_never_another_tenant(w: World) -> None:
    acting = w.tn.as_user(w.boss)
    management = w.tn.management_tenant.id
    accepted(w.tn, w.boss, lambda: acting.suspend_tenant(w.east))
    accepted(w.tn, w.boss, lambda: acting.activate_tenant(w.east))
    # by= names the acting tenant for the bare handle; a user acts as its own tenant
    refused(w.tn, lambda: acting.suspend_tenant(w.other.tenant_id, by=management))
    refused(w.tn, lambda: acting.update_tenant(w.other.tenant_id, name="Mine", by=management))
    refused(w.tn, lambda: acting.set_properties(w.t.tenant_id, {"crm": "1"}, by=management))
    refused(
        w.tn, lambda: acting.update_tenant(w.t.tenant_id, allow_subtenants=False, by=management)
    )
    refused(
        w.tn,
        lambda: acting.create_tenant(
            domain="rogue", name="R", admin_email="r@r.example", parent=management, by=management
        ),
    )
    refused(w.tn, lambda: acting.delete_tenant(w.east, by=management))
    with pytest.raises(PermissionDenied):  # tenancy's own rule: a tenant never suspends itself
        acting.suspend_tenant(w.t.tenant_id)


def test_a_subtenant_created_by_a_user_gets_its_first_admin(w: World) -> None:
    acting = w.tn.as_user(w.boss)
    west = acting.create_tenant(domain="acme-west", name="West", admin_email="w@w.example")
    assert west.parent_id == w.t.tenant_id
    assert w.tn.tenant(west.id).roles_of(west.admin_user_id or "") == ["admin"]
    records = w.tn.audit_log(tenant=west.id)
    assert {r.actor for r in records} == {w.boss}


def test_only_the_management_tenant_deletes_tenants(w: World) -> None:
    management = w.tn.management_tenant
    root = w.tn.as_user(management.admin_user_id or "")
    refused(w.tn, lambda: w.tn.as_user(w.boss).delete_tenant(w.east))
    accepted(w.tn, management.admin_user_id or "", lambda: root.delete_tenant(w.east))


# ------------------------------------------------------------------ support access


@attrs.frozen
class Support:
    tn: Tenancy
    t: TenantScope
    clock: Clock
    sup: str


@pytest.fixture
def s(w: World) -> Support:
    """A support user "sup" of the management tenant holding the admin role there."""
    management = w.tn.tenant(w.tn.management_tenant.id)
    management.create_user("sup@maker.example", id="sup")
    management.grant_role("sup", "admin")
    return Support(tn=w.tn, t=w.t, clock=w.clock, sup="sup")


def test_support_is_refused_until_the_tenant_asks(s: Support) -> None:
    error = refused(s.tn, lambda: s.tn.as_support(s.sup, "ana"))
    assert "support" in error.rule


def test_support_acts_as_the_user_and_is_audited_as_support_user_dollar_user(s: Support) -> None:
    s.t.request_support("ana")
    acting = s.tn.as_support(s.sup, "ana")
    assert acting.identity.name == "sup$ana"
    started = [r for r in s.tn.audit_log(actor="sup$ana") if r.action == "SupportSessionStarted"]
    assert len(started) == 1
    t = acting.tenant(s.t.tenant_id)
    accepted(s.tn, "sup$ana", lambda: t.create_user("helper@acme.example", owner="ana"))
    refused(s.tn, lambda: t.create_group("Not ana's to make"))  # only what ana may do


def test_a_support_session_ends_with_its_request(s: Support) -> None:
    s.t.request_support("ana")
    t = s.tn.as_support(s.sup, "ana").tenant(s.t.tenant_id)
    s.clock.now = START + timedelta(hours=23)
    accepted(s.tn, "sup$ana", lambda: t.update_user("ana", first_name="A"))
    s.clock.now = START + timedelta(hours=24)
    refused(s.tn, lambda: t.update_user("ana", first_name="B"))
    refused(s.tn, lambda: s.tn.as_support(s.sup, "ana"))


def test_a_new_request_extends_the_session_and_ending_it_refuses_at_once(s: Support) -> None:
    s.t.request_support("ana")
    t = s.tn.as_support(s.sup, "ana").tenant(s.t.tenant_id)
    s.clock.now = START + timedelta(hours=20)
    s.t.request_support("raj")
    s.clock.now = START + timedelta(hours=30)
    accepted(s.tn, "sup$ana", lambda: t.update_user("ana", first_name="A"))
    s.t.end_support()
    refused(s.tn, lambda: t.update_user("ana", first_name="B"))


def test_any_user_of_the_tenant_requests_and_ends_support_for_it(s: Support) -> None:
    ana = s.tn.as_user("ana").tenant(s.t.tenant_id)
    accepted(s.tn, "ana", lambda: ana.request_support("ana"))
    s.tn.as_support(s.sup, "raj")
    accepted(s.tn, "ana", ana.end_support)
    refused(s.tn, lambda: s.tn.as_support(s.sup, "raj"))


def test_support_enabled_for_all_tenants_needs_no_request(s: Support) -> None:
    s.tn.set_options(s.tn.management_tenant.id, {("support", "enabled_for_all_tenants"): "true"})
    t = s.tn.as_support(s.sup, "ana").tenant(s.t.tenant_id)
    accepted(s.tn, "sup$ana", lambda: t.update_user("ana", first_name="A"))
    s.tn.set_options(s.tn.management_tenant.id, {("support", "enabled_for_all_tenants"): None})
    refused(s.tn, lambda: t.update_user("ana", first_name="B"))


def test_support_is_refused_in_a_suspended_tenant(s: Support) -> None:
    s.t.request_support("ana")
    t = s.tn.as_support(s.sup, "ana").tenant(s.t.tenant_id)
    s.tn.suspend_tenant(s.t.tenant_id)
    with pytest.raises(PermissionDenied):
        s.tn.as_support(s.sup, "ana")
    with pytest.raises(TenancyError):
        t.update_user("ana", first_name="A")
    s.tn.activate_tenant(s.t.tenant_id)
    accepted(s.tn, "sup$ana", lambda: t.update_user("ana", first_name="A"))


def test_support_needs_a_management_user_holding_the_support_permission(
    s: Support, w: World
) -> None:
    s.t.request_support("ana")
    management = w.tn.tenant(w.tn.management_tenant.id)
    management.create_user("plain@maker.example", id="plain")
    refused(s.tn, lambda: s.tn.as_support("plain", "ana"))
    refused(s.tn, lambda: s.tn.as_support(w.boss, "ana"))  # not a management user
    refused(s.tn, lambda: s.tn.as_support(s.sup, management.record.admin_user_id or ""))
    with pytest.raises(NotFound):
        s.tn.as_support("no-such-user", "ana")


def test_a_session_ends_when_the_support_user_loses_its_permission(s: Support, w: World) -> None:
    s.t.request_support("ana")
    t = s.tn.as_support(s.sup, "ana").tenant(s.t.tenant_id)
    management = w.tn.tenant(w.tn.management_tenant.id)
    management.revoke_role(s.sup, "admin")
    refused(s.tn, lambda: t.update_user("ana", first_name="A"))
    management.grant_role(s.sup, "admin")
    management.update_user(s.sup, enabled=False)
    refused(s.tn, lambda: t.update_user("ana", first_name="A"))


def test_a_handle_of_a_deleted_user_is_refused_with_permission_denied() -> None:
    """Acting as a user deleted after the handle was made is refused as PermissionDenied
    (not a KeyError), for tenant writes and for reading the audit log alike."""
    tn = tenancy.open()
    acme = tn.create_tenant(
        domain="acme", name="Acme", admin_email="a@acme.example", allow_subtenants=True
    )
    t = tn.tenant(acme.id)
    t.create_user("z@acme.example", id="z")
    gone = tn.as_user("z")
    t.delete_user("z")
    with pytest.raises(tenancy.PermissionDenied, match="no longer exists"):
        gone.create_tenant(domain="zz", name="Z", admin_email="a@z.example")
    with pytest.raises(tenancy.PermissionDenied, match="no longer exists"):
        gone.audit_log()
