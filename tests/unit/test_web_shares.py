"""The admin page lists a tenant's shares (tenancy.web): its connectors with their
destination and status, its subscriptions with their source, status and the connector's
status; names escaped, never a security code, the other tenant linked only when the
operator may see it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

import tenancy
from tenancy import Connector, Subscription, Tenancy, Tenant
from tenancy.web import app

EVIL = "<script>alert(1)</script>"


class World:
    def __init__(self, tn: Tenancy) -> None:
        self.tn = tn
        self.reseller: Tenant = tn.create_tenant(
            domain="reseller", name="Reseller", admin_email="it@reseller.example",
            allow_subtenants=True,
        )  # fmt: skip
        self.acme: Tenant = tn.create_tenant(
            domain="acme", name="Acme", admin_email="it@acme.example", parent=self.reseller.id
        )
        self.svc: Tenant = tn.create_tenant(domain="svc", name="Svc", admin_email="it@svc.example")
        src, dst = tn.tenant(self.acme.id), tn.tenant(self.svc.id)
        device = src.create_device("Generator")
        self.connector: Connector = src.create_connector(
            f"Gens {EVIL}", destination=self.svc.id, devices=[device.id]
        )
        self.pending: Connector = src.create_connector(
            "Later", destination=self.svc.id, devices=[device.id]
        )
        src.suspend_connector(self.pending.id)
        self.sub: Subscription = dst.accept_connector(
            self.connector.id, security_code=self.connector.security_code, name=f"From {EVIL}"
        )
        dst.pause_subscription(self.sub.id)

    def client(self, who: str | None = None) -> TestClient:
        actor = who or self.tn.management_tenant.admin_user_id
        return TestClient(app(self.tn, authorize=lambda request: actor))


@pytest.fixture
def world() -> Iterator[World]:
    with tenancy.open() as tn:
        yield World(tn)


def test_the_source_lists_its_connectors_with_destination_and_status(world: World) -> None:
    page = world.client().get(f"/tenants/{world.acme.id}")
    assert page.status_code == 200
    assert "Connectors (shared with other tenants)" in page.text
    assert "Gens &lt;script&gt;" in page.text
    assert EVIL not in page.text
    assert f'href="/tenants/{world.svc.id}">Svc</a>' in page.text
    assert '<span class="status suspended">suspended</span>' in page.text  # "Later"
    assert "Subscriptions (shared into" not in page.text
    for code in (world.connector.security_code, world.pending.security_code):
        assert code not in page.text


def test_the_destination_lists_its_subscriptions_with_both_statuses(world: World) -> None:
    page = world.client().get(f"/tenants/{world.svc.id}")
    assert page.status_code == 200
    assert "Subscriptions (shared into this tenant)" in page.text
    assert f'href="/groups/{world.sub.group_id}">From &lt;script&gt;' in page.text
    assert '<span class="status paused">paused</span>' in page.text
    assert "connector active" in page.text
    assert f'href="/tenants/{world.acme.id}">Acme</a>' in page.text
    assert world.connector.security_code not in page.text


def test_a_tenant_without_shares_shows_no_share_section(world: World) -> None:
    page = world.client().get(f"/tenants/{world.reseller.id}")
    assert page.status_code == 200
    assert "<h2>Shares</h2>" not in page.text


def test_the_other_tenant_is_linked_only_when_the_operator_may_see_it(world: World) -> None:
    """The reseller's admin sees Acme (below it), not Svc: Svc is named by id, unlinked."""
    admin = world.reseller.admin_user_id
    assert admin is not None
    page = world.client(admin).get(f"/tenants/{world.acme.id}")
    assert page.status_code == 200
    assert f"<code>{world.svc.id}</code>" in page.text
    assert f'href="/tenants/{world.svc.id}"' not in page.text
    assert world.connector.security_code not in page.text
