"""Reach through cross-tenant shares (DOMAIN.md section 7, tenancy.index.shares): verify,
devices_for, users_for, explain, groups_for/in_group, check at most READ, the listing with
a permission agreeing with check, both toggles, tenant suspension on either side, no
chaining, filters by group, device and tag, and the index's invariants after each step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import tenancy
from tenancy import every_page


class World:
    """acme (source) shares its Site group with svc (destination); ops is a third tenant."""

    def __init__(self, tn: tenancy.Tenancy) -> None:
        self.tn = tn
        mk = tn.create_tenant
        self.acme = mk(domain="acme", name="Acme", admin_email="admin@acme.example")
        self.svc = mk(domain="svc", name="Service Co", admin_email="admin@svc.example")
        self.ops = mk(domain="ops", name="Ops", admin_email="admin@ops.example")
        self.src, self.dst = tn.tenant(self.acme.id), tn.tenant(self.svc.id)
        s = self.src
        self.site = s.create_group("Site", device_tags=[("site", "sb")])
        self.other_site = s.create_group("Other", device_tags=[("site", "la")])
        s.create_device("Gateway", id="gw", tags=[("site", "sb"), ("kind", "gen")])
        s.create_device("Child", id="child", parent="gw", tags=[("kind", "meter")])
        s.create_device("Far", id="far", tags=[("site", "la"), ("kind", "gen")])
        self.owner = s.create_user("owner@acme.example")
        s.add_member(self.site.id, self.owner.id)
        self.tech = self.dst.create_user("tech@svc.example")
        self.boss = self.dst.create_user("boss@svc.example")
        self.region = self.dst.create_group("Region")
        self.dst.create_device("Own", id="own")
        self.dst.associate(self.region.id, device_ids=["own"])

    def share(self, **filters: object) -> tuple[tenancy.Connector, tenancy.Subscription]:
        if not filters:
            filters = {"groups": [self.site.id]}
        c = self.src.create_connector("to-svc", destination=self.svc.id, **filters)  # type: ignore[arg-type]
        sub = self.dst.accept_connector(c.id, security_code=c.security_code, name="Acme")
        self.dst.add_member(sub.group_id, self.tech.id)
        return c, sub

    def ids(self, user_id: str) -> list[str]:
        return [d.id for d in every_page(lambda after: self.tn.devices_for(user_id, after=after))]

    def agree(self) -> None:
        """verify == devices_for == users_for for every pair, and the index is whole."""
        self.tn.index.check_invariants()
        users = list(self.tn.index.users)
        devices = list(self.tn.index.devices)
        for u in users:
            listed = set(self.ids(u))
            for d in devices:
                v = self.tn.verify(u, d)
                assert v == (d in listed), (u, d)
                assert v == (u in {x.id for x in self.tn.users_for(d)}), (u, d)
                assert v == self.tn.explain(u, d).allowed, (u, d)


@pytest.fixture
def w() -> World:
    return World(tenancy.open())


def test_a_group_share_reaches_its_devices_and_their_children(w: World) -> None:
    w.share()
    assert w.tn.verify(w.tech.id, "gw")
    assert w.tn.verify(w.tech.id, "child")  # follows its gateway
    assert not w.tn.verify(w.tech.id, "far")
    assert w.ids(w.tech.id) == ["child", "gw"]
    assert [u.id for u in w.tn.users_for("gw")] == sorted([w.owner.id, w.tech.id])
    assert not w.tn.verify(w.owner.id, "own")  # nothing crosses back
    assert not w.tn.verify(w.boss.id, "gw")  # not a member
    w.agree()


def test_members_above_the_virtual_group_adopt_it(w: World) -> None:
    _, sub = w.share()
    w.dst.move_group(sub.group_id, w.region.id)
    w.dst.add_member(w.region.id, w.boss.id)
    assert w.ids(w.boss.id) == ["child", "gw", "own"]  # sorted, shared mixed in
    page = w.tn.devices_for(w.boss.id, limit=2)
    assert [d.id for d in page] == ["child", "gw"]
    assert [d.id for d in w.tn.devices_for(w.boss.id, limit=2, after=page.next)] == ["own"]
    assert [g.id for g in w.tn.groups_for(w.boss.id)] == sorted([w.region.id, sub.group_id])
    assert w.tn.in_group(w.boss.id, sub.group_id)
    w.dst.move_group(sub.group_id, None)
    assert not w.tn.verify(w.boss.id, "gw")
    w.agree()


def test_tag_filters_of_users_for_apply_to_destination_users(w: World) -> None:
    w.share()
    w.dst.update_user(w.tech.id, tags={"notify": "sms"})
    assert [u.id for u in w.tn.users_for("gw", tags={"notify": "sms"})] == [w.tech.id]
    assert [u.id for u in w.tn.users_for("gw", tags={"notify": "mail"})] == []


@pytest.mark.parametrize("off", ["connector", "subscription", "source", "destination"])
def test_either_side_or_a_suspended_tenant_ends_reach_in_the_same_revision(
    w: World, off: str
) -> None:
    c, sub = w.share()
    src, dst = w.src, w.dst
    toggles: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "connector": (lambda: src.suspend_connector(c.id), lambda: src.activate_connector(c.id)),
        "subscription": (
            lambda: dst.pause_subscription(sub.id),
            lambda: dst.resume_subscription(sub.id),
        ),
        "source": (lambda: w.tn.suspend_tenant(w.acme.id), lambda: w.tn.activate_tenant(w.acme.id)),
        "destination": (
            lambda: w.tn.suspend_tenant(w.svc.id),
            lambda: w.tn.activate_tenant(w.svc.id),
        ),
    }
    stop, start = toggles[off]
    stop()
    assert not w.tn.verify(w.tech.id, "gw")
    assert w.ids(w.tech.id) == []
    assert w.tech.id not in {u.id for u in w.tn.users_for("gw")}
    w.agree()
    start()
    assert w.tn.verify(w.tech.id, "gw")
    w.agree()


def test_a_suspended_tenant_above_the_source_ends_reach() -> None:
    tn = tenancy.open()
    holding = tn.create_tenant(
        domain="holding", name="Holding", admin_email="h@h.example", allow_subtenants=True
    )
    plant = tn.create_tenant(
        domain="plant", name="Plant", admin_email="p@p.example", parent=holding.id
    )
    svc = tn.create_tenant(domain="svc", name="Svc", admin_email="s@s.example")
    src, dst = tn.tenant(plant.id), tn.tenant(svc.id)
    g = src.create_group("All", device_tags=[("k", None)])
    src.create_device("Pump", id="pump", tags=[("k", "v")])
    c = src.create_connector("c", destination=svc.id, groups=[g.id])
    sub = dst.accept_connector(c.id, security_code=c.security_code, name="Plant")
    tech = dst.create_user("t@s.example")
    dst.add_member(sub.group_id, tech.id)
    assert tn.verify(tech.id, "pump")
    tn.suspend_tenant(holding.id)
    assert not tn.verify(tech.id, "pump")
    assert holding.id in tn.explain(tech.id, "pump").reason
    tn.index.check_invariants()
    tn.activate_tenant(holding.id)
    assert tn.verify(tech.id, "pump")


def test_explain_names_the_share_or_the_missing_link(w: World) -> None:
    c = w.src.create_connector("to-svc", destination=w.svc.id, groups=[w.site.id])
    e = w.tn.explain(w.tech.id, "gw")
    assert (e.allowed, e.code, e.connector_id) == (False, "not-accepted", c.id)
    sub = w.dst.accept_connector(c.id, security_code=c.security_code, name="Acme")
    assert w.tn.explain(w.tech.id, "gw").code == "no-covering-group"
    w.dst.add_member(sub.group_id, w.tech.id)
    e = w.tn.explain(w.tech.id, "child")
    assert e.allowed
    assert (e.connector_id, e.subscription_id, e.filter_id) == (c.id, sub.id, w.site.id)
    assert e.path == (sub.group_id,)
    w.src.suspend_connector(c.id)
    assert w.tn.explain(w.tech.id, "gw").code == "connector-suspended"
    w.src.activate_connector(c.id)
    w.dst.pause_subscription(sub.id)
    assert w.tn.explain(w.tech.id, "gw").code == "subscription-paused"
    w.dst.resume_subscription(sub.id)
    w.tn.suspend_tenant(w.acme.id)
    e = w.tn.explain(w.tech.id, "gw")
    assert e.code == "tenant-suspended"
    assert w.acme.id in e.reason
    w.tn.activate_tenant(w.acme.id)
    assert w.tn.explain(w.tech.id, "far").code == "not-shared"
    ops_user = w.tn.tenant(w.ops.id).create_user("x@ops.example")
    assert w.tn.explain(ops_user.id, "gw").code == "other-tenant"


def test_device_filters_share_the_device_and_its_children(w: World) -> None:
    w.share(devices=["gw"])
    assert w.ids(w.tech.id) == ["child", "gw"]
    assert w.tn.explain(w.tech.id, "child").filter_id == "gw"
    w.src.update_device("far", parent="gw")  # moved under the shared gateway
    assert w.tn.verify(w.tech.id, "far")
    w.src.update_device("far", parent=None)
    assert not w.tn.verify(w.tech.id, "far")
    w.agree()


def test_tag_matchers_narrow_every_filter(w: World) -> None:
    w.share(groups=[w.site.id, w.other_site.id], tags={"kind": "gen"})
    assert w.ids(w.tech.id) == ["far", "gw"]  # the child is a meter
    w.src.tag_device("child", [("kind", "gen")])
    assert w.tn.verify(w.tech.id, "child")
    w.src.untag_device("far", [("kind", "gen")])
    assert not w.tn.verify(w.tech.id, "far")
    w.agree()


def test_changing_a_shared_groups_subtree_changes_what_is_shared(w: World) -> None:
    w.share()
    below = w.src.create_group("Below", parent=w.site.id, device_ids=["far"])
    assert w.tn.verify(w.tech.id, "far")
    w.src.move_group(below.id, None)
    assert not w.tn.verify(w.tech.id, "far")
    w.src.associate(w.site.id, device_ids=["far"])
    assert w.tn.verify(w.tech.id, "far")
    w.src.delete_group(w.site.id)
    assert w.ids(w.tech.id) == []
    w.agree()


def test_a_share_never_chains(w: World) -> None:
    _, sub = w.share()
    ops = w.tn.tenant(w.ops.id)
    # svc shares its own region (above which nothing of acme's is) with ops
    w.dst.move_group(sub.group_id, w.region.id)
    c2 = w.dst.create_connector("to-ops", destination=w.ops.id, groups=[w.region.id])
    sub2 = ops.accept_connector(c2.id, security_code=c2.security_code, name="Svc")
    watcher = ops.create_user("watch@ops.example")
    ops.add_member(sub2.group_id, watcher.id)
    assert w.ids(watcher.id) == ["own"]  # svc's own device, not acme's shared ones
    assert not w.tn.verify(watcher.id, "gw")
    w.agree()


def test_check_grants_at_most_read_on_a_shared_device(w: World) -> None:
    _, sub = w.share()
    assert w.tn.check(w.tech.id, "device:READ", "gw")
    assert not w.tn.check(w.tech.id, "device:UPDATE", "gw")
    w.dst.set_default_member_role("operator")
    assert not w.tn.check(w.tech.id, "device:UPDATE", "gw")
    assert w.tn.check(w.tech.id, "device:UPDATE", "own") is False  # not in Region
    w.dst.grant_inventory_role(w.tech.id, "manager", group=sub.group_id)
    assert not w.tn.check(w.tech.id, "device:ADMIN", "gw")
    admin = w.svc.admin_user_id
    assert admin is not None
    assert not w.tn.check(admin, "device:READ", "gw")  # tenant-wide roles stop at the tenant
    w.dst.add_member(sub.group_id, admin)
    assert w.tn.check(admin, "device:READ", "gw")
    assert not w.tn.check(admin, "device:UPDATE", "gw")
    assert w.tn.check(w.owner.id, "device:UPDATE", "gw") is False  # owner: viewer only
    w.src.set_default_member_role("operator")
    assert w.tn.check(w.owner.id, "device:UPDATE", "gw")  # the source's own users keep theirs
    e = w.tn.explain(w.tech.id, "gw", permission="device:UPDATE")
    assert not e.allowed


@pytest.mark.parametrize("permission", ["device:READ", "device:UPDATE"])
def test_listing_with_a_permission_agrees_with_check(w: World, permission: str) -> None:
    _, sub = w.share()
    admin = w.svc.admin_user_id
    assert admin is not None
    w.dst.add_member(sub.group_id, admin)
    for user_id in (admin, w.tech.id, w.owner.id):
        for group in (None, sub.group_id):
            listed = [
                d.id
                for d in every_page(
                    lambda after, u=user_id, g=group: w.tn.devices_for(
                        u, permission=permission, after=after, group=g
                    )
                )
            ]
            expected = sorted(
                d
                for d in w.tn.index.devices
                if w.tn.check(user_id, permission, d)
                and (group is None or group in w.tn.index.cover_of(d))
            )
            assert listed == expected, (user_id, group)


def test_deleting_the_share_or_a_tenant_ends_reach(w: World) -> None:
    c, sub = w.share()
    w.dst.delete_subscription(sub.id)
    assert not w.tn.verify(w.tech.id, "gw")
    sub = w.dst.accept_connector(c.id, security_code=c.security_code, name="Again")
    w.dst.add_member(sub.group_id, w.tech.id)
    assert w.tn.verify(w.tech.id, "gw")
    w.tn.delete_tenant(w.acme.id)
    assert w.ids(w.tech.id) == []
    w.agree()


def test_reach_through_shares_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with tenancy.open(path) as tn:
        w = World(tn)
        w.share()
        before = {(u, d): tn.verify(u, d) for u in tn.index.users for d in tn.index.devices}
    with tenancy.open(path) as again:
        after = {(u, d): again.verify(u, d) for u in again.index.users for d in again.index.devices}
        assert after == before
        again.index.check_invariants()
