"""One call cannot wedge a store (issue 11, Deliver item 1).

Values are checked where they enter: records built directly (AllOf, TagMatcher,
RetentionRule, TenantPolicy, SafetyLimits) check themselves, tag parsing refuses junk, and
limits and durations stay in a range every layer can hold. Behind that, every store
adapter's commit refuses a change carrying an impossible value before it writes anything.
Each test here was a way to break a store for every tenant and every process; each now
raises InvalidValue naming the field, changes nothing, and the next write works. The
SQLite file side (a second handle, reopening) is in tests/integration/test_wedge_sqlite.py.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

import tenancy
from tenancy import (
    AllOf,
    InvalidValue,
    RetentionRule,
    SafetyLimits,
    TagMatcher,
    Tenancy,
    TenantPolicy,
    TenantScope,
    all_of,
)
from tenancy.handle.writer import Writer
from tenancy.records.changes import (
    Associated,
    Change,
    DeviceCreated,
    GroupCreated,
    TenantUpdated,
    check_changes,
)
from tenancy.records.model import (
    MAX_INT,
    MAX_TAG_LENGTH,
    Device,
    Group,
    check_duration,
    check_int,
    parse_rule,
    parse_rules,
    parse_tags,
)
from tenancy.rules.access import SYSTEM, Identity

from ._world import new_tenant

LONG = "x" * (MAX_TAG_LENGTH + 1)


def _forged_matcher(key: object, value: object) -> TagMatcher:
    """A TagMatcher built around its check, as a careless caller (or a bug) might."""
    return tuple.__new__(TagMatcher, (key, value))


def _forged_all_of(matchers: tuple[object, ...]) -> AllOf:
    """An AllOf built around its check."""
    rule = object.__new__(AllOf)
    object.__setattr__(rule, "matchers", matchers)
    return rule


@pytest.fixture(params=["memory", "sqlite"])
def tn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tenancy]:
    target = None if request.param == "memory" else str(tmp_path / "wedge.db")
    handle = tenancy.open(target, staleness=None)
    yield handle
    handle.close()


def _state(tn: Tenancy) -> tuple[Any, ...]:
    """Everything a refused call must leave as it was."""
    return (
        tn.revision,
        tn.store.head(),
        tn.store.snapshot(),
        tn.index.snapshot(),
        tuple(tn.audit_log(limit=10_000)),
    )


def _assert_refused(tn: Tenancy, call: Callable[[], object], field: str) -> InvalidValue:
    before = _state(tn)
    with pytest.raises(InvalidValue) as caught:
        call()
    assert caught.value.field == field, caught.value
    assert caught.value.rule
    assert _state(tn) == before
    return caught.value


def _assert_still_writable(tn: Tenancy, t: TenantScope) -> None:
    """The next writes work, in this tenant and in another, and every listing reads."""
    g = t.create_group("after", device_tags=[("site", "sb")])
    d = t.create_device("after", tags=[("site", "sb")])
    u = t.create_user("after@acme.example")
    t.add_member(g.id, u.id)
    assert tn.verify(u.id, d.id)
    other = new_tenant(tn, "other")
    other.create_group("elsewhere", device_tags=[all_of(("site", "sb"), ("kind", None))])
    assert tn.audit_log(limit=10_000).items
    assert tn.index.snapshot() == tn.store.snapshot()


# ---------------------------------------------------------------- the reported calls


BAD_RULES: list[tuple[str, Callable[[], object], str]] = [
    # Records that refuse themselves, naming their own field:
    ("AllOf(())", lambda: AllOf(()), "matchers"),
    ("AllOf((TagMatcher(5, 6),))", lambda: AllOf((TagMatcher(5, 6),)), "key"),  # type: ignore[arg-type]
    ("TagMatcher(None, None)", lambda: TagMatcher(None, None), "key"),
    ('TagMatcher("", "")', lambda: TagMatcher("", ""), "key"),
    ("AllOf of (None, None)", lambda: AllOf(((None, None),)), "matchers"),
    ("AllOf of a long value", lambda: AllOf((TagMatcher("k", LONG),)), "value"),
    ("all_of()", all_of, "matchers"),
    # Built around those checks, or not records at all: the write's parsing refuses them.
    ("forged AllOf(())", lambda: _forged_all_of(()), "device_tags"),
    ("forged AllOf of TagMatcher(5, 6)", lambda: _forged_all_of((_forged_matcher(5, 6),)),
     "device_tags"),
    ("forged AllOf of a pair of ints", lambda: _forged_all_of(((5, 6),)), "device_tags"),
    ("forged TagMatcher(None, None)", lambda: _forged_matcher(None, None), "device_tags"),
    ("forged TagMatcher(5, 6)", lambda: _forged_matcher(5, 6), "device_tags"),
    ('forged TagMatcher("", "")', lambda: _forged_matcher("", ""), "device_tags"),
    ("a long key", lambda: (LONG, None), "device_tags"),
    ("nested junk", lambda: (("site", "sb"), None), "device_tags"),
    ("a matcher of three", lambda: ("site", "sb", "x"), "device_tags"),
    ("None", lambda: None, "device_tags"),
    ("an int", lambda: 5, "device_tags"),
]  # fmt: skip
_IDS = [what for what, _, _ in BAD_RULES]


@pytest.mark.parametrize(("what", "make", "field"), BAD_RULES, ids=_IDS)
def test_a_bad_rule_is_refused_by_create_group(
    tn: Tenancy, what: str, make: Callable[[], object], field: str
) -> None:
    """``create_group(device_tags=[AllOf(())])`` was committed, then wedged the index;
    now every bad rule is refused before anything is written, built directly or not."""
    t = new_tenant(tn, "acme")
    _assert_refused(tn, lambda: t.create_group("x", device_tags=[make()]), field)  # type: ignore[list-item]
    _assert_still_writable(tn, t)


@pytest.mark.parametrize(("what", "make", "field"), BAD_RULES, ids=_IDS)
def test_a_bad_rule_is_refused_by_associate_and_dissociate(
    tn: Tenancy, what: str, make: Callable[[], object], field: str
) -> None:
    t = new_tenant(tn, "acme")
    g = t.create_group("g", device_tags=[("site", "sb")])
    _assert_refused(tn, lambda: t.associate(g.id, device_tags=[make()]), field)  # type: ignore[list-item]
    _assert_refused(tn, lambda: t.dissociate(g.id, device_tags=[make()]), field)  # type: ignore[list-item]
    _assert_still_writable(tn, t)


@pytest.mark.parametrize(
    "bad", [None, 5, 1.5, "site", b"site", [["site"]], [("site", ("sb",))], [(5, 6)]]
)
def test_bad_rule_collections_are_refused(tn: Tenancy, bad: object) -> None:
    t = new_tenant(tn, "acme")
    g = t.create_group("g")
    error = _assert_refused(tn, lambda: t.associate(g.id, device_tags=bad), "device_tags")  # type: ignore[arg-type]
    assert "device_tags" in str(error)
    _assert_still_writable(tn, t)


@pytest.mark.parametrize("field", ["max_devices", "max_root_devices"])
@pytest.mark.parametrize("bad", [10**30, 2**63, -1, True, 1.0, "5"])
def test_a_limit_outside_the_int_range_is_refused(tn: Tenancy, field: str, bad: object) -> None:
    """``update_tenant(tid, max_devices=10**30)`` was accepted by the memory store, and
    every audit_log() page holding it then raised OverflowError."""
    t = new_tenant(tn, "acme")
    given: dict[str, Any] = {field: bad}
    _assert_refused(tn, lambda: tn.update_tenant(t.tenant_id, **given), field)
    _assert_refused(
        tn,
        lambda: tn.create_tenant(domain="big", name="Big", admin_email="a@big.example", **given),
        field,
    )
    most: dict[str, Any] = {field: MAX_INT}
    assert getattr(tn.update_tenant(t.tenant_id, **most), field) == MAX_INT
    assert tn.audit_log(limit=10_000).items[-1].after[field] == MAX_INT
    _assert_still_writable(tn, t)


@pytest.mark.parametrize(
    "bad",
    [None, 5, 1.5, "site", [("site",)], [("site", "")], [("", "sb")], [(1, "sb")],
     [("site", None)], [("site", ("sb",))], [[("site", "sb")]], [(LONG, "v")], [("k", LONG)],
     {"site": 5}, {"": "x"}, {"k": LONG}],
)  # fmt: skip
def test_bad_tags_are_refused(tn: Tenancy, bad: object) -> None:
    """Tags are pairs (or a mapping) of non-empty strings of at most 1,024 characters."""
    t = new_tenant(tn, "acme")
    d = t.create_device("d")
    u = t.create_user("u@acme.example")
    if bad is not None:  # a device spec's tags=None means none (tenancy.scope)
        _assert_refused(tn, lambda: t.create_device("x", tags=bad), "tags")  # type: ignore[arg-type]
    _assert_refused(tn, lambda: t.tag_device(d.id, bad), "tags")  # type: ignore[arg-type]
    _assert_refused(tn, lambda: t.untag_device(d.id, bad), "tags")  # type: ignore[arg-type]
    _assert_refused(tn, lambda: t.create_user("v@acme.example", tags=bad), "tags")  # type: ignore[arg-type]
    _assert_refused(tn, lambda: t.update_user(u.id, tags=bad), "tags")  # type: ignore[arg-type]
    _assert_still_writable(tn, t)


def test_tags_and_matchers_of_exactly_the_longest_length_are_accepted(tn: Tenancy) -> None:
    t = new_tenant(tn, "acme")
    longest = "x" * MAX_TAG_LENGTH
    d = t.create_device("d", tags=[(longest, longest)])
    g = t.create_group("g", device_tags=[(longest, None), all_of((None, longest))])
    u = t.create_user("u@acme.example")
    t.add_member(g.id, u.id)
    assert tn.verify(u.id, d.id)


# ---------------------------------------------------------------- records check themselves


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [(None, None, "key"), ("", "", "key"), ("", "v", "key"), ("k", "", "value"),
     (5, 6, "key"), ("k", 6, "value"), (LONG, None, "key"), (None, LONG, "value"),
     (("k",), None, "key"), (b"k", None, "key")],
)  # fmt: skip
def test_a_tag_matcher_checks_itself(key: Any, value: Any, field: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        TagMatcher(key, value)
    assert caught.value.field == field
    with pytest.raises(InvalidValue):
        TagMatcher("k", "v")._replace(key=key, value=value)
    with pytest.raises(InvalidValue):
        TagMatcher._make((key, value))


def test_a_tag_matcher_is_still_a_plain_pair() -> None:
    m = TagMatcher("site", None)
    assert (m.key, m.value) == ("site", None)
    assert m.matches(frozenset({("site", "sb")}))
    assert hash(m) == hash(("site", None))
    assert m == ("site", None)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(m), type=TagMatcher) == m
    assert repr(m) == "TagMatcher(key='site', value=None)"


@pytest.mark.parametrize(
    "bad", [(), [], None, 5, "site", ((None, None),), ((5, 6),), (("k",),), (("", "v"),)]
)
def test_an_all_of_checks_itself(bad: Any) -> None:
    with pytest.raises(InvalidValue) as caught:
        AllOf(bad)
    assert caught.value.field == "matchers"


def test_an_all_of_takes_matchers_or_pairs() -> None:
    assert AllOf([("site", "sb"), ("kind", None)]) == AllOf(
        (TagMatcher("site", "sb"), TagMatcher("kind", None))
    )
    assert all(type(m) is TagMatcher for m in AllOf([("site", "sb")]).matchers)


def test_parse_rule_checks_an_all_of_again() -> None:
    """An AllOf changed after it was built (around its frozen attributes) is checked when a
    write parses it."""
    for forged in (_forged_all_of(()), _forged_all_of((_forged_matcher(None, None),))):
        with pytest.raises(InvalidValue) as caught:
            parse_rule(forged, "device_tags")
        assert caught.value.field == "device_tags"


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"maximum_age_days": 0}, "maximum_age_days"), ({"maximum_age_days": -1}, "maximum_age_days"),
     ({"maximum_age_days": 10**30}, "maximum_age_days"),
     ({"maximum_age_days": 36_526}, "maximum_age_days"),
     ({"maximum_age_days": True}, "maximum_age_days"),
     ({"maximum_age_days": 1.5}, "maximum_age_days"),
     ({"maximum_age_days": 30, "data_type": ""}, "data_type"),
     ({"maximum_age_days": 30, "source": " x"}, "source"),
     ({"maximum_age_days": 30, "type": 5}, "type"),
     ({"maximum_age_days": 30, "fragment_type": None}, "fragment_type")],
)  # fmt: skip
def test_a_retention_rule_checks_itself(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        RetentionRule(**fields)
    assert caught.value.field == field
    assert RetentionRule(maximum_age_days=36_525).maximum_age_days == 36_525


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"name": ""}, "name"), ({"name": 5}, "name"), ({"name": "p", "description": None},
     "description"), ({"name": "p", "options": [("a", "b", "c")]}, "options"),
     ({"name": "p", "options": (("a", "b"),)}, "options"),
     ({"name": "p", "options": (("", "b", "c"),)}, "options"),
     ({"name": "p", "options": (("a", "b", 5),)}, "options"),
     ({"name": "p", "retention_rules": [RetentionRule(maximum_age_days=1)]}, "retention_rules"),
     ({"name": "p", "retention_rules": ("x",)}, "retention_rules")],
)  # fmt: skip
def test_a_tenant_policy_checks_itself(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        TenantPolicy(**fields)
    assert caught.value.field == field


@pytest.mark.parametrize("bad", [2**63, 10**30, 0, -1, True, 2.0])
def test_safety_limits_stay_in_the_int_range(bad: object) -> None:
    with pytest.raises(InvalidValue) as caught:
        SafetyLimits(max_devices_per_tenant=bad)  # type: ignore[arg-type]
    assert caught.value.field == "max_devices_per_tenant"
    assert SafetyLimits(max_devices_per_tenant=MAX_INT).max_devices_per_tenant == MAX_INT


def test_check_int_and_check_duration() -> None:
    assert check_int("n", 0) == 0
    assert check_int("n", MAX_INT) == MAX_INT
    for bad in (-1, MAX_INT + 1, True, 1.0, None, "1"):
        with pytest.raises(InvalidValue) as caught:
            check_int("n", bad)
        assert caught.value.field == "n"
    assert check_duration("d", timedelta(days=36_525)) == timedelta(days=36_525)
    for bad_duration in (timedelta(0), timedelta(-1), timedelta.max, timedelta(days=36_526), 5):
        with pytest.raises(InvalidValue) as caught:
            check_duration("d", bad_duration)
        assert caught.value.field == "d"


@pytest.mark.parametrize("bad", [timedelta.max, timedelta(days=10**6), timedelta(0), 3600])
def test_a_support_duration_stays_in_range(bad: object) -> None:
    """``open(support_duration=timedelta.max)`` made every support request overflow."""
    with pytest.raises(InvalidValue) as caught:
        tenancy.open(support_duration=bad)
    assert caught.value.field == "support_duration"


def test_a_bad_retention_rule_never_reaches_a_policy(tn: Tenancy) -> None:
    before = _state(tn)
    with pytest.raises(InvalidValue):
        tn.define_policy(
            tn.management_tenant.id,
            "p",
            retention_rules=[RetentionRule(maximum_age_days=10**30)],
        )
    assert _state(tn) == before


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize("bad", [None, 5, 1.5, object(), "ab", b"ab"])
def test_parse_tags_and_rules_refuse_what_is_no_collection(bad: object) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_tags(bad, "labels")  # type: ignore[arg-type]
    assert caught.value.field == "labels"
    with pytest.raises(InvalidValue) as caught:
        parse_rules(bad, "rules")  # type: ignore[arg-type]
    assert caught.value.field == "rules"


def test_parse_tags_keeps_its_fast_path() -> None:
    """Valid (str, str) tuples come back as the frozenset built from them, nothing new."""
    tags = parse_tags([("site", "sb"), ("kind", "gen")])
    assert tags == frozenset({("site", "sb"), ("kind", "gen")})
    assert parse_tags({"site": "sb"}) == frozenset({("site", "sb")})
    assert parse_tags([["site", "sb"]]) == frozenset({("site", "sb")})  # type: ignore[list-item]


# ---------------------------------------------------------------- the store's wall


def _wall_world(tn: Tenancy) -> tuple[TenantScope, Group, Device]:
    t = new_tenant(tn, "acme")
    g = t.create_group("g", id="g")
    d = t.create_device("d", id="d", tags=[("site", "sb")])
    return t, g, d


def _impossible(tenant_id: str) -> list[tuple[str, Change, str]]:
    """Changes no facade call makes, each with the field the store names."""
    group = Group(id="g2", tenant_id=tenant_id, name="g2")
    device = Device(id="d2", tenant_id=tenant_id, name="d2")
    tenant = tenancy.Tenant(id=tenant_id, domain="acme", name="Acme")
    return [
        ("empty rule", GroupCreated(group=msgspec.structs.replace(
            group, device_tags=frozenset({()}))), "device_tags"),
        ("int matcher", Associated(group_id="g", device_tags=frozenset(
            {(_forged_matcher(5, 6),)})), "device_tags"),
        ("None matcher", Associated(group_id="g", device_tags=frozenset(
            {(_forged_matcher(None, None),)})), "device_tags"),
        ("empty matcher", Associated(group_id="g", device_tags=frozenset(
            {(_forged_matcher("", ""),)})), "device_tags"),
        ("plain pair", Associated(group_id="g", device_tags=frozenset(
            {(("site", "sb"),)})), "device_tags"),  # type: ignore[arg-type]
        ("max_devices 10**30", TenantUpdated(tenant=msgspec.structs.replace(
            tenant, max_devices=10**30)), "max_devices"),
        ("max_devices True", TenantUpdated(tenant=msgspec.structs.replace(
            tenant, max_devices=True)), "max_devices"),
        ("int tag", DeviceCreated(device=msgspec.structs.replace(
            device, tags=frozenset({(5, 6)}))), "tags"),
        ("long tag", DeviceCreated(device=msgspec.structs.replace(
            device, tags=frozenset({("k", LONG)}))), "tags"),
        ("empty id", DeviceCreated(device=msgspec.structs.replace(device, id="")), "id"),
    ]  # fmt: skip


_IMPOSSIBLE = [what for what, _, _ in _impossible("t")]


@pytest.mark.parametrize("index", range(len(_IMPOSSIBLE)), ids=_IMPOSSIBLE)
def test_the_store_refuses_an_impossible_change_from_the_facade(
    tn: Tenancy, index: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should a facade check miss (here: every write's changes replaced by an impossible
    one), the store's commit refuses it before writing, and nothing changes anywhere."""
    t, _, _ = _wall_world(tn)
    what, change, field = _impossible(t.tenant_id)[index]
    real_write = Writer.write

    def forged_write(
        self: Writer, make: Callable[[], tuple[list[Change], Any]], identity: Identity = SYSTEM
    ) -> Any:
        return real_write(self, lambda: ([change], None), identity)

    before = _state(tn)
    monkeypatch.setattr(Writer, "write", forged_write)
    with pytest.raises(InvalidValue) as caught:
        t.create_group("anything")
    monkeypatch.undo()
    assert caught.value.field == field, what
    assert _state(tn) == before
    _assert_still_writable(tn, t)


def test_check_changes_knows_every_field_of_every_change() -> None:
    """A field added to a change type without a check would go through unchecked."""
    from tenancy.records import changes

    kinds = Change.__args__
    assert set(changes._FIELDS) == set(kinds)
    for kind in kinds:
        assert {name for name, _ in changes._FIELDS[kind]} == set(kind.__struct_fields__), kind


def test_check_changes_refuses_what_is_no_change() -> None:
    for bad in (None, "GroupDeleted", 5, {"type": "GroupDeleted", "group_id": "g"}):
        with pytest.raises(InvalidValue) as caught:
            check_changes([bad])
        assert caught.value.field == "changes"


def test_check_changes_accepts_every_change_the_facade_makes(tn: Tenancy) -> None:
    """Every commit of a busy history passes the check (it ran on each), and checking the
    whole log again passes too."""
    t, g, d = _wall_world(tn)
    u = t.create_user("u@acme.example", tags={"notify": "sms"})
    t.add_member(g.id, u.id)
    t.associate(g.id, device_ids=[d.id], device_tags=[all_of(("site", None), (None, "sb"))])
    tn.update_tenant(t.tenant_id, max_devices=10, options={("a", "b"): "c"},
                     retention_rules=[RetentionRule(maximum_age_days=30)])  # fmt: skip
    t.request_support(u.id, duration=timedelta(hours=1))
    v = t.create_user("v@acme.example")
    t.grant_role(v.id, "admin")
    t.delegate(u.id, v.id, until=datetime(2100, 1, 1, tzinfo=UTC))
    tn.suspend_tenant(t.tenant_id)
    tn.activate_tenant(t.tenant_id)
    for commit in tn.store.changes_since(0):
        check_changes(commit.changes)


@pytest.mark.parametrize("bad", [(None, None), ("", "x"), ("k", LONG), ("k",), 5])
def test_a_bad_tag_filter_of_a_query_names_its_argument(tn: Tenancy, bad: object) -> None:
    t, g, d = _wall_world(tn)
    u = t.create_user("u@acme.example")
    t.associate(g.id, device_ids=[d.id])
    t.add_member(g.id, u.id)
    for call in (
        lambda: tn.devices_for(u.id, tags=[bad]),  # type: ignore[list-item]
        lambda: tn.users_for(d.id, tags=[bad]),  # type: ignore[list-item]
    ):
        with pytest.raises(InvalidValue) as caught:
            call()
        assert caught.value.field == "tags"


def test_str_subclasses_pass_every_check(tn: Tenancy) -> None:
    """A StrEnum is a string: parsing, the records and the store's check all take it."""

    class Site(enum.StrEnum):
        SB = "sb"

    t = new_tenant(tn, "acme")
    d = t.create_device("d", tags=[(Site.SB, Site.SB)], id=Site.SB)
    g = t.create_group("g", device_tags=[(Site.SB, None), all_of((None, Site.SB))])
    u = t.create_user("u@acme.example")
    t.add_member(g.id, u.id)
    assert tn.verify(u.id, d.id)
