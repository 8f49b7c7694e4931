"""The errors tenancy raises.

Every rejected operation raises a subclass of :class:`TenancyError` that names the offending
value and the rule it broke, and leaves the store and every index exactly as they were.
Each class also subclasses the builtin that fits, so ``except LookupError`` keeps working in
code that does not know tenancy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

R = TypeVar("R")

__all__ = [
    "AlreadyExists",
    "CrossTenantReference",
    "CycleError",
    "InUse",
    "InvalidDocument",
    "InvalidValue",
    "LimitExceeded",
    "NotFound",
    "PermissionDenied",
    "StaleRevision",
    "StoreError",
    "TenancyError",
    "TenantSuspended",
    "WrongSecurityCode",
    "named",
    "shorten",
    "with_field",
]


MAX_SHOWN = 80
"""Characters of an offending value's repr that a message shows."""


def shorten(value: object) -> str:
    """``repr(value)``, cut to :data:`MAX_SHOWN` characters with the full length said."""
    try:
        text = repr(value)
    except Exception:  # a hand-built object whose repr fails must not hide the real error
        text = f"<{type(value).__name__}>"
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[: MAX_SHOWN - 3]}... ({len(text)} characters)"


class TenancyError(Exception):
    """Base class of every error tenancy raises.

    ``value`` is the offending value (an id, a tag, a domain), ``rule`` a short sentence
    of the rule it broke and ``field`` the name of the argument or record field that held
    the value (``"email"``, ``"device_tags"``; empty when no single field is to blame), so a
    web form can put the message next to the right input. The message shows the value
    shortened (see :func:`shorten`): a 10 MB name never makes a 10 MB message.
    """

    def __init__(
        self, message: str, *, value: object = None, rule: str = "", field: str = ""
    ) -> None:
        super().__init__(message)
        self.value = value
        self.rule = rule
        self.field = field


class NotFound(TenancyError, LookupError):
    """A call named an id that does not exist (in the tenant it was expected in)."""

    def __init__(self, kind: str, value: object, *, where: str = "", field: str = "") -> None:
        suffix = f" in {where}" if where else ""
        rule = f"the id must name an existing {kind}"
        super().__init__(
            f"{kind} {shorten(value)} not found{suffix}: {rule}",
            value=value, rule=rule, field=field,
        )  # fmt: skip
        self.kind = kind


class AlreadyExists(TenancyError, ValueError):
    """An id, a domain or an email is already taken."""

    def __init__(self, kind: str, value: object, *, rule: str = "", field: str = "") -> None:
        rule = rule or f"{kind} ids are unique in the whole store"
        super().__init__(
            f"{kind} {shorten(value)} already exists: {rule}", value=value, rule=rule, field=field
        )
        self.kind = kind


class InvalidValue(TenancyError, ValueError):
    """A value is malformed or breaks a rule of the domain.

    ``InvalidValue(value, rule, field="email")`` reads "invalid email 'x': <rule>"; without
    a field, "invalid value 'x': <rule>".
    """

    def __init__(self, value: object, rule: str, *, field: str = "") -> None:
        what = field or "value"
        super().__init__(
            f"invalid {what} {shorten(value)}: {rule}", value=value, rule=rule, field=field
        )


class InvalidDocument(InvalidValue):
    """A record of an imported document breaks a rule; nothing was imported.

    ``position`` is the record's place in the document (0 is the first record after the
    header), ``kind`` its kind, ``index`` its place among the records of that kind,
    ``record_id`` its id if it has one, and ``error`` the error of the rule it broke (a
    NotFound, a CycleError, a LimitExceeded...), whose ``value``, ``rule`` and ``field``
    this error repeats."""

    def __init__(
        self, position: int, kind: str, index: int, record_id: str | None, error: TenancyError
    ) -> None:
        named_id = "" if record_id is None else f", id {shorten(record_id)}"
        TenancyError.__init__(
            self,
            f"record {position} of the document ({kind} {index}{named_id}): {error}",
            value=error.value,
            rule=error.rule,
            field=error.field,
        )
        self.position = position
        self.kind = kind
        self.index = index
        self.record_id = record_id
        self.error = error


class CycleError(InvalidValue):
    """A move would make a group (or a device) its own ancestor."""

    def __init__(self, kind: str, value: object, parent: object, *, field: str = "") -> None:
        rule = f"a {kind} cannot be moved under itself or one of its descendants"
        TenancyError.__init__(
            self,
            f"cannot put {kind} {shorten(value)} under {shorten(parent)}: {rule}",
            value=value,
            rule=rule,
            field=field,
        )
        self.kind = kind
        self.parent = parent


class CrossTenantReference(InvalidValue):
    """A write tried to connect records of two tenants (a group of one tenant associating
    a device of another, a member from another tenant, a parent in another tenant)."""

    def __init__(
        self, kind: str, value: object, owner: str, tenant_id: str, *, field: str = ""
    ) -> None:
        rule = "references never cross tenants (cross-tenant sharing is explicit)"
        TenancyError.__init__(
            self,
            f"{kind} {shorten(value)} belongs to tenant {owner!r}, not {tenant_id!r}: {rule}",
            value=value,
            rule=rule,
            field=field,
        )
        self.kind = kind
        self.owner = owner


class InUse(TenancyError, ValueError):
    """A delete would orphan something (subgroups, child devices, subtenants)."""

    def __init__(self, kind: str, value: object, rule: str, *, field: str = "") -> None:
        super().__init__(
            f"cannot delete {kind} {shorten(value)}: {rule}", value=value, rule=rule, field=field
        )
        self.kind = kind


class LimitExceeded(TenancyError, ValueError):
    """A write would cross a configured limit; nothing was created."""

    def __init__(self, limit: str, value: int, maximum: int) -> None:
        rule = f"{limit} is at most {maximum}"
        super().__init__(
            f"limit exceeded: {limit} would be {value}, and {rule}", value=value, rule=rule
        )
        self.limit = limit
        self.maximum = maximum


class PermissionDenied(TenancyError, PermissionError):
    """The acting identity may not do this."""


class WrongSecurityCode(PermissionDenied):
    """A destination tried to accept a connector with a security code that is not the
    connector's. ``value`` is the connector id: the message, like the audit record of the
    attempt, never shows the code tried."""

    def __init__(self, connector_id: str) -> None:
        rule = "a connector is accepted only with its own security code"
        super().__init__(
            f"connector {shorten(connector_id)} was not accepted: {rule}",
            value=connector_id, rule=rule, field="security_code",
        )  # fmt: skip


class TenantSuspended(TenancyError, PermissionError):
    """A write touched a tenant that is suspended (or below a suspended tenant)."""

    def __init__(self, tenant_id: str, suspended_id: str) -> None:
        via = "" if tenant_id == suspended_id else f" (via its ancestor {suspended_id!r})"
        rule = "a suspended tenant, and every tenant below it, accepts no write but activation"
        super().__init__(
            f"tenant {tenant_id!r} is suspended{via}: {rule}", value=tenant_id, rule=rule
        )
        self.tenant_id = tenant_id
        self.suspended_id = suspended_id


class StaleRevision(TenancyError, RuntimeError):
    """Another writer committed first; the write was validated against an older revision."""

    def __init__(self, expected: int, actual: int, *, rule: str = "") -> None:
        rule = rule or "a commit must be validated against the store's latest revision"
        super().__init__(
            f"store is at revision {actual}, the write expected {expected}: {rule}",
            value=expected,
            rule=rule,
        )
        self.expected = expected
        self.actual = actual


class StoreError(TenancyError, OSError):
    """The store could not do what it was asked (busy, closed, corrupt)."""


def named(field: str, check: Callable[..., R], *args: Any) -> R:
    """``check(*args)``, with ``field`` put on a TenancyError it raises without one."""
    try:
        return check(*args)
    except TenancyError as error:
        raise with_field(error, field) from None


def with_field(error: TenancyError, field: str) -> TenancyError:
    """The error, naming ``field``: the argument its value came from, which the caller
    knows better than the check it called (its message too: "invalid value x" becomes
    "invalid <field> x")."""
    old = error.field
    error.field = field
    if isinstance(error, InvalidValue) and error.args and old != field:
        text, prefix = str(error.args[0]), f"invalid {old or 'value'} "
        if text.startswith(prefix):
            error.args = (f"invalid {field} {text[len(prefix) :]}",)
    return error
