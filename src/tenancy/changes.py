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

from datetime import date
from typing import TypeAlias

import msgspec

from tenancy.grants import AccessRecord
from tenancy.model import Device, Group, Tag, TagRule, Tenant, UsageCounts, User

__all__ = [
    "AccessRemoved",
    "AccessSet",
    "Associated",
    "Change",
    "Commit",
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
]

Revision: TypeAlias = int


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
    """Usage statistics of one tenant on one UTC day (see :mod:`tenancy.usage`).

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
    """Put an access-control record (a role definition, a grant, a delegation, a support
    request), replacing the one of the same kind and key."""

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
)


class Commit(msgspec.Struct, frozen=True, kw_only=True):
    """One transaction of the change log."""

    revision: Revision
    changes: tuple[Change, ...]
