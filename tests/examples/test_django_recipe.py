"""The Django recipe (examples/frameworks/django_app/), through Django's test Client, with
the recipe's settings module configured here (TENANCY_DB pointing at a file of the test):
the app config opens the handle on the first request, the decorator acts as the request's
user, an unreachable device is a 404 like a missing one, a reachable one the user may not
change a 403, a bad value a 422 naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import django
import pytest
from django.apps import apps
from django.conf import settings
from django.test import Client, override_settings

import tenancy
from examples.frameworks.django_app import settings as recipe_settings
from examples.frameworks.django_app.apps import TenancyConfig
from examples.frameworks.world import World, seed

if not settings.configured:  # once per process: Django's settings are global
    settings.configure(
        **{name: getattr(recipe_settings, name) for name in dir(recipe_settings) if name.isupper()}
    )
    django.setup()


def config() -> TenancyConfig:
    app = apps.get_app_config("tenancy_recipe")
    assert isinstance(app, TenancyConfig)
    return app


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Client, World]]:
    path = tmp_path / "app.db"
    with tenancy.open(str(path)) as tn:
        world = seed(tn)
    with override_settings(TENANCY_DB=str(path)):
        try:
            yield Client(), world
        finally:
            config().tenancy.close()


def as_user(user_id: str) -> dict[str, str]:
    return {"X-User-Id": user_id}


def test_the_handle_opens_on_the_first_request_only(served: tuple[Client, World]) -> None:
    client, w = served
    assert not config().tenancy.opened  # ready() opened nothing
    assert client.get("/devices", headers=as_user(w.viewer_id)).status_code == 200
    assert config().tenancy.opened
    first = config().tenancy.get()
    client.get("/devices", headers=as_user(w.viewer_id))
    assert config().tenancy.get() is first


def test_a_reached_device_is_served(served: tuple[Client, World]) -> None:
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


def test_unreached_and_unknown_devices_are_both_404(served: tuple[Client, World]) -> None:
    client, w = served
    for device in (w.pump_id, "d-0000000000000001"):
        url = f"/tenants/{w.tenant_id}/devices/{device}"
        assert client.get(url, headers=as_user(w.viewer_id)).status_code == 404
        renamed = client.patch(
            url, json.dumps({"name": "x"}), "application/json", headers=as_user(w.operator_id)
        )
        assert renamed.status_code == 404


def test_a_write_the_user_may_not_make_is_403_and_a_bad_value_422(
    served: tuple[Client, World],
) -> None:
    client, w = served
    url = f"/tenants/{w.tenant_id}/devices/{w.generator_id}"

    def rename(user: str, body: object) -> tuple[int, dict[str, object]]:
        answer = client.patch(url, json.dumps(body), "application/json", headers=as_user(user))
        return answer.status_code, answer.json()

    status, denied = rename(w.viewer_id, {"name": "Mine"})
    assert status == 403
    assert denied["error"] == "PermissionDenied"
    status, bad = rename(w.operator_id, {"name": ""})
    assert status == 422
    assert bad["field"] == "name"
    assert rename(w.operator_id, ["no name"])[0] == 400
    status, renamed = rename(w.operator_id, {"name": "Generator 7b"})
    assert status == 200
    assert client.get(url, headers=as_user(w.viewer_id)).json() == renamed


def test_unknown_or_missing_user_is_401_and_other_methods_405(
    served: tuple[Client, World],
) -> None:
    client, w = served
    assert client.get("/devices", headers=as_user("u-0000000000000001")).status_code == 401
    assert client.get("/devices").status_code == 401
    url = f"/tenants/{w.tenant_id}/devices/{w.generator_id}"
    assert client.delete(url, headers=as_user(w.operator_id)).status_code == 405
