"""The admin page as an ASGI application: :func:`app`.

Every request first asks the application's ``authorize`` callable who is asking; no page
is rendered without an answer. The rest runs in a worker thread (the library's calls are
synchronous, and a SQLite store does I/O), and every error of the library becomes a page:
an id that names nothing is 404, a bad value (a stale cursor) 400, a refused write 403, a
suspended tenant 409. Nothing a URL can hold reaches a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeAlias
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import tenancy
from tenancy import Tenancy, User
from tenancy.web import lookups, pages
from tenancy.web.associations import associations_page
from tenancy.web.context import SECURITY_HEADERS, PageNotFound, Req
from tenancy.web.render import environment, static_files
from tenancy.web.writes import WRITES

__all__ = ["Authorize", "app"]

Authorize: TypeAlias = Callable[[Request], "str | Awaitable[str | None] | None"]
"""``authorize(request)``: the id of the user the request acts as, or None to refuse it."""

MAX_FORM = 16_384
"""Bytes of a form body read at most (the admin page's forms hold a few ids)."""
DEFAULT_PAGE_SIZE = 50

Page: TypeAlias = Callable[[Req], Response]

STATUS = (
    # (error type, HTTP status, title), most specific first
    (PageNotFound, 404, "Not found"),
    (tenancy.NotFound, 404, "Not found"),
    (tenancy.PermissionDenied, 403, "Refused"),
    (tenancy.InvalidValue, 400, "Bad request"),
    (tenancy.TenantSuspended, 409, "Tenant suspended"),
    (tenancy.TenancyError, 409, "Refused"),
)


class _Admin:
    def __init__(
        self, tn: Tenancy, authorize: Authorize, allow_writes: bool, page_size: int
    ) -> None:
        self.tn = tn
        self.authorize = authorize
        self.allow_writes = allow_writes
        self.page_size = page_size
        self.env = environment()
        self.static = static_files()
        self.secret = secrets.token_bytes(32)

    def csrf(self, actor: User) -> str:
        """The CSRF token of the actor's forms: a MAC of its id under this application's
        random key, so another site cannot know it and a restart invalidates old forms."""
        return hmac.new(self.secret, actor.id.encode(), hashlib.sha256).hexdigest()

    def error(self, request: Request, status: int, title: str, message: str) -> Response:
        page = self.env.get_template("error.html").render(
            base=request.scope.get("root_path", ""), actor=None, csrf="",
            allow_writes=False, message=None, title=title, detail=message, status=status,
        )  # fmt: skip
        return Response(page, status, headers=SECURITY_HEADERS, media_type="text/html")

    async def actor(self, request: Request) -> User | Response:
        """The user ``authorize`` names, or the refusal page (403)."""
        answer = self.authorize(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if answer is None:
            return self.error(request, 403, "Refused", "You are not authorised to see this page.")
        user = await run_in_threadpool(
            lookups.find_user, self.tn, self.tn.management_tenant.id, answer
        )
        if user is None or not user.enabled:
            return self.error(
                request, 403, "Refused", "The authorised user is unknown or disabled."
            )
        return user

    def run(self, page: Page, req: Req, request: Request) -> Response:
        try:
            return page(req)
        except tenancy.TenancyError as error:
            status, title = next((s, t) for kind, s, t in STATUS if isinstance(error, kind))
            return self.error(request, status, title, str(error))
        except PageNotFound as error:
            return self.error(request, 404, "Not found", str(error))

    def endpoint(
        self, page: Page, *, write: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            actor = await self.actor(request)
            if isinstance(actor, Response):
                return actor
            form: Mapping[str, str] = {}
            if write:
                parsed = await _form(request)
                if isinstance(parsed, str):
                    return self.error(request, 400, "Bad request", parsed)
                token = parsed.get("csrf", "")
                if not hmac.compare_digest(token.encode(), self.csrf(actor).encode()):
                    return self.error(request, 403, "Refused",
                                      "The form is out of date or not from this page: "
                                      "reload the page and try again.")  # fmt: skip
                form = parsed
            query: dict[str, list[str]] = {}
            for key, value in request.query_params.multi_items():
                query.setdefault(key, []).append(value)
            req = Req(
                tn=self.tn, env=self.env, actor=actor,
                base=request.scope.get("root_path", ""),
                path=request.path_params, query=query, csrf=self.csrf(actor),
                allow_writes=self.allow_writes, page_size=self.page_size, form=form,
            )  # fmt: skip
            return await run_in_threadpool(self.run, page, req, request)

        return handle

    async def static_file(self, request: Request) -> Response:
        found = self.static.get(request.path_params["name"])
        if found is None:
            return self.error(request, 404, "Not found", "No such file.")
        body, media_type = found
        return Response(body, media_type=media_type, headers={"Cache-Control": "max-age=3600"})

    async def not_found(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 405:
            return self.error(request, 405, "Method not allowed", "No such request here.")
        return self.error(request, 404, "Not found", "There is no such page.")


async def _form(request: Request) -> dict[str, str] | str:
    """The urlencoded form of a POST, or why it is refused."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return "a form is sent as application/x-www-form-urlencoded"
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return f"a form has at most {MAX_FORM} bytes"
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20,
                          strict_parsing=False)  # fmt: skip
    except (UnicodeDecodeError, ValueError):
        return "the form is not valid UTF-8 urlencoded text"
    return dict(pairs)


def app(
    tn: Tenancy,
    *,
    authorize: Authorize,
    allow_writes: bool = False,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Starlette:
    """The admin page of ``tn`` as a Starlette (ASGI) application, to mount behind the
    application's own authentication.

    ``authorize(request)`` is called on every request, before anything is read, with the
    Starlette :class:`~starlette.requests.Request`; it answers the id of the user the request
    acts as (a user of any tenant; typically an operator of the management tenant), or None
    to refuse it with a 403 page. It may be a coroutine function. That user decides what the
    page shows: its own tenant and every tenant below it (an operator of the management
    tenant sees the whole store); any other id in a URL is a 404. Reads use ``tn`` itself;
    with ``allow_writes=True`` the page adds forms (suspend and activate a tenant, add and
    remove a member, tag and untag a device), each protected by a CSRF token and performed
    through ``tn.as_user(user)``: the library authorises each write for that user and the
    audit log records it as the actor.

    ``page_size``: the records each list shows per page (1 to 1,000).

    Runtime complexity: each page reads one page of records plus, until the store-wide
    look-ups land, one look-up per tenant to find an id (:mod:`tenancy.web.lookups`).
    """
    if not isinstance(page_size, int) or not 1 <= page_size <= 1_000:
        raise tenancy.InvalidValue(page_size, "a page size is 1 to 1,000", field="page_size")
    if not callable(authorize):
        raise tenancy.InvalidValue(authorize, "authorize is a callable", field="authorize")
    admin = _Admin(tn, authorize, bool(allow_writes), page_size)
    e = admin.endpoint
    routes = [
        Route("/", e(pages.tenants_page)),
        Route("/tenants/{tenant_id}", e(pages.tenant_page)),
        Route("/tenants/{tenant_id}/users", e(pages.tenant_users_page)),
        Route("/tenants/{tenant_id}/devices", e(pages.tenant_devices_page)),
        Route("/tenants/{tenant_id}/audit", e(pages.audit_page)),
        Route("/groups/{group_id}", e(pages.group_page)),
        Route("/users/{user_id}", e(pages.user_page)),
        Route("/devices/{device_id:path}", e(pages.device_page)),
        Route("/associations", e(associations_page)),
        Route("/static/{name}", admin.static_file),
    ]
    if admin.allow_writes:
        routes += [
            Route(f"/actions/{name}", e(write, write=True), methods=["POST"])
            for name, write in WRITES.items()
        ]
    application = Starlette(
        routes=routes,
        exception_handlers={404: admin.not_found, 405: admin.not_found},
    )
    # An id ending in "/" is an unknown id (404), not a redirect to the id without it.
    application.router.redirect_slashes = False
    return application
