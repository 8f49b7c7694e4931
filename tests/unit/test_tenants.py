"""The tenant tree and its lifecycle (DOMAIN.md section 6): creation rules, the first admin
user, editing, who may act (``by=``), suspension of a subtree, deletion.

Every test runs on the memory store and on a SQLite file; tests named ``..._reopen`` close
the SQLite file and open it again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import tenancy
from tenancy import (
    AlreadyExists,
    InUse,
    InvalidValue,
    NotFound,
    PermissionDenied,
    Tenancy,
    Tenant,
    TenantSuspended,
)

Opener = Callable[[], Tenancy]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(params=["memory", "sqlite"])
def tn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tenancy]:
    if request.param == "memory":
        handle = tenancy.open(clock=Clock())
    else:
        handle = tenancy.open(str(tmp_path / "t.db"), clock=Clock(), staleness=None)
    yield handle
    handle.close()


@pytest.fixture
def sqlite_opener(tmp_path: Path) -> Iterator[Opener]:
    handles: list[Tenancy] = []

    def open_() -> Tenancy:
        handle = tenancy.open(str(tmp_path / "t.db"), clock=Clock(), staleness=None)
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


def reseller_world(tn: Tenancy) -> tuple[Tenant, Tenant, Tenant]:
    """A reseller (allowed subtenants) with two customers."""
    reseller = make(tn, "reseller", allow_subtenants=True)
    one = make(tn, "customer-one", parent=reseller.id, by=reseller.id)
    two = make(tn, "customer-two", parent=reseller.id, by=reseller.id)
    return reseller, one, two


# ---------------------------------------------------------------- creating


def test_a_new_tenant_goes_below_the_management_tenant_by_default(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    assert acme.parent_id == tn.management_tenant.id
    assert acme.status == "active"
    assert acme.created_at == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert tn.get_tenant(acme.id) == acme


def test_the_tenant_id_is_generated_as_t_and_eight_digits(tn: Tenancy) -> None:
    ids = {make(tn, f"tenant-{i}").id for i in range(5)}
    assert len(ids) == 5
    assert all(re.fullmatch(r"t\d{8}", i) for i in ids)


def test_the_parent_must_exist(tn: Tenancy) -> None:
    with pytest.raises(NotFound):
        make(tn, "acme", parent="t00000000-nope")


def test_the_parent_must_allow_subtenants(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    with pytest.raises(InvalidValue, match="allow_subtenants"):
        make(tn, "sub", parent=acme.id)
    assert tn.find_tenant("sub") is None


def test_the_management_tenant_always_allows_subtenants(tn: Tenancy) -> None:
    mgmt = tn.management_tenant
    assert mgmt.allow_subtenants
    with pytest.raises(InvalidValue, match="always allows subtenants"):
        tn.update_tenant(mgmt.id, allow_subtenants=False)
    assert make(tn, "acme").parent_id == mgmt.id


def test_the_parent_must_be_active(tn: Tenancy) -> None:
    reseller = make(tn, "reseller", allow_subtenants=True)
    tn.suspend_tenant(reseller.id)
    with pytest.raises(TenantSuspended):
        make(tn, "sub", parent=reseller.id)
    tn.activate_tenant(reseller.id)
    assert make(tn, "sub", parent=reseller.id).parent_id == reseller.id


def test_a_parent_below_a_suspended_tenant_is_not_active(tn: Tenancy) -> None:
    top = make(tn, "top", allow_subtenants=True)
    middle = make(tn, "middle", parent=top.id, allow_subtenants=True)
    tn.suspend_tenant(top.id)
    with pytest.raises(TenantSuspended) as caught:
        make(tn, "bottom", parent=middle.id)
    assert caught.value.suspended_id == top.id


def test_only_the_management_tenant_sets_allow_subtenants(tn: Tenancy) -> None:
    reseller = make(tn, "reseller", allow_subtenants=True)
    with pytest.raises(PermissionDenied, match="management tenant"):
        make(tn, "sub", parent=reseller.id, allow_subtenants=True, by=reseller.id)
    sub = make(tn, "sub", parent=reseller.id, by=reseller.id)
    with pytest.raises(PermissionDenied):
        tn.update_tenant(sub.id, allow_subtenants=True, by=reseller.id)
    with pytest.raises(PermissionDenied):
        tn.update_tenant(reseller.id, allow_subtenants=False, by=reseller.id)
    assert tn.update_tenant(sub.id, allow_subtenants=True).allow_subtenants
    assert tn.update_tenant(sub.id, allow_subtenants=True, by=tn.management_tenant.id)


def test_a_subtenant_is_created_by_its_parent_or_the_management_tenant(tn: Tenancy) -> None:
    reseller, one, _ = reseller_world(tn)
    other = make(tn, "other", allow_subtenants=True)
    with pytest.raises(PermissionDenied, match="create subtenants"):
        make(tn, "sneaky", parent=reseller.id, by=other.id)
    with pytest.raises(PermissionDenied):
        make(tn, "sneaky", parent=reseller.id, by=one.id)
    assert make(tn, "by-mgmt", parent=reseller.id).parent_id == reseller.id
    assert make(tn, "own-customer", by=reseller.id).parent_id == reseller.id  # parent=by


def test_a_tenant_not_allowed_subtenants_cannot_create_any(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    with pytest.raises(InvalidValue, match="allow_subtenants"):
        make(tn, "sub", by=acme.id)


@pytest.mark.parametrize(
    ("domain", "part"),
    [
        ("a", "2 to 63 characters"),
        ("a" * 64, "2 to 63 characters"),
        ("Acme", "lowercase letters, digits and hyphens"),
        ("acme.example", "lowercase letters, digits and hyphens"),
        ("acme_co", "lowercase letters, digits and hyphens"),
        ("1acme", "starts with a letter"),
        ("-acme", "starts with a letter"),
        ("acme-", "does not end with a hyphen"),
    ],
)
def test_the_domain_rule_says_which_part_failed(tn: Tenancy, domain: str, part: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        make(tn, domain)
    assert part in caught.value.rule
    assert repr(domain) in str(caught.value)


@pytest.mark.parametrize("domain", ["ab", "a1", "acme-health", "x" * 63, "a-b-c"])
def test_good_domains_are_accepted(tn: Tenancy, domain: str) -> None:
    assert make(tn, domain).domain == domain


def test_domains_are_unique(tn: Tenancy) -> None:
    make(tn, "acme")
    with pytest.raises(AlreadyExists, match="domains are unique"):
        make(tn, "acme")
    with pytest.raises(AlreadyExists):
        make(tn, "management")


def test_creation_provisions_the_first_admin_user(tn: Tenancy) -> None:
    acme = tn.create_tenant(
        domain="acme", name="Acme", admin_email="boss@acme.example", admin_username="boss"
    )
    assert acme.admin_user_id is not None
    admin = tn.tenant(acme.id).get_user(acme.admin_user_id)
    assert (admin.email, admin.username, admin.enabled) == ("boss@acme.example", "boss", True)
    assert tn.tenant(acme.id).users() == [admin]
    assert acme.admin_username == "boss"


def test_the_first_admin_user_can_never_be_deleted_disabled_or_renamed(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    scope = tn.tenant(acme.id)
    admin_id = acme.admin_user_id
    assert admin_id is not None
    with pytest.raises(InUse, match="first admin user"):
        scope.delete_user(admin_id)
    with pytest.raises(InvalidValue, match="cannot be disabled"):
        scope.update_user(admin_id, enabled=False)
    with pytest.raises(InvalidValue, match="keeps its username"):
        scope.update_user(admin_id, username="someone-else")
    assert scope.update_user(admin_id, first_name="Ana").first_name == "Ana"
    other = scope.create_user("other@acme.example")
    scope.delete_user(other.id)


def test_bad_admin_fields_create_nothing(tn: Tenancy) -> None:
    before = tn.revision
    with pytest.raises(InvalidValue):
        tn.create_tenant(domain="acme", name="Acme", admin_email="not-an-email")
    with pytest.raises(InvalidValue):
        tn.create_tenant(
            domain="acme", name="Acme", admin_email="a@acme.example", admin_username=""
        )
    with pytest.raises(InvalidValue):
        tn.create_tenant(domain="acme", name=" ", admin_email="a@acme.example")
    assert tn.revision == before
    assert tn.find_tenant("acme") is None


# ---------------------------------------------------------------- reading and editing


def test_get_find_and_subtenants(tn: Tenancy) -> None:
    reseller, one, two = reseller_world(tn)
    grand_parent = make(tn, "deep", parent=reseller.id, allow_subtenants=True)
    grand = make(tn, "deeper", parent=grand_parent.id)
    assert tn.find_tenant("customer-one") == one
    assert tn.find_tenant("nobody") is None
    with pytest.raises(NotFound):
        tn.get_tenant("t99999999")
    direct = tn.subtenants(reseller.id)
    assert direct == sorted([one, two, grand_parent], key=lambda t: t.id)
    every = tn.subtenants(reseller.id, recursive=True)
    assert every == sorted([one, two, grand_parent, grand], key=lambda t: t.id)
    assert tn.subtenants(one.id) == []
    assert reseller in tn.subtenants(tn.management_tenant.id)


def test_every_field_is_editable_except_id_domain_and_admin_username(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    new = tn.update_tenant(
        acme.id,
        name="Acme Health",
        contact_name="Ana",
        contact_phone="+1 555 0100",
        admin_email="it@acme.example",
        allow_subtenants=True,
    )
    assert (new.id, new.domain, new.admin_username) == (acme.id, acme.domain, acme.admin_username)
    assert (new.name, new.contact_name, new.contact_phone, new.admin_email) == (
        "Acme Health",
        "Ana",
        "+1 555 0100",
        "it@acme.example",
    )
    assert new.allow_subtenants
    assert tn.get_tenant(acme.id) == new
    for field in ("id", "domain", "admin_username", "parent", "status"):
        with pytest.raises(TypeError):
            tn.update_tenant(acme.id, **{field: "x"})  # type: ignore[arg-type]


def test_an_edit_that_changes_nothing_writes_nothing(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    before = tn.revision
    assert tn.update_tenant(acme.id, name=acme.name) == acme
    assert tn.revision == before


def test_a_tenant_edits_its_own_fields_but_not_its_limits(tn: Tenancy) -> None:
    reseller, one, two = reseller_world(tn)
    assert tn.update_tenant(one.id, name="One Inc", by=one.id).name == "One Inc"
    assert tn.update_tenant(one.id, contact_name="Bo", by=reseller.id).contact_name == "Bo"
    with pytest.raises(PermissionDenied, match="its parent or the management tenant"):
        tn.update_tenant(one.id, max_devices=10_000, by=one.id)
    with pytest.raises(PermissionDenied):
        tn.update_tenant(one.id, name="Mine now", by=two.id)
    assert tn.update_tenant(one.id, max_devices=10, by=reseller.id).max_devices == 10


def test_the_acting_tenant_must_exist_and_be_active(tn: Tenancy) -> None:
    reseller, one, _ = reseller_world(tn)
    with pytest.raises(NotFound):
        tn.suspend_tenant(one.id, by="t12345678")
    tn.suspend_tenant(reseller.id)
    with pytest.raises(TenantSuspended):
        tn.activate_tenant(one.id, by=reseller.id)


def test_a_rejected_edit_changes_nothing(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    before = tn.store.snapshot()
    with pytest.raises(InvalidValue):
        tn.update_tenant(acme.id, name="ok", admin_email="broken")
    assert tn.store.snapshot() == before
    assert tn.get_tenant(acme.id) == acme


# ---------------------------------------------------------------- suspension


def test_suspend_and_activate_by_the_parent_or_the_management_tenant(tn: Tenancy) -> None:
    reseller, one, two = reseller_world(tn)
    grand_parent = make(tn, "deep", parent=reseller.id, allow_subtenants=True)
    grand = make(tn, "deeper", parent=grand_parent.id)
    with pytest.raises(PermissionDenied, match="suspend"):
        tn.suspend_tenant(one.id, by=two.id)
    with pytest.raises(PermissionDenied):
        tn.suspend_tenant(one.id, by=one.id)
    with pytest.raises(PermissionDenied):
        tn.suspend_tenant(grand.id, by=reseller.id)  # the parent, not the grandparent
    assert tn.suspend_tenant(one.id, by=reseller.id).status == "suspended"
    with pytest.raises(PermissionDenied, match="activate"):
        tn.activate_tenant(one.id, by=two.id)
    assert tn.activate_tenant(one.id, by=reseller.id).status == "active"
    assert tn.suspend_tenant(grand.id, by=grand_parent.id).status == "suspended"
    assert tn.activate_tenant(grand.id, by=tn.management_tenant.id).status == "active"
    assert tn.suspend_tenant(reseller.id).status == "suspended"


def test_suspension_blocks_the_whole_subtree(tn: Tenancy) -> None:
    reseller, one, _ = reseller_world(tn)
    worlds = []
    for tenant in (reseller, one):
        scope = tn.tenant(tenant.id)
        group = scope.create_group("Site", device_tags=[("site", "a")])
        device = scope.create_device("Generator", tags=[("site", "a")])
        user = scope.create_user(f"ana@{tenant.domain}.example")
        scope.add_member(group.id, user.id)
        tn.subscribe(tenant.id, ["cockpit"])
        worlds.append((scope, group, device, user))
    for _, _, device, user in worlds:
        assert tn.verify(user.id, device.id)
    tn.suspend_tenant(reseller.id)
    for scope, group, device, user in worlds:
        assert not tn.verify(user.id, device.id)
        assert list(tn.devices_for(user.id)) == []
        assert tn.users_for(device.id) == []
        assert tn.explain(user.id, device.id).code == "tenant-suspended"
        assert not tn.is_subscribed(scope.tenant_id, "cockpit")
        assert not tn.record_request(scope.tenant_id)
        with pytest.raises(TenantSuspended):
            scope.create_device("More")
        with pytest.raises(TenantSuspended):
            scope.remove_member(group.id, user.id)
        with pytest.raises(TenantSuspended):
            tn.update_tenant(scope.tenant_id, name="Renamed")
        with pytest.raises(TenantSuspended):
            tn.set_properties(scope.tenant_id, {"k": "v"})
    tn.activate_tenant(reseller.id)
    for scope, _, device, user in worlds:
        assert tn.verify(user.id, device.id)
        assert tn.is_subscribed(scope.tenant_id, "cockpit")


def test_activating_a_subtenant_under_a_suspended_parent_keeps_it_blocked(tn: Tenancy) -> None:
    reseller, one, _ = reseller_world(tn)
    tn.suspend_tenant(one.id)
    tn.suspend_tenant(reseller.id)
    tn.activate_tenant(one.id)
    with pytest.raises(TenantSuspended):
        tn.tenant(one.id).create_group("g")
    tn.activate_tenant(reseller.id)
    tn.tenant(one.id).create_group("g")


def test_below_a_suspended_tenant_suspending_is_refused_and_changes_nothing(
    tn: Tenancy,
) -> None:
    reseller, one, _ = reseller_world(tn)
    deep = make(tn, "deep", parent=reseller.id, allow_subtenants=True)
    deeper = make(tn, "deeper", parent=deep.id)
    tn.suspend_tenant(reseller.id)
    before, revision, log = tn.store.snapshot(), tn.revision, len(tn.audit_log(limit=10_000))
    for tenant, by in ((one, None), (deep, None), (deeper, None), (deeper, deep.id)):
        with pytest.raises(TenantSuspended) as caught:
            tn.suspend_tenant(tenant.id, by=by)
        assert caught.value.suspended_id == reseller.id
        assert tn.get_tenant(tenant.id).status == "active"
    assert tn.store.snapshot() == before
    assert tn.revision == revision
    assert len(tn.audit_log(limit=10_000)) == log
    tn.activate_tenant(reseller.id)
    assert tn.suspend_tenant(deeper.id).status == "suspended"


def test_a_subtenant_suspended_first_may_still_be_activated_below_a_suspended_parent(
    tn: Tenancy,
) -> None:
    """Activation is the one write a blocked tenant accepts: it clears the tenant's own
    suspension, and the tenant stays blocked by its parent."""
    reseller, one, _ = reseller_world(tn)
    tn.suspend_tenant(one.id)
    tn.suspend_tenant(reseller.id)
    with pytest.raises(TenantSuspended):
        tn.suspend_tenant(one.id)  # already suspended, and below a suspended tenant
    assert tn.activate_tenant(one.id).status == "active"
    assert tn.index.blocker_of(one.id) == reseller.id
    with pytest.raises(TenantSuspended):
        tn.suspend_tenant(one.id)


def test_a_subtenant_suspended_on_its_own_stays_suspended_when_its_parent_returns(
    tn: Tenancy,
) -> None:
    reseller, one, two = reseller_world(tn)
    tn.suspend_tenant(one.id)
    tn.suspend_tenant(reseller.id)
    tn.activate_tenant(reseller.id)
    assert tn.get_tenant(one.id).status == "suspended"
    with pytest.raises(TenantSuspended):
        tn.tenant(one.id).create_group("g")
    tn.tenant(two.id).create_group("g")


def test_the_management_tenant_can_be_neither_suspended_nor_deleted(tn: Tenancy) -> None:
    mgmt = tn.management_tenant.id
    with pytest.raises(InvalidValue, match="cannot be suspended"):
        tn.suspend_tenant(mgmt)
    with pytest.raises(InvalidValue, match="cannot be deleted"):
        tn.delete_tenant(mgmt, cascade=True)
    assert tn.management_tenant.status == "active"


def test_suspending_twice_or_activating_an_active_tenant_writes_nothing(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    tn.activate_tenant(acme.id)
    tn.suspend_tenant(acme.id)
    before = tn.revision
    tn.suspend_tenant(acme.id)
    assert tn.revision == before


# ---------------------------------------------------------------- deletion


def test_only_the_management_tenant_deletes(tn: Tenancy) -> None:
    reseller, one, _ = reseller_world(tn)
    with pytest.raises(PermissionDenied, match="only the management tenant"):
        tn.delete_tenant(one.id, by=reseller.id)
    with pytest.raises(PermissionDenied):
        tn.delete_tenant(one.id, by=one.id)
    tn.delete_tenant(one.id, by=tn.management_tenant.id)
    assert tn.find_tenant("customer-one") is None


def test_a_tenant_with_subtenants_is_deleted_only_with_cascade(tn: Tenancy) -> None:
    reseller, one, two = reseller_world(tn)
    with pytest.raises(InUse, match="cascade=True"):
        tn.delete_tenant(reseller.id)
    assert tn.get_tenant(one.id) == one
    tn.delete_tenant(reseller.id, cascade=True)
    for tenant in (reseller, one, two):
        with pytest.raises(NotFound):
            tn.get_tenant(tenant.id)


def test_a_suspended_tenant_can_be_deleted(tn: Tenancy) -> None:
    acme = make(tn, "acme")
    tn.suspend_tenant(acme.id)
    tn.delete_tenant(acme.id)
    assert tn.find_tenant("acme") is None


def test_deletion_removes_every_record_and_frees_the_domain(tn: Tenancy) -> None:
    reseller, one, _ = reseller_world(tn)
    scope = tn.tenant(one.id)
    group = scope.create_group("Site", device_tags=[("site", "a")])
    gateway = scope.create_device("Gateway", tags=[("site", "a")], id="gw-1")
    child = scope.create_device("Sensor", parent=gateway.id, id="sensor-1")
    user = scope.create_user("ana@one.example")
    scope.add_member(group.id, user.id)
    tn.record_request(one.id)
    tn.define_policy(one.id, "p", options={("c", "k"): "v"})
    tn.delete_tenant(one.id)

    # No query returns or accepts any of its ids.
    assert not tn.verify(user.id, child.id)
    assert tn.explain(user.id, child.id).code == "unknown-user"
    assert list(tn.devices_for(user.id)) == []
    assert tn.users_for(gateway.id) == []
    assert tn.groups_for(user.id) == []
    assert not tn.is_subscribed(one.id, "cockpit")
    for call in (
        lambda: tn.get_tenant(one.id),
        lambda: tn.tenant(one.id),
        lambda: scope.create_group("again"),
        lambda: scope.get_device(gateway.id),
        lambda: tn.usage(one.id),
        lambda: tn.record_request(one.id),
        lambda: tn.update_tenant(one.id, name="x"),
        lambda: tn.suspend_tenant(one.id),
        lambda: tn.delete_tenant(one.id),
        lambda: tn.policies(one.id),
    ):
        with pytest.raises(NotFound):
            call()
    snapshot = tn.store.snapshot()
    assert one.id not in {t.id for t in snapshot.tenants}
    assert all(g.tenant_id != one.id for g in snapshot.groups)
    assert all(d.tenant_id != one.id for d in snapshot.devices)
    assert all(u.tenant_id != one.id for u in snapshot.users)
    assert all(row.tenant_id != one.id for row in snapshot.usage)
    assert group.id not in {g for g, _ in snapshot.memberships}
    tn.index.check_invariants()

    # Its domain is free again; the new tenant is a different one.
    again = make(tn, "customer-one", parent=reseller.id)
    assert again.id != one.id
    assert tn.tenant(again.id).groups() == []
    tn.tenant(again.id).create_user("ana@one.example")


def test_a_deleted_tenant_stays_deleted_after_reopen(sqlite_opener: Opener) -> None:
    tn = sqlite_opener()
    reseller, one, _ = reseller_world(tn)
    tn.tenant(one.id).create_device("Generator")
    tn.delete_tenant(reseller.id, cascade=True)
    tn.close()
    again = sqlite_opener()
    assert again.find_tenant("reseller") is None
    assert again.find_tenant("customer-one") is None
    assert again.subtenants(again.management_tenant.id) == []
    again.index.check_invariants()


def test_tenant_records_survive_reopen(sqlite_opener: Opener) -> None:
    tn = sqlite_opener()
    reseller, one, _ = reseller_world(tn)
    tn.suspend_tenant(one.id, by=reseller.id)
    records = {t.id: t for t in tn.subtenants(tn.management_tenant.id, recursive=True)}
    tn.close()
    again = sqlite_opener()
    assert {t.id: t for t in again.subtenants(again.management_tenant.id, recursive=True)} == (
        records
    )
    with pytest.raises(TenantSuspended):
        again.tenant(one.id).create_group("g")
