"""The tag rules of groups and the tag index of devices: the tables behind rule 1 of the
index (module ``tenancy.index.index``) for groups that associate devices by their tags.

Devices are indexed by their exact tags, ``(tenant, key, value)``; each exact tag is also
filed under its two wildcard shapes, ``(tenant, key, None)`` and ``(tenant, None, value)``,
so a wildcard matcher finds its devices through the exact tags of its shape and each device
is indexed once per tag. A rule is indexed under the shape of its first matcher: the rules
that may match a device are those filed under one of its tags' three shapes, and each is
then tested against all of the device's tags.

Most groups hold no rule or one, and most shapes one tag or a few: a group's rules, a
rule-index bucket and a shape's tags stay a tuple (a list) up to eight, then become a set
(a dict), so adding and removing stay O(1) however many there are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from tenancy.index.sorted_ids import SortedIds
from tenancy.records.model import Device, Tag, TagMatcher, TagRule, rule_matches

__all__ = ["RuleBucket", "TagKey", "TagTables"]

TagKey = tuple[str, str | None, str | None]
"""A tag-index key: (tenant_id, key or None, value or None). Devices are indexed under all
three shapes of their tags, rules under the shape of their first matcher."""
RuleBucket = list[tuple[str, TagRule]] | dict[tuple[str, TagRule], None]
_SMALL = 8
"""Up to this many rules a group's rules (and a rule-index bucket) stay a tuple (a list):
smaller than a set, and as fast to scan. Past it they become a set (a dict)."""


def _device_tag_keys(tenant_id: str, tags: frozenset[Tag]) -> set[TagKey]:
    keys: set[TagKey] = set()
    for k, v in tags:
        keys.add((tenant_id, k, v))
        keys.add((tenant_id, k, None))
        keys.add((tenant_id, None, v))
    return keys


def _matcher_key(tenant_id: str, matcher: TagMatcher) -> TagKey:
    return (tenant_id, matcher.key, matcher.value)


class TagTables:
    """The groups' tag rules, the rule index and the devices' tag index. The index owns
    one and publishes its four tables under the same names."""

    __slots__ = ("devices_by_tag", "group_rules", "rules_by_key", "tag_shapes")

    def __init__(self) -> None:
        self.group_rules: dict[str, tuple[TagRule, ...] | set[TagRule]] = {}
        """group -> its tag rules. Most groups have none or one: a tuple, until it holds
        more than eight, then a set (adding and removing a rule stay O(1) however many)."""
        self.rules_by_key: dict[TagKey, RuleBucket] = {}
        """The shape of a rule's first matcher -> the (group, rule) pairs with it: a list,
        until it holds more than eight, then a dict used as an ordered set (O(1) removal)."""
        self.devices_by_tag: dict[TagKey, SortedIds] = defaultdict(SortedIds)
        """(tenant, key, value) -> the devices carrying that exact tag."""
        self.tag_shapes: dict[TagKey, tuple[TagKey, ...] | set[TagKey]] = {}
        """(tenant, key, None) and (tenant, None, value) -> the exact tags of that shape that
        devices carry: a wildcard rule finds its devices through them, so each device is
        indexed once per tag, not three times."""

    # ----------------------------------------------------------------- rules

    def add_rule(self, group_id: str, tenant_id: str, rule: TagRule) -> None:
        """O(1), however many rules the group (or the rule's bucket) already holds."""
        rules = self.group_rules.get(group_id, ())
        if rule in rules:
            return
        if isinstance(rules, set):
            rules.add(rule)
        elif len(rules) < _SMALL:
            self.group_rules[group_id] = (*rules, rule)
        else:
            self.group_rules[group_id] = {*rules, rule}
        key = _matcher_key(tenant_id, rule[0])
        pair = (group_id, rule)
        bucket = self.rules_by_key.get(key)
        if bucket is None:
            self.rules_by_key[key] = [pair]
        elif isinstance(bucket, dict):
            bucket[pair] = None
        elif len(bucket) < _SMALL:
            bucket.append(pair)
        else:
            self.rules_by_key[key] = dict.fromkeys([*bucket, pair])

    def remove_rule(self, group_id: str, tenant_id: str, rule: TagRule) -> None:
        """O(1), however many rules the group (or the rule's bucket) holds."""
        rules = self.group_rules.get(group_id, ())
        if rule not in rules:
            return
        if isinstance(rules, set):
            rules.discard(rule)
            remaining: tuple[TagRule, ...] | set[TagRule] = rules
        else:
            remaining = tuple(r for r in rules if r != rule)
        if remaining:
            self.group_rules[group_id] = remaining
        else:
            del self.group_rules[group_id]
        key = _matcher_key(tenant_id, rule[0])
        bucket = self.rules_by_key[key]
        if isinstance(bucket, dict):
            del bucket[(group_id, rule)]
        else:
            bucket.remove((group_id, rule))
        if not bucket:
            del self.rules_by_key[key]

    def rule_groups(self, tenant_id: str, tags: frozenset[Tag]) -> frozenset[str]:
        """The groups of ``tenant_id`` whose tag rules match ``tags``."""
        groups: set[str] = set()
        for key in _device_tag_keys(tenant_id, tags):
            for gid, rule in self.rules_by_key.get(key, ()):
                if gid not in groups and rule_matches(rule, tags):
                    groups.add(gid)
        return frozenset(groups)

    # ----------------------------------------------------------------- devices' tags

    def index_tags(self, device_id: str, tenant_id: str, tags: frozenset[Tag]) -> None:
        by_tag = self.devices_by_tag
        for key, value in tags:
            exact = (tenant_id, key, value)
            bucket = by_tag.get(exact)
            if bucket is None:
                bucket = self.new_bucket(exact)
            bucket.add(device_id)

    def new_bucket(self, exact: TagKey) -> SortedIds:
        """The new, empty list of the devices carrying the exact tag ``exact``."""
        bucket = self.devices_by_tag[exact] = SortedIds()
        self.add_shapes(exact)
        return bucket

    def add_shapes(self, exact: TagKey) -> None:
        """File a new exact tag under its two wildcard shapes. Most shapes hold one tag or a
        few (a value under one key): a tuple, until it holds more than eight."""
        tenant_id, key, value = exact
        shapes = self.tag_shapes
        for shape in ((tenant_id, key, None), (tenant_id, None, value)):
            found = shapes.get(shape, ())
            if isinstance(found, set):
                found.add(exact)
            else:
                shapes[shape] = (*found, exact) if len(found) < _SMALL else {*found, exact}

    def unindex_tags(self, device_id: str, tenant_id: str, tags: frozenset[Tag]) -> None:
        for key, value in tags:
            exact = (tenant_id, key, value)
            bucket = self.devices_by_tag[exact]
            bucket.discard(device_id)
            if not bucket:
                del self.devices_by_tag[exact]
                for shape in ((tenant_id, key, None), (tenant_id, None, value)):
                    exacts = self.tag_shapes[shape]
                    if isinstance(exacts, set):
                        exacts.discard(exact)
                    else:
                        exacts = self.tag_shapes[shape] = tuple(e for e in exacts if e != exact)
                    if not exacts:
                        del self.tag_shapes[shape]

    def buckets(self, tenant_id: str, matcher: TagMatcher) -> list[SortedIds]:
        """The devices a matcher matches, as the exact-tag buckets that hold them."""
        key = _matcher_key(tenant_id, matcher)
        if matcher.key is not None and matcher.value is not None:
            bucket = self.devices_by_tag.get(key)
            return [] if bucket is None else [bucket]
        return [self.devices_by_tag[exact] for exact in self.tag_shapes.get(key, ())]

    def devices_matching(
        self, tenant_id: str, rule: TagRule, devices: Mapping[str, Device]
    ) -> set[str]:
        """Devices of ``tenant_id`` (their records in ``devices``) that ``rule`` matches:
        start from the matcher with the fewest devices."""
        options = [self.buckets(tenant_id, m) for m in rule]
        smallest = min(options, key=lambda buckets: sum(map(len, buckets)))
        found: set[str] = set().union(*smallest)
        if len(rule) == 1:
            return found
        return {d for d in found if rule_matches(rule, devices[d].tags)}
