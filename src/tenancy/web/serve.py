"""``tenancy serve``: the admin page on a local port, behind a random access token.

The token is made once per run (``secrets.token_urlsafe``), printed once with the page's
address, and asked of every request: as ``?token=`` in the first URL (which sets a cookie
and redirects to the same page without it, so the token leaves the address bar and the
history), then from that cookie, or from an ``Authorization: Bearer`` header (scripts).
It is compared in constant time (``hmac.compare_digest``). A request without it gets a
401 page and reaches nothing of the store. Behind the token the page acts as the
management tenant's first admin user, read-only unless ``--allow-writes``.
"""

from __future__ import annotations

import hmac
import secrets
import sys
from typing import TextIO
from urllib.parse import urlencode

import uvicorn
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

import tenancy
from tenancy.web.application import app

__all__ = ["COOKIE", "TokenGate", "serve"]

COOKIE = "tenancy_token"

REFUSED = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Token needed</title>"
    "</head><body><h1>401: token needed</h1><p>Open the address <code>tenancy serve</code> "
    "printed when it started (it ends with <code>?token=</code>).</p></body></html>"
)


class TokenGate:
    """ASGI middleware: passes a request on only with the token (query, cookie or header),
    and marks it in ``request.state.token_ok`` for the ``authorize`` callable."""

    def __init__(self, application: ASGIApp, token: str) -> None:
        self.application = application
        self.token = token.encode()

    def _valid(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.application(scope, receive, send)
            return
        request = Request(scope)
        response: Response
        query_token = request.query_params.get("token")
        if scope["type"] == "http" and self._valid(query_token):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            location = request.url.path
            response = RedirectResponse(
                location + ("?" + urlencode(rest) if rest else ""), status_code=303
            )
            response.set_cookie(COOKIE, self.token.decode(), httponly=True, samesite="strict",
                                path=scope.get("root_path") or "/")  # fmt: skip
            await response(scope, receive, send)
            return
        header = request.headers.get("authorization", "")
        bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
        if self._valid(bearer) or self._valid(request.cookies.get(COOKIE)):
            scope.setdefault("state", {})["token_ok"] = True
            await self.application(scope, receive, send)
            return
        if scope["type"] != "http":  # a websocket: the page has none
            await send({"type": "websocket.close", "code": 1008})
            return
        response = HTMLResponse(REFUSED, status_code=401, headers={"Cache-Control": "no-store"})
        await response(scope, receive, send)


def gated_app(tn: tenancy.Tenancy, token: str, *, allow_writes: bool = False) -> TokenGate:
    """The admin page of ``tn`` behind ``token``, acting as the management tenant's first
    admin user."""
    admin = tn.management_tenant.admin_user_id

    def authorize(request: Request) -> str | None:
        return admin if getattr(request.state, "token_ok", False) else None

    return TokenGate(app(tn, authorize=authorize, allow_writes=allow_writes), token)


def serve(
    db: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    allow_writes: bool = False,
    out: TextIO | None = None,
) -> int:
    """Open the store, print the page's address with its token once, and serve until
    interrupted (uvicorn). Returns the exit status. ``out``: where the line goes
    (standard output)."""
    out = sys.stdout if out is None else out
    token = secrets.token_urlsafe(32)
    with tenancy.open(db) as tn:
        gate = gated_app(tn, token, allow_writes=allow_writes)
        shown = f"[{host}]" if ":" in host else host
        mode = "read and write" if allow_writes else "read-only"
        out.write(f"tenancy admin page ({mode}): http://{shown}:{port}/?token={token}\n")
        out.flush()
        uvicorn.run(gate, host=host, port=port, log_level="warning", access_log=False)
    return 0
