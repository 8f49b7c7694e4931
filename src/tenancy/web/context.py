"""What a page function gets: the request, already authorised, as plain values.

:class:`Req` holds the handle, the acting user (whom ``authorize`` named), the path and
query parameters (untrusted strings), the parsed form of a POST, and the helpers every
page uses: look an id up below the tenant the actor may see (a miss is a
:class:`PageNotFound`, a 404 page), read a cursor, render a template.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.responses import HTMLResponse, RedirectResponse

from tenancy import Device, Group, Tenancy, Tenant, TenantScope, User
from tenancy.web import lookups

__all__ = ["DONE", "SECURITY_HEADERS", "PageNotFound", "Req", "seg"]

MAX_PARAMETER = 2_000
"""Characters of a query parameter the pages read; longer ones are cut (an id or cursor is
far shorter, so a cut value is simply unknown)."""

DONE = {
    "suspended": "The tenant is suspended.",
    "activated": "The tenant is active.",
    "member-added": "The member was added.",
    "member-removed": "The member was removed.",
    "tagged": "The device was tagged.",
    "untagged": "The tag was removed.",
}
"""The messages a page shows after a write, by the ``done`` code of its redirect (a code
from a URL that is not here shows nothing)."""


class PageNotFound(Exception):
    """An id from the URL or a form names nothing the actor may see: the 404 page."""

    def __init__(self, kind: str, value: str) -> None:
        super().__init__(f"no {kind} with the id {value!r}")
        self.kind = kind
        self.value = value


def seg(value: str) -> str:
    """``value`` quoted as one URL path segment or query value (a ``/`` in an id too)."""
    return quote(value, safe="")


@dataclass
class Req:
    """One authorised request to the admin page."""

    tn: Tenancy
    env: jinja2.Environment
    actor: User
    base: str
    """The path the application is mounted at ("" at the root): every link starts with it."""
    path: Mapping[str, str]
    query: Mapping[str, Sequence[str]]
    csrf: str
    allow_writes: bool
    page_size: int
    form: Mapping[str, str] = field(default_factory=dict)

    @property
    def root(self) -> str:
        """The tenant the actor sees, with every tenant below it: its own."""
        return self.actor.tenant_id

    # ------------------------------------------------------------ untrusted input

    def arg(self, name: str) -> str | None:
        """The query parameter ``name`` (its first value), None when absent or empty."""
        values = self.query.get(name) or ()
        value = values[0][:MAX_PARAMETER] if values else ""
        return value or None

    def args(self, name: str) -> list[str]:
        """Every non-empty value of the query parameter ``name``."""
        return [v[:MAX_PARAMETER] for v in self.query.get(name, ()) if v][:20]

    def field(self, name: str) -> str:
        """A form field of a POST ("" when missing)."""
        return self.form.get(name, "")

    # ------------------------------------------------------------ look-ups below the root

    def tenant(self, tenant_id: str) -> Tenant:
        found = lookups.find_tenant(self.tn, self.root, tenant_id)
        if found is None:
            raise PageNotFound("tenant", tenant_id)
        return found

    def scope(self, tenant_id: str) -> TenantScope:
        return self.tn.tenant(self.tenant(tenant_id).id)

    def group(self, group_id: str) -> Group:
        found = lookups.find_group(self.tn, self.root, group_id)
        if found is None:
            raise PageNotFound("group", group_id)
        return found

    def device(self, device_id: str) -> Device:
        found = lookups.find_device(self.tn, self.root, device_id)
        if found is None:
            raise PageNotFound("device", device_id)
        return found

    def user(self, user_id: str) -> User:
        found = lookups.find_user(self.tn, self.root, user_id)
        if found is None:
            raise PageNotFound("user", user_id)
        return found

    # ------------------------------------------------------------ answers

    def render(self, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        page = self.env.get_template(template).render(
            base=self.base,
            actor=self.actor,
            csrf=self.csrf,
            allow_writes=self.allow_writes,
            seg=seg,
            message=DONE.get(self.arg("done") or ""),
            **values,
        )
        return HTMLResponse(page, status_code=status, headers=SECURITY_HEADERS)

    def redirect(self, path: str) -> RedirectResponse:
        """303 to a page of this application (``path`` built here from ids, never taken
        from the request, so a form cannot redirect elsewhere)."""
        return RedirectResponse(self.base + path, status_code=303)


SECURITY_HEADERS = {
    # Scripts and styles only from this application; no framing; no referrer leaks of ids.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
