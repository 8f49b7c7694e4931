"""Cross-tenant sharing records and writes (DOMAIN.md section 7, tenancy.rules.sharing):
connectors and subscriptions, their rules, their security code, their authorisation, the
virtual group's limits, what deletions take with them, audit in both tenants, durability.
Reach through shares is tested in tests/unit/test_sharing_reach.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

import tenancy
from tenancy import (
    AlreadyExists,
    CrossTenantReference,
    InUse,
    InvalidValue,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    TenancyError,
    WrongSecurityCode,
)


class World:
    """A source tenant (acme) with a group and devices, a destination (svc), a third."""

    def __init__(self, tn: tenancy.Tenancy) -> None:
        self.tn = tn
        mk = tn.create_tenant
        self.acme = mk(domain="acme", name="Acme", admin_email="admin@acme.example")
        self.svc = mk(domain="svc", name="Service Co", admin_email="admin@svc.example")
        self.third = mk(domain="third", name="Third", admin_email="admin@third.example")
        self.src = tn.tenant(self.acme.id)
        self.dst = tn.tenant(self.svc.id)
        self.site = self.src.create_group("Site", device_tags=[("site", "sb")])
        self.gen = self.src.create_device("Gen", tags=[("site", "sb")], id="gen")
        self.tech = self.dst.create_user("tech@svc.example")

    def connector(self, **kwargs: object) -> tenancy.Connector:
        kwargs.setdefault("groups", [self.site.id])
        return self.src.create_connector("to-svc", destination=self.svc.id, **kwargs)  # type: ignore[arg-type]

    def accepted(self) -> tuple[tenancy.Connector, tenancy.Subscription]:
        c = self.connector()
        return c, self.dst.accept_connector(c.id, security_code=c.security_code, name="Acme")


@pytest.fixture
def w() -> World:
    return World(tenancy.open())


def unchanged(
    tn: tenancy.Tenancy, write: Callable[[], object], error: type[TenancyError]
) -> TenancyError:
    """The write raises ``error`` naming a rule, and changes nothing."""
    revision, snapshot = tn.revision, tn.store.snapshot()
    with pytest.raises(error) as raised:
        write()
    assert raised.value.rule
    assert tn.revision == revision
    assert tn.store.snapshot() == snapshot
    return raised.value


# ---------------------------------------------------------------- creating connectors


def test_a_connector_is_created_with_its_filters_and_a_code(w: World) -> None:
    c = w.connector(devices=[w.gen.id], tags={"site": "sb"}, description="two sites")
    assert (c.source_tenant_id, c.destination_tenant_id) == (w.acme.id, w.svc.id)
    assert c.group_ids == {w.site.id}
    assert c.device_ids == {w.gen.id}
    assert c.tags == (tenancy.TagMatcher("site", "sb"),)
    assert c.status == "active"
    assert c.description == "two sites"
    assert w.src.connectors() == [c]
    assert w.src.get_connector(c.id) == c


def test_the_security_code_is_long_random_and_hidden(w: World) -> None:
    codes = {w.connector().security_code for _ in range(20)}
    assert len(codes) == 20
    assert all(len(code) >= 32 for code in codes)  # token_urlsafe(24): 192 bits
    c = w.src.connectors()[0]
    assert c.security_code not in repr(c)
    assert c.security_code not in str(c)
    assert "<hidden>" in repr(c)


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"groups": []}, InvalidValue, "groups"),
        ({"groups": ["nope"]}, NotFound, "groups"),
        ({"devices": ["nope"]}, NotFound, "devices"),
        ({"groups": "g"}, InvalidValue, "groups"),
        ({"tags": "site"}, InvalidValue, "tags"),
        ({"description": 3}, InvalidValue, "description"),
    ],
)
def test_bad_filters_are_refused(
    w: World, kwargs: dict[str, object], error: type[TenancyError], field: str
) -> None:
    e = unchanged(w.tn, lambda: w.connector(**kwargs), error)
    assert e.field == field


def test_filters_name_records_of_the_source(w: World) -> None:
    other = w.dst.create_group("Theirs")
    e = unchanged(w.tn, lambda: w.connector(groups=[other.id]), CrossTenantReference)
    assert e.field == "groups"


def test_the_destination_is_another_tenant_and_the_source_not_the_management(w: World) -> None:
    e = unchanged(
        w.tn,
        lambda: w.src.create_connector("x", destination=w.acme.id, groups=[w.site.id]),
        InvalidValue,
    )
    assert e.field == "destination"
    unchanged(
        w.tn,
        lambda: w.src.create_connector("x", destination="t-none", groups=[w.site.id]),
        NotFound,
    )
    mgmt = w.tn.tenant(w.tn.management_tenant.id)
    root_group = mgmt.create_group("Ops")
    e = unchanged(
        w.tn,
        lambda: mgmt.create_connector("x", destination=w.svc.id, groups=[root_group.id]),
        InvalidValue,
    )
    assert "management tenant" in e.rule


def test_a_virtual_group_is_no_filter_shares_never_chain(w: World) -> None:
    _, sub = w.accepted()
    e = unchanged(
        w.tn,
        lambda: w.dst.create_connector("on", destination=w.third.id, groups=[sub.group_id]),
        InvalidValue,
    )
    assert "chain" in e.rule


def test_connectors_per_tenant_are_limited() -> None:
    w = World(tenancy.open(limits=tenancy.SafetyLimits(max_connectors_per_tenant=2)))
    w.connector()
    w.connector()
    e = unchanged(w.tn, w.connector, LimitExceeded)
    assert "max_connectors_per_tenant" in e.rule


# ---------------------------------------------------------------- accepting


def test_accepting_gives_a_subscription_and_its_virtual_group(w: World) -> None:
    c, sub = w.accepted()
    assert (sub.tenant_id, sub.connector_id, sub.name, sub.status) == (
        w.svc.id,
        c.id,
        "Acme",
        "active",
    )
    group = w.dst.get_group(sub.group_id)
    assert group.name == "Acme"
    assert not group.device_ids
    assert not group.device_tags
    assert w.dst.subscriptions() == [sub]
    assert w.dst.get_subscription(sub.id) == sub
    assert w.src.get_subscription(sub.id) == sub  # the source sees who accepted
    unchanged(
        w.tn,
        lambda: w.dst.accept_connector(c.id, security_code=c.security_code, name="Again"),
        AlreadyExists,
    )


def test_the_subscription_and_its_virtual_group_take_given_ids(w: World) -> None:
    """As every record: ids are generated unless given (a test replaying a history, or an
    application keeping its own ids, gives them); a taken one is refused naming its field."""
    c = w.connector()
    taken = unchanged(
        w.tn,
        lambda: w.dst.accept_connector(
            c.id, security_code=c.security_code, name="Acme", group_id=w.site.id
        ),
        AlreadyExists,
    )
    assert taken.field == "group_id"
    bad = unchanged(
        w.tn,
        lambda: w.dst.accept_connector(c.id, security_code=c.security_code, name="A", group_id=" "),
        InvalidValue,
    )
    assert bad.field == "group_id"
    sub = w.dst.accept_connector(
        c.id, security_code=c.security_code, name="Acme", id="sub-1", group_id="acme-fleet"
    )
    assert (sub.id, sub.group_id) == ("sub-1", "acme-fleet")
    assert w.dst.get_group("acme-fleet").name == "Acme"


def test_a_wrong_code_is_refused_and_on_record_in_both_tenants(w: World) -> None:
    c = w.connector()
    before = w.tn.store.snapshot()
    with pytest.raises(WrongSecurityCode) as raised:
        w.dst.accept_connector(c.id, security_code="guess", name="Acme")
    assert raised.value.field == "security_code"
    assert raised.value.value == c.id
    assert "guess" not in str(raised.value)
    assert c.security_code not in str(raised.value)
    after = w.tn.store.snapshot()
    assert msgspec.structs.replace(after, revision=before.revision, usage=before.usage) == before
    for tenant in (w.acme.id, w.svc.id):
        [record] = [
            r
            for r in w.tn.audit_log(tenant=tenant, limit=500)
            if r.action == "ConnectorAcceptRefused"
        ]
        assert record.target == c.id
        assert "guess" not in repr(record.after)
    assert w.dst.subscriptions() == []


def test_a_code_that_is_no_string_is_refused_without_echo(w: World) -> None:
    c = w.connector()
    code: object = 1234
    e = unchanged(
        w.tn,
        lambda: w.dst.accept_connector(c.id, security_code=code, name="A"),  # type: ignore[arg-type]
        InvalidValue,
    )
    assert "1234" not in str(e)


def test_only_the_destination_may_accept(w: World) -> None:
    c = w.connector()
    third = w.tn.tenant(w.third.id)
    unchanged(
        w.tn,
        lambda: third.accept_connector(c.id, security_code=c.security_code, name="A"),
        NotFound,
    )
    unchanged(w.tn, lambda: third.get_connector(c.id), NotFound)


def test_only_the_source_reads_the_code(w: World) -> None:
    c = w.connector()
    assert w.dst.get_connector(c.id).security_code == ""
    mgmt = w.tn.tenant(w.tn.management_tenant.id)
    assert [x.id for x in mgmt.connectors()] == [c.id]
    assert mgmt.connectors()[0].security_code == ""
    assert w.dst.connectors() == []  # its outgoing ones only


# ---------------------------------------------------------------- toggles and deletion


def test_both_sides_toggle(w: World) -> None:
    c, sub = w.accepted()
    assert w.src.suspend_connector(c.id).status == "suspended"
    assert w.src.activate_connector(c.id).status == "active"
    assert w.dst.pause_subscription(sub.id).status == "paused"
    assert w.dst.resume_subscription(sub.id).status == "active"
    revision = w.tn.revision
    w.dst.resume_subscription(sub.id)  # already active: writes nothing
    assert w.tn.revision == revision
    unchanged(w.tn, lambda: w.dst.suspend_connector(c.id), NotFound)  # not its connector
    unchanged(w.tn, lambda: w.src.pause_subscription(sub.id), NotFound)  # not its subscription


def test_deleting_a_connector_takes_its_subscription_and_virtual_group(w: World) -> None:
    c, sub = w.accepted()
    w.dst.add_member(sub.group_id, w.tech.id)
    w.dst.grant_inventory_role(w.tech.id, "operator", group=sub.group_id)
    w.src.delete_connector(c.id)
    assert w.src.connectors() == []
    assert w.dst.subscriptions() == []
    unchanged(w.tn, lambda: w.dst.get_group(sub.group_id), NotFound)
    assert w.dst.inventory_grants_of(w.tech.id) == []


def test_deleting_a_subscription_keeps_the_connector_acceptable(w: World) -> None:
    c, sub = w.accepted()
    w.dst.delete_subscription(sub.id)
    unchanged(w.tn, lambda: w.dst.get_group(sub.group_id), NotFound)
    assert w.src.get_connector(c.id) == c
    again = w.dst.accept_connector(c.id, security_code=c.security_code, name="Again")
    assert again.connector_id == c.id


def test_deleting_a_filter_group_or_device_drops_it_from_the_filter(w: World) -> None:
    c = w.connector(devices=[w.gen.id])
    w.src.delete_group(w.site.id)
    assert w.src.get_connector(c.id).group_ids == frozenset()
    w.src.delete_device(w.gen.id)
    assert w.src.get_connector(c.id).device_ids == frozenset()


@pytest.mark.parametrize("side", ["source", "destination"])
def test_deleting_a_tenant_ends_its_shares(w: World, side: str) -> None:
    _c, sub = w.accepted()
    w.tn.delete_tenant(w.acme.id if side == "source" else w.svc.id)
    mgmt = w.tn.tenant(w.tn.management_tenant.id)
    assert mgmt.connectors() == []
    assert mgmt.subscriptions() == []
    if side == "source":
        unchanged(w.tn, lambda: w.dst.get_group(sub.group_id), NotFound)
    w.tn.index.check_invariants()


# ---------------------------------------------------------------- the virtual group


def test_the_virtual_group_takes_no_associations_and_no_child_groups(w: World) -> None:
    _, sub = w.accepted()
    own = w.dst.create_device("Own")
    e = unchanged(w.tn, lambda: w.dst.associate(sub.group_id, device_ids=[own.id]), InvalidValue)
    assert e.field == "group_id"
    unchanged(
        w.tn, lambda: w.dst.associate(sub.group_id, device_tags=[("site", None)]), InvalidValue
    )
    e = unchanged(w.tn, lambda: w.dst.create_group("Below", parent=sub.group_id), InvalidValue)
    assert e.field == "parent"
    other = w.dst.create_group("Other")
    unchanged(w.tn, lambda: w.dst.move_group(other.id, sub.group_id), InvalidValue)
    unchanged(w.tn, lambda: w.dst.associate(sub.group_id, device_ids=[w.gen.id]), InvalidValue)


def test_the_virtual_group_moves_under_own_groups_and_takes_members(w: World) -> None:
    _, sub = w.accepted()
    region = w.dst.create_group("Region")
    assert w.dst.move_group(sub.group_id, region.id).parent_id == region.id
    w.dst.add_member(sub.group_id, w.tech.id)
    unchanged(w.tn, lambda: w.dst.move_group(sub.group_id, w.site.id), CrossTenantReference)
    w.dst.update_group(sub.group_id, name="Renamed")


def test_the_virtual_group_is_deleted_only_with_its_subscription(w: World) -> None:
    _, sub = w.accepted()
    region = w.dst.create_group("Region")
    w.dst.move_group(sub.group_id, region.id)
    e = unchanged(w.tn, lambda: w.dst.delete_group(sub.group_id), InUse)
    assert sub.id in e.rule
    unchanged(w.tn, lambda: w.dst.delete_group(region.id, cascade=True), InUse)


# ---------------------------------------------------------------- acting users


def test_acting_users_need_tenant_management_update_on_their_side(w: World) -> None:
    src_admin = w.acme.admin_user_id
    dst_admin = w.svc.admin_user_id
    assert src_admin is not None
    assert dst_admin is not None
    worker = w.src.create_user("worker@acme.example")
    w.src.grant_role(worker.id, "business")
    as_worker = w.tn.as_user(worker.id).tenant(w.acme.id)
    unchanged(
        w.tn,
        lambda: as_worker.create_connector("x", destination=w.svc.id, groups=[w.site.id]),
        PermissionDenied,
    )
    c = (
        w.tn.as_user(src_admin)
        .tenant(w.acme.id)
        .create_connector("x", destination=w.svc.id, groups=[w.site.id])
    )
    unchanged(w.tn, lambda: as_worker.suspend_connector(c.id), PermissionDenied)
    as_tech = w.tn.as_user(w.tech.id).tenant(w.svc.id)
    unchanged(
        w.tn,
        lambda: as_tech.accept_connector(c.id, security_code=c.security_code, name="A"),
        PermissionDenied,
    )
    unchanged(
        w.tn,
        lambda: as_tech.accept_connector(c.id, security_code="wrong", name="A"),
        PermissionDenied,
    )
    as_dst = w.tn.as_user(dst_admin).tenant(w.svc.id)
    sub = as_dst.accept_connector(c.id, security_code=c.security_code, name="A")
    as_dst.pause_subscription(sub.id)
    unchanged(w.tn, lambda: as_tech.resume_subscription(sub.id), PermissionDenied)
    # the source's admin deletes the connector: the destination's records go with it
    w.tn.as_user(src_admin).tenant(w.acme.id).delete_connector(c.id)
    assert w.dst.subscriptions() == []


# ---------------------------------------------------------------- audit and durability


def test_writes_are_audited_in_both_tenants_without_the_code(w: World, tmp_path: Path) -> None:
    tn = tenancy.open(tmp_path / "s.db")
    v = World(tn)
    c, sub = v.accepted()
    v.src.suspend_connector(c.id)
    v.dst.pause_subscription(sub.id)
    v.src.delete_connector(c.id)
    for tenant in (v.acme.id, v.svc.id):
        actions = [(r.action, r.target) for r in tn.audit_log(tenant=tenant, limit=500)]
        assert ("AccessSet", c.id) in actions
        assert ("AccessSet", sub.id) in actions
        assert ("AccessRemoved", c.id) in actions
        assert ("AccessRemoved", sub.id) in actions
    raw = (tmp_path / "s.db").read_bytes()
    everything = msgspec.json.encode(list(tn.audit_log(limit=10_000)))
    assert c.security_code.encode() not in everything
    assert raw.count(c.security_code.encode()) <= 2  # the access row and the change log only
    tn.close()


def test_shares_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with tenancy.open(path) as tn:
        w = World(tn)
        c, sub = w.accepted()
    with tenancy.open(path) as again:
        assert again.tenant(w.acme.id).get_connector(c.id) == c
        assert again.tenant(w.svc.id).get_subscription(sub.id) == sub
        assert again.index.access.virtual_group(sub.group_id) == sub


def test_what_a_deletion_takes_along_is_authorised_with_it(w: World) -> None:
    """An acting user who may delete a group named by a filter narrows the connector with
    it; the management tenant's admin deleting a tenant ends its shares in both tenants."""
    c, sub = w.accepted()
    keeper = w.src.create_user("keeper@acme.example")
    w.src.grant_role(keeper.id, "business")  # group:ADMIN, no tenant_management
    w.tn.as_user(keeper.id).tenant(w.acme.id).delete_group(w.site.id)
    assert w.src.get_connector(c.id).group_ids == frozenset()
    root = w.tn.management_tenant.admin_user_id
    assert root is not None
    w.tn.as_user(root).delete_tenant(w.svc.id)
    assert w.src.connectors() == []
    assert all(r.action != "GroupDeleted" or r.target != sub.group_id or r.actor == root
               for r in w.tn.audit_log(limit=1_000))  # fmt: skip
