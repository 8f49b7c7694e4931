"""Immutable records: what the library stores and what its queries return.

Tenant, Group, Device and User are frozen msgspec Structs: they are encoded as they are into
the change log and the store, and they are cheap to build. Page, Explanation and Association
are frozen attrs classes: query answers that never leave the process.

Tags, tag matchers and rules live in :mod:`tenancy.records.tags` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Generic, Literal, TypeAlias, TypeVar

import attrs
import msgspec

from tenancy.errors import InvalidValue
from tenancy.records.tags import (
    MAX_TAG_LENGTH,
    AllOf,
    RulesInput,
    Tag,
    TagMatcher,
    TagRule,
    TagsInput,
    all_of,
    matcher_problem,
    parse_filter,
    parse_rule,
    parse_rules,
    parse_tags,
    rule_matches,
    tag_value,
    tag_values,
)

__all__ = [
    "ACTIVE",
    "MAX_DURATION",
    "MAX_INT",
    "MAX_RETENTION_DAYS",
    "MAX_TAG_LENGTH",
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
    "RulesInput",
    "SafetyLimits",
    "Tag",
    "TagMatcher",
    "TagRule",
    "TagsInput",
    "Tenant",
    "TenantOption",
    "TenantPolicy",
    "TenantStatus",
    "UsageCounts",
    "UsageDay",
    "User",
    "all_of",
    "check_duration",
    "check_int",
    "check_options",
    "check_policy",
    "check_retention_rule",
    "matcher_problem",
    "parse_filter",
    "parse_rule",
    "parse_rules",
    "parse_tags",
    "rule_matches",
]

TenantStatus: TypeAlias = Literal["active", "suspended"]
ACTIVE: TenantStatus = "active"
SUSPENDED: TenantStatus = "suspended"

MAX_INT = 2**63 - 1
"""The largest integer a record holds: SQLite's integer range (MessagePack's signed one),
so every stored count and limit encodes, decodes and compares exactly."""
MAX_DURATION = timedelta(days=36_525)
"""The longest duration a write takes (one hundred years): a datetime this far from now
stays far inside what datetime arithmetic can represent."""


def check_int(field: str, value: object, *, minimum: int = 0, maximum: int = MAX_INT) -> int:
    """``value`` if it is an int (not a bool) from ``minimum`` to ``maximum``, else
    InvalidValue naming ``field``."""
    if type(value) is not int or not minimum <= value <= maximum:
        raise InvalidValue(value, f"{field} is an int from {minimum} to {maximum}", field=field)
    return value


def check_duration(field: str, value: object) -> timedelta:
    """``value`` if it is a positive timedelta of at most :data:`MAX_DURATION`."""
    if not isinstance(value, timedelta) or not timedelta(0) < value <= MAX_DURATION:
        raise InvalidValue(
            value, f"{field} is a positive timedelta of at most {MAX_DURATION.days} days",
            field=field,
        )  # fmt: skip
    return value


TenantOption: TypeAlias = tuple[str, str, str]
"""A tenant option: ``(category, key, value)``."""


MAX_RETENTION_DAYS = MAX_DURATION.days
"""A retention rule keeps data at most this many days (one hundred years)."""


def _name_problem(value: object) -> str | None:
    if not isinstance(value, str) or not value or value != value.strip():
        return "a non-empty string without surrounding spaces"
    return None


class RetentionRule(msgspec.Struct, frozen=True, kw_only=True):
    """A data retention rule, kept as data: tenancy stores it with the tenant (or in a
    policy) and the application enforces it. ``"*"`` matches anything.

    Checked when built (InvalidValue): ``maximum_age_days`` is an int from 1 to
    36,525 (a hundred years), the other fields non-empty strings without surrounding
    spaces."""

    maximum_age_days: int
    data_type: str = "*"
    """What the rule applies to: ``"measurement"``, ``"alarm"``, ``"event"``, ... or ``"*"``."""
    fragment_type: str = "*"
    type: str = "*"
    source: str = "*"

    def __post_init__(self) -> None:
        check_retention_rule(self)


def check_retention_rule(rule: object) -> None:
    """InvalidValue unless ``rule`` is a RetentionRule whose every field is in range."""
    if not isinstance(rule, RetentionRule):
        raise InvalidValue(
            rule, "a retention rule is a tenancy.RetentionRule", field="retention_rules"
        )
    check_int("maximum_age_days", rule.maximum_age_days, minimum=1, maximum=MAX_RETENTION_DAYS)
    for field in ("data_type", "fragment_type", "type", "source"):
        problem = _name_problem(getattr(rule, field))
        if problem is not None:
            raise InvalidValue(
                getattr(rule, field), f"a retention rule's {field} is {problem}", field=field
            )


def check_options(options: object, field: str = "options") -> None:
    """InvalidValue unless ``options`` is a tuple of (category, key, value) string triples
    with a non-empty category and key (the stored form of tenant options)."""
    if type(options) is not tuple:
        raise InvalidValue(options, "options are a tuple of (category, key, value)", field=field)
    for option in options:
        if (
            type(option) is not tuple
            or len(option) != 3
            or _name_problem(option[0]) is not None
            or _name_problem(option[1]) is not None
            or not isinstance(option[2], str)
        ):
            raise InvalidValue(
                option, "a tenant option is (category, key, value), three strings", field=field
            )


class TenantPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """A named bundle of tenant options and retention rules, applied to a new subtenant at
    creation (``create_tenant(..., policy=name)``). Defined by a tenant for the tenants
    below it; a copy is applied, so editing a policy later changes no existing tenant.

    Checked when built (InvalidValue): a non-empty name, a string description, options
    as (category, key, value) string triples and retention rules as RetentionRule."""

    name: str
    description: str = ""
    options: tuple[TenantOption, ...] = ()
    """Sorted by (category, key), one value per pair."""
    retention_rules: tuple[RetentionRule, ...] = ()

    def __post_init__(self) -> None:
        check_policy(self)


def check_policy(policy: object) -> None:
    """InvalidValue unless ``policy`` is a TenantPolicy whose every field is valid."""
    if not isinstance(policy, TenantPolicy):
        raise InvalidValue(policy, "a policy is a tenancy.TenantPolicy", field="policies")
    if not isinstance(policy.name, str) or not policy.name.strip():
        raise InvalidValue(policy.name, "a policy name is a non-empty string", field="name")
    if not isinstance(policy.description, str):
        raise InvalidValue(policy.description, "a description is a string", field="description")
    check_options(policy.options)
    if type(policy.retention_rules) is not tuple:
        raise InvalidValue(
            policy.retention_rules, "retention rules are a tuple of RetentionRule",
            field="retention_rules",
        )  # fmt: skip
    for rule in policy.retention_rules:
        check_retention_rule(rule)


class Tenant(msgspec.Struct, frozen=True, kw_only=True):
    """An isolation boundary; tenants form a tree under the management tenant.

    ``status`` is ``"active"`` or ``"suspended"``; ``admin_user_id`` is the tenant's first
    admin user (``admin_email``, ``admin_username``); ``created_at`` comes from the handle's
    clock. Settings, limits and usage: [the tenants reference](tenants.md).

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
    """A node of one tenant's group forest; associates devices by id and by tag rule.

    ``parent_id`` is the group above (None: a root); ``device_ids`` a frozenset of device
    ids; ``device_tags`` a frozenset of rules, each a sorted tuple of :class:`TagMatcher`
    (one matcher, or the matchers of an ``all_of``)."""

    id: str
    tenant_id: str
    name: str
    description: str = ""
    parent_id: str | None = None
    device_ids: frozenset[str] = frozenset()
    device_tags: frozenset[TagRule] = frozenset()


class Device(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A device of one tenant; a child device (``parent_id``, its gateway, or None) follows
    its gateway: it is reached wherever the gateway is.

    ``tags`` is a frozenset of ``(key, value)`` pairs; a key may carry several values:
    :meth:`tag` reads one, :meth:`tags_of` all of them."""

    id: str
    tenant_id: str
    name: str
    tags: frozenset[Tag] = frozenset()
    parent_id: str | None = None

    def tag(self, key: str, default: str | None = None) -> str | None:
        """The value of tag ``key``, or ``default``; of several values, the smallest.

        >>> gen = Device(id="d1", tenant_id="t1", name="Gen", tags=frozenset({("site", "sb")}))
        >>> gen.tag("site"), gen.tag("kind"), gen.tags_of("site")
        ('sb', None, ['sb'])
        """
        return tag_value(self.tags, key, default)

    def tags_of(self, key: str) -> list[str]:
        """Every value of tag ``key``, sorted (a key may carry several)."""
        return tag_values(self.tags, key)


class User(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A user of one tenant; email is unique per tenant, compared case-insensitively.

    ``tags`` as on :class:`Device` (read with :meth:`tag` and :meth:`tags_of`);
    ``enabled=False`` ends its reach; ``owner_id`` is the owner of a sub-user (whose
    permissions cap its own), or None."""

    id: str
    tenant_id: str
    email: str
    username: str = ""
    first_name: str = ""
    last_name: str = ""
    tags: frozenset[Tag] = frozenset()
    enabled: bool = True
    owner_id: str | None = None

    def tag(self, key: str, default: str | None = None) -> str | None:
        """The value of tag ``key``, or ``default``; of several values, the smallest.

        >>> ana = User(id="u1", tenant_id="t1", email="a@b.c", tags=frozenset({("notify", "sms")}))
        >>> ana.tag("notify"), ana.tags_of("notify")
        ('sms', ['sms'])
        """
        return tag_value(self.tags, key, default)

    def tags_of(self, key: str) -> list[str]:
        """Every value of tag ``key``, sorted (a key may carry several)."""
        return tag_values(self.tags, key)


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
    max_connectors_per_tenant: int = 10_000
    """Connectors a tenant is the source of (cross-tenant sharing, DOMAIN.md section 7)."""

    def __post_init__(self) -> None:
        for field in self.__struct_fields__:
            value = getattr(self, field)
            if type(value) is not int or not 1 <= value <= MAX_INT:
                raise InvalidValue(
                    value, f"SafetyLimits.{field} is a positive int of at most 2**63 - 1",
                    field=field,
                )  # fmt: skip


class UsageCounts(msgspec.Struct, frozen=True, array_like=True):
    """How many devices, root devices, users and groups a tenant has, and how many devices
    of other tenants are shared into it (DOMAIN.md section 7).

    ``shared_devices`` is None where a change does not count them (most commits: only a
    commit that touches a share does), and a day's row then keeps its count. It is the
    last field and has a default: a row encoded before it existed (an array of four)
    decodes with None."""

    devices: int = 0
    root_devices: int = 0
    users: int = 0
    groups: int = 0
    shared_devices: int | None = None


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
    shared_devices: int = 0
    """Devices of other tenants shared into this one by live shares (section 7)."""
    peak_shared_devices: int = 0

    @property
    def total_requests(self) -> int:
        """Requests of every kind."""
        return sum(n for _, n in self.requests)

    @property
    def counts(self) -> UsageCounts:
        """The four counts of the tenant's own records (``shared_devices`` is the row's
        own field)."""
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


class Page(Generic[T]):
    """One page of a listing: ``items`` (a tuple) and ``next`` (an opaque cursor: pass it
    as ``after=`` to the same listing for the following page; None on the last page).
    Iterable, with a length.

    A listing that has a next page hands over how to make its cursor, not the cursor:
    ``next`` is encoded the first time it is read (about a microsecond), so a caller that
    shows only the first page pays nothing for pagination. Equality and ``repr`` use the
    cursor as if it had been there from the start.
    """

    __slots__ = ("_next", "_pending", "items")

    items: tuple[T, ...]
    _next: str | None
    _pending: tuple[Callable[[Any, str], str], Any, str] | None

    def __init__(
        self,
        items: tuple[T, ...],
        next: str | None = None,
        *,
        cursor: tuple[Callable[[Any, str], str], Any, str] | None = None,
    ) -> None:
        """``cursor``: ``(encode, binding, position)``, called as ``encode(binding,
        position)`` when ``next`` is first read (instead of ``next``)."""
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "_next", next)
        object.__setattr__(self, "_pending", cursor)

    @property
    def next(self) -> str | None:
        pending = self._pending
        if pending is not None:
            encode, binding, position = pending
            object.__setattr__(self, "_next", encode(binding, position))
            object.__setattr__(self, "_pending", None)
        return self._next

    def __setattr__(self, name: str, value: object) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __delattr__(self, name: str) -> None:
        raise attrs.exceptions.FrozenInstanceError()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Page)
        return self.items == other.items and self.next == other.next

    def __hash__(self) -> int:
        return hash((self.items, self.next))

    def __repr__(self) -> str:
        return f"Page(items={self.items!r}, next={self.next!r})"

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


AssociationKind: TypeAlias = Literal["device_id", "tag_rule"]


@attrs.frozen
class Association:
    """How a group associates a device: by its id or by a tag rule, possibly through the
    device's gateways (``via`` lists the parent devices from the asked device upward).

    ``kind`` is ``"device_id"`` or ``"tag_rule"``; ``device_id`` the device associated (the
    asked one or a gateway above it); ``rule`` the matching rule, for ``"tag_rule"``."""

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
    "not-shared",
    "not-accepted",
    "connector-suspended",
    "subscription-paused",
    "expired",
    "not-started",
]


@attrs.frozen
class Explanation:
    """Why a user reaches a device, or the first condition that fails: ``allowed``,
    ``code`` (see the codes below), ``reason`` (a sentence), ``user_id``, ``device_id``.
    Truthy when allowed.

    ``path`` runs from the group the user is a member of down to the group that associates
    the device; ``association`` says how that last group associates it.

    When a permission was asked (``explain(u, d, permission="device:UPDATE")``), ``role``
    names what grants it (``"global:admin"``, ``"inventory:operator"`` on ``role_group``,
    or ``"member:viewer"`` through a membership of ``role_group``); the codes
    ``no-role`` and ``capped-by-owner`` (``capped_by`` is that owner) say why not.

    For a device of another tenant shared into the user's (DOMAIN.md section 7),
    ``connector_id``, ``subscription_id`` and ``filter_id`` (the filter group or device
    that shares it) name the share, ``path`` runs down to the subscription's virtual group,
    and the codes ``not-shared``, ``not-accepted``, ``connector-suspended`` and
    ``subscription-paused`` say which link is missing.

    A membership outside its window (DOMAIN.md section 9) gives ``expired`` or
    ``not-started``; ``reason`` says "expired at ..." or "starts at ..." and ``path`` names
    the group of that membership.
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
    connector_id: str | None = None
    subscription_id: str | None = None
    filter_id: str | None = None

    def __bool__(self) -> bool:
        return self.allowed
