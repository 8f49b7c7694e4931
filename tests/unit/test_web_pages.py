"""The admin page's read pages (tenancy.web), through Starlette's TestClient: what each page
shows, that every value is escaped, that ids from the URL are untrusted (404, never 500),
that lists are one page with the library's cursors, and who may see what."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount
from starlette.testclient import TestClient

import tenancy
from tenancy import Device, Group, Tenancy, Tenant, UsageDay, User
from tenancy.web import app
from tenancy.web.render import slice_after, static_files, usage_chart

EVIL = "<script>alert(1)</script>"


@dataclass
class World:
    tn: Tenancy
    acme: Tenant
    other: Tenant
    region: Group
    site: Group
    gateway: Device
    sensor: Device
    far: Device
    ana: User
    bob: User
    stranger: User

    @property
    def operator(self) -> str:
        admin = self.tn.management_tenant.admin_user_id
        assert admin is not None
        return admin


@pytest.fixture
def world() -> Iterator[World]:
    tn = tenancy.open()
    acme = tn.create_tenant(domain="acme", name=f"Acme {EVIL}", admin_email="it@acme.example")
    other = tn.create_tenant(domain="other", name="Other Co", admin_email="it@other.example")
    t = tn.tenant(acme.id)
    region = t.create_group(f"Region {EVIL}")
    site = t.create_group("San Bruno", parent=region.id, device_tags=[("site", "sb")])
    gateway = t.create_device("Gateway 1", id="gw/1", tags=[("site", "sb")])
    sensor = t.create_device(f"Sensor {EVIL}", id="s-1", parent="gw/1")
    far = t.create_device("Far away", id="far-1", tags=[("site", "la")])
    ana = t.create_user("ana@acme.example", first_name="Ana", last_name="Silva",
                        tags={"notify": "sms"})  # fmt: skip
    bob = t.create_user("bob@acme.example", first_name="Bob", tags={"notify": "email"})
    t.add_member(region.id, ana.id)
    t.add_member(site.id, bob.id)
    o = tn.tenant(other.id)
    o.create_device("Other device", id="o-1")
    stranger = o.create_user("ana@other.example", first_name="Ana", last_name="Other")
    with tn:
        yield World(tn, acme, other, region, site, gateway, sensor, far, ana, bob, stranger)


def client(world: World, who: str | None = None, **options: object) -> TestClient:
    actor = world.operator if who is None else who
    return TestClient(app(world.tn, authorize=lambda request: actor, **options))  # type: ignore[arg-type]


def q(value: str) -> str:
    return quote(value, safe="")


def test_the_tenant_tree_shows_every_tenant_with_status_and_usage(world: World) -> None:
    page = client(world).get("/")
    assert page.status_code == 200
    assert "Management" in page.text
    assert "Other Co" in page.text
    assert "Acme &lt;script&gt;" in page.text
    assert "<svg" in page.text
    assert "devices per day" in page.text
    assert page.text.count('class="status active"') == 3


def test_a_tenant_page_shows_the_collapsible_group_tree_with_counts(world: World) -> None:
    page = client(world).get(f"/tenants/{world.acme.id}")
    assert page.status_code == 200
    assert "<details open>" in page.text  # the root group, with a child
    assert "Region &lt;script&gt;" in page.text
    assert "San Bruno" in page.text
    # Region covers the gateway and its child through San Bruno; one direct member each.
    assert "2 devices · 1 member" in page.text
    assert f"/tenants/{world.acme.id}/audit" in page.text


def test_a_group_page_shows_rules_members_children_and_devices(world: World) -> None:
    page = client(world).get(f"/groups/{world.site.id}")
    assert page.status_code == 200
    assert "<code>site=sb</code>" in page.text
    assert "bob@acme.example" in page.text
    assert "ana@acme.example" not in page.text
    assert "/devices/gw%2F1" in page.text
    assert "/devices/s-1" in page.text
    region = client(world).get(f"/groups/{world.region.id}").text
    assert f"/groups/{world.site.id}" in region  # the child group


def test_a_user_page_shows_groups_roles_and_devices(world: World) -> None:
    page = client(world).get(f"/users/{world.ana.id}")
    assert page.status_code == 200
    assert "Ana Silva" in page.text
    assert "notify=sms" in page.text
    assert "Member of 1 group" in page.text
    assert "with the groups below them, 2" in page.text
    assert "Gateway 1" in page.text
    assert "far-1" not in page.text
    admin = client(world).get(f"/users/{world.acme.admin_user_id}").text
    assert "admin" in admin


def test_a_user_page_shows_the_windows_of_its_grants(world: World) -> None:
    monday = datetime(2026, 3, 2, 9, tzinfo=UTC)
    friday = datetime(2026, 3, 6, 17, tzinfo=UTC)
    t = world.tn.tenant(world.acme.id)
    t.grant_role(world.ana.id, "readonly", valid_until=friday)
    t.grant_inventory_role(
        world.ana.id, "operator", group=world.site.id, valid_from=monday, valid_until=friday
    )
    page = client(world).get(f"/users/{world.ana.id}").text
    assert "readonly (until 2026-03-06T17:00:00+00:00)" in page
    assert "(from 2026-03-02T09:00:00+00:00 until 2026-03-06T17:00:00+00:00)" in page


def test_a_group_page_shows_the_windows_of_its_memberships(world: World) -> None:
    friday = datetime(2026, 3, 6, 17, tzinfo=UTC)
    world.tn.tenant(world.acme.id).add_member(world.site.id, world.bob.id, valid_until=friday)
    page = client(world).get(f"/groups/{world.site.id}").text
    assert "until 2026-03-06T17:00:00+00:00" in page
    region = client(world).get(f"/groups/{world.region.id}").text
    assert "always" in region  # ana's membership has no window


def test_a_device_page_shows_gateway_children_and_whom_to_alert(world: World) -> None:
    c = client(world)
    gateway = c.get("/devices/gw%2F1")
    assert gateway.status_code == 200
    assert "/devices/s-1" in gateway.text  # its child device
    sensor = c.get("/devices/s-1")
    assert "/devices/gw%2F1" in sensor.text
    assert "Sensor &lt;script&gt;" in sensor.text
    assert "2 users." in sensor.text
    sms = c.get("/devices/s-1?tag=notify=sms")
    assert "1 user with notify=sms" in sms.text
    assert "ana@acme.example" in sms.text
    assert "bob@acme.example" not in sms.text
    any_notify = c.get("/devices/s-1?tag=notify")
    assert "2 users with notify" in any_notify.text
    bad = c.get("/devices/s-1?tag==")
    assert bad.status_code == 200
    assert 'class="error"' in bad.text


def test_the_audit_log_is_paged_with_the_library_cursor(world: World) -> None:
    c = client(world, page_size=3)
    first = c.get(f"/tenants/{world.acme.id}/audit")
    assert first.status_code == 200
    assert first.text.count("<tr><td>") == 3
    cursor = world.tn.audit_log(tenant=world.acme.id, limit=3).next
    assert cursor is not None
    assert f"after={q(cursor)}" in first.text
    second = c.get(f"/tenants/{world.acme.id}/audit?after={q(cursor)}")
    assert second.status_code == 200
    assert second.text.count("<tr><td>") == 3


def test_device_lists_are_one_page_and_follow_the_cursor(world: World) -> None:
    t = world.tn.tenant(world.acme.id)
    t.create_devices([{"id": f"bulk-{i:03}", "name": f"Bulk {i}"} for i in range(7)])
    c = client(world, page_size=4)
    seen: list[str] = []
    url: str | None = f"/tenants/{world.acme.id}/devices"
    pages = 0
    while url is not None:
        text = c.get(url).text
        rows = text.count('href="/devices/')
        assert rows <= 4
        seen.append(text)
        pages += 1
        marker = 'rel="next" href="'
        url = text.split(marker)[1].split('"')[0].replace("&amp;", "&") if marker in text else None
    assert pages == 3  # 10 devices, 4 a page
    assert all(f"bulk-{i:03}" in "".join(seen) for i in range(7))


def test_the_group_tree_is_paged(world: World) -> None:
    t = world.tn.tenant(world.acme.id)
    for i in range(5):
        t.create_group(f"Extra {i}")
    c = client(world, page_size=3)
    first = c.get(f"/tenants/{world.acme.id}").text
    assert "More groups" in first
    assert "Extra 0" in first
    assert "Extra 2" in first
    assert "Extra 3" not in first
    after = first.split("?after=")[1].split('"')[0]
    second = c.get(f"/tenants/{world.acme.id}?after={after}").text
    assert "Extra 3" in second
    assert "Extra 0" not in second


ODD_IDS = [
    "x" * 10_000,
    "ünïcødé-☃",
    "../",
    "..%2F..%2Fetc%2Fpasswd",
    EVIL,
    "' OR 1=1 --",
    "\x00",
    " ",
    "%",
]


@pytest.mark.parametrize("odd", ODD_IDS, ids=range(len(ODD_IDS)))
@pytest.mark.parametrize(
    "route",
    ["/tenants/{}", "/tenants/{}/users", "/tenants/{}/devices", "/tenants/{}/audit",
     "/groups/{}", "/users/{}", "/devices/{}"],
)  # fmt: skip
def test_odd_ids_in_the_url_give_a_404_page_never_a_500(world: World, route: str, odd: str) -> None:
    answer = client(world).get(route.format(q(odd)))
    assert answer.status_code == 404
    assert EVIL not in answer.text  # escaped when echoed
    assert "<h1>404" in answer.text


def test_raw_dot_segments_and_unknown_routes_are_404_pages(world: World) -> None:
    c = client(world)
    for url in ("/devices/../../etc/passwd", "/nowhere", "/static/../pages.py", "/static/x.css"):
        answer = c.get(url)
        assert answer.status_code == 404, url
        assert "text/html" in answer.headers["content-type"]


def test_bytes_that_are_not_utf8_in_the_url_are_unknown_ids(world: World) -> None:
    c = client(world)
    for url in ("/devices/%FF", "/users/%FF%FE", "/tenants/%C0%AF", "/groups/%00"):
        assert c.get(url).status_code == 404, url
    assert c.get("/associations?user=%FF&device=%FF").status_code == 200
    assert c.get("/?after=%FF").status_code == 400


@pytest.mark.parametrize("cursor", ["bogus", "x" * 5_000, EVIL, "ü"])
@pytest.mark.parametrize(
    "route", ["/", "/tenants/{t}", "/tenants/{t}/devices", "/tenants/{t}/audit",
              "/tenants/{t}/users", "/groups/{g}", "/users/{u}"],
)  # fmt: skip
def test_a_forged_cursor_gives_a_400_page(world: World, route: str, cursor: str) -> None:
    url = route.format(t=world.acme.id, g=world.site.id, u=world.ana.id)
    answer = client(world).get(f"{url}?after={q(cursor)}")
    assert answer.status_code in (200, 400)  # a cursor past the end is an empty page
    assert EVIL not in answer.text


def test_a_bad_cursor_names_the_rule(world: World) -> None:
    answer = client(world).get(f"/tenants/{world.acme.id}/devices?after=bogus")
    assert answer.status_code == 400
    assert "cursor" in answer.text


def test_no_page_without_authorisation(world: World) -> None:
    refused = TestClient(app(world.tn, authorize=lambda request: None))
    for url in ("/", f"/tenants/{world.acme.id}", f"/devices/{world.far.id}", "/associations"):
        answer = refused.get(url)
        assert answer.status_code == 403
        assert "Acme" not in answer.text
    unknown = client(world, who="u-nobody").get("/")
    assert unknown.status_code == 403


def test_authorize_gets_the_request_and_may_be_a_coroutine(world: World) -> None:
    seen: list[str] = []

    async def authorize(request: Request) -> str | None:
        seen.append(request.url.path)
        return world.operator if request.headers.get("x-user") == "op" else None

    c = TestClient(app(world.tn, authorize=authorize))
    assert c.get("/", headers={"x-user": "op"}).status_code == 200
    assert c.get("/").status_code == 403
    assert seen == ["/", "/"]


def test_a_tenant_user_sees_its_own_tenant_only(world: World) -> None:
    admin = world.acme.admin_user_id
    assert admin is not None
    c = client(world, who=admin)
    tree = c.get("/").text
    assert "Acme" in tree
    assert "Other Co" not in tree
    assert "Management" not in tree
    assert c.get(f"/tenants/{world.other.id}").status_code == 404
    assert c.get("/devices/o-1").status_code == 404
    assert c.get(f"/users/{world.stranger.id}").status_code == 404
    assert c.get(f"/tenants/{world.acme.id}").status_code == 200


def test_a_disabled_actor_is_refused(world: World) -> None:
    world.tn.tenant(world.acme.id).update_user(world.bob.id, enabled=False)
    assert client(world, who=world.bob.id).get("/").status_code == 403


def test_read_only_by_default(world: World) -> None:
    c = client(world)
    page = c.get(f"/tenants/{world.acme.id}").text
    assert '<form method="post"' not in page
    assert "read-only" in page
    answer = c.post("/actions/suspend", data={"tenant_id": world.acme.id})
    assert answer.status_code in (404, 405)
    assert world.tn.get_tenant(world.acme.id).status == "active"


def test_pages_send_security_headers(world: World) -> None:
    answer = client(world).get("/")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert client(world).get("/static/admin.css").headers["content-type"].startswith("text/css")


def test_mounted_under_a_prefix_every_link_keeps_it(world: World) -> None:
    admin = app(world.tn, authorize=lambda request: world.operator)
    outer = TestClient(Starlette(routes=[Mount("/admin", app=admin)]))
    page = outer.get(f"/admin/tenants/{world.acme.id}")
    assert page.status_code == 200
    assert 'href="/admin/static/admin.css"' in page.text
    assert f'href="/admin/groups/{world.region.id}"' in page.text
    assert 'href="/groups/' not in page.text
    assert outer.get("/admin/static/admin.js").status_code == 200


# ------------------------------------------------------------------ test device associations


def test_associations_draw_the_chain_of_groups_when_allowed(world: World) -> None:
    page = client(world).get("/associations?user=ana@acme.example&device=s-1")
    assert page.status_code == 200
    assert 'class="answer allowed"' in page.text
    chain = page.text.split('<ol class="chain">')[1].split("</ol>")[0]
    order = [
        "Ana Silva", "member of", "Region &lt;script&gt;", "has child group", "San Bruno",
        "associates by tag rule site=sb", "Gateway 1", "is the gateway of", "Sensor",
    ]  # fmt: skip
    positions = [chain.index(part) for part in order]
    assert positions == sorted(positions)


def test_associations_say_the_first_failing_condition_in_words(world: World) -> None:
    c = client(world)
    no_group = c.get(f"/associations?user={world.bob.id}&device=far-1").text
    assert 'class="answer denied"' in no_group
    assert "Bob is a member of group (San Bruno), and no group at or below it" in no_group
    other = c.get(f"/associations?user={world.stranger.id}&device=far-1").text
    assert "a user never reaches a device of another tenant" in other
    world.tn.suspend_tenant(world.acme.id)
    suspended = c.get(f"/associations?user={world.ana.id}&device=s-1").text
    assert "is suspended" in suspended
    assert 'class="answer denied"' in suspended


def test_associations_search_by_name_and_offer_candidates(world: World) -> None:
    c = client(world)
    two = c.get("/associations?user=Ana&device=Gateway").text
    assert "users match" in two  # Ana Silva, Ana Other (and admin@management...)
    assert "Ana Silva" in two
    assert "Ana Other" in two
    assert f"user={world.ana.id}&amp;device=gw%2F1" in two  # the device was unique
    none = c.get("/associations?user=nobody-like-this&device=" + q("<b>no</b>")).text
    assert "No user matches" in none
    assert "No device matches <q>&lt;b&gt;no&lt;/b&gt;" in none
    assert "<b>no</b>" not in none
    markup = c.get("/associations?user=Bob&device=" + q(EVIL)).text  # the sensor's name
    assert 'class="answer allowed"' in markup
    assert EVIL not in markup
    by_name = c.get("/associations?user=Silva&device=Far away").text
    assert 'class="answer denied"' in by_name


# ------------------------------------------------------------------ helpers


def test_slice_after_pages_a_sorted_list() -> None:
    items = ["a", "b", "c", "d", "e"]
    assert slice_after(items, str, None, 2) == (["a", "b"], "b")
    assert slice_after(items, str, "b", 2) == (["c", "d"], "d")
    assert slice_after(items, str, "d", 2) == (["e"], None)
    assert slice_after(items, str, "bb", 2) == (["c", "d"], "d")  # a deleted key
    assert slice_after(items, str, "z", 2) == ([], None)


def test_the_usage_chart_has_a_bar_per_day_scaled_to_the_peak() -> None:
    start = date(2026, 1, 1)
    days = [UsageDay(tenant_id="t1", day=start + timedelta(days=i), devices=i * 10)
            for i in range(5)]  # fmt: skip
    chart = usage_chart(days, slots=30, width=120, height=28)
    assert len(chart.bars) == 5
    assert chart.latest == 40
    assert chart.peak == 40
    assert chart.bars[-1].height == 26
    assert chart.bars[-1].x == 116.0
    assert chart.bars[0].height == 1.0  # a day at zero still shows
    assert "2026-01-01" in chart.title
    assert "2026-01-05" in chart.title
    assert usage_chart([]).bars == ()


def test_the_templates_and_static_files_are_package_data() -> None:
    """Read through importlib.resources, as from an installed wheel."""
    assert set(static_files()) == {"admin.css", "admin.js"}


def test_app_refuses_bad_options(world: World) -> None:
    with pytest.raises(tenancy.InvalidValue, match="page size"):
        app(world.tn, authorize=lambda request: None, page_size=0)
    with pytest.raises(tenancy.InvalidValue, match="callable"):
        app(world.tn, authorize="admin")  # type: ignore[arg-type]
