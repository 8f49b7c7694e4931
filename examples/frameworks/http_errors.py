"""The HTTP status of every tenancy error, as docs/reference/errors.md lists it.

Look the error's class up along its method resolution order, so a subclass the table does
not name (and any added later) answers like its nearest listed base: ``CycleError`` is an
``InvalidValue``, but a move that would close a cycle conflicts with the current tree, so
it is listed on its own.
"""

from __future__ import annotations

from typing import Any

import tenancy

__all__ = ["STATUS", "error_body", "http_status"]

STATUS: dict[type[tenancy.TenancyError], int] = {
    tenancy.NotFound: 404,
    tenancy.PermissionDenied: 403,
    tenancy.TenantSuspended: 403,
    tenancy.WrongSecurityCode: 403,
    tenancy.AlreadyExists: 409,
    tenancy.InUse: 409,
    tenancy.CycleError: 409,
    tenancy.LimitExceeded: 409,
    tenancy.CrossTenantReference: 422,
    tenancy.InvalidValue: 422,
    tenancy.InvalidDocument: 422,
    tenancy.StaleRevision: 503,
    tenancy.StoreError: 503,
    tenancy.TenancyError: 500,
}


def http_status(error: tenancy.TenancyError) -> int:
    """The status an HTTP API answers for ``error``: its class's, or its nearest base's."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    raise TypeError(f"not a tenancy error: {error!r}")  # the table ends with TenancyError


def error_body(error: tenancy.TenancyError) -> dict[str, Any]:
    """A JSON body a web form can use: the field to put the message next to, the rule.

    The message is safe to show to the tenant's own users except for
    ``CrossTenantReference``, whose message names the other tenant: answer with its rule
    alone.
    """
    message = error.rule if isinstance(error, tenancy.CrossTenantReference) else str(error)
    return {"error": type(error).__name__, "field": error.field, "message": message}
