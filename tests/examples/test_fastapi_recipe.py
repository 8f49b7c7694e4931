"""The FastAPI recipe (examples/frameworks/fastapi_app.py), through FastAPI's TestClient:
the lifespan opens and closes the handle, routes act as the request's user, an
unreachable device is a 404 like a missing one, a reachable one the user may not change a
403, a bad value a 422 naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import tenancy
from examples.frameworks.fastapi_app import create_app
from examples.frameworks.world import World, seed


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, World]]:
    app = create_app(str(tmp_path / "app.db"))
    with TestClient(app) as client:  # runs the lifespan: opens the handle
        tn = app.state.tenancy
        assert isinstance(tn, tenancy.Tenancy)
        yield client, seed(tn)


def as_user(user_id: str) -> dict[str, str]:
    return {"X-User-Id": user_id}


def test_a_reached_device_is_served(served: tuple[TestClient, World]) -> None:
    client, w = served
    answer = client.get(
        f"/tenants/{w.tenant_id}/devices/{w.generator_id}", headers=as_user(w.viewer_id)
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "id": w.generator_id,
        "name": "Generator 7",
        "tags": [["site", "san-bruno"]],
    }
    listing = client.get("/devices", headers=as_user(w.viewer_id)).json()
    assert [d["id"] for d in listing["items"]] == [w.generator_id]
    assert listing["next"] is None


def test_unreached_and_unknown_devices_are_both_404(served: tuple[TestClient, World]) -> None:
    client, w = served
    for device in (w.pump_id, "d-0000000000000001", "not an id"):
        answer = client.get(
            f"/tenants/{w.tenant_id}/devices/{device}", headers=as_user(w.viewer_id)
        )
        assert answer.status_code == 404
        assert answer.json() == {"detail": "device not found"}


def test_a_write_the_user_may_not_make_is_403(served: tuple[TestClient, World]) -> None:
    client, w = served
    url = f"/tenants/{w.tenant_id}/devices/{w.generator_id}"
    denied = client.patch(url, json={"name": "Mine"}, headers=as_user(w.viewer_id))
    assert denied.status_code == 403
    assert denied.json()["error"] == "PermissionDenied"
    assert "device:UPDATE" in denied.json()["message"]
    assert client.get(url, headers=as_user(w.viewer_id)).json()["name"] == "Generator 7"
    # the operator may rename what it reaches, and not the device it does not reach (404)
    renamed = client.patch(url, json={"name": "Generator 7b"}, headers=as_user(w.operator_id))
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Generator 7b"
    pump = f"/tenants/{w.tenant_id}/devices/{w.pump_id}"
    assert client.patch(pump, json={"name": "x"}, headers=as_user(w.operator_id)).status_code == 404


def test_a_bad_value_is_422_with_its_field(served: tuple[TestClient, World]) -> None:
    client, w = served
    url = f"/tenants/{w.tenant_id}/devices/{w.generator_id}"
    answer = client.patch(url, json={"name": ""}, headers=as_user(w.operator_id))
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"] == "InvalidValue"
    assert body["field"] == "name"
    assert "non-empty" in body["message"]


def test_an_unknown_user_is_401(served: tuple[TestClient, World]) -> None:
    client, _ = served
    answer = client.get("/devices", headers=as_user("u-0000000000000001"))
    assert answer.status_code == 401
    assert client.get("/devices").status_code == 422  # no header: FastAPI's own validation


def test_the_lifespan_closes_the_handle(tmp_path: Path) -> None:
    """After the app shuts down its handle is closed (a write then raises StoreError) and
    what it wrote is in the file."""
    app = create_app(str(tmp_path / "app.db"))
    with TestClient(app):
        tn = app.state.tenancy
        w = seed(tn)
    with pytest.raises(tenancy.StoreError):
        tn.tenant(w.tenant_id).create_device("After close")
    with tenancy.open(str(tmp_path / "app.db")) as again:
        assert again.verify(w.viewer_id, w.generator_id)
