"""Flask: an app factory and an extension that holds one handle per process.

- :class:`TenancyExtension` follows Flask's extension pattern (``init_app``,
  ``app.extensions``). It opens the handle on first use, under a lock, from
  ``TENANCY_DB`` in the app's config, so each process (each gunicorn worker) opens its
  own; or it is handed an open handle (:mod:`examples.frameworks.gunicorn_app` opens one
  at import, which ``--preload`` does once before forking).
- ``before_request`` puts the request's user and the handle acting as that user on ``g``
  (the user id arrives in an ``X-User-Id`` header: a stand-in for the application's own
  authentication). ``verify`` on the path's device id answers 404 for a device the user
  does not reach, as for one that does not exist; 403 is for one it sees but may not
  change.
- An error handler turns every tenancy error into the status of docs/reference/errors.md,
  with the field and the rule in the body.

Flask serves each request on one thread; the handle may be shared by all of them: reads
take no lock, writes queue on the handle's writer lock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from flask import Blueprint, Flask, abort, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

import tenancy
from examples.frameworks.http_errors import error_body, http_status
from examples.frameworks.world import device_json

__all__ = ["TenancyExtension", "create_app"]


class TenancyExtension:
    """The handle of a Flask app: ``handle`` opens it on first use (once per process)."""

    def __init__(self, app: Flask | None = None, *, handle: tenancy.Tenancy | None = None):
        self._handle = handle
        self._lock = threading.Lock()
        self._target: str | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        self._target = app.config.get("TENANCY_DB", "tenancy.db")
        app.extensions["tenancy"] = self

    @property
    def handle(self) -> tenancy.Tenancy:
        """The handle (opened here the first time: it reads the whole store)."""
        if self._handle is None:
            with self._lock:  # two first requests at once open one handle
                if self._handle is None:
                    self._handle = tenancy.open(self._target)
        return self._handle

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


def extension() -> TenancyExtension:
    ext = current_app.extensions["tenancy"]
    assert isinstance(ext, TenancyExtension)
    return ext


def me() -> tuple[str, tenancy.Tenancy]:
    """The request's user id and the handle acting as that user (set by act_as_user)."""
    user_id, acting = g.user_id, g.tenancy
    assert isinstance(user_id, str)
    assert isinstance(acting, tenancy.Tenancy)
    return user_id, acting


def reached(device_id: str) -> tuple[str, tenancy.Tenancy]:
    """404 unless the request's user reaches the device: unknown and unreachable look alike."""
    user_id, acting = me()
    if not acting.verify(user_id, device_id):
        abort(404, "device not found")
    return user_id, acting


api = Blueprint("devices", __name__)


@api.before_request
def act_as_user() -> None:
    user_id = request.headers.get("X-User-Id")
    if user_id is None:
        abort(401, "no user")
    try:
        g.tenancy = extension().handle.as_user(user_id)
    except (tenancy.NotFound, tenancy.PermissionDenied):  # unknown, disabled or suspended
        abort(401, "unknown user")
    g.user_id = user_id


@api.errorhandler(tenancy.TenancyError)
def tenancy_error(error: tenancy.TenancyError) -> ResponseReturnValue:
    return jsonify(error_body(error)), http_status(error)


@api.get("/devices")
def list_devices() -> ResponseReturnValue:
    user_id, acting = me()
    page = acting.devices_for(user_id, after=request.args.get("after"))
    return {"items": [device_json(d) for d in page.items], "next": page.next}


@api.get("/tenants/<tenant_id>/devices/<device_id>")
def get_device(tenant_id: str, device_id: str) -> ResponseReturnValue:
    _, acting = reached(device_id)
    return device_json(acting.tenant(tenant_id).get_device(device_id))


@api.patch("/tenants/<tenant_id>/devices/<device_id>")
def rename_device(tenant_id: str, device_id: str) -> ResponseReturnValue:
    _, acting = reached(device_id)  # then PermissionDenied (403) if the user may only read it
    body = request.get_json(silent=True)
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str):
        abort(400, "the body is a JSON object with a name")
    return device_json(acting.tenant(tenant_id).update_device(device_id, name=name))


def create_app(
    config: Mapping[str, object] | None = None, *, handle: tenancy.Tenancy | None = None
) -> Flask:
    """The application: ``config`` may set ``TENANCY_DB``; ``handle`` is an open handle
    to use instead of opening one."""
    app = Flask(__name__)
    app.config.update(config or {})
    TenancyExtension(app, handle=handle)
    app.register_blueprint(api)
    return app
