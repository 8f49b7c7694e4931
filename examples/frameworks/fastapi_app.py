"""FastAPI: one handle per process, opened by the lifespan, given to routes by a dependency.

- The lifespan opens the handle (off the event loop: the open reads the whole store into
  memory) and closes it at shutdown, which flushes the usage counters.
- ``caller`` gives each route the request's user and the handle acting as that user
  (``tn.as_user``), so every write is authorised for the user and audited as the user.
  Authentication is the application's: here the user id arrives in an ``X-User-Id``
  header, a stand-in for a session or a token.
- ``verify`` on the path's device id answers 404 for a device the user does not reach,
  exactly as for one that does not exist, so a request learns nothing about other
  tenants' or sites' devices; 403 is only for a device the user sees but may not change.
- Reads are microseconds and do no I/O: they are ``async def`` and run on the loop.
  A write may wait for the store (SQLite's lock, lost races: up to ``write_timeout``), so
  the route that writes is a plain ``def``, which FastAPI runs in its thread pool.
- Any other tenancy error becomes the status of docs/reference/errors.md, with the field
  and the rule in the body (:mod:`examples.frameworks.http_errors`).

Run it with ``uvicorn --factory examples.frameworks.fastapi_app:create_app``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import tenancy
from examples.frameworks.http_errors import error_body, http_status
from examples.frameworks.world import device_json

__all__ = ["Caller", "create_app"]

router = APIRouter()


def create_app(target: str | None = "tenancy.db", **options: object) -> FastAPI:
    """The application, on the store ``target`` names (None: a new in-memory store)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tn = await asyncio.to_thread(tenancy.open, target, **options)
        app.state.tenancy = tn
        try:
            yield
        finally:
            await asyncio.to_thread(tn.close)

    app = FastAPI(lifespan=lifespan)
    app.add_exception_handler(tenancy.TenancyError, tenancy_error)
    app.include_router(router)
    return app


async def tenancy_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, tenancy.TenancyError)  # registered for TenancyError only
    return JSONResponse(error_body(error), status_code=http_status(error))


@dataclass(frozen=True)
class Caller:
    """The request's user and the handle acting as that user."""

    user_id: str
    tn: tenancy.Tenancy


async def caller(request: Request, x_user_id: Annotated[str, Header()]) -> Caller:
    """The dependency every route takes (``async``: two dictionary look-ups, no I/O)."""
    tn: tenancy.Tenancy = request.app.state.tenancy
    try:
        return Caller(x_user_id, tn.as_user(x_user_id))
    except (tenancy.NotFound, tenancy.PermissionDenied):  # unknown, disabled or suspended
        raise HTTPException(401, "unknown user") from None


Me = Annotated[Caller, Depends(caller)]


def reached(me: Caller, device_id: str) -> None:
    """404 unless the caller reaches the device: unknown and unreachable look alike."""
    if not me.tn.verify(me.user_id, device_id):
        raise HTTPException(404, "device not found")


class Rename(BaseModel):
    name: str


@router.get("/devices")
async def list_devices(me: Me, after: str | None = None, limit: int = 100) -> dict[str, object]:
    page = me.tn.devices_for(me.user_id, after=after, limit=limit)
    return {"items": [device_json(d) for d in page.items], "next": page.next}


@router.get("/tenants/{tenant_id}/devices/{device_id}")
async def get_device(tenant_id: str, device_id: str, me: Me) -> dict[str, object]:
    reached(me, device_id)
    return device_json(me.tn.tenant(tenant_id).get_device(device_id))


@router.patch("/tenants/{tenant_id}/devices/{device_id}")
def rename_device(tenant_id: str, device_id: str, body: Rename, me: Me) -> dict[str, object]:
    reached(me, device_id)  # then PermissionDenied (403) if the user may only read it
    return device_json(me.tn.tenant(tenant_id).update_device(device_id, name=body.name))
