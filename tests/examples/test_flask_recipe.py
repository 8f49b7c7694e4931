"""The Flask recipe (examples/frameworks/flask_app.py), through Flask's test client: the
extension opens one handle on first use, ``before_request`` acts as the request's user,
an unreachable device is a 404 like a missing one, a reachable one the user may not
change a 403, a bad value a 422 naming the field."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

import tenancy
from examples.frameworks.flask_app import TenancyExtension, create_app
from examples.frameworks.world import World, seed


def extension_of(app: Flask) -> TenancyExtension:
    ext = app.extensions["tenancy"]
    assert isinstance(ext, TenancyExtension)
    return ext


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FlaskClient, World]]:
    app = create_app({"TENANCY_DB": str(tmp_path / "app.db"), "TESTING": True})
    ext = extension_of(app)
    try:
        yield app.test_client(), seed(ext.handle)
    finally:
        ext.close()


def as_user(user_id: str) -> dict[str, str]:
    return {"X-User-Id": user_id}


def test_a_reached_device_is_served(served: tuple[FlaskClient, World]) -> None:
    client, w = served
    answer = client.get(
        f"/tenants/{w.tenant_id}/devices/{w.generator_id}", headers=as_user(w.viewer_id)
    )
    assert answer.status_code == 200
    assert answer.json == {
        "id": w.generator_id,
        "name": "Generator 7",
        "tags": [["site", "san-bruno"]],
    }
    listing = client.get("/devices", headers=as_user(w.viewer_id)).json
    assert listing is not None
    assert [d["id"] for d in listing["items"]] == [w.generator_id]


def test_unreached_and_unknown_devices_are_both_404(served: tuple[FlaskClient, World]) -> None:
    client, w = served
    for device in (w.pump_id, "d-0000000000000001"):
        url = f"/tenants/{w.tenant_id}/devices/{device}"
        assert client.get(url, headers=as_user(w.viewer_id)).status_code == 404
        assert (
            client.patch(url, json={"name": "x"}, headers=as_user(w.operator_id)).status_code == 404
        )


def test_a_write_the_user_may_not_make_is_403_and_a_bad_value_422(
    served: tuple[FlaskClient, World],
) -> None:
    client, w = served
    url = f"/tenants/{w.tenant_id}/devices/{w.generator_id}"
    denied = client.patch(url, json={"name": "Mine"}, headers=as_user(w.viewer_id))
    assert denied.status_code == 403
    assert denied.json is not None
    assert denied.json["error"] == "PermissionDenied"
    bad = client.patch(url, json={"name": ""}, headers=as_user(w.operator_id))
    assert bad.status_code == 422
    assert bad.json is not None
    assert bad.json["field"] == "name"
    renamed = client.patch(url, json={"name": "Generator 7b"}, headers=as_user(w.operator_id))
    assert renamed.status_code == 200
    assert client.get(url, headers=as_user(w.viewer_id)).json == renamed.json
    assert client.patch(url, json=["no"], headers=as_user(w.operator_id)).status_code == 400


def test_unknown_or_missing_user_is_401(served: tuple[FlaskClient, World]) -> None:
    client, _ = served
    assert client.get("/devices", headers=as_user("u-0000000000000001")).status_code == 401
    assert client.get("/devices").status_code == 401


def test_the_extension_opens_one_handle_however_many_threads_ask(tmp_path: Path) -> None:
    ext = extension_of(create_app({"TENANCY_DB": str(tmp_path / "app.db")}))
    seen: list[tenancy.Tenancy] = []
    start = threading.Barrier(4)

    def first_request() -> None:
        start.wait(timeout=10)
        seen.append(ext.handle)

    threads = [threading.Thread(target=first_request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    try:
        assert len(seen) == 4
        assert all(handle is seen[0] for handle in seen)
    finally:
        ext.close()
