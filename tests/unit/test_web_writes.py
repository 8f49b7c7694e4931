"""The admin page's writes (``allow_writes=True``): each behind a form with a CSRF token,
authorised by the library for the actor ``authorize`` names, and audited as that actor; a
refused write is a page that says why and changes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

import tenancy
from tenancy import Tenancy
from tenancy.web import app


@pytest.fixture
def tn() -> Iterator[Tenancy]:
    with tenancy.open() as handle:
        acme = handle.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        t = handle.tenant(acme.id)
        site = t.create_group("Site", device_tags=[("site", "sb")])
        t.create_device("Gen", id="gen-1", tags=[("site", "sb")])
        t.create_user("ana@acme.example", first_name="Ana")
        t.add_member(site.id, t.find_user("ana@acme.example").id)  # type: ignore[union-attr]
        yield handle


def ids(tn: Tenancy) -> tuple[str, str, str, str]:
    acme = tn.find_tenant("acme")
    assert acme is not None
    t = tn.tenant(acme.id)
    ana = t.find_user("ana@acme.example")
    assert ana is not None
    return acme.id, t.groups()[0].id, ana.id, str(acme.admin_user_id)


def operator(tn: Tenancy) -> str:
    return str(tn.management_tenant.admin_user_id)


def writer(tn: Tenancy, actor: str) -> TestClient:
    return TestClient(app(tn, authorize=lambda request: actor, allow_writes=True))


def csrf_of(c: TestClient, url: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', c.get(url).text)
    assert found is not None, "the page has a form"
    return found.group(1)


def last_audit(tn: Tenancy, tenant_id: str) -> tenancy.AuditRecord:
    page = tn.audit_log(tenant=tenant_id, limit=10_000)
    return page.items[-1]


def test_suspend_and_activate_behind_a_form_audited_as_the_actor(tn: Tenancy) -> None:
    tenant_id, _, _, _ = ids(tn)
    c = writer(tn, operator(tn))
    token = csrf_of(c, f"/tenants/{tenant_id}")
    done = c.post("/actions/suspend", data={"csrf": token, "tenant_id": tenant_id},
                  follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"] == f"/tenants/{tenant_id}?done=suspended"
    assert tn.get_tenant(tenant_id).status == "suspended"
    record = last_audit(tn, tenant_id)
    assert record.action == "TenantSuspended"
    assert record.actor == operator(tn)
    page = c.get(done.headers["location"]).text
    assert "The tenant is suspended." in page
    assert "Activate tenant" in page
    c.post("/actions/activate", data={"csrf": token, "tenant_id": tenant_id})
    assert tn.get_tenant(tenant_id).status == "active"


def test_a_write_without_the_csrf_token_is_refused_and_changes_nothing(tn: Tenancy) -> None:
    tenant_id, _, _, _ = ids(tn)
    c = writer(tn, operator(tn))
    revision = tn.revision
    for form in ({"tenant_id": tenant_id}, {"tenant_id": tenant_id, "csrf": "0" * 64}):
        answer = c.post("/actions/suspend", data=form)
        assert answer.status_code == 403
        assert "out of date" in answer.text
    other_actor = writer(tn, str(ids(tn)[3]))  # another actor's token is no good either
    token = csrf_of(other_actor, f"/tenants/{tenant_id}")
    assert (
        c.post("/actions/suspend", data={"csrf": token, "tenant_id": tenant_id}).status_code == 403
    )
    assert tn.revision == revision
    assert tn.get_tenant(tenant_id).status == "active"


def test_a_write_that_is_not_a_form_is_refused(tn: Tenancy) -> None:
    tenant_id, _, _, _ = ids(tn)
    c = writer(tn, operator(tn))
    token = csrf_of(c, f"/tenants/{tenant_id}")
    as_json = c.post("/actions/suspend", json={"csrf": token, "tenant_id": tenant_id})
    assert as_json.status_code == 400
    huge = c.post("/actions/suspend", data={"csrf": token, "tenant_id": "x" * 20_000})
    assert huge.status_code == 400
    assert c.get("/actions/suspend").status_code == 405
    assert tn.get_tenant(tenant_id).status == "active"


def test_add_and_remove_a_member_by_email_and_by_id(tn: Tenancy) -> None:
    tenant_id, group_id, ana, _ = ids(tn)
    t = tn.tenant(tenant_id)
    bob = t.create_user("bob@acme.example")
    c = writer(tn, operator(tn))
    token = csrf_of(c, f"/groups/{group_id}")
    added = c.post("/actions/add-member",
                   data={"csrf": token, "group_id": group_id, "user": "BOB@acme.example"},
                   follow_redirects=False)  # fmt: skip
    assert added.headers["location"] == f"/groups/{group_id}?done=member-added"
    assert tn.in_group(bob.id, group_id)
    assert last_audit(tn, tenant_id).actor == operator(tn)
    removed = c.post("/actions/remove-member",
                     data={"csrf": token, "group_id": group_id, "user_id": ana})  # fmt: skip
    assert removed.status_code == 200
    assert "The member was removed." in removed.text
    assert not tn.in_group(ana, group_id)


def test_tag_and_untag_a_device(tn: Tenancy) -> None:
    tenant_id, _, _, admin = ids(tn)
    c = writer(tn, admin)  # the tenant's own admin may edit its devices
    token = csrf_of(c, "/devices/gen-1")
    form = {"csrf": token, "device_id": "gen-1", "key": "notify", "value": "sms"}
    assert c.post("/actions/tag", data=form).status_code == 200
    assert ("notify", "sms") in tn.tenant(tenant_id).get_device("gen-1").tags
    record = last_audit(tn, tenant_id)
    assert record.actor == admin
    assert record.target == "gen-1"
    assert c.post("/actions/untag", data=form).status_code == 200
    assert ("notify", "sms") not in tn.tenant(tenant_id).get_device("gen-1").tags


def test_a_write_the_library_refuses_is_a_page_that_says_why(tn: Tenancy) -> None:
    tenant_id, group_id, _, admin = ids(tn)
    revision = tn.revision
    c = writer(tn, admin)  # a tenant may not suspend itself: its parent decides
    token = csrf_of(c, f"/groups/{group_id}")
    answer = c.post("/actions/suspend", data={"csrf": token, "tenant_id": tenant_id})
    assert answer.status_code == 403
    assert "suspend" in answer.text
    empty = c.post("/actions/tag", data={"csrf": token, "device_id": "gen-1", "key": "",
                                         "value": "v"})  # fmt: skip
    assert empty.status_code == 400
    nobody = {"csrf": token, "group_id": group_id, "user": "nobody@x.example"}
    unknown = c.post("/actions/add-member", data=nobody)
    assert unknown.status_code == 404
    odd = c.post("/actions/remove-member",
                 data={"csrf": token, "group_id": "<script>", "user_id": "../"})  # fmt: skip
    assert odd.status_code == 404
    assert "<script>" not in odd.text
    assert tn.revision == revision


def test_forms_appear_only_with_allow_writes(tn: Tenancy) -> None:
    tenant_id, group_id, _, _ = ids(tn)
    c = writer(tn, operator(tn))
    assert "Suspend tenant" in c.get(f"/tenants/{tenant_id}").text
    group = c.get(f"/groups/{group_id}").text
    assert "Add member" in group
    assert "Remove" in group
    assert "Add tag" in c.get("/devices/gen-1").text
    management = c.get(f"/tenants/{tn.management_tenant.id}").text
    assert "Suspend tenant" not in management  # it cannot be suspended
