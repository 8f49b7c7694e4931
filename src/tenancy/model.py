"""Immutable records: what the library stores and what its queries return.

Tenant, Group, Device and User are frozen msgspec Structs: they are encoded as they are into
the change log and the store, and they are cheap to build. Page, Explanation and Association
are frozen attrs classes: query answers that never leave the process.

Tags are sets of ``(key, value)`` string pairs; a key may carry several values. A group
associates devices by id or by *tag rules*: a rule is an all-of tuple of :class:`TagMatcher`
(one matcher is a rule of one), kept sorted so equal rules compare and hash equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, Generic, Literal, NamedTuple, TypeAlias, TypeVar

import attrs
import msgspec

from tenancy.errors import InvalidValue

__all__ = [
    "ACTIVE",
    "SUSPENDED",
    "AllOf",
    "Association",
    "AuditRecord",
    "Device",
    "Explanation",
    "ExplanationCode",
    "Group",
    "Page",
    "RetentionRule",
    "SafetyLimits",
    "Tag",
    "TagMatcher",
    "TagRule",
    "Tenant",
    "TenantOption",
    "TenantPolicy",
    "TenantStatus",
    "UsageCounts",
    "UsageDay",
    "User",
    "all_of",
    "parse_rule",
    "parse_rules",
    "parse_tags",
    "rule_matches",
]

TenantStatus: TypeAlias = Literal["active", "suspended"]
ACTIVE: TenantStatus = "active"
SUSPENDED: TenantStatus = "suspended"

Tag: TypeAlias = tuple[str, str]


class TagMatcher(NamedTuple):
    """``(key, value)`` matches that exact pair, ``(key, None)`` any value of the key,
    ``(None, value)`` that value under any key."""

    key: str | None
    value: str | None

    def matches(self, tags: frozenset[Tag]) -> bool:
        if self.key is not None and self.value is not None:
            return (self.key, self.value) in tags
        if self.key is not None:
            return any(k == self.key for k, _ in tags)
        return any(v == self.value for _, v in tags)


TagRule: TypeAlias = tuple[TagMatcher, ...]


@attrs.frozen
class AllOf:
    """A rule that matches a device only when every one of its matchers does."""

    matchers: tuple[TagMatcher, ...]


def all_of(*matchers: tuple[str | None, str | None]) -> AllOf:
    """An all-of tag rule: ``all_of(("customer", "acme"), ("site", "sb"))``."""
    if not matchers:
        raise InvalidValue(matchers, "all_of needs at least one (key, value) matcher")
    return AllOf(tuple(_parse_matcher(m) for m in matchers))


def _check_tag_text(part: str, value: object, whole: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidValue(whole, f"a tag {part} must be a non-empty string")
    return value


def _parse_matcher(raw: object) -> TagMatcher:
    if not isinstance(raw, tuple | list) or len(raw) != 2:
        raise InvalidValue(raw, "a tag matcher is a (key, value) pair; either side may be None")
    key, value = raw
    if key is None and value is None:
        raise InvalidValue(raw, "a tag matcher needs a key, a value or both; (None, None)")
    return TagMatcher(
        None if key is None else _check_tag_text("key", key, raw),
        None if value is None else _check_tag_text("value", value, raw),
    )


def _matcher_sort_key(m: TagMatcher) -> tuple[str, str, bool, bool]:
    return (m.key or "", m.value or "", m.key is None, m.value is None)


def parse_rule(raw: object) -> TagRule:
    """Normalise one rule: a ``(key, value)`` matcher or an :func:`all_of`."""
    matchers = raw.matchers if isinstance(raw, AllOf) else (_parse_matcher(raw),)
    return tuple(sorted(set(matchers), key=_matcher_sort_key))


def parse_rules(raw: Iterable[object]) -> frozenset[TagRule]:
    if isinstance(raw, str | bytes):
        raise InvalidValue(raw, "tag rules are a collection of rules, not a string")
    return frozenset(parse_rule(r) for r in raw)


def parse_tags(raw: Iterable[tuple[str, str]] | Mapping[str, str]) -> frozenset[Tag]:
    """Normalise tags given as pairs or as a mapping into a frozenset of pairs."""
    if isinstance(raw, str | bytes):
        raise InvalidValue(raw, "tags are (key, value) pairs or a mapping, not a string")
    pairs: Iterable[object] = tuple(raw.items() if isinstance(raw, Mapping) else raw)
    try:
        fast = frozenset(pairs)
    except TypeError:  # unhashable items, e.g. lists: take the checking path below
        pass
    else:
        # The common case, (str, str) tuples, is checked without building anything new.
        if all(
            type(p) is tuple and len(p) == 2 and type(p[0]) is str and type(p[1]) is str
            and p[0] and p[1]
            for p in fast
        ):  # fmt: skip
            return fast  # type: ignore[return-value]
        pairs = fast
    tags = set()
    for pair in pairs:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise InvalidValue(pair, "a tag is a (key, value) pair of non-empty strings")
        key, value = pair
        tags.add((_check_tag_text("key", key, pair), _check_tag_text("value", value, pair)))
    return frozenset(tags)


def rule_matches(rule: TagRule, tags: frozenset[Tag]) -> bool:
    """True when every matcher of ``rule`` matches ``tags``."""
    return all(m.matches(tags) for m in rule)


TenantOption: TypeAlias = tuple[str, str, str]
"""A tenant option: ``(category, key, value)``."""


class RetentionRule(msgspec.Struct, frozen=True, kw_only=True):
    """A data retention rule, kept as data: tenancy stores it with the tenant (or in a
    policy) and the application enforces it. ``"*"`` matches anything."""

    maximum_age_days: int
    data_type: str = "*"
    """What the rule applies to: ``"measurement"``, ``"alarm"``, ``"event"``, ... or ``"*"``."""
    fragment_type: str = "*"
    type: str = "*"
    source: str = "*"


class TenantPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """A named bundle of tenant options and retention rules, applied to a new subtenant at
    creation (``create_tenant(..., policy=name)``). Defined by a tenant for the tenants
    below it; a copy is applied, so editing a policy later changes no existing tenant."""

    name: str
    description: str = ""
    options: tuple[TenantOption, ...] = ()
    """Sorted by (category, key), one value per pair."""
    retention_rules: tuple[RetentionRule, ...] = ()


class Tenant(msgspec.Struct, frozen=True, kw_only=True):
    """An isolation boundary; tenants form a tree under the management tenant.

    Every field added after the first release has a default, so older stored records
    decode unchanged. Mappings are kept as sorted tuples (records are immutable values):
    read them with :meth:`get_property` and :meth:`get_option`.
    """

    id: str
    domain: str
    name: str
    parent_id: str | None = None
    allow_subtenants: bool = False
    status: TenantStatus = ACTIVE
    created_at: datetime | None = None
    contact_name: str = ""
    contact_phone: str = ""
    admin_email: str = ""
    admin_username: str = ""
    admin_user_id: str | None = None
    properties: tuple[tuple[str, str], ...] = ()
    """Custom properties (an external reference, a CRM id...): sorted (key, value) pairs."""
    options: tuple[TenantOption, ...] = ()
    """Tenant options: sorted (category, key, value), one value per (category, key)."""
    retention_rules: tuple[RetentionRule, ...] = ()
    max_devices: int | None = None
    """At most this many devices, child devices included; None: no tenant limit."""
    max_root_devices: int | None = None
    """At most this many root devices (devices without a gateway); None: no tenant limit."""
    subscriptions: frozenset[str] = frozenset()
    """The applications the tenant is subscribed to."""
    default_subscriptions: frozenset[str] | None = None
    """The applications a new subtenant is subscribed to; None inherits the parent's list."""
    policies: tuple[TenantPolicy, ...] = ()
    """The policies this tenant defines for its subtenants, sorted by name."""
    policy: str | None = None
    """The name of the policy applied when this tenant was created, if any."""

    def get_property(self, key: str, default: str | None = None) -> str | None:
        """The value of a custom property, or ``default``."""
        for k, v in self.properties:
            if k == key:
                return v
        return default

    def get_option(self, category: str, key: str, default: str | None = None) -> str | None:
        """The value of the tenant option ``(category, key)``, or ``default``."""
        for c, k, v in self.options:
            if c == category and k == key:
                return v
        return default

    def get_policy(self, name: str) -> TenantPolicy | None:
        """The policy of this name that the tenant defines, or None."""
        for p in self.policies:
            if p.name == name:
                return p
        return None


# Group, Device and User are gc=False: a record holds only strings, frozensets and tuples,
# so no reference cycle can pass through it, and untracked, the million records of a large
# store cost the cyclic collector nothing (a faster cold open, 16 bytes less each).
class Group(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A node of one tenant's group forest; associates devices by id and by tag rule."""

    id: str
    tenant_id: str
    name: str
    description: str = ""
    parent_id: str | None = None
    device_ids: frozenset[str] = frozenset()
    device_tags: frozenset[TagRule] = frozenset()


class Device(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A device of one tenant; a child device (``parent_id``) follows its gateway."""

    id: str
    tenant_id: str
    name: str
    tags: frozenset[Tag] = frozenset()
    parent_id: str | None = None


class User(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A user of one tenant; email is unique per tenant, compared case-insensitively."""

    id: str
    tenant_id: str
    email: str
    username: str = ""
    first_name: str = ""
    last_name: str = ""
    tags: frozenset[Tag] = frozenset()
    enabled: bool = True
    owner_id: str | None = None


class SafetyLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Store-wide limits that stop an accidental run from creating millions of records.

    Pass one to :func:`tenancy.open` (``limits=SafetyLimits(...)``). The defaults are
    generous: a real deployment never meets them, a runaway loop does. Crossing one raises
    :class:`~tenancy.LimitExceeded` and writes nothing. Depths count levels: a root group,
    a root device and a tenant directly below the management tenant are at depth 1.
    """

    max_tenants: int = 100_000
    """Tenants in the store, the management tenant included."""
    max_tenant_depth: int = 32
    """Levels of tenants below the management tenant."""
    max_groups_per_tenant: int = 1_000_000
    max_group_depth: int = 1_000
    """Levels of a tenant's group tree (a chain of 1,000 nested groups is legal)."""
    max_users_per_tenant: int = 1_000_000
    max_devices_per_tenant: int = 10_000_000
    max_device_depth: int = 100
    """Levels of gateways: a root device, its child devices, theirs, ..."""
    max_tag_rules_per_group: int = 1_000
    """Tag rules of one group (ten times the source platform's 100). Past a few thousand
    rules sharing a first matcher, each device with that tag costs milliseconds to
    re-derive; a group that needs more is better split into child groups."""

    def __post_init__(self) -> None:
        for field in self.__struct_fields__:
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidValue(value, f"SafetyLimits.{field} is a positive int")


class UsageCounts(msgspec.Struct, frozen=True, array_like=True):
    """How many devices, root devices, users and groups a tenant has."""

    devices: int = 0
    root_devices: int = 0
    users: int = 0
    groups: int = 0


class UsageDay(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant's usage statistics for one UTC day.

    The counts are the values at the end of the day (or now, for today); the peaks are the
    highest values the day saw; ``requests`` are the requests the application recorded with
    :meth:`~tenancy.Tenancy.record_request`, by kind, sorted by kind.
    """

    tenant_id: str
    day: date
    devices: int = 0
    root_devices: int = 0
    users: int = 0
    groups: int = 0
    peak_devices: int = 0
    peak_root_devices: int = 0
    peak_users: int = 0
    peak_groups: int = 0
    requests: tuple[tuple[str, int], ...] = ()

    @property
    def total_requests(self) -> int:
        """Requests of every kind."""
        return sum(n for _, n in self.requests)

    @property
    def counts(self) -> UsageCounts:
        return UsageCounts(self.devices, self.root_devices, self.users, self.groups)

    @property
    def peaks(self) -> UsageCounts:
        return UsageCounts(
            self.peak_devices, self.peak_root_devices, self.peak_users, self.peak_groups
        )


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One entry of the audit log: who did what to which record, when, and what changed.

    Every write appends one record per change, in the same transaction as the write (both
    land or neither); nothing ever updates or deletes one. Read them with
    :meth:`~tenancy.Tenancy.audit_log`.
    """

    # gc=False: a bulk write makes a hundred thousand of these at once, and the cyclic
    # collector would walk them all, several times; they hold immutable values, no cycle.

    seq: int = 0
    """The position in the log, assigned by the store when it appends the record: strictly
    increasing, the cursor of :meth:`~tenancy.Tenancy.audit_log` (0 before it is stored)."""
    revision: int
    """The revision of the commit the record belongs to."""
    at: datetime
    """When the write was made, in UTC, from the handle's clock; never earlier than the
    record before it in the log (a clock that stepped back gives that record's time)."""
    tenant_id: str | None
    """The tenant of the record the change touched (a tenant's own id for tenant changes)."""
    actor: str
    """Who wrote: ``"system"`` for the bare handle, a user id for ``as_user``, and
    ``"support_user$user"`` for a support session."""
    action: str
    """What was done: the name of the change, such as ``"GroupCreated"`` or
    ``"TenantSuspended"``."""
    target: str | None
    """The id the change is about (the user, for a membership change)."""
    before: Any = None
    """What the change replaced (the record, or the fields it set), as JSON values."""
    after: Any = None
    """What the change wrote (the record, or the fields it set), as JSON values."""


T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing. Pass ``next`` as ``after=`` to get the following page;
    ``next`` is None on the last page."""

    items: tuple[T, ...]
    next: str | None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


AssociationKind: TypeAlias = Literal["device_id", "tag_rule"]


@attrs.frozen
class Association:
    """How a group associates a device: by its id or by a tag rule, possibly through the
    device's gateways (``via`` lists the parent devices from the asked device upward)."""

    group_id: str
    kind: AssociationKind
    device_id: str
    rule: TagRule | None = None
    via: tuple[str, ...] = ()


ExplanationCode: TypeAlias = Literal[
    "allowed",
    "unknown-user",
    "unknown-device",
    "other-tenant",
    "tenant-suspended",
    "user-disabled",
    "no-covering-group",
    "no-role",
    "capped-by-owner",
]


@attrs.frozen
class Explanation:
    """Why a user reaches a device, or the first condition that fails.

    ``path`` runs from the group the user is a member of down to the group that associates
    the device; ``association`` says how that last group associates it.

    When a permission was asked (``explain(u, d, permission="device:UPDATE")``), ``role``
    names what grants it (``"global:admin"``, ``"inventory:operator"`` on ``role_group``,
    or ``"member:viewer"`` through a membership of ``role_group``); the codes
    ``no-role`` and ``capped-by-owner`` (``capped_by`` is that owner) say why not.
    """

    allowed: bool
    code: ExplanationCode
    reason: str
    user_id: str
    device_id: str
    path: tuple[str, ...] = ()
    association: Association | None = None
    permission: str | None = None
    role: str | None = None
    role_group: str | None = None
    capped_by: str | None = None

    def __bool__(self) -> bool:
        return self.allowed
