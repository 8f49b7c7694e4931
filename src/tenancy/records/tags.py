"""Tags, tag matchers and tag rules: their shapes, and the one way every input is read.

Tags are sets of ``(key, value)`` string pairs; a key may carry several values. A group
associates devices by id or by *tag rules*: a rule is an all-of tuple of :class:`TagMatcher`
(one matcher is a rule of one), kept sorted so equal rules compare and hash equal. A listing
filter is one all-of rule.

Every argument that takes tags, rules or a filter takes the same shapes: a mapping
``{"site": "sb"}`` or an iterable of ``(key, value)`` pairs (and :func:`all_of` where rules
are taken). A string, a single pair or anything else is refused with an InvalidValue that
names the argument and lists the shapes it takes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, Self, TypeAlias

import attrs

from tenancy.errors import InvalidValue

__all__ = [
    "MAX_TAG_LENGTH",
    "RULE_SHAPES",
    "TAG_SHAPES",
    "AllOf",
    "RulesInput",
    "Tag",
    "TagMatcher",
    "TagRule",
    "TagsInput",
    "all_of",
    "matcher_problem",
    "parse_filter",
    "parse_rule",
    "parse_rules",
    "parse_tags",
    "rule_matches",
    "tag_value",
    "tag_values",
]

Tag: TypeAlias = tuple[str, str]

MAX_TAG_LENGTH = 1_024
"""Characters of a tag key or value, and of either side of a tag matcher, at most."""

TAG_SHAPES = "a mapping {key: value} or an iterable of (key, value) pairs"
"""The shapes tags are taken in, as error messages name them."""
RULE_SHAPES = (
    "a mapping {key: value}, or an iterable of (key, value) matchers (either side may be "
    "None) and all_of(...) rules"
)
"""The shapes tag rules and listing filters are taken in, as error messages name them."""


def _text_problem(part: str, text: object) -> str | None:
    """Why ``text`` is no tag key or value (the rule it breaks), or None."""
    if not isinstance(text, str) or not text:
        return f"a tag {part} is a non-empty string"
    if len(text) > MAX_TAG_LENGTH:
        return f"a tag {part} has at most {MAX_TAG_LENGTH} characters"
    return None


def matcher_problem(key: object, value: object) -> tuple[str, str] | None:
    """Why ``(key, value)`` is no tag matcher, as (the side at fault, the rule it breaks),
    or None."""
    if key is None:
        if value is None:
            return "key", "a tag matcher needs a key, a value or both, not (None, None)"
    else:
        problem = _text_problem("key", key)
        if problem is not None:
            return "key", problem
    if value is not None:
        problem = _text_problem("value", value)
        if problem is not None:
            return "value", problem
    return None


class _MatcherFields(NamedTuple):
    key: str | None
    value: str | None


class TagMatcher(_MatcherFields):
    """``(key, value)`` matches that exact pair, ``(key, None)`` any value of the key,
    ``(None, value)`` that value under any key.

    Checked when built: each side is None or a non-empty string of at most
    :data:`MAX_TAG_LENGTH` characters, and not both are None (InvalidValue otherwise). It
    stays a tuple (equal to the plain pair, as cheap to read); a decoder builds it
    without the check, from what a checked commit stored.
    """

    __slots__ = ()

    def __new__(cls, key: str | None, value: str | None) -> TagMatcher:
        problem = matcher_problem(key, value)
        if problem is not None:
            raise InvalidValue((key, value), problem[1], field=problem[0])
        return tuple.__new__(cls, (key, value))

    @classmethod
    def _make(cls, iterable: Iterable[Any]) -> Self:  # type: ignore[override]
        return cls(*iterable)  # checked, as _replace (which calls it) must be

    def matches(self, tags: frozenset[Tag]) -> bool:
        if self.key is not None and self.value is not None:
            return (self.key, self.value) in tags
        if self.key is not None:
            return any(k == self.key for k, _ in tags)
        return any(v == self.value for _, v in tags)


TagRule: TypeAlias = tuple[TagMatcher, ...]


def _matchers(raw: object, field: str = "matchers") -> tuple[TagMatcher, ...]:
    """AllOf's converter: a non-empty tuple (or list) of matchers, each checked."""
    if not isinstance(raw, tuple | list) or not raw:
        raise InvalidValue(
            raw, "an AllOf has a non-empty tuple of TagMatcher (or (key, value) pairs)",
            field=field,
        )  # fmt: skip
    return tuple(_parse_matcher(m, field) for m in raw)


@attrs.frozen
class AllOf:
    """A rule that matches a device only when every one of its matchers does.

    ``matchers`` is a non-empty tuple of :class:`TagMatcher` (``(key, value)`` pairs are
    turned into matchers), checked when built: an empty or malformed one raises
    InvalidValue, so no impossible rule can reach a write."""

    matchers: tuple[TagMatcher, ...] = attrs.field(converter=_matchers)


def all_of(*matchers: tuple[str | None, str | None]) -> AllOf:
    """An all-of tag rule: ``all_of(("customer", "acme"), ("site", "sb"))``."""
    if not matchers:
        raise InvalidValue(
            matchers, "all_of needs at least one (key, value) matcher", field="matchers"
        )
    return AllOf(matchers)


TagsInput: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]
"""Tags as taken by every write: ``{"site": "sb"}`` or ``[("site", "sb"), ...]``."""
RulesInput: TypeAlias = Mapping[str, str] | Iterable[tuple[str | None, str | None] | AllOf]
"""Tag rules and listing filters: ``{"site": "sb"}``, ``[("site", None), all_of(...)]``."""


def _parse_matcher(raw: object, field: str) -> TagMatcher:
    if not isinstance(raw, tuple | list) or len(raw) != 2:
        raise InvalidValue(
            raw, "a tag matcher is a (key, value) pair; either side may be None", field=field
        )
    key, value = raw
    problem = matcher_problem(key, value)
    if problem is not None:
        raise InvalidValue(raw, problem[1], field=field)
    return tuple.__new__(TagMatcher, (key, value))  # checked just above


def _matcher_sort_key(m: TagMatcher) -> tuple[str, str, bool, bool]:
    return (m.key or "", m.value or "", m.key is None, m.value is None)


def parse_rule(raw: object, field: str = "device_tags") -> TagRule:
    """Normalise one rule: a ``(key, value)`` matcher or an :func:`all_of`. ``field`` is
    the argument that held it, named by the InvalidValue a malformed rule raises."""
    if not isinstance(raw, AllOf):
        return (_parse_matcher(raw, field),)  # one matcher: sorted already
    # Checked when it was built; checked again (a few matchers) in case it was altered
    # since, so no write ever carries an empty or malformed rule.
    matchers = _matchers(raw.matchers, field)
    return tuple(sorted(set(matchers), key=_matcher_sort_key))


def _is_one_pair(items: tuple[object, ...]) -> bool:
    """``("site", "sb")`` where a collection of pairs belongs: a mistake worth naming."""
    return len(items) == 2 and all(item is None or isinstance(item, str) for item in items)


def _items(raw: object, field: str, shapes: str) -> tuple[object, ...]:
    """The items of a tags, rules or filter argument: a mapping's pairs, or an iterable's
    items; InvalidValue naming ``field`` and the accepted ``shapes`` for anything else."""
    if isinstance(raw, Mapping):
        return tuple(raw.items())
    if isinstance(raw, str | bytes) or raw is None:
        raise InvalidValue(raw, f"{field} is {shapes}, not {type(raw).__name__}", field=field)
    try:
        items: tuple[object, ...] = tuple(raw)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidValue(
            raw, f"{field} is {shapes}, not {type(raw).__name__}", field=field
        ) from None
    if _is_one_pair(items):
        raise InvalidValue(
            raw, f"{field} is {shapes}; this is one pair: put it in a list, [{raw!r}]",
            field=field,
        )  # fmt: skip
    return items


def parse_rules(raw: RulesInput, field: str = "device_tags") -> frozenset[TagRule]:
    """Normalise a group's tag rules (:data:`RulesInput`); ``field`` names the argument in
    errors. A mapping gives one single-matcher rule per pair."""
    return frozenset(parse_rule(r, field) for r in _items(raw, field, RULE_SHAPES))


def parse_filter(raw: RulesInput | None, field: str = "tags") -> TagRule | None:
    """A listing filter (:data:`RulesInput`) as one all-of rule: a device or user passes
    when every matcher matches. None, or no matcher at all, is no filter."""
    if raw is None:
        return None
    matchers = [m for item in _items(raw, field, RULE_SHAPES) for m in parse_rule(item, field)]
    if not matchers:
        return None
    return tuple(matchers)


def parse_tags(raw: TagsInput, field: str = "tags") -> frozenset[Tag]:
    """Normalise tags (:data:`TagsInput`) into a frozenset of pairs. Keys and values are
    non-empty strings of at most :data:`MAX_TAG_LENGTH` characters; ``field`` names the
    argument in errors."""
    pairs: tuple[object, ...]
    if (type(raw) is list or type(raw) is tuple) and not _is_one_pair(raw):  # type: ignore[arg-type]
        pairs = tuple(raw)  # the common case, before any ABC check
    else:
        pairs = _items(raw, field, TAG_SHAPES)
    try:
        fast = frozenset(pairs)
    except TypeError:  # unhashable items, e.g. lists: take the checking path below
        pass
    else:
        # The common case, (str, str) tuples, is checked without building anything new.
        if all(
            type(p) is tuple and len(p) == 2 and type(p[0]) is str and type(p[1]) is str
            and 0 < len(p[0]) <= MAX_TAG_LENGTH and 0 < len(p[1]) <= MAX_TAG_LENGTH
            for p in fast
        ):  # fmt: skip
            return fast  # type: ignore[return-value]
    tags = set()
    for pair in pairs:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise InvalidValue(
                pair, f"{field} is {TAG_SHAPES}; each pair is two non-empty strings",
                field=field,
            )  # fmt: skip
        key, value = pair
        problem = _text_problem("key", key) or _text_problem("value", value)
        if problem is not None:
            raise InvalidValue(pair, problem, field=field)
        tags.add((key, value))
    return frozenset(tags)


def rule_matches(rule: TagRule, tags: frozenset[Tag]) -> bool:
    """True when every matcher of ``rule`` matches ``tags``."""
    return all(m.matches(tags) for m in rule)


def tag_values(tags: frozenset[Tag], key: str) -> list[str]:
    """The values ``key`` carries in ``tags``, sorted. Runtime complexity: O(len(tags))."""
    return sorted(v for k, v in tags if k == key)


def tag_value(tags: frozenset[Tag], key: str, default: str | None = None) -> str | None:
    """The value of ``key`` in ``tags``, or ``default`` without one; of several values,
    the smallest (use :func:`tag_values` where a key may carry several)."""
    values = tag_values(tags, key)
    return values[0] if values else default
