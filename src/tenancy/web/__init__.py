"""The admin page: the tenant and group trees, groups, users, devices, the audit log, and
"test device associations", as a small ASGI application (Starlette, server-rendered HTML).

Install the extra (``pip install 'tenancy-iot[web]'``), then mount :func:`app` behind the
application's own authentication, or run ``tenancy serve`` for a local page protected by a
one-time token. See docs/how-to/admin-page.md.

The package uses the public API of tenancy only (``import tenancy``), like any application.
"""

from __future__ import annotations

from tenancy.web.application import Authorize, app

__all__ = ["Authorize", "app"]
