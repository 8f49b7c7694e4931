"""A seeded fuzzer over every public method of a handle, its tenant scopes and its acting
handles (:meth:`~tenancy.Tenancy.as_user`, :meth:`~tenancy.Tenancy.as_support`).

The rule it checks (DESIGN.md, Errors): a public call given a bad value either succeeds
(the value was odd but valid) or raises a :class:`~tenancy.TenancyError` whose ``field``
names the argument that held the value and whose ``rule`` says what was broken; a call
that raised changed nothing (the store's snapshot, the index, the audit log and the
revision are as they were). No builtin exception escapes. A write that was accepted must
read back: every audit page, and an index built from the store's snapshot that agrees
with the live one.

How it works: :func:`build_world` makes a small store with two customer tenants. Each
public method has a *recipe* in :data:`RECIPES`, one :class:`Param` per parameter: the
kind of value it takes and a valid value in the world. The fuzzer makes one call per
(method, parameter, bad value): every argument valid but one, substituted from the pools
of :func:`bad_values` (wrong types, None, empty, 1 MB and control-character strings,
unknown ids, another tenant's ids, records instead of ids, hand-built rule records, huge,
negative and float numbers, bools, ``timedelta.max``, generators). Methods are found by
introspection, so a method added later without a recipe is reported by
:func:`missing_recipes` (the test fails on it).

Deterministic: the same seed makes the same calls in the same order.
"""

from __future__ import annotations

import inspect
import io
import random
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tenancy.errors import TenancyError, WrongSecurityCode
from tenancy.handle.scope import TenantScope
from tenancy.handle.tenancy import Tenancy
from tenancy.index.index import Index
from tenancy.index.sorted_ids import SortedIds
from tenancy.records import changes as ch
from tenancy.testing.fuzz_values import (
    Value,
    World,
    _const,
    _id,
    bad_values,
    build_world,
)

__all__ = [
    "RECIPES",
    "Call",
    "Outcome",
    "Param",
    "World",
    "bad_values",
    "build_world",
    "calls",
    "index_state",
    "missing_recipes",
    "public_methods",
    "run",
]

OMIT: Any = object()
"""A valid value meaning "leave the argument out" (keyword arguments with a default)."""


# ---------------------------------------------------------------- recipes
# (the world every call runs in, and the bad values: tenancy.testing.fuzz_values)


@dataclass(frozen=True)
class Param:
    """One parameter of a public method: the kind of value it takes (which picks the bad
    values tried), a valid value in the world, and the error fields that may name it
    (the parameter's own name always may)."""

    kind: str
    valid: Callable[[World], object]
    fields: tuple[str, ...] = ()


def _p(kind: str, valid: Callable[[World], object] | object, *fields: str) -> Param:
    return Param(kind, valid if callable(valid) else _const(valid), fields)


_OMIT = _p("omit", OMIT)
TENANT = _p("tenant_id", _id("tenant"))
GROUP = _p("group_id", _id("group"))
DEVICE = _p("device_id", _id("device"))
USER = _p("user_id", _id("user"))
BY = _p("tenant_id?", None)
REV = _p("revision?", None)
FRESH = _p("bool", False)
LIMIT = _p("limit", 100)
AFTER = _p("cursor?", None)
TAGS_FILTER = _p("rules?", None)
CONNECTOR = _p("connector_id", _id("connector"))
SUBSCRIPTION = _p("subscription_id", _id("subscription"))

_QUERY = {"at_least": REV, "fresh": FRESH}
ONBOARDING = msgspec.json.encode(
    {
        "header": {"format": "tenancy", "version": 1},
        "records": [
            {"kind": "tenant", "domain": "onboarded", "name": "Onboarded",
             "admin_email": "it@onboarded.example"},
            {"kind": "device", "name": "Gateway", "tags": [["site", "x"]]},
        ],
    }
)  # fmt: skip
"""A tenant document to import: the valid value of import_from."""
_TEXT = _p("text?", OMIT)

RECIPES: dict[str, dict[str, Param]] = {
    # ------------------------------------------------------------ Tenancy: queries
    "verify": {"user_id": USER, "device_id": DEVICE, **_QUERY},
    "check": {
        "user_id": USER,
        "permission": _p("permission", "device:READ"),
        "device_id": DEVICE,
        **_QUERY,
    },
    "devices_for": {
        "user_id": USER,
        "limit": LIMIT,
        "after": AFTER,
        "tags": TAGS_FILTER,
        "group": _p("group_id?", None),
        "permission": _p("permission?", None),
        **_QUERY,
    },
    "devices_in": {
        "group_id": GROUP,
        "descendants": _p("bool", True),
        "limit": LIMIT,
        "after": AFTER,
        **_QUERY,
    },
    "users_for": {"device_id": DEVICE, "tags": TAGS_FILTER, **_QUERY},
    "explain": {
        "user_id": USER,
        "device_id": DEVICE,
        "permission": _p("permission?", None),
        **_QUERY,
    },
    "groups_for": {"user_id": USER, "inherited": _p("bool", True), **_QUERY},
    "in_group": {"user_id": USER, "group_id": GROUP, **_QUERY},
    "get_tenant": {"tenant_id": TENANT},
    "find_tenant": {"domain": _p("domain", "acme")},
    "subtenants": {"tenant_id": TENANT, "recursive": _p("bool", False)},
    "default_subscriptions": {"tenant_id": TENANT},
    "is_subscribed": {"tenant_id": TENANT, "application": _p("name", "cockpit")},
    "policies": {"tenant_id": TENANT, "inherited": _p("bool", False)},
    "tenant": {"tenant_id": TENANT},
    "tenants": {},
    "find_users": {"email": _p("email", "ana@acme.example")},
    "changes": {"after": _p("revision", 0), "limit": _p("limit", 1_000)},
    "watch": {"after": REV, "timeout": _p("seconds", 0.0)},
    "audit_log": {
        "tenant": _p("tenant_id?", None),
        "actor": _p("text?", None),
        "target": _p("text?", None),
        "start": _p("datetime?", None),
        "end": _p("datetime?", None),
        "limit": LIMIT,
        "after": AFTER,
        "after_seq": _p("revision?", None),
    },
    "reach_diff": {"from_revision": _p("revision", 0), "to_revision": REV, "tenant": TENANT},
    "access_review_csv": {"tenant": TENANT},
    "what_if": {
        # Valid: a write the rules accept, on the throwaway handle (nothing is kept).
        "fn": _p("callable", lambda w: lambda h: h.tenant(w["tenant"]).create_group("What if")),
        "tenant": BY,
    },
    "usage": {
        "tenant_id": TENANT,
        "start": _p("date?", None),
        "end": _p("date?", None),
        "subtenants": _p("bool", False),
    },
    "usage_csv": {
        "tenant_id": TENANT,
        "start": _p("date?", None),
        "end": _p("date?", None),
        "subtenants": _p("bool", False),
        "sep": _p("sep", ","),
    },
    "catch_up": {},
    "flush_usage": {},
    "record_request": {"tenant_id": TENANT, "kind": _p("name", "api"), "count": _p("count", 1)},
    "as_user": {"user_id": _p("user_id", _id("admin"))},
    "as_support": {
        "support_user_id": _p("user_id", _id("sup")),
        "user_id": _p("user_id", _id("user")),
    },
    # ------------------------------------------------------------ Tenancy: tenant writes
    "create_tenant": {
        "domain": _p("domain", "gamma"),
        "name": _p("name", "Gamma"),
        "admin_email": _p("email", "it@gamma.example"),
        "admin_username": _p("name", "admin"),
        "parent": _p("tenant_id?", _id("tenant")),
        "allow_subtenants": _p("bool", False),
        "contact_name": _p("text", ""),
        "contact_phone": _p("text", ""),
        "properties": _p("properties", ()),
        "options": _p("options", ()),
        "retention_rules": _p("retention?", None),
        "policy": _p("name?", None),
        "max_devices": _p("limit?", None),
        "max_root_devices": _p("limit?", None),
        "subscriptions": _p("names?", None),
        "default_subscriptions": _p("names?", None),
        "id": _p("new_id?", None),
        "by": BY,
    },
    "update_tenant": {
        "tenant_id": TENANT,
        "name": _TEXT,
        "contact_name": _TEXT,
        "contact_phone": _TEXT,
        "admin_email": _p("email?", OMIT),
        "allow_subtenants": _p("bool?", OMIT),
        "properties": _p("properties?", OMIT),
        "options": _p("options?", OMIT),
        "retention_rules": _p("retention?", OMIT),
        "max_devices": _p("limit?", OMIT),
        "max_root_devices": _p("limit?", OMIT),
        "subscriptions": _p("names?", OMIT),
        "default_subscriptions": _p("names?", OMIT),
        "by": BY,
    },
    "set_properties": {"tenant_id": TENANT, "values": _p("properties", {"q": "2"}), "by": BY},
    "set_options": {
        "tenant_id": TENANT,
        "values": _p("option_map", {("c", "k"): "w"}),
        "by": BY,
    },
    "subscribe": {"tenant_id": TENANT, "applications": _p("names", ["cockpit"]), "by": BY},
    "unsubscribe": {"tenant_id": TENANT, "applications": _p("names", ["cockpit"]), "by": BY},
    "define_policy": {
        "tenant_id": TENANT,
        "name": _p("name", "pol2"),
        "description": _p("text", ""),
        "options": _p("options", [("c", "k", "v")]),
        "retention_rules": _p("retention", ()),
        "by": BY,
    },
    "delete_policy": {
        "tenant_id": _p("tenant_id", _id("tenant"), "name"),
        "name": _p("name", "pol"),
        "by": BY,
    },
    "suspend_tenant": {"tenant_id": TENANT, "by": BY},
    "activate_tenant": {"tenant_id": TENANT, "by": BY},
    "delete_tenant": {
        "tenant_id": _p("tenant_id", _id("b_tenant")),
        "cascade": _p("bool", False),
        "by": BY,
    },
    # ------------------------------------------------------------ TenantScope
    # ------------------------------------------------------------ import and export
    "export_to": {
        "path_or_fileobj": _p("fileobj", lambda w: io.BytesIO()),
        "tenant": _p("tenant_id?", None),
        "format": _p("format?", None),
        "device_tags": _p("rules?", None),
        "include_usage": _p("bool", True),
        "include_audit": _p("bool", False),
        "include_secrets": _p("bool", False),
    },
    "import_from": {
        "path_or_fileobj": _p("fileobj", lambda w: io.BytesIO(ONBOARDING)),
        "parent": _p("tenant_id?", _id("mgmt")),
    },
    "get_group": {"group_id": GROUP},
    "get_device": {"device_id": DEVICE},
    "get_user": {"user_id": USER},
    "members": {"group_id": GROUP},
    "member_windows": {"group_id": GROUP},
    "child_devices": {"device_id": DEVICE},
    "find_user": {"email": _p("email", "ana@acme.example")},
    "groups": {"limit": LIMIT, "after": AFTER},
    "users": {"limit": LIMIT, "after": AFTER},
    "devices": {"limit": LIMIT, "after": AFTER},
    "create_group": {
        "name": _p("name", "New"),
        "parent": _p("group_id?", None),
        "description": _p("text", ""),
        "device_ids": _p("device_ids", ()),
        "device_tags": _p("rules", ()),
        "id": _p("new_id?", None),
    },
    "update_group": {
        "group_id": GROUP,
        "name": _p("name?", OMIT),
        "description": _p("text?", OMIT),
    },
    "move_group": {"group_id": _p("group_id", _id("group3")), "parent": _p("group_id?", None)},
    "delete_group": {"group_id": _p("group_id", _id("group3")), "cascade": _p("bool", False)},
    "associate": {
        "group_id": GROUP,
        "device_ids": _p("device_ids", ()),
        "device_tags": _p("rules", ()),
    },
    "dissociate": {
        "group_id": GROUP,
        "device_ids": _p("device_ids", ()),
        "device_tags": _p("rules", ()),
    },
    "create_device": {
        "name": _p("name", "New"),
        "tags": _p("tags", ()),
        "id": _p("new_id?", None),
        "parent": _p("device_id?", None),
    },
    "create_devices": {
        "specs": _p("specs", lambda w: [{"name": "New"}], "name", "tags", "id", "parent")
    },
    "update_device": {
        "device_id": DEVICE,
        "name": _p("name?", OMIT),
        "parent": _p("device_id?", OMIT),
    },
    "tag_device": {"device_id": DEVICE, "tags": _p("tags", [("k", "v")])},
    "untag_device": {"device_id": DEVICE, "tags": _p("tags", [("site", "x")])},
    "delete_device": {"device_id": _p("device_id", _id("device3")), "cascade": _p("bool", False)},
    "create_recipe": {
        "recipe_name": _p("name", "New"),
        "name": _p("name", "New {n}"),
        "name_pattern": _p("name?", OMIT),
        "tags": _p("tags", ()),
        "parent": _p("device_id?", None),
        "groups": _p("group_ids", ()),
        "id": _p("new_id?", None),
    },
    "recipes": {},
    "get_recipe": {"recipe_id": _p("recipe_id", _id("recipe"))},
    "delete_recipe": {"recipe_id": _p("recipe_id", _id("recipe"))},
    "create_devices_from_recipe": {
        "recipe_id": _p("recipe_id", _id("recipe")),
        "count": _p("count", 2),
        "start": _p("count", 1),
    },
    "create_user": {
        "email": _p("email", "new@acme.example"),
        "username": _p("text", ""),
        "first_name": _p("text", ""),
        "last_name": _p("text", ""),
        "tags": _p("tags", ()),
        "enabled": _p("bool", True),
        "id": _p("new_id?", None),
        "owner": _p("user_id?", None),
    },
    "update_user": {
        "user_id": _p("user_id", _id("user2")),
        "email": _p("email?", OMIT),
        "username": _TEXT,
        "first_name": _TEXT,
        "last_name": _TEXT,
        "tags": _p("tags?", OMIT),
        "enabled": _p("bool?", OMIT),
    },
    "delete_user": {"user_id": _p("user_id", _id("user2"))},
    "add_member": {
        "group_id": GROUP,
        "user_id": _p("user_id", _id("user2")),
        "valid_from": _p("datetime?", None),
        "valid_until": _p("datetime?", None),
    },
    "remove_member": {"group_id": GROUP, "user_id": USER},
    "default_member_role": {},
    "define_role": {
        "name": _p("role", "reader"),
        "permissions": _p("permissions", ["device:READ"]),
        "kind": _p("role_kind", "global"),
    },
    "delete_role": {"name": _p("role", "spare"), "kind": _p("role_kind", "global")},
    "roles_of": {"user_id": USER},
    "role_grants_of": {"user_id": USER},
    "inventory_grants_of": {"principal_id": USER, "to": _p("principal_kind", "user")},
    "grant_role": {
        "user_id": _p("user_id", _id("user2")),
        "role": _p("role", "auditor"),
        "valid_from": _p("datetime?", None),
        "valid_until": _p("datetime?", None),
    },
    "revoke_role": {"user_id": USER, "role": _p("role", "auditor")},
    "grant_inventory_role": {
        "principal_id": _p("user_id", _id("user2")),
        "role": _p("role", "viewer"),
        "group": GROUP,
        "to": _p("principal_kind", "user"),
        "valid_from": _p("datetime?", None),
        "valid_until": _p("datetime?", None),
    },
    "revoke_inventory_role": {
        "principal_id": USER,
        "role": _p("role", "operator"),
        "group": GROUP,
        "to": _p("principal_kind", "user"),
    },
    "set_default_member_role": {"role": _p("role?", "operator")},
    "set_owner": {"user_id": _p("user_id", _id("user2")), "owner_id": _p("user_id?", None)},
    "sub_users": {"owner_id": USER, "recursive": _p("bool", False)},
    "delegate": {
        "owner_id": USER,
        "delegate_id": _p("user_id", _id("admin")),
        "until": _p("datetime?", None),
        "valid_from": _p("datetime?", None),
        "valid_until": _p("datetime?", None),
    },
    "revoke_delegation": {"owner_id": USER, "delegate_id": _p("user_id", _id("admin"))},
    "request_support": {"user_id": USER, "duration": _p("duration?", None)},
    "end_support": {},
    "support_until": {},
    # ------------------------------------------------------------ TenantScope: sharing
    "create_connector": {
        "name": _p("name", "Share"),
        "destination": _p("tenant_id", _id("b_tenant")),
        "groups": _p("group_ids", lambda w: [w["group"]]),
        "devices": _p("device_ids", ()),
        "tags": TAGS_FILTER,
        "description": _p("text", ""),
        "id": _p("new_id?", None),
        "valid_from": _p("datetime?", None),
        "valid_until": _p("datetime?", None),
    },
    "set_connector_window": {
        "connector_id": CONNECTOR,
        "valid_from": _p("datetime?", None),
        "valid_until": _p("datetime?", None),
    },
    "suspend_connector": {"connector_id": CONNECTOR},
    "activate_connector": {"connector_id": CONNECTOR},
    "delete_connector": {"connector_id": CONNECTOR},
    "accept_connector": {
        "connector_id": _p("connector_id", _id("b_connector2")),
        "security_code": _p("text", _id("code2")),
        "name": _p("name", "Shared"),
        "id": _p("new_id?", None),
        "group_id": _p("new_id?", None),
    },
    "pause_subscription": {"subscription_id": SUBSCRIPTION},
    "resume_subscription": {"subscription_id": SUBSCRIPTION},
    "delete_subscription": {"subscription_id": SUBSCRIPTION},
    "connectors": {},
    "subscriptions": {},
    "get_connector": {"connector_id": CONNECTOR},
    "get_subscription": {"subscription_id": SUBSCRIPTION},
}

NOT_FUZZED = {"close": "ends the handle; it takes no argument"}
"""Public methods deliberately left out, with the reason."""

ON_RECORD: tuple[type[TenancyError], ...] = (WrongSecurityCode,)
"""Refusals that are on record by design (DOMAIN.md section 7: a wrong security code is
refused and audited): such a refusal may commit changes of :data:`RECORDING` only."""
RECORDING = (ch.ConnectorAcceptRefused, ch.UsageRecorded)

SURFACES: dict[str, type] = {
    "Tenancy": Tenancy,
    "TenantScope": TenantScope,
    "Tenancy@user": Tenancy,
    "TenantScope@user": TenantScope,
    "Tenancy@support": Tenancy,
    "TenantScope@support": TenantScope,
}


def public_methods(cls: type) -> list[str]:
    """Every public method of the class (properties excluded), by introspection."""
    names = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attr = inspect.getattr_static(cls, name)
        if isinstance(attr, property) or not callable(getattr(cls, name)):
            continue
        names.append(name)
    return sorted(names)


def missing_recipes() -> list[str]:
    """Public methods, or parameters of them, that no recipe covers."""
    missing = []
    for cls in (Tenancy, TenantScope):
        for name in public_methods(cls):
            if name in NOT_FUZZED:
                continue
            recipe = RECIPES.get(name)
            if recipe is None:
                missing.append(f"{cls.__name__}.{name}")
                continue
            params = [p for p in inspect.signature(getattr(cls, name)).parameters if p != "self"]
            missing.extend(f"{cls.__name__}.{name}({p}=)" for p in params if p not in recipe)
            missing.extend(f"{cls.__name__}.{name}: no parameter {p}" for p in recipe
                           if p not in params)  # fmt: skip
    return missing


# ---------------------------------------------------------------- state


def _plain(value: object, depth: int = 0) -> object:
    """A comparable, order-free image of an index value (empty containers dropped from
    mappings, so a defaultdict entry made by a look-up is no change)."""
    if depth > 12:
        return repr(value)
    if isinstance(value, Mapping):
        return sorted(
            ((repr(k), _plain(v, depth + 1)) for k, v in value.items() if not _empty(v)),
            key=lambda kv: kv[0],
        )
    if isinstance(value, set | frozenset):
        return sorted(repr(v) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, msgspec.Struct):
        # Field by field: a repr would show a frozenset in its (hash-seeded) iteration
        # order, so two equal records could compare unequal, and a connector's hides its code.
        items = [(f, _plain(getattr(value, f), depth + 1)) for f in value.__struct_fields__]
        return (type(value).__name__, items)
    if isinstance(value, SortedIds):
        return list(value)
    slots = getattr(type(value), "__slots__", None)
    if slots:
        return [(s, _plain(getattr(value, s, None), depth + 1)) for s in slots]
    try:
        fields = vars(value)
    except TypeError:  # no __dict__: a plain value
        return repr(value)
    return _plain({k: v for k, v in fields.items() if k not in _NOT_STATE}, depth + 1)


def _empty(value: object) -> bool:
    try:
        return len(value) == 0  # type: ignore[arg-type]
    except TypeError:
        return False


_NOT_STATE = frozenset({"cache", "sets", "_counts"})
"""Memo tables a query may fill (the access cache, the interner): not state."""


def index_state(index: Index) -> object:
    """Everything the index answers from, comparable with ``==``."""
    tables = {"seq": index.seq, **index.tables()}
    return _plain({k: v for k, v in tables.items() if k not in _NOT_STATE})


def _state(w: World) -> tuple[object, ...]:
    store = w.tn.store
    return (
        w.tn.revision,
        store.head(),
        store.snapshot(),
        store.audit_log(limit=1_000_000),
        index_state(w.tn.index),
    )


# ---------------------------------------------------------------- running


@dataclass(frozen=True)
class Call:
    surface: str
    method: str
    param: str
    label: str

    def __str__(self) -> str:
        return f"{self.surface}.{self.method}({self.param}=<{self.label}>)"


@dataclass
class Outcome:
    """What a run found: the number of calls, how many succeeded, and each failure (a
    builtin exception, an error not naming the field, a rejected call that changed state)."""

    calls: int = 0
    succeeded: int = 0
    refused: int = 0
    failures: list[tuple[Call, str]] = field(default_factory=list)


def _arguments(recipe: Mapping[str, Param], w: World) -> dict[str, object]:
    args = {}
    for name, param in recipe.items():
        value = param.valid(w)
        if value is not OMIT:
            args[name] = value
    return args


def _invoke(surface: object, method: str, args: dict[str, object]) -> object:
    function = getattr(surface, method)
    params = inspect.signature(function).parameters
    positional = [
        args.pop(n)
        for n, p in params.items()
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and n in args
    ]
    return function(*positional, **args)


def _judge(error: BaseException, param: str, recipe: Mapping[str, Param],
           baseline: BaseException | None) -> str | None:  # fmt: skip
    if not isinstance(error, TenancyError):
        return f"untyped {type(error).__name__}: {str(error)[:200]}"
    if not error.rule:
        return f"{type(error).__name__} without a rule: {str(error)[:200]}"
    if error.field in (param, *recipe[param].fields):
        return None
    if (
        baseline is not None
        and isinstance(baseline, TenancyError)
        and type(error) is type(baseline)
        and error.rule == baseline.rule
        and error.field == baseline.field
    ):
        return None  # refused for the same reason with a valid value: not about this one
    return f"{type(error).__name__} names field {error.field!r}: {str(error)[:200]}"


def calls(
    seed: int,
    acting_sample: int | None,
    methods: Collection[str] | None = None,
    sample: int | None = None,
) -> Iterator[tuple[str, str, str, str, Value]]:
    """The calls of a run, in order: (surface, method, parameter, label, value). With
    ``sample``, that many bad values per parameter are drawn on every surface; else
    ``acting_sample`` on the acting handles and all of them on the others."""
    rng = random.Random(seed)  # noqa: S311 - a seeded sample, not a secret
    for surface in sorted(SURFACES):
        for method in public_methods(SURFACES[surface]):
            recipe = RECIPES.get(method)
            if recipe is None or method in NOT_FUZZED:
                continue
            if methods is not None and method not in methods:
                continue
            for param in recipe:
                values = bad_values(recipe[param].kind)
                size = sample if sample is not None else acting_sample if "@" in surface else None
                if size is not None:
                    values = rng.sample(values, min(size, len(values)))
                for label, value in values:
                    yield surface, method, param, label, value


def run(
    seed: int = 0,
    *,
    acting_sample: int | None = 12,
    methods: Collection[str] | None = None,
    sample: int | None = None,
    directory: str | None = None,
) -> Outcome:
    """Make every call once; ``acting_sample`` bad values per parameter on the acting
    handles, drawn with ``seed`` (None: all of them, as on the bare handle and its scope;
    ``sample``: that many on every surface). ``methods`` restricts the run to those method
    names. With ``directory``, each world is a new SQLite file there, else in memory."""
    out = Outcome()
    w = build_world(directory)
    before = _state(w)
    baselines: dict[tuple[str, str], BaseException | None] = {}
    for surface, method, param, label, value in calls(seed, acting_sample, methods, sample):
        recipe = RECIPES[method]
        key = (surface, method)
        if key not in baselines:
            try:
                _invoke(w.surfaces[surface], method, _arguments(recipe, w))
                baselines[key] = None
            except Exception as error:  # recorded, judged below
                baselines[key] = error
            w = _rebuild(w, directory)
            before = _state(w)
        call = Call(surface, method, param, label)
        try:
            args = _arguments(recipe, w)
            args[param] = value(w)
        except TenancyError:
            continue  # the record refused to be built: what construction checks are for
        out.calls += 1
        try:
            _invoke(w.surfaces[surface], method, args)
        except Exception as error:  # judging it is the point
            out.refused += 1
            problem = _judge(error, param, recipe, baselines[key])
            after = _state(w) if problem is None else None
            if problem is None and after != before:
                if isinstance(error, ON_RECORD) and _only_on_record(w, int(before[0])):  # type: ignore[call-overload]
                    w = _rebuild(w, directory)
                    before = _state(w)
                    continue
                problem = f"{type(error).__name__} raised but the state changed"
            if problem is not None:
                out.failures.append((call, problem))
                w = _rebuild(w, directory)
                before = _state(w)
            continue
        out.succeeded += 1
        if w.tn.revision != before[0]:
            problem = _readable(w)
            if problem is not None:
                out.failures.append((call, problem))
            w = _rebuild(w, directory)
            before = _state(w)
    return out


def _only_on_record(w: World, revision: int) -> bool:
    """Did the commits after ``revision`` only put a refusal on record?"""
    commits = w.tn.changes(after=revision)
    return bool(commits) and all(
        isinstance(c, RECORDING) for commit in commits for c in commit.changes
    )


def _rebuild(old: World, directory: str | None) -> World:
    old.tn.close()  # a SQLite world holds a connection (and a follower thread)
    return build_world(directory)


def _readable(w: World) -> str | None:
    """After an accepted write: the store still reads back (every audit page, a fresh
    index from its snapshot) and the live index agrees with one built from the store. A
    value accepted here but poisonous later (an int too large for a page of the audit log,
    a rule the index cannot apply) is reported against the call that let it in."""
    try:
        after: str | None = None
        while True:
            page = w.tn.audit_log(limit=1_000, after=after)
            if page.next is None:
                break
            after = page.next
        rebuilt = Index.build(w.tn.store.snapshot())
    except Exception as error:  # judging it is the point
        return f"accepted, then the store fails to read it back: {type(error).__name__}: {error}"
    live, rebuilt_tables = w.tn.index.tables(), rebuilt.tables()
    for name in _COMPARED:
        if _plain(rebuilt_tables[name]) != _plain(live[name]):
            return f"accepted, but the index differs from one built from the store ({name})"
    return None


_COMPARED = ("tenants", "devices", "users", "reach", "cover", "members", "emails", "blocked")
"""Index tables compared with a rebuilt index: what every answer is read from."""
