"""Tag matchers and tag rules (DOMAIN.md section 2), and how a group associates devices by id
and by rule (section 3)."""

from __future__ import annotations

import pytest

import tenancy
from tenancy import InvalidValue, TagMatcher, all_of
from tenancy.records.model import parse_rule, parse_rules, parse_tags, rule_matches

from ._world import new_tenant

TAGS = frozenset({("site", "sb"), ("kind", "generator"), ("kind", "backup")})


@pytest.mark.parametrize(
    ("matcher", "matches"),
    [
        (("site", "sb"), True),
        (("site", "mp"), False),
        (("kind", "backup"), True),  # a key may carry several values
        (("site", None), True),
        (("zone", None), False),
        ((None, "generator"), True),
        ((None, "sb"), True),
        ((None, "south"), False),
        (("Site", "sb"), False),  # exact strings: case matters
        (("site", "SB"), False),
    ],
)
def test_each_matcher_form(matcher: tuple[str | None, str | None], matches: bool) -> None:
    """(k, v) needs that pair, (k, None) any value of k, (None, v) the value v under any
    key; keys and values compare as exact strings."""
    assert TagMatcher(*matcher).matches(TAGS) is matches
    assert rule_matches(parse_rule(matcher), TAGS) is matches


def test_all_of_needs_every_matcher() -> None:
    """An all-of rule matches only when each of its matchers does."""
    assert rule_matches(parse_rule(all_of(("site", "sb"), ("kind", None))), TAGS)
    assert not rule_matches(parse_rule(all_of(("site", "sb"), ("zone", None))), TAGS)
    assert rule_matches(parse_rule(all_of(("kind", "generator"), ("kind", "backup"))), TAGS)


def test_equal_rules_are_one_rule() -> None:
    """Matcher order and repeats inside an all-of do not make a different rule, so a group
    holds it once."""
    one = parse_rule(all_of(("site", "sb"), ("kind", None)))
    other = parse_rule(all_of(("kind", None), ("site", "sb"), ("kind", None)))
    assert one == other
    assert parse_rules([("site", "sb"), all_of(("site", "sb")), ["site", "sb"]]) == {  # type: ignore[list-item]
        (TagMatcher("site", "sb"),)
    }


@pytest.mark.parametrize(
    "bad",
    [(None, None), ("site",), ("site", "sb", "x"), ("", "sb"), ("site", ""), (1, "sb"), "site"],
)
def test_a_malformed_matcher_is_refused(bad: object) -> None:
    """A matcher is a pair of non-empty strings, either side None but not both."""
    with pytest.raises(InvalidValue):
        parse_rule(bad)


def test_all_of_needs_at_least_one_matcher() -> None:
    with pytest.raises(InvalidValue, match="at least one"):
        all_of()


@pytest.mark.parametrize("bad", [[("site",)], [("site", "")], [("", "x")], [(None, "x")], "site"])
def test_malformed_tags_are_refused(bad: object) -> None:
    """Tags are (key, value) pairs of non-empty strings, or a mapping; never a string."""
    with pytest.raises(InvalidValue):
        parse_tags(bad)  # type: ignore[arg-type]


def test_tags_may_be_a_mapping_or_pairs() -> None:
    assert parse_tags({"site": "sb"}) == parse_tags([("site", "sb")]) == {("site", "sb")}


def test_a_group_associates_by_id_or_by_rule_inclusively() -> None:
    """A group associates a device when its id is listed OR one of its rules matches: ids
    and rules add up, and a device listed by id needs no matching tag."""
    tn = tenancy.open()
    t = new_tenant(tn, "acme")
    t.create_group("G", id="g", device_ids=(), device_tags=[("site", "sb")])
    t.create_device("by tag", id="tagged", tags=[("site", "sb")])
    t.create_device("by id", id="listed", tags=[("site", "elsewhere")])
    t.create_device("neither", id="neither")
    t.associate("g", device_ids=["listed"])
    t.create_user("u@acme.example", id="u")
    t.add_member("g", "u")
    assert [d.id for d in tn.devices_for("u")] == ["listed", "tagged"]
    t.dissociate("g", device_tags=[("site", "sb")])
    assert [d.id for d in tn.devices_for("u")] == ["listed"]
    t.dissociate("g", device_ids=["listed"])
    assert [d.id for d in tn.devices_for("u")] == []


def test_a_device_listed_by_id_and_matched_by_rule_stays_while_either_holds() -> None:
    tn = tenancy.open()
    t = new_tenant(tn, "acme")
    t.create_device("both", id="d", tags=[("site", "sb")])
    t.create_group("G", id="g", device_ids=["d"], device_tags=[("site", None)])
    t.create_user("u@acme.example", id="u")
    t.add_member("g", "u")
    t.untag_device("d", [("site", "sb")])
    assert tn.verify("u", "d")  # still listed by id
    t.tag_device("d", [("site", "mp")])
    t.dissociate("g", device_ids=["d"])
    assert tn.verify("u", "d")  # still matched by (site, None)
    t.untag_device("d", {"site": "mp"})
    assert not tn.verify("u", "d")


def test_tagging_and_untagging_moves_a_device_in_and_out_of_a_rule() -> None:
    tn = tenancy.open()
    t = new_tenant(tn, "acme")
    t.create_group("Generators at MP", id="g", device_tags=[all_of(("site", "mp"), ("kind", None))])
    t.create_device("d", id="d", tags=[("site", "mp")])
    t.create_user("u@acme.example", id="u")
    t.add_member("g", "u")
    assert not tn.verify("u", "d")
    t.tag_device("d", [("kind", "generator")])
    assert tn.verify("u", "d")
    t.untag_device("d", [("site", "mp")])
    assert not tn.verify("u", "d")


def test_tag_rules_only_match_devices_of_their_own_tenant() -> None:
    """Two tenants with the same tags: a rule never associates the other tenant's device."""
    tn = tenancy.open()
    a, b = new_tenant(tn, "alpha"), new_tenant(tn, "beta")
    a.create_group("All sites", id="ga", device_tags=[("site", None)])
    a.create_user("u@alpha.example", id="ua")
    a.add_member("ga", "ua")
    a.create_device("mine", id="da", tags=[("site", "sb")])
    b.create_device("theirs", id="db", tags=[("site", "sb")])
    assert tn.verify("ua", "da")
    assert not tn.verify("ua", "db")
    assert [d.id for d in tn.devices_in("ga")] == ["da"]
