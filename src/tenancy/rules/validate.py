"""Input checks shared by every write: each raises InvalidValue naming the value and the rule."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import msgspec

from tenancy.errors import (
    InvalidValue,
    NotFound,
    named,
    with_field,
)
from tenancy.records.model import (
    RetentionRule,
    TenantOption,
)

__all__ = [
    "MAX_EMAIL_LENGTH",
    "MAX_INT",
    "MAX_NAME_LENGTH",
    "MAX_TEXT_LENGTH",
    "UNSET",
    "OptionsInput",
    "PropertiesInput",
    "as_id_tuple",
    "as_tuple",
    "check_bool",
    "check_domain",
    "check_email",
    "check_int",
    "check_iterable",
    "check_line",
    "check_name",
    "check_text",
    "lookup",
    "named",
    "parse_applications",
    "parse_options",
    "parse_properties",
    "parse_retention_rules",
    "replace",
    "unique_id",
    "with_field",
]

R = TypeVar("R")

MAX_NAME_LENGTH = 255
"""Names (tenants, groups, devices, policies, users' names, contact fields, keys)."""
MAX_EMAIL_LENGTH = 254
"""Emails (RFC 5321's limit on a path)."""
MAX_TEXT_LENGTH = 4096
"""Free texts: descriptions, custom property values, option values."""
MAX_INT = 2**63 - 1
"""The largest count or limit a store keeps (a signed 64-bit integer)."""
UNSET: Any = object()
"""Default of optional keyword arguments: tells "not given" from None."""

_DOMAIN_CHARS = re.compile(r"[a-z0-9-]*")


def check_domain(domain: object, field: str = "domain") -> str:
    """Return ``domain`` if it is a valid tenant domain, else raise InvalidValue saying
    which part of the rule failed."""
    if not isinstance(domain, str):
        raise InvalidValue(domain, "a tenant domain is a string", field=field)
    if not 2 <= len(domain) <= 63:
        raise InvalidValue(domain, "a tenant domain has 2 to 63 characters", field=field)
    if not _DOMAIN_CHARS.fullmatch(domain):
        raise InvalidValue(
            domain, "a tenant domain has only lowercase letters, digits and hyphens", field=field
        )
    if not domain[0].isalpha():
        raise InvalidValue(domain, "a tenant domain starts with a letter", field=field)
    if domain.endswith("-"):
        raise InvalidValue(domain, "a tenant domain does not end with a hyphen", field=field)
    return domain


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
"""Control characters (C0, DEL, C1) and the Unicode line and paragraph separators."""


def check_name(kind: str, name: object, field: str = "name") -> str:
    """A name: a non-blank string of at most :data:`MAX_NAME_LENGTH` characters, without
    control characters (no tab, newline or NUL)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidValue(name, f"a {kind} name is a non-empty string", field=field)
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidValue(
            name, f"a {kind} name has at most {MAX_NAME_LENGTH} characters", field=field
        )
    if _CONTROL.search(name):
        raise InvalidValue(
            name, f"a {kind} name has no control characters (tab, newline, NUL)", field=field
        )
    return name


def check_line(field: str, value: object, *, what: str = "") -> str:
    """A short single-line text that may be empty (a username, a contact's phone): at most
    :data:`MAX_NAME_LENGTH` characters, no control characters."""
    what = what or field
    if not isinstance(value, str):
        raise InvalidValue(value, f"{what} is a string", field=field)
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidValue(value, f"{what} has at most {MAX_NAME_LENGTH} characters", field=field)
    if _CONTROL.search(value):
        raise InvalidValue(
            value, f"{what} has no control characters (tab, newline, NUL)", field=field
        )
    return value


def check_text(field: str, value: object, *, what: str = "") -> str:
    """A free text (a description, a property value): a string of at most
    :data:`MAX_TEXT_LENGTH` characters; newlines and tabs are allowed."""
    what = what or field
    if not isinstance(value, str):
        raise InvalidValue(value, f"{what} is a string", field=field)
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidValue(value, f"{what} has at most {MAX_TEXT_LENGTH} characters", field=field)
    return value


def check_email(email: object, field: str = "email") -> str:
    """An email: exactly one @ with text on both sides, at most :data:`MAX_EMAIL_LENGTH`
    characters, no surrounding spaces and no control characters."""
    if not isinstance(email, str) or email.count("@") != 1 or email != email.strip():
        raise InvalidValue(
            email, "an email has exactly one @ and no surrounding spaces", field=field
        )
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidValue(
            email, f"an email has at most {MAX_EMAIL_LENGTH} characters", field=field
        )
    local, _, host = email.partition("@")
    if not local or not host:
        raise InvalidValue(email, "an email has text on both sides of the @", field=field)
    if _CONTROL.search(email):
        raise InvalidValue(email, "an email has no control characters", field=field)
    return email


def check_bool(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue(value, f"{field} is True or False", field=field)
    return value


def check_int(
    field: str, value: object, *, minimum: int = 0, maximum: int = MAX_INT, what: str = ""
) -> int:
    """An int (not a bool) from ``minimum`` to ``maximum`` (by default 2**63 - 1, the
    largest a store keeps)."""
    if type(value) is not int or not minimum <= value <= maximum:
        top = "2**63 - 1" if maximum == MAX_INT else str(maximum)
        raise InvalidValue(value, f"{what or field} is an int from {minimum} to {top}", field=field)
    return value


def check_iterable(value: object, field: str, rule: str) -> None:
    """Refuse what is not a collection (None, a number, one string, a mapping, a record)
    before it is read, with InvalidValue(value, rule, field=field). Reads nothing, so a
    generator is left as it was."""
    if isinstance(value, str | bytes | Mapping):
        raise InvalidValue(value, rule, field=field)
    try:
        iter(value)  # type: ignore[call-overload]
    except TypeError:
        raise InvalidValue(value, rule, field=field) from None


def as_tuple(value: object, field: str, rule: str) -> tuple[Any, ...]:
    """The collection as a tuple; InvalidValue(value, rule, field=field) for anything else."""
    check_iterable(value, field, rule)
    try:
        return tuple(value)  # type: ignore[arg-type]
    except TypeError:  # a generator that fails while it is read
        raise InvalidValue(value, rule, field=field) from None


def lookup(table: Mapping[Any, R], key: object, kind: str, field: str, where: str = "") -> R:
    """``table[key]``, or NotFound naming ``field`` for an unknown or unhashable key."""
    try:
        found = table.get(key)
    except TypeError:  # a list or a dict where an id goes
        found = None
    if found is None:
        raise NotFound(kind, key, where=where, field=field)
    return found


def replace(record: R, **fields: Any) -> R:
    return msgspec.structs.replace(record, **fields)  # type: ignore[type-var]


def unique_id(make: Callable[[], str], taken: Mapping[str, object]) -> Any:
    while True:
        candidate = make()
        if candidate not in taken:
            return candidate


def as_id_tuple(raw: Iterable[str] | str, what: str) -> tuple[str, ...]:
    return as_tuple(raw, what, f"{what} is a collection of ids (a list, a tuple, a set)")


OptionsInput = Mapping[tuple[str, str], str] | Iterable[tuple[str, str, str]]


PropertiesInput = Mapping[str, str] | Iterable[tuple[str, str]]


def parse_key(what: str, value: object, field: str) -> str:
    if not isinstance(value, str) or not value or value != value.strip():
        raise InvalidValue(
            value, f"a {what} is a non-empty string without surrounding spaces", field=field
        )
    return check_line(field, value, what=f"a {what}")


def parse_properties(
    raw: PropertiesInput, field: str = "properties"
) -> tuple[tuple[str, str], ...]:
    """Custom properties, given as a mapping or as (key, value) pairs, as sorted pairs.
    Keys are names (at most 255 characters, no control characters), values texts of at
    most 4,096 characters."""
    pairs = (
        raw.items()
        if isinstance(raw, Mapping)
        else as_tuple(raw, field, "properties are a mapping or (key, value) pairs")
    )
    out: dict[str, str] = {}
    for pair in pairs:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise InvalidValue(pair, "a custom property is a (key, value) pair", field=field)
        out[parse_key("property key", pair[0], field)] = check_text(
            field, pair[1], what="a property value"
        )
    return tuple(sorted(out.items()))


def parse_options(raw: OptionsInput, field: str = "options") -> tuple[TenantOption, ...]:
    """Tenant options, given as ``{(category, key): value}`` or as (category, key, value)
    triples, as sorted triples; a later value for the same (category, key) wins."""
    items: Iterable[object] = (
        ((*k, v) if isinstance(k, tuple) else (k, v) for k, v in raw.items())
        if isinstance(raw, Mapping)
        else as_tuple(raw, field, "options are {(category, key): value} or (category, key, value)")
    )
    out: dict[tuple[str, str], str] = {}
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 3:
            raise InvalidValue(item, "a tenant option is (category, key, value)", field=field)
        category, key, value = item
        name = (parse_key("option category", category, field), parse_key("option key", key, field))
        out[name] = check_text(field, value, what="an option value")
    return tuple((c, k, v) for (c, k), v in sorted(out.items()))


def parse_applications(raw: Iterable[str], field: str = "applications") -> frozenset[str]:
    """Application names: non-empty, no surrounding spaces, no commas."""
    names = as_tuple(raw, field, "applications are a collection of names")
    for app in names:
        if parse_key("application name", app, field) and "," in app:
            raise InvalidValue(app, "an application name has no comma", field=field)
    return frozenset(names)


def parse_retention_rules(
    raw: Iterable[RetentionRule], field: str = "retention_rules"
) -> tuple[RetentionRule, ...]:
    rules = as_tuple(raw, field, "retention rules are a collection of RetentionRule")
    for rule in rules:
        if not isinstance(rule, RetentionRule):
            raise InvalidValue(rule, "a retention rule is a tenancy.RetentionRule", field=field)
        check_int(
            field, rule.maximum_age_days, minimum=1, what="a retention rule's maximum_age_days"
        )
        for part in ("data_type", "fragment_type", "type", "source"):
            parse_key(f"retention rule {part}", getattr(rule, part), field)
    return rules
