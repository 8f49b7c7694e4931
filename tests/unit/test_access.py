"""The rules of access control (DOMAIN.md section 5, the rules of tenancy.access): what a
permission is, what each role gives, ``check``, ``devices_for(permission=)`` and
``explain(permission=)``, and deny by default, on the hospital chain of tests/unit/_world.py:

chain (ceo) > north (regional) > sb (site_manager: gen-1 > sensor-1 > probe-1)
                               > mp (gen-2);  chain > south (gen-3);  pump-2 and lone in none.
"""

from __future__ import annotations

import pytest

import tenancy
from tenancy import InvalidValue, PermissionDenied
from tenancy.records.grants import Permission, expand, parse_permission
from tenancy.testing.access_oracle import AccessOracle

from ._world import Hospital, hospital, listed, new_tenant

DEVICES = ("gen-1", "sensor-1", "probe-1", "gen-2", "pump-2", "gen-3", "lone")
USERS = ("ceo", "regional", "site_manager", "nobody", "off")
LEVELS = ("READ", "CREATE", "UPDATE", "ADMIN")


@pytest.fixture
def h() -> Hospital:
    return hospital()


def allowed(h: Hospital, user: str, permission: str) -> list[str]:
    """The devices of the hospital check allows, sorted."""
    return sorted(d for d in DEVICES if h.tn.check(user, permission, d))


def assert_listing_agrees(tn: tenancy.Tenancy, user: str, permission: str) -> list[str]:
    """devices_for(permission=) walked page by page (pages of two) lists exactly what
    check allows, among every device of the store."""
    every = sorted(d.id for d in tn.store.snapshot().devices)
    expected = [d for d in every if tn.check(user, permission, d)]
    assert listed(tn, user, permission=permission) == expected
    return expected


# ------------------------------------------------------------------ permissions


def test_a_permission_is_a_type_and_a_level_written_type_colon_level() -> None:
    p = Permission("device", "READ")
    assert str(p) == "device:READ"
    assert parse_permission("device:READ") == p
    assert parse_permission(("device", "READ")) == p
    assert parse_permission(p) is p
    assert parse_permission("tenant_management:CHANGE") == Permission("tenant_management", "CHANGE")


@pytest.mark.parametrize(
    "bad",
    ["device", "device:", "device:read", "devices:READ", "group:CHANGE", "", ("device",), 7],
)
def test_a_malformed_permission_is_refused_naming_the_rule(bad: object) -> None:
    with pytest.raises(InvalidValue) as raised:
        parse_permission(bad)
    assert raised.value.rule


def test_admin_implies_every_level_of_its_type_and_change_implies_create_and_update() -> None:
    assert expand(frozenset({"device:ADMIN"})) == {Permission("device", lv) for lv in LEVELS}
    assert Permission("device", "CHANGE") not in expand(frozenset({"device:ADMIN"}))
    assert Permission("tenant_management", "CHANGE") in expand(
        frozenset({"tenant_management:ADMIN"})
    )
    assert expand(frozenset({"tenant_management:CHANGE"})) == {
        Permission("tenant_management", lv) for lv in ("CHANGE", "CREATE", "UPDATE")
    }
    assert expand(frozenset({"device:UPDATE"})) == {Permission("device", "UPDATE")}


def test_check_takes_a_permission_in_any_of_its_spellings(h: Hospital) -> None:
    for spelling in ("device:READ", ("device", "READ"), Permission("device", "READ")):
        assert h.tn.check("site_manager", spelling, "gen-1")  # type: ignore[arg-type]


def test_a_malformed_permission_raises_from_check_even_for_unknown_ids(h: Hospital) -> None:
    """An unknown id is an answer (False); a malformed permission is a programming error."""
    with pytest.raises(InvalidValue):
        h.tn.check("nobody-at-all", "device:WRITE", "no-device")


# ------------------------------------------------------------------ membership: the default role


def test_for_a_plain_member_check_read_is_verify(h: Hospital) -> None:
    for user in USERS:
        for device in DEVICES:
            assert h.tn.check(user, "device:READ", device) == h.tn.verify(user, device)


def test_membership_alone_grants_only_the_default_member_role(h: Hospital) -> None:
    assert h.t.default_member_role() == "viewer"
    for level in ("CREATE", "UPDATE", "ADMIN"):
        assert allowed(h, "ceo", f"device:{level}") == []
    assert not h.tn.check("ceo", "group:READ", "gen-1")  # not a device permission


def test_changing_the_default_member_role_changes_every_members_permissions(h: Hospital) -> None:
    h.t.set_default_member_role("operator")
    assert allowed(h, "regional", "device:UPDATE") == ["gen-1", "gen-2", "probe-1", "sensor-1"]
    h.t.set_default_member_role(None)
    assert h.t.default_member_role() is None
    assert h.tn.verify("regional", "gen-1")  # reach stays: tenancy is not access control
    assert allowed(h, "regional", "device:READ") == []
    h.t.set_default_member_role("viewer")
    assert allowed(h, "regional", "device:READ") == ["gen-1", "gen-2", "probe-1", "sensor-1"]


# ------------------------------------------------------------------ global roles (rule 1)


def test_a_tenant_admin_manages_every_device_without_any_membership(h: Hospital) -> None:
    admin = h.t.record.admin_user_id
    assert admin is not None
    assert h.tn.groups_for(admin) == []
    for level in LEVELS:
        assert allowed(h, admin, f"device:{level}") == sorted(DEVICES)
    for perm in ("group:ADMIN", "user_management:ADMIN", "tenant_management:CHANGE", "audit:READ"):
        assert h.tn.check(admin, perm, "lone")


def test_business_manages_devices_groups_and_users_but_not_the_tenant(h: Hospital) -> None:
    h.t.grant_role("nobody", "business")
    for perm in ("device:ADMIN", "device:CREATE", "group:ADMIN", "user_management:ADMIN"):
        assert allowed(h, "nobody", perm) == sorted(DEVICES)
    for perm in ("tenant_management:READ", "tenant_management:UPDATE", "audit:READ"):
        assert allowed(h, "nobody", perm) == []


def test_readonly_reads_everything_in_the_tenant_and_changes_nothing(h: Hospital) -> None:
    h.t.grant_role("nobody", "readonly")
    for type_ in ("device", "group", "user_management", "tenant_management", "audit"):
        assert allowed(h, "nobody", f"{type_}:READ") == sorted(DEVICES)
        for level in ("CREATE", "UPDATE", "ADMIN"):
            assert allowed(h, "nobody", f"{type_}:{level}") == []


def test_a_global_role_stops_at_the_tenant_boundary(h: Hospital) -> None:
    other = new_tenant(h.tn, "clinic")
    other.create_device("Theirs", id="theirs")
    admin = h.t.record.admin_user_id
    assert admin is not None
    assert not h.tn.check(admin, "device:READ", "theirs")
    assert "theirs" not in listed(h.tn, admin, permission="device:READ")
    assert not h.tn.check(other.record.admin_user_id or "", "device:READ", "gen-1")


def test_a_custom_global_role_gives_exactly_its_permissions(h: Hospital) -> None:
    h.t.define_role("auditor", ["audit:READ", "device:READ"])
    h.t.grant_role("nobody", "auditor")
    assert allowed(h, "nobody", "audit:READ") == sorted(DEVICES)
    assert allowed(h, "nobody", "device:READ") == sorted(DEVICES)
    assert allowed(h, "nobody", "device:UPDATE") == []


def test_redefining_a_role_changes_what_its_holders_may_do_at_once(h: Hospital) -> None:
    h.t.define_role("tech", ["device:READ"], kind="inventory")
    h.t.grant_inventory_role("site_manager", "tech", group="sb")
    assert allowed(h, "site_manager", "device:UPDATE") == []
    h.t.define_role("tech", ["device:UPDATE"], kind="inventory")
    assert allowed(h, "site_manager", "device:UPDATE") == ["gen-1", "probe-1", "sensor-1"]


# ------------------------------------------------------------------ inventory roles (rule 2)


def test_an_inventory_role_is_inherited_down_the_group_tree_and_gateways(h: Hospital) -> None:
    h.t.grant_inventory_role("regional", "operator", group="north")
    assert allowed(h, "regional", "device:UPDATE") == ["gen-1", "gen-2", "probe-1", "sensor-1"]
    assert allowed(h, "regional", "device:ADMIN") == []


def test_an_inventory_role_on_a_subgroup_does_not_reach_its_siblings_or_parents(
    h: Hospital,
) -> None:
    h.t.grant_inventory_role("ceo", "manager", group="sb")
    assert allowed(h, "ceo", "device:ADMIN") == ["gen-1", "probe-1", "sensor-1"]
    assert allowed(h, "ceo", "device:READ") == ["gen-1", "gen-2", "gen-3", "probe-1", "sensor-1"]


def test_an_inventory_role_acts_only_within_reach(h: Hospital) -> None:
    """Rule 2: the role is held on south, but the site manager reaches nothing there."""
    h.t.grant_inventory_role("site_manager", "manager", group="south")
    assert not h.tn.check("site_manager", "device:ADMIN", "gen-3")
    assert not h.tn.check("site_manager", "device:READ", "gen-3")
    h.t.add_member("south", "site_manager")
    assert h.tn.check("site_manager", "device:ADMIN", "gen-3")


def test_an_inventory_role_granted_to_a_group_holds_for_each_of_its_members(h: Hospital) -> None:
    h.t.grant_inventory_role("north", "operator", group="north", to="group")
    assert allowed(h, "regional", "device:UPDATE") == ["gen-1", "gen-2", "probe-1", "sensor-1"]
    assert allowed(h, "ceo", "device:UPDATE") == []  # a member of chain, not of north
    h.t.add_member("north", "nobody")  # a new member holds it at once
    assert allowed(h, "nobody", "device:UPDATE") == ["gen-1", "gen-2", "probe-1", "sensor-1"]
    h.t.remove_member("north", "nobody")
    assert allowed(h, "nobody", "device:UPDATE") == []


def test_revoking_an_inventory_role_takes_it_at_once(h: Hospital) -> None:
    h.t.grant_inventory_role("regional", "manager", group="mp")
    assert h.tn.check("regional", "device:ADMIN", "gen-2")
    h.t.revoke_inventory_role("regional", "manager", group="mp")
    assert not h.tn.check("regional", "device:ADMIN", "gen-2")
    assert h.tn.check("regional", "device:READ", "gen-2")  # membership still gives viewer


# ------------------------------------------------------------------ the user hierarchy (rule 3)


def test_a_sub_user_is_capped_by_its_owner_at_check_time(h: Hospital) -> None:
    h.t.set_owner("nobody", "regional")
    h.t.add_member("chain", "nobody")  # reaches more than its owner
    assert h.tn.verify("nobody", "gen-3")  # reach itself is not capped
    assert not h.tn.check("nobody", "device:READ", "gen-3")  # but permissions are
    assert allowed(h, "nobody", "device:READ") == allowed(h, "regional", "device:READ")


def test_a_sub_users_tenant_wide_role_lists_only_what_its_owner_holds(h: Hospital) -> None:
    """A sub-user holding readonly under an owner who only reaches north: its listing with
    device:READ is what check allows, devices it does not itself reach included."""
    h.t.grant_role("nobody", "readonly")
    h.t.set_owner("nobody", "regional")  # an owner caps, it is not a grant: accepted
    expected = assert_listing_agrees(h.tn, "nobody", "device:READ")
    assert expected == ["gen-1", "gen-2", "probe-1", "sensor-1"]
    assert not any(h.tn.verify("nobody", d) for d in expected)


def test_the_cap_runs_up_the_whole_chain_of_owners(h: Hospital) -> None:
    h.t.grant_inventory_role("ceo", "operator", group="chain")
    h.t.set_owner("regional", "ceo")
    h.t.set_owner("site_manager", "regional")
    h.t.grant_inventory_role("regional", "operator", group="north")
    h.t.grant_inventory_role("site_manager", "operator", group="sb")
    assert h.tn.check("site_manager", "device:UPDATE", "gen-1")
    h.t.revoke_inventory_role("ceo", "operator", group="chain")
    assert not h.tn.check("regional", "device:UPDATE", "gen-1")
    assert not h.tn.check("site_manager", "device:UPDATE", "gen-1")
    e = h.tn.explain("site_manager", "gen-1", permission="device:UPDATE")
    assert e.code == "capped-by-owner"
    assert e.capped_by == "ceo"


def test_a_disabled_owner_leaves_its_sub_users_no_permission(h: Hospital) -> None:
    h.t.set_owner("site_manager", "regional")
    h.t.update_user("regional", enabled=False)
    assert h.tn.verify("site_manager", "gen-1")
    assert not h.tn.check("site_manager", "device:READ", "gen-1")
    h.t.update_user("regional", enabled=True)
    assert h.tn.check("site_manager", "device:READ", "gen-1")


# ------------------------------------------------------------------ listing


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("permission", ["device:READ", "device:UPDATE", "device:ADMIN"])
def test_devices_for_a_permission_lists_exactly_what_check_allows(
    h: Hospital, user: str, permission: str
) -> None:
    h.t.grant_inventory_role("regional", "operator", group="mp")
    h.t.grant_inventory_role("ceo", "manager", group="south")
    h.t.grant_role("nobody", "business")
    h.t.set_owner("site_manager", "regional")
    assert_listing_agrees(h.tn, user, permission)
    assert assert_listing_agrees(h.tn, "nobody", "device:ADMIN") == sorted(DEVICES)


def test_devices_for_a_permission_takes_the_usual_filters(h: Hospital) -> None:
    admin = h.t.record.admin_user_id
    assert admin is not None
    assert listed(h.tn, admin, permission="device:ADMIN", group="north") == [
        "gen-1",
        "gen-2",
        "probe-1",
        "sensor-1",
    ]
    assert listed(h.tn, admin, permission="device:ADMIN", tags=[("site", "mp")]) == [
        "gen-2",
        "pump-2",
    ]
    h.t.grant_inventory_role("regional", "operator", group="mp")
    assert listed(h.tn, "regional", permission="device:UPDATE") == ["gen-2"]
    assert listed(h.tn, "regional", permission="device:UPDATE", group="sb") == []
    page = h.tn.devices_for(admin, permission="device:READ", limit=3)
    assert [d.id for d in page] == ["gen-1", "gen-2", "gen-3"]
    assert page.next is not None
    rest = listed(h.tn, admin, permission="device:READ", after=page.next)
    assert rest == listed(h.tn, admin, permission="device:READ")[3:]
    # The cursor is bound to the permission (and to the user): another listing refuses it.
    for other in ({"permission": "device:ADMIN"}, {}):
        with pytest.raises(InvalidValue) as caught:
            h.tn.devices_for(admin, after=page.next, **other)  # type: ignore[arg-type]
        assert caught.value.field == "after"


def test_without_a_permission_devices_for_is_the_reach_listing(h: Hospital) -> None:
    admin = h.t.record.admin_user_id
    assert admin is not None
    assert listed(h.tn, admin) == []  # the admin is a member of nothing: it reaches nothing
    assert listed(h.tn, "regional") == listed(h.tn, "regional", permission="device:READ")


# ------------------------------------------------------------------ explain


def test_explain_names_the_global_role(h: Hospital) -> None:
    admin = h.t.record.admin_user_id
    assert admin is not None
    e = h.tn.explain(admin, "lone", permission="device:ADMIN")
    assert e.allowed
    assert e.code == "allowed"
    assert e.permission == "device:ADMIN"
    assert e.role == "global:admin"
    assert e.role_group is None
    assert "tenant-wide" in e.reason


def test_explain_names_the_membership_and_the_reach_proof(h: Hospital) -> None:
    e = h.tn.explain("regional", "gen-2", permission="device:READ")
    assert e.allowed
    assert e.role == "member:viewer"
    assert e.role_group == "north"
    assert e.path == ("north", "mp")  # the reach proof stays


def test_explain_names_the_inventory_role_and_its_group(h: Hospital) -> None:
    h.t.grant_inventory_role("regional", "operator", group="mp")
    e = h.tn.explain("regional", "gen-2", permission=Permission("device", "UPDATE"))
    assert e.allowed
    assert e.role == "inventory:operator"
    assert e.role_group == "mp"
    assert "'mp'" in e.reason


def test_explain_says_no_role_when_reach_holds_but_nothing_grants(h: Hospital) -> None:
    e = h.tn.explain("regional", "gen-2", permission="device:UPDATE")
    assert not e.allowed
    assert e.code == "no-role"
    assert "device:UPDATE" in e.reason
    e = h.tn.explain("regional", "gen-3", permission="device:READ")
    assert e.code == "no-role"  # neither reach nor a global role
    assert "does not reach" in e.reason


def test_explain_names_the_owner_that_caps(h: Hospital) -> None:
    h.t.set_owner("nobody", "site_manager")
    h.t.add_member("north", "nobody")
    e = h.tn.explain("nobody", "gen-2", permission="device:READ")
    assert not e.allowed
    assert e.code == "capped-by-owner"
    assert e.capped_by == "site_manager"
    assert e.role == "member:viewer"


@pytest.mark.parametrize(
    ("user", "device", "code"),
    [
        ("no-such-user", "gen-1", "unknown-user"),
        ("ceo", "no-such-device", "unknown-device"),
        ("off", "gen-1", "user-disabled"),
    ],
)
def test_explain_gives_the_reach_denial_first(
    h: Hospital, user: str, device: str, code: str
) -> None:
    e = h.tn.explain(user, device, permission="device:READ")
    assert not e.allowed
    assert e.code == code
    assert e.permission == "device:READ"


def test_explain_with_a_permission_agrees_with_check(h: Hospital) -> None:
    h.t.grant_inventory_role("regional", "operator", group="mp")
    h.t.set_owner("site_manager", "regional")
    h.t.grant_role("nobody", "readonly")
    for user in (*USERS, h.t.record.admin_user_id or ""):
        for device in DEVICES:
            for level in LEVELS:
                perm = f"device:{level}"
                assert h.tn.explain(user, device, permission=perm).allowed == h.tn.check(
                    user, perm, device
                )


# ------------------------------------------------------------------ deny by default (rule 4)


def test_unknown_ids_give_false_and_empty_and_create_nothing(h: Hospital) -> None:
    revision = h.tn.revision
    snapshot = h.tn.store.snapshot()
    for perm in ("device:READ", "device:ADMIN", "tenant_management:CHANGE"):
        assert not h.tn.check("no-such-user", perm, "gen-1")
        assert not h.tn.check("ceo", perm, "no-such-device")
        assert not h.tn.check("", perm, "")
        assert list(h.tn.devices_for("no-such-user", permission=perm)) == []
        assert not h.tn.explain("no-such-user", "no-such-device", permission=perm).allowed
    assert h.tn.revision == revision
    assert h.tn.store.snapshot() == snapshot
    assert "no-such-user" not in h.tn.index.access.cache


def test_a_disabled_user_holds_nothing_whatever_its_roles(h: Hospital) -> None:
    h.t.grant_role("off", "admin")
    assert allowed(h, "off", "device:READ") == []
    assert list(h.tn.devices_for("off", permission="device:READ")) == []


@pytest.mark.parametrize("suspend", ["tenant", "ancestor"])
def test_a_suspended_tenant_holds_nothing_whatever_its_roles(h: Hospital, suspend: str) -> None:
    tn = tenancy.open()
    parent = new_tenant(tn, "group-co", allow_subtenants=True)
    child = tn.tenant(
        tn.create_tenant(
            domain="child", name="Child", admin_email="a@child.example", parent=parent.tenant_id
        ).id
    )
    child.create_device("Pump", id="pump")
    admin = child.record.admin_user_id
    assert admin is not None
    assert tn.check(admin, "device:ADMIN", "pump")
    tn.suspend_tenant(child.tenant_id if suspend == "tenant" else parent.tenant_id)
    assert not tn.check(admin, "device:READ", "pump")
    assert list(tn.devices_for(admin, permission="device:READ")) == []
    assert tn.explain(admin, "pump", permission="device:READ").code == "tenant-suspended"
    tn.activate_tenant(child.tenant_id if suspend == "tenant" else parent.tenant_id)
    assert tn.check(admin, "device:ADMIN", "pump")


def test_a_user_holds_nothing_in_another_tenant(h: Hospital) -> None:
    other = new_tenant(h.tn, "clinic")
    other.create_device("Theirs", id="theirs")
    e = h.tn.explain("ceo", "theirs", permission="device:READ")
    assert e.code == "other-tenant"
    assert not h.tn.check("ceo", "device:READ", "theirs")


def test_check_takes_the_freshness_options(h: Hospital) -> None:
    assert h.tn.check("ceo", "device:READ", "gen-1", at_least=h.tn.revision)
    assert h.tn.check("ceo", "device:READ", "gen-1", fresh=True)
    with pytest.raises(InvalidValue):
        h.tn.check("ceo", "device:READ", "gen-1", at_least=h.tn.revision + 100)


def test_a_second_handle_on_the_store_answers_the_same(h: Hospital) -> None:
    """The access state is rebuilt from the store's snapshot."""
    h.t.define_role("tech", ["device:UPDATE"], kind="inventory")
    h.t.grant_inventory_role("north", "tech", group="north", to="group")
    h.t.grant_role("nobody", "readonly")
    h.t.set_owner("site_manager", "ceo")
    h.t.set_default_member_role("operator")
    again = tenancy.Tenancy(h.tn.store)
    for user in USERS:
        for device in DEVICES:
            for level in LEVELS:
                perm = f"device:{level}"
                assert again.check(user, perm, device) == h.tn.check(user, perm, device)


def test_the_oracle_agrees_on_the_hospital(h: Hospital) -> None:
    """A spot check of the naive oracle the property tests compare against."""
    h.t.grant_inventory_role("regional", "operator", group="mp")
    h.t.set_owner("site_manager", "regional")
    h.t.grant_role("nobody", "business")
    oracle = AccessOracle(h.tn)
    for user in (*USERS, "no-such-user"):
        for device in (*DEVICES, "no-such-device"):
            for level in LEVELS:
                perm = f"device:{level}"
                assert oracle.check(user, perm, device) == h.tn.check(user, perm, device)


def test_permission_denied_is_a_permission_error() -> None:
    assert issubclass(PermissionDenied, PermissionError)
    assert issubclass(PermissionDenied, tenancy.TenancyError)
