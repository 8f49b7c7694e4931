"""One shape for every input (issue 15): tags, tag rules and listing filters all take a
mapping or an iterable of pairs, and a wrong shape is refused with a message that says
which shapes are accepted, naming the argument, and changing nothing."""

from __future__ import annotations

from typing import Any

import pytest

import tenancy
from tenancy import InvalidValue
from tenancy.records.model import Device, User
from tenancy.records.tags import RULE_SHAPES, TAG_SHAPES, parse_filter, parse_rules, parse_tags


@pytest.fixture
def world() -> tuple[tenancy.Tenancy, Any, Device, User]:
    tn = tenancy.open()
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
    t = tn.tenant(acme.id)
    site = t.create_group("Site", device_tags={"site": "sb"})
    gen = t.create_device("Gen", tags={"site": "sb", "kind": "generator"})
    ana = t.create_user("ana@acme.example", tags={"notify": "sms"})
    bob = t.create_user("bob@acme.example", tags={"notify": "email"})
    t.add_member(site.id, ana.id)
    t.add_member(site.id, bob.id)
    return tn, t, gen, ana


def test_a_mapping_and_pairs_give_the_same_answers(world: Any) -> None:
    tn, t, gen, ana = world
    by_pairs = tn.users_for(gen.id, tags=[("notify", "sms")])
    assert tn.users_for(gen.id, tags={"notify": "sms"}) == by_pairs == [ana]
    assert tn.devices_for(ana.id, tags={"kind": "generator"}).items == (gen,)
    assert tn.devices_for(ana.id, tags={"kind": "generator", "site": "nope"}).items == ()
    assert tn.devices_for(ana.id, tags=[("kind", None)]).items == (gen,)
    g = t.create_group("By map", device_tags={"site": "sb", "kind": "pump"})
    assert g.device_tags == parse_rules([("site", "sb"), ("kind", "pump")])
    t.dissociate(g.id, device_tags={"kind": "pump"})
    assert t.get_group(g.id).device_tags == parse_rules([("site", "sb")])


def test_the_filter_of_a_mapping_is_one_all_of_rule() -> None:
    assert parse_filter({"a": "1", "b": "2"}) == parse_filter([("a", "1"), ("b", "2")])
    assert parse_filter({}) is None
    assert parse_filter(None) is None
    assert parse_filter([tenancy.all_of(("a", "1"), ("b", None))]) == (("a", "1"), ("b", None))


@pytest.mark.parametrize(
    ("call", "field", "shapes"),
    [
        (lambda tn, t, d, u: tn.users_for(d.id, tags=("notify", "sms")), "tags", RULE_SHAPES),
        (lambda tn, t, d, u: tn.devices_for(u.id, tags=("site", "sb")), "tags", RULE_SHAPES),
        (lambda tn, t, d, u: t.create_group("x", device_tags=("site", "sb")), "device_tags",
         RULE_SHAPES),
        (lambda tn, t, d, u: t.create_device("x", tags=("site", "sb")), "tags", TAG_SHAPES),
        (lambda tn, t, d, u: t.tag_device(d.id, ("site", "sb")), "tags", TAG_SHAPES),
    ],
)  # fmt: skip
def test_a_single_pair_is_refused_with_the_fix(
    world: Any, call: Any, field: str, shapes: str
) -> None:
    tn, t, gen, ana = world
    before = tn.revision
    with pytest.raises(InvalidValue) as caught:
        call(tn, t, gen, ana)
    assert caught.value.field == field
    assert shapes in str(caught.value)
    assert "put it in a list" in str(caught.value)
    assert tn.revision == before


@pytest.mark.parametrize("bad", ["notify", b"notify", 7])
def test_a_string_or_a_scalar_names_the_whole_value_and_the_shapes(world: Any, bad: Any) -> None:
    tn, t, gen, _ = world
    with pytest.raises(InvalidValue) as caught:
        tn.users_for(gen.id, tags=bad)
    assert caught.value.field == "tags"
    assert RULE_SHAPES in str(caught.value)
    assert repr(bad) in str(caught.value)
    with pytest.raises(InvalidValue) as caught:
        t.create_device("x", tags=bad)
    assert caught.value.field == "tags"
    assert TAG_SHAPES in str(caught.value)


def test_each_wrong_item_is_named() -> None:
    with pytest.raises(InvalidValue, match="a tag matcher is a"):
        parse_rules(["site"])  # type: ignore[list-item]
    with pytest.raises(InvalidValue, match="each pair is two non-empty strings"):
        parse_tags([("site",)])  # type: ignore[list-item]
    with pytest.raises(InvalidValue, match="a tag key is a non-empty string"):
        parse_tags({"": "x"})


def test_records_read_their_tags_by_key(world: Any) -> None:
    _, t, gen, ana = world
    assert gen.tag("site") == "sb"
    assert gen.tag("missing") is None
    assert gen.tag("missing", "-") == "-"
    assert ana.tag("notify") == "sms"
    multi = t.create_device("Multi", tags=[("zone", "b"), ("zone", "a")])
    assert multi.tags_of("zone") == ["a", "b"]
    assert multi.tag("zone") == "a"
    assert multi.tags_of("none") == []
