"""The fuzzer's material: the world every call runs in (a handle with one record of each
kind) and the bad values of each kind of argument (wrong types, None, empty, 1 MB and
control-character strings, numbers out of range, naive datetimes, forged records).
:mod:`tenancy.testing.fuzz` re-exports what it needs of it.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import tenancy
from tenancy.handle.tenancy import Tenancy
from tenancy.records.model import AllOf, Device, Group, RetentionRule, TagMatcher, User

__all__ = [
    "ONE_MB",
    "START",
    "Value",
    "World",
    "bad_values",
    "build_world",
]


START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


_WORLDS = itertools.count()


ONE_MB = "x" * 1_000_000


@dataclass
class World:
    """Two customer tenants, A (acme) and B (beta), each with groups, devices and users;
    a support user of the management tenant; handles acting as A's admin and as support."""

    tn: Tenancy
    ids: dict[str, str]
    records: dict[str, Any]
    surfaces: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        return self.ids[name]


def build_world(directory: str | None = None) -> World:
    """The world on a new in-memory store, or on a new SQLite file in ``directory``."""
    options: dict[str, Any] = {"clock": lambda: START, "usage_flush_interval": None}
    if directory is None:
        tn = tenancy.open(**options)
    else:
        path = os.path.join(directory, f"world-{next(_WORLDS)}.db")
        tn = tenancy.open(path, staleness=None, **options)  # one handle: nothing to follow
    mgmt = tn.management_tenant
    m = tn.tenant(mgmt.id)
    sup = m.create_user("sup@maker.example", id="sup")
    m.grant_role(sup.id, "admin")
    acme = tn.create_tenant(
        domain="acme", name="Acme", admin_email="admin@acme.example", allow_subtenants=True,
        properties={"p": "1"}, options=[("c", "k", "v")],
    )  # fmt: skip
    beta = tn.create_tenant(domain="beta", name="Beta", admin_email="admin@beta.example")
    admin = acme.admin_user_id
    assert admin is not None
    sub = tn.create_tenant(domain="acme-sub", name="Acme Sub", admin_email="a@sub.example",
                           parent=acme.id)  # fmt: skip
    tn.define_policy(acme.id, "pol", options=[("c", "k", "v")])
    a, b = tn.tenant(acme.id), tn.tenant(beta.id)
    g1 = a.create_group("Region", device_tags=[("site", "x")])
    g2 = a.create_group("Site", parent=g1.id, device_ids=())
    g3 = a.create_group("Spare")
    d1 = a.create_device("Gateway", tags=[("site", "x")])
    d2 = a.create_device("Sensor", parent=d1.id)
    d3 = a.create_device("Loose")
    g2 = a.associate(g2.id, device_ids=[d3.id])
    u1 = a.create_user("ana@acme.example", username="ana")
    u2 = a.create_user("raj@acme.example", owner=u1.id)
    a.add_member(g1.id, u1.id)
    a.add_member(g3.id, u2.id)
    a.define_role("auditor", ["audit:READ"])
    a.define_role("spare", ["group:READ"])
    a.define_role("fixer", ["device:UPDATE"], kind="inventory")
    a.grant_role(u1.id, "auditor")
    a.grant_inventory_role(u1.id, "operator", group=g1.id)
    a.request_support(u1.id)
    gb = b.create_group("Beta Sites")
    db = b.create_device("Beta Gen")
    ub = b.create_user("bob@beta.example")
    b.add_member(gb.id, ub.id)
    # Shares: acme offers beta one; beta offers acme two, of which acme accepted one.
    ca = a.create_connector("To Beta", destination=beta.id, groups=[g1.id])
    cb = b.create_connector("To Acme", destination=acme.id, groups=[gb.id])
    cb2 = b.create_connector("To Acme too", destination=acme.id, devices=[db.id])
    sa = a.accept_connector(cb.id, security_code=cb.security_code, name="From Beta")
    ids = {
        "mgmt": mgmt.id, "tenant": acme.id, "sub": sub.id, "b_tenant": beta.id,
        "group": g1.id, "group2": g2.id, "group3": g3.id, "device": d1.id, "device2": d2.id,
        "device3": d3.id, "user": u1.id, "user2": u2.id, "admin": admin,
        "b_group": gb.id, "b_device": db.id, "b_user": ub.id, "sup": sup.id,
        "connector": ca.id, "b_connector": cb.id, "b_connector2": cb2.id,
        "code2": cb2.security_code, "subscription": sa.id,
    }  # fmt: skip
    records = {"tenant": acme, "group": g2, "device": d1, "user": u1}
    w = World(tn=tn, ids=ids, records=records)
    w.surfaces = {
        "Tenancy": tn,
        "TenantScope": a,
        "Tenancy@user": tn.as_user(admin),
        "Tenancy@support": tn.as_support(sup.id, admin),
    }
    w.surfaces["TenantScope@user"] = w.surfaces["Tenancy@user"].tenant(acme.id)
    w.surfaces["TenantScope@support"] = w.surfaces["Tenancy@support"].tenant(acme.id)
    return w


def _id(name: str) -> Callable[[World], object]:
    return lambda w: w[name]


def _const(value: object) -> Callable[[World], object]:
    return lambda w: value


Value = Callable[[World], object]


def _gen(*items: object) -> Value:
    def make(w: World) -> object:
        return (i for i in items)

    return make


# Hand-built records are made when a call is made, not at import: a record class that
# checks its fields when built refuses them there (run() then skips the call). The forged
# ones below get past any such check, as a caller who alters a frozen record would.


def _forged_all_of(matchers: tuple[object, ...]) -> AllOf:
    rule = AllOf((TagMatcher("k", "v"),))
    object.__setattr__(rule, "matchers", matchers)  # past attrs' frozen check
    return rule


def _forged_matcher(key: object, value: object) -> TagMatcher:
    return tuple.__new__(TagMatcher, (key, value))  # past any check of TagMatcher's own


def _naive() -> datetime:
    return datetime(2026, 1, 1)  # a naive datetime: the bad value


_GENERIC: list[tuple[str, Value]] = [
    ("None", _const(None)),
    ("empty str", _const("")),
    ("blank str", _const("   ")),
    ("1 MB str", _const(ONE_MB)),
    ("NUL str", _const("a\x00b")),
    ("newline str", _const("a\nb")),
    ("escape str", _const("\x1b[2J")),
    ("zero", _const(0)),
    ("negative int", _const(-1)),
    ("huge int", _const(10**30)),
    ("float", _const(1.5)),
    ("nan", _const(math.nan)),
    ("True", _const(True)),
    ("False", _const(False)),
    ("empty list", _const([])),
    ("empty dict", _const({})),
    ("list of int", _const([1])),
    ("dict", _const({"k": 1})),
    ("object", _const(object())),
    ("bytes", _const(b"bytes")),
    ("timedelta.max", _const(timedelta.max)),
    ("datetime.max", _const(datetime.max.replace(tzinfo=UTC))),
    ("naive datetime", lambda w: _naive()),
    ("generator", _gen("x")),
    ("device record", lambda w: w.records["device"]),
    ("AllOf(())", lambda w: AllOf(())),
    ("TagMatcher(None, None)", lambda w: TagMatcher(None, None)),
    ("TagMatcher(5, 6)", lambda w: TagMatcher(5, 6)),  # type: ignore[arg-type]
    ("frozenset", _const(frozenset({1}))),
]


_ID_VALUES: list[tuple[str, Value]] = [
    ("unknown id", _const("no-such-id")),
    ("foreign tenant", _id("b_tenant")),
    ("foreign group", _id("b_group")),
    ("foreign device", _id("b_device")),
    ("foreign user", _id("b_user")),
    ("own group", _id("group2")),
    ("own device", _id("device2")),
    ("own user", _id("user2")),
    ("management tenant", _id("mgmt")),
    ("subtenant", _id("sub")),
    ("tenant record", lambda w: w.records["tenant"]),
    ("group record", lambda w: w.records["group"]),
    ("user record", lambda w: w.records["user"]),
    ("hand-built device", lambda w: Device(id="hand", tenant_id=w["tenant"], name="Hand")),
    ("hand-built group", lambda w: Group(id="hand", tenant_id=w["tenant"], name="Hand")),
    ("hand-built user", lambda w: User(id="hand", tenant_id=w["tenant"], email="h@h.example")),
    ("list of ids", lambda w: [w["device"]]),
]


_TEXT_VALUES: list[tuple[str, Value]] = [
    ("256 chars", _const("n" * 256)),
    ("4097 chars", _const("n" * 4097)),
    ("bell", _const("a\x07b")),
    ("tab", _const("a\tb")),
    ("unicode", _const("Zürich ☃")),
    ("surrounding spaces", _const(" x ")),
    ("at signs", _const("a@@b")),
    ("bare at", _const("@")),
    ("long email", _const("e" * 250 + "@x.example")),
]


_COLLECTION_VALUES: list[tuple[str, Value]] = [
    ("list of None", _const([None])),
    ("list of str", _const(["nope"])),
    ("list of empty list", _const([[]])),
    ("list of empty dict", _const([{}])),
    ("list of foreign device", lambda w: [w["b_device"]]),
    ("list of own device", lambda w: [w["device2"]]),
    ("list of record", lambda w: [w.records["device"]]),
    ("generator of ids", lambda w: (d for d in [w["device3"]])),
    ("dict of 1 MB", _const({"k": ONE_MB})),
    ("pair of 1 MB value", _const([("k", ONE_MB)])),
    ("pair of 1 MB key", _const([(ONE_MB, "v")])),
    ("pair of control chars", _const([("k\x00", "v\n")])),
    ("pair of None", _const([(None, None)])),
    ("pair of ints", _const([(5, 6)])),
    ("list of AllOf(())", lambda w: [AllOf(())]),
    ("list of TagMatcher(5, 6)", lambda w: [TagMatcher(5, 6)]),  # type: ignore[arg-type]
    ("list of TagMatcher(None, None)", lambda w: [TagMatcher(None, None)]),
    ("list of AllOf of bad matcher", lambda w: [AllOf((TagMatcher(5, 6),))]),  # type: ignore[arg-type]
    ("triple", _const([("a", "b", "c")])),
    ("list of forged AllOf(())", lambda w: [_forged_all_of(())]),
    ("list of forged AllOf of ints", lambda w: [_forged_all_of((_forged_matcher(5, 6),))]),
    ("list of forged TagMatcher(None, None)", lambda w: [_forged_matcher(None, None)]),
    ("list of forged TagMatcher of 1 MB", lambda w: [_forged_matcher(ONE_MB, "v")]),
    ("list of RetentionRule(0)", lambda w: [RetentionRule(maximum_age_days=0)]),
    ("list of spec 1 MB", _const([{"name": ONE_MB}])),
    ("list of spec unknown field", _const([{"name": "n", "colour": "red"}])),
    ("list of spec bad tags", _const([{"name": "n", "tags": 5}])),
    ("list of spec bad parent", lambda w: [{"name": "n", "parent": w["b_device"]}]),
    ("list of int spec", _const([1])),
    ("option map 1 MB", _const({("c", "k"): ONE_MB})),
    ("option map bad key", _const({"ck": "v"})),
    ("two specs one id", _const([{"name": "a", "id": "dup"}, {"name": "b", "id": "dup"}])),
]


_NUMBER_VALUES: list[tuple[str, Value]] = [
    ("page too big", _const(10_001)),
    ("numeric str", _const("5")),
    ("large revision", _const(10**6)),
]


_TIME_VALUES: list[tuple[str, Value]] = [
    ("zero timedelta", _const(timedelta(0))),
    ("negative timedelta", _const(timedelta(days=-1))),
    ("date", _const(date(2026, 1, 1))),
    ("datetime.min", _const(datetime.min.replace(tzinfo=UTC))),
    ("int seconds", _const(3600)),
]


_KIND_EXTRAS: dict[str, list[tuple[str, Value]]] = {
    "id": _ID_VALUES,
    "text": _TEXT_VALUES,
    "collection": _COLLECTION_VALUES,
    "number": _NUMBER_VALUES,
    "time": _TIME_VALUES,
}


def _family(kind: str) -> str:
    base = kind.rstrip("?")
    if base.endswith("_id") or base in ("new_id", "cursor"):
        return "id"
    if base in ("name", "text", "email", "domain", "role", "sep", "role_kind", "principal_kind",
                "permission"):  # fmt: skip
        return "text"
    if base in ("limit", "count", "revision", "seconds"):
        return "number"
    if base in ("duration", "datetime", "date"):
        return "time"
    if base in ("bool", "omit"):
        return "bool"
    return "collection"


def bad_values(kind: str) -> list[tuple[str, Value]]:
    """The values tried for a parameter of this kind: the generic pool and its family's."""
    return _GENERIC + _KIND_EXTRAS.get(_family(kind), [])
