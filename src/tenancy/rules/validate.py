"""Input checks shared by every write: each raises InvalidValue naming the value and the rule."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import msgspec

from tenancy.errors import InvalidValue

__all__ = [
    "MAX_NAME_LENGTH",
    "UNSET",
    "as_id_tuple",
    "check_bool",
    "check_domain",
    "check_email",
    "check_name",
    "check_text",
    "replace",
    "unique_id",
]

R = TypeVar("R")

MAX_NAME_LENGTH = 255
UNSET: Any = object()
"""Default of optional keyword arguments: tells "not given" from None."""

_DOMAIN_CHARS = re.compile(r"[a-z0-9-]*")


def check_domain(domain: object) -> str:
    """Return ``domain`` if it is a valid tenant domain, else raise InvalidValue saying
    which part of the rule failed."""
    if not isinstance(domain, str):
        raise InvalidValue(domain, "a tenant domain is a string")
    if not 2 <= len(domain) <= 63:
        raise InvalidValue(domain, "a tenant domain has 2 to 63 characters")
    if not _DOMAIN_CHARS.fullmatch(domain):
        raise InvalidValue(domain, "a tenant domain has only lowercase letters, digits and hyphens")
    if not domain[0].isalpha():
        raise InvalidValue(domain, "a tenant domain starts with a letter")
    if domain.endswith("-"):
        raise InvalidValue(domain, "a tenant domain does not end with a hyphen")
    return domain


def check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidValue(name, f"a {kind} name is a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidValue(name, f"a {kind} name has at most {MAX_NAME_LENGTH} characters")
    return name


def check_text(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidValue(value, f"{field} is a string")
    return value


def check_email(email: object) -> str:
    if not isinstance(email, str) or email.count("@") != 1 or email != email.strip():
        raise InvalidValue(email, "an email has exactly one @ and no surrounding spaces")
    local, _, host = email.partition("@")
    if not local or not host:
        raise InvalidValue(email, "an email has text on both sides of the @")
    return email


def check_bool(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue(value, f"{field} is True or False")
    return value


def replace(record: R, **fields: Any) -> R:
    return msgspec.structs.replace(record, **fields)  # type: ignore[type-var]


def unique_id(make: Callable[[], str], taken: Mapping[str, object]) -> Any:
    while True:
        candidate = make()
        if candidate not in taken:
            return candidate


def as_id_tuple(raw: Iterable[str] | str, what: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        raise InvalidValue(raw, f"{what} is a collection of ids, not one string")
    return tuple(raw)
