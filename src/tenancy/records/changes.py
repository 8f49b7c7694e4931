"""Change records: the only way the store and the index learn anything.

Every write is a list of changes committed as one transaction and stamped with the next
revision (a store-wide, strictly increasing integer). The same list is applied to the
index of the writing process and, later, by every other process catching up from the log,
so a change must carry everything its application needs and nothing it can look up.

Deletions are *implied-cascade*: ``GroupDeleted`` also ends the group's memberships and
associations, ``DeviceDeleted`` the device's id associations, ``UserDeleted`` its
memberships, ``TenantDeleted`` every record of the tenant. Preconditions (no subgroups, no
child devices, no subtenants) are checked by the facade before the changes are written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, TypeAlias

import msgspec

from tenancy.errors import InvalidValue
from tenancy.records.grants import (
    AccessRecord,
    Delegation,
    InventoryGrant,
    RoleDefinition,
    RoleGrant,
    SupportRequest,
)
from tenancy.records.model import (
    ACTIVE,
    MAX_INT,
    MAX_TAG_LENGTH,
    SUSPENDED,
    Device,
    Group,
    Tag,
    TagMatcher,
    TagRule,
    Tenant,
    UsageCounts,
    User,
    check_options,
    check_policy,
    check_retention_rule,
    matcher_problem,
)
from tenancy.records.recipes import Recipe
from tenancy.records.sharing import (
    CONNECTOR_STATUSES,
    SUBSCRIPTION_STATUSES,
    Connector,
    Subscription,
)
from tenancy.records.terms import MembershipTerm
from tenancy.records.window import check_window

__all__ = [
    "AccessRemoved",
    "AccessSet",
    "Associated",
    "Change",
    "Commit",
    "ConnectorAcceptRefused",
    "DeviceCreated",
    "DeviceDeleted",
    "DeviceMoved",
    "DeviceRenamed",
    "DeviceTagged",
    "DeviceUntagged",
    "Dissociated",
    "GroupCreated",
    "GroupDeleted",
    "GroupMoved",
    "GroupUpdated",
    "MemberAdded",
    "MemberRemoved",
    "Revision",
    "SupportSessionStarted",
    "TenantActivated",
    "TenantCreated",
    "TenantDeleted",
    "TenantSuspended",
    "TenantUpdated",
    "UsageRecorded",
    "UserCreated",
    "UserDeleted",
    "UserUpdated",
    "check_changes",
    "unknown_change",
]

Revision: TypeAlias = int
"""The store-wide, strictly increasing number of a commit (an ``int``)."""


class _Change(msgspec.Struct, frozen=True, tag=True, kw_only=True, array_like=False):
    pass


class TenantCreated(_Change, frozen=True):
    tenant: Tenant


class TenantUpdated(_Change, frozen=True):
    """Replaces the tenant's descriptive fields (never id, domain, parent or status)."""

    tenant: Tenant


class TenantSuspended(_Change, frozen=True):
    tenant_id: str


class TenantActivated(_Change, frozen=True):
    tenant_id: str


class TenantDeleted(_Change, frozen=True):
    tenant_id: str


class GroupCreated(_Change, frozen=True):
    group: Group


class GroupUpdated(_Change, frozen=True):
    group_id: str
    name: str
    description: str


class GroupMoved(_Change, frozen=True):
    group_id: str
    parent_id: str | None


class GroupDeleted(_Change, frozen=True):
    group_id: str


class Associated(_Change, frozen=True):
    group_id: str
    device_ids: frozenset[str] = frozenset()
    device_tags: frozenset[TagRule] = frozenset()


class Dissociated(_Change, frozen=True):
    group_id: str
    device_ids: frozenset[str] = frozenset()
    device_tags: frozenset[TagRule] = frozenset()


class DeviceCreated(_Change, frozen=True):
    device: Device


class DeviceRenamed(_Change, frozen=True):
    device_id: str
    name: str


class DeviceTagged(_Change, frozen=True):
    device_id: str
    tags: frozenset[Tag]


class DeviceUntagged(_Change, frozen=True):
    device_id: str
    tags: frozenset[Tag]


class DeviceMoved(_Change, frozen=True):
    """The device's gateway (parent device) changes."""

    device_id: str
    parent_id: str | None


class DeviceDeleted(_Change, frozen=True):
    device_id: str


class UserCreated(_Change, frozen=True):
    user: User


class UserUpdated(_Change, frozen=True):
    """Replaces the user's record (email, names, tags, enabled, owner)."""

    user: User


class UserDeleted(_Change, frozen=True):
    user_id: str


class MemberAdded(_Change, frozen=True):
    group_id: str
    user_id: str


class MemberRemoved(_Change, frozen=True):
    group_id: str
    user_id: str


class UsageRecorded(_Change, frozen=True):
    """Usage statistics of one tenant on one UTC day (see :mod:`tenancy.rules.usage`).

    ``counts`` are the tenant's absolute counts at this revision and ``peaks`` the highest
    counts this commit saw (before or after it); ``requests`` are request counts to add, by
    kind. Merged into the day's row: counts replaced, peaks by max, requests summed. The
    facade appends one to every commit that changes a tenant's counts, and flushes the
    requests it counted in memory the same way. Rows of an unknown tenant are ignored.
    """

    tenant_id: str
    day: date
    counts: UsageCounts
    peaks: UsageCounts
    requests: tuple[tuple[str, int], ...] = ()


class AccessSet(_Change, frozen=True):
    """Put an access-table record (a role definition, a grant, a delegation, a support
    request, a connector, a subscription), replacing the one of the same kind and key."""

    record: AccessRecord


class AccessRemoved(_Change, frozen=True):
    """Take an access-control record away. The facade removes a user's or a group's records
    explicitly before deleting it; ``TenantDeleted`` removes every record of the tenant."""

    record: AccessRecord


class SupportSessionStarted(_Change, frozen=True):
    """A support user began acting as a user of another tenant. Changes no record; it is
    in the log (and the audit log) so every support session is on record."""

    tenant_id: str
    support_user_id: str
    user_id: str


class ConnectorAcceptRefused(_Change, frozen=True):
    """The tenant ``tenant_id`` tried to accept the connector ``connector_id`` with a wrong
    security code. Changes no record; it is in the log (and the audit log of both tenants)
    so every refused attempt is on record. It never carries the code tried."""

    tenant_id: str
    connector_id: str


Change: TypeAlias = (
    TenantCreated
    | TenantUpdated
    | TenantSuspended
    | TenantActivated
    | TenantDeleted
    | GroupCreated
    | GroupUpdated
    | GroupMoved
    | GroupDeleted
    | Associated
    | Dissociated
    | DeviceCreated
    | DeviceRenamed
    | DeviceTagged
    | DeviceUntagged
    | DeviceMoved
    | DeviceDeleted
    | UserCreated
    | UserUpdated
    | UserDeleted
    | MemberAdded
    | MemberRemoved
    | UsageRecorded
    | AccessSet
    | AccessRemoved
    | SupportSessionStarted
    | ConnectorAcceptRefused
)
"""The type of a change record: a union of frozen msgspec structs (``GroupCreated``,
``DeviceTagged``, ``MemberAdded``, ...) defined in this module, tagged by class name."""


class Commit(msgspec.Struct, frozen=True, kw_only=True):
    """One transaction of the change log: what :meth:`Tenancy.changes
    <tenancy.Tenancy.changes>` and :meth:`~tenancy.Tenancy.watch` give, in revision order.
    """

    revision: Revision
    """The revision the commit was stamped with (store-wide, strictly increasing)."""
    changes: tuple[Change, ...]
    """The typed changes, in the order they applied."""
    at: datetime | None = None
    """When it was written, in UTC: the time its audit records were stored with. None for
    a commit that nobody's act made (usage statistics flushed on their own, which are not
    audited) and for a commit read from a store that does not keep the time."""
    actor: str | None = None
    """Who wrote it, as in the audit log (``"system"``, a user id, ``"support_user$user"``);
    None when :attr:`at` is."""


def unknown_change(change: object) -> InvalidValue:
    """The error every interpreter of changes raises at its last case, for a value that is
    none of the types of :data:`Change` (a subclass of the base, another Struct): a type
    one interpreter handled and another silently dropped would let the index, the store
    and the audit log disagree. InvalidValue rather than TypeError, because public calls
    reach it: ``Store.commit`` of a hand-built change, ``Index.apply``, a commit a
    third-party store hands back."""
    return InvalidValue(
        change,
        f"a change is one of the change types of tenancy.records.changes, and "
        f"{type(change).__qualname__} is not",
        field="changes",
    )


# ---------------------------------------------------------------- the store's wall


def check_changes(changes: Sequence[object]) -> None:
    """Refuse, with InvalidValue naming the field, a commit carrying a value that the
    index could not apply or the store could not encode and decode back: an unknown change
    type, an id that is not a non-empty string, a malformed tag or tag rule, an int outside
    0..2**63-1 (a bool is no int here), a naive ``until``, a grant's window with a naive
    bound or ``valid_from`` not before ``valid_until``.

    Every store adapter calls it in ``commit`` before it writes anything, so one bad call
    (a facade bug, or a record built by hand) can never wedge a store: the facade checks
    its input where it enters, and this is the wall behind it. It checks types and ranges
    only; what needs the records (that an id exists, that a name is free) is the facade's,
    and the store's apply.
    """
    seen: set[Any] = set()  # the tag sets already checked
    for change in changes:
        if type(change) is DeviceCreated:  # a bulk write's hundred thousand, the short way
            _device(change.device, "device", seen)
            continue
        fields = _FIELDS.get(type(change))
        if fields is None:
            raise unknown_change(change)
        for name, check in fields:
            check(getattr(change, name), name, seen)


_Check: TypeAlias = Callable[[Any, str, set[Any]], None]


def _bad(value: object, rule: str, field: str) -> InvalidValue:
    return InvalidValue(value, rule, field=field)


def _id(value: object, field: str, seen: object = None) -> None:
    if not isinstance(value, str) or not value:
        raise _bad(value, "an id is a non-empty string", field)


def _opt_id(value: object, field: str, seen: object = None) -> None:
    if value is not None:
        _id(value, field)


def _text(value: object, field: str, seen: object = None) -> None:
    if not isinstance(value, str):
        raise _bad(value, "a string", field)


def _int(value: object, field: str, seen: object = None) -> None:
    if type(value) is not int or not 0 <= value <= MAX_INT:
        raise _bad(value, f"an int from 0 to {MAX_INT}", field)


def _opt_int(value: object, field: str) -> None:
    if value is not None:
        _int(value, field)


def _bool(value: object, field: str) -> None:
    if type(value) is not bool:
        raise _bad(value, "True or False", field)


def _ids(value: object, field: str, seen: object = None) -> None:
    if not isinstance(value, frozenset):
        raise _bad(value, "ids are a frozenset of non-empty strings", field)
    for item in value:
        if type(item) is not str or not item:  # the common case without a call
            _id(item, field)


def _strings(value: object, field: str) -> None:
    if not isinstance(value, frozenset) or not all(isinstance(v, str) for v in value):
        raise _bad(value, "a frozenset of strings", field)


def _tags(value: object, field: str, seen: set[Any]) -> None:
    if not isinstance(value, frozenset):
        raise _bad(value, "tags are a frozenset of (key, value) pairs", field)
    if value in seen:  # an equal set, checked earlier in this commit (a bulk write has few)
        return
    for pair in value:  # a loop, not all(): no generator to start per record
        if not (
            type(pair) is tuple and len(pair) == 2 and type(pair[0]) is str
            and type(pair[1]) is str and 0 < len(pair[0]) <= MAX_TAG_LENGTH
            and 0 < len(pair[1]) <= MAX_TAG_LENGTH
        ) and not _tag_pair(pair):  # fmt: skip
            raise _bad(
                pair, f"a tag is a (key, value) pair of strings of 1 to {MAX_TAG_LENGTH} "
                "characters", field,
            )  # fmt: skip
    seen.add(value)


def _tag_pair(pair: object) -> bool:
    """The slow form of the check, which str subclasses (a StrEnum) pass as parse_tags does."""
    return (
        isinstance(pair, tuple) and len(pair) == 2
        and all(isinstance(s, str) and 0 < len(s) <= MAX_TAG_LENGTH for s in pair)
    )  # fmt: skip


def _rules(value: object, field: str, seen: object = None) -> None:
    if not isinstance(value, frozenset):
        raise _bad(value, "tag rules are a frozenset of rules", field)
    for rule in value:
        if type(rule) is not tuple or not rule:
            raise _bad(rule, "a tag rule is a non-empty tuple of TagMatcher", field)
        for matcher in rule:
            if type(matcher) is not TagMatcher:
                raise _bad(matcher, "a tag rule holds TagMatcher only", field)
            problem = matcher_problem(matcher.key, matcher.value)
            if problem is not None:
                raise _bad(matcher, problem[1], field)


def _aware(value: object, field: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise _bad(value, "a timezone-aware datetime", field)


def _counts(value: object, field: str, seen: object = None) -> None:
    if type(value) is not UsageCounts:
        raise _bad(value, "a UsageCounts", field)
    for count in (value.devices, value.root_devices, value.users, value.groups):
        _int(count, field)
    if value.shared_devices is not None:
        _int(value.shared_devices, field)


def _tenant(t: Tenant, field: str, seen: object = None) -> None:
    _id(t.id, "id")
    _id(t.domain, "domain")
    _text(t.name, "name")
    _opt_id(t.parent_id, "parent_id")
    _bool(t.allow_subtenants, "allow_subtenants")
    if t.status not in (ACTIVE, SUSPENDED):
        raise _bad(t.status, "a tenant status is 'active' or 'suspended'", "status")
    if t.created_at is not None and not isinstance(t.created_at, datetime):
        raise _bad(t.created_at, "a datetime or None", "created_at")
    for name in ("contact_name", "contact_phone", "admin_email", "admin_username"):
        _text(getattr(t, name), name)
    _opt_id(t.admin_user_id, "admin_user_id")
    if type(t.properties) is not tuple or not all(
        type(p) is tuple and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], str)
        for p in t.properties
    ):
        raise _bad(t.properties, "properties are a tuple of (key, value) strings", "properties")
    check_options(t.options)
    if type(t.retention_rules) is not tuple:
        raise _bad(t.retention_rules, "a tuple of RetentionRule", "retention_rules")
    for rule in t.retention_rules:
        check_retention_rule(rule)
    _opt_int(t.max_devices, "max_devices")
    _opt_int(t.max_root_devices, "max_root_devices")
    _strings(t.subscriptions, "subscriptions")
    if t.default_subscriptions is not None:
        _strings(t.default_subscriptions, "default_subscriptions")
    if type(t.policies) is not tuple:
        raise _bad(t.policies, "a tuple of TenantPolicy", "policies")
    for policy in t.policies:
        check_policy(policy)
    if t.policy is not None:
        _text(t.policy, "policy")


def _group(g: Group, field: str, seen: object = None) -> None:
    _id(g.id, "id")
    _id(g.tenant_id, "tenant_id")
    _text(g.name, "name")
    _text(g.description, "description")
    _opt_id(g.parent_id, "parent_id")
    _ids(g.device_ids, "device_ids")
    _rules(g.device_tags, "device_tags")


def _device(d: Device, field: str, seen: set[Any]) -> None:
    did, tenant_id, name, tags, parent_id = d.id, d.tenant_id, d.name, d.tags, d.parent_id
    if (  # the common case in one expression: a bulk write checks a hundred thousand
        type(did) is str and did and type(tenant_id) is str and tenant_id
        and type(name) is str and (parent_id is None or (type(parent_id) is str and parent_id))
    ):  # fmt: skip
        if type(tags) is frozenset and (not tags or tags in seen):
            return
        _tags(tags, "tags", seen)
        return
    _id(did, "id")
    _id(tenant_id, "tenant_id")
    _text(name, "name")
    _tags(tags, "tags", seen)
    _opt_id(parent_id, "parent_id")


def _user(u: User, field: str, seen: set[Any]) -> None:
    _id(u.id, "id")
    _id(u.tenant_id, "tenant_id")
    for name in ("email", "username", "first_name", "last_name"):
        _text(getattr(u, name), name)
    _tags(u.tags, "tags", seen)
    _bool(u.enabled, "enabled")
    _opt_id(u.owner_id, "owner_id")


def _access(record: object, field: str, seen: object = None) -> None:
    match record:
        case RoleDefinition():
            _id(record.tenant_id, "tenant_id")
            _id(record.name, "name")
            if record.kind not in ("global", "inventory"):
                raise _bad(record.kind, "a role kind is 'global' or 'inventory'", "kind")
            _strings(record.permissions, "permissions")
        case RoleGrant():
            _id(record.tenant_id, "tenant_id")
            _id(record.user_id, "user_id")
            _id(record.role, "role")
            check_window(record.valid_from, record.valid_until)
        case InventoryGrant():
            _id(record.tenant_id, "tenant_id")
            if record.principal_kind not in ("user", "group"):
                raise _bad(
                    record.principal_kind, "a principal is 'user' or 'group'", "principal_kind"
                )
            _id(record.principal_id, "principal_id")
            _id(record.role, "role")
            _id(record.group_id, "group_id")
            check_window(record.valid_from, record.valid_until)
        case Delegation():
            _id(record.tenant_id, "tenant_id")
            _id(record.owner_id, "owner_id")
            _id(record.delegate_id, "delegate_id")
            if record.until is not None:
                _aware(record.until, "until")
            check_window(record.valid_from, record.until)
        case SupportRequest():
            _id(record.tenant_id, "tenant_id")
            _id(record.requested_by, "requested_by")
            _aware(record.until, "until")
        case Recipe():
            _id(record.id, "id")
            _id(record.tenant_id, "tenant_id")
            _text(record.name, "name")
            _text(record.name_pattern, "name_pattern")
            _tags(record.tags, "tags", set())
            _opt_id(record.parent_id, "parent_id")
            _ids(record.group_ids, "group_ids")
        case Connector():
            _id(record.id, "id")
            _id(record.source_tenant_id, "source_tenant_id")
            _id(record.destination_tenant_id, "destination_tenant_id")
            _text(record.name, "name")
            _text(record.description, "description")
            _ids(record.group_ids, "group_ids")
            _ids(record.device_ids, "device_ids")
            if record.tags is not None:
                _rules(frozenset((record.tags,)), "tags")
            if record.status not in CONNECTOR_STATUSES:
                raise _bad(record.status, "a connector is 'active' or 'suspended'", "status")
            _text(record.security_code, "security_code")
            check_window(record.valid_from, record.valid_until)
        case MembershipTerm():
            _id(record.tenant_id, "tenant_id")
            _id(record.group_id, "group_id")
            _id(record.user_id, "user_id")
            check_window(record.valid_from, record.valid_until)
        case Subscription():
            _id(record.id, "id")
            _id(record.tenant_id, "tenant_id")
            _id(record.connector_id, "connector_id")
            _text(record.name, "name")
            _id(record.group_id, "group_id")
            if record.status not in SUBSCRIPTION_STATUSES:
                raise _bad(record.status, "a subscription is 'active' or 'paused'", "status")
        case _:
            raise _bad(record, "an access record is a tenancy.records.grants record", field)


def _day(value: object, field: str, seen: object = None) -> None:
    if type(value) is not date:  # a datetime is a date, but is not stored as one
        raise _bad(value, "a date (not a datetime)", field)


def _requests(value: object, field: str, seen: object = None) -> None:
    if type(value) is not tuple:
        raise _bad(value, "requests are a tuple of (kind, count)", field)
    for pair in value:
        if type(pair) is not tuple or len(pair) != 2 or not isinstance(pair[0], str):
            raise _bad(pair, "a request count is (kind, count)", field)
        _int(pair[1], field)


_ASSOCIATION: tuple[tuple[str, _Check], ...] = (
    ("group_id", _id), ("device_ids", _ids), ("device_tags", _rules)
)  # fmt: skip
_FIELDS: dict[type[Any], tuple[tuple[str, _Check], ...]] = {
    TenantCreated: (("tenant", _tenant),),
    TenantUpdated: (("tenant", _tenant),),
    TenantSuspended: (("tenant_id", _id),),
    TenantActivated: (("tenant_id", _id),),
    TenantDeleted: (("tenant_id", _id),),
    GroupCreated: (("group", _group),),
    GroupUpdated: (("group_id", _id), ("name", _text), ("description", _text)),
    GroupMoved: (("group_id", _id), ("parent_id", _opt_id)),
    GroupDeleted: (("group_id", _id),),
    Associated: _ASSOCIATION,
    Dissociated: _ASSOCIATION,
    DeviceCreated: (("device", _device),),
    DeviceRenamed: (("device_id", _id), ("name", _text)),
    DeviceTagged: (("device_id", _id), ("tags", _tags)),
    DeviceUntagged: (("device_id", _id), ("tags", _tags)),
    DeviceMoved: (("device_id", _id), ("parent_id", _opt_id)),
    DeviceDeleted: (("device_id", _id),),
    UserCreated: (("user", _user),),
    UserUpdated: (("user", _user),),
    UserDeleted: (("user_id", _id),),
    MemberAdded: (("group_id", _id), ("user_id", _id)),
    MemberRemoved: (("group_id", _id), ("user_id", _id)),
    UsageRecorded: (
        ("tenant_id", _id), ("day", _day), ("counts", _counts), ("peaks", _counts),
        ("requests", _requests),
    ),
    AccessSet: (("record", _access),),
    AccessRemoved: (("record", _access),),
    SupportSessionStarted: (
        ("tenant_id", _id), ("support_user_id", _id), ("user_id", _id)
    ),
    ConnectorAcceptRefused: (("tenant_id", _id), ("connector_id", _id)),
}  # fmt: skip
"""Each change type's fields, with the check of each; a type missing here is refused."""
