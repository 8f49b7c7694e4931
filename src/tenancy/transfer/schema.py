"""The interchange document: its header and one msgspec Struct per record kind.

A document is a header and a list of records, each record tagged by its ``kind``. The
Structs below are the schema: :func:`document_schema` is their JSON Schema, published in
``docs/reference/document-schema.json``. Records refer to each other by id (a device's
``parent``, a membership's ``group`` and ``user``); in a document written by hand for
onboarding, ids may be left out, and a record without an id that others refer to gives a
``ref`` instead, a name valid inside the document only. A record without ``tenant`` belongs
to the document's first tenant.

Versioning: :data:`DOCUMENT_VERSION` is the version written. A reader refuses a document of
a later version (it may hold record kinds it does not know); a new record kind is a new
version, and a reader of that version still reads the earlier ones. Version 2 added device
recipes (``recipe``); a version 1 document holds none.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, TypeAlias

import msgspec

from tenancy.records.model import RetentionRule, TenantPolicy

__all__ = [
    "DOCUMENT_FORMAT",
    "DOCUMENT_VERSION",
    "KINDS",
    "RECIPES_SINCE",
    "AuditEntry",
    "ConnectorRecord",
    "DelegationRecord",
    "DeviceRecord",
    "Document",
    "GroupRecord",
    "Header",
    "InventoryGrantRecord",
    "MembershipRecord",
    "RecipeRecord",
    "Record",
    "RoleGrantRecord",
    "RoleRecord",
    "Scope",
    "SubscriptionRecord",
    "SupportRequestRecord",
    "TenantRecord",
    "UsageRecord",
    "UserRecord",
    "document_schema",
]

DOCUMENT_FORMAT = "tenancy"
DOCUMENT_VERSION = 2
"""The version this library writes, and the latest it reads (1 and 2; 2 added device
recipes, connectors and subscriptions)."""
RECIPES_SINCE = 2
"""The first version whose documents may hold device recipes."""

Pair: TypeAlias = tuple[str, str]
Matcher: TypeAlias = tuple[str | None, str | None]


class _Record(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind"):
    pass


class TenantRecord(_Record, frozen=True, kw_only=True, tag="tenant"):
    """A tenant with its options, limits, policies and subscriptions. ``parent`` is None
    only for the management tenant (a whole-store document)."""

    id: str | None = None
    ref: str | None = None
    domain: str
    name: str
    parent: str | None = None
    allow_subtenants: bool = False
    status: Literal["active", "suspended"] = "active"
    created_at: datetime | None = None
    contact_name: str = ""
    contact_phone: str = ""
    admin_email: str = ""
    admin_username: str = "admin"
    admin_user: str | None = None
    """The tenant's first admin user, a user record of the document; None: the import
    provisions one (``admin_email``, ``admin_username``) holding the admin role."""
    properties: list[Pair] = []
    options: list[tuple[str, str, str]] = []
    retention_rules: list[RetentionRule] = []
    max_devices: int | None = None
    max_root_devices: int | None = None
    subscriptions: list[str] = []
    default_subscriptions: list[str] | None = None
    policies: list[TenantPolicy] = []
    policy: str | None = None


class RoleRecord(_Record, frozen=True, kw_only=True, tag="role"):
    """A custom role of a tenant (global, or inventory: device permissions on a group)."""

    tenant: str | None = None
    name: str
    role_kind: Literal["global", "inventory"] = "global"
    permissions: list[str]


class DeviceRecord(_Record, frozen=True, kw_only=True, tag="device"):
    """A device; ``parent`` is its gateway, a device of the same tenant listed earlier."""

    id: str | None = None
    ref: str | None = None
    tenant: str | None = None
    name: str
    tags: list[Pair] = []
    parent: str | None = None


class GroupRecord(_Record, frozen=True, kw_only=True, tag="group"):
    """A group: its parent (listed earlier), the devices it associates by id and its tag
    rules (each an all-of list of ``[key, value]`` matchers; either side may be null)."""

    id: str | None = None
    ref: str | None = None
    tenant: str | None = None
    name: str
    description: str = ""
    parent: str | None = None
    device_ids: list[str] = []
    device_tags: list[list[Matcher]] = []


class UserRecord(_Record, frozen=True, kw_only=True, tag="user"):
    """A user; ``owner`` is another user of the tenant, listed earlier."""

    id: str | None = None
    ref: str | None = None
    tenant: str | None = None
    email: str
    username: str = ""
    first_name: str = ""
    last_name: str = ""
    tags: list[Pair] = []
    enabled: bool = True
    owner: str | None = None


class MembershipRecord(_Record, frozen=True, kw_only=True, tag="membership"):
    """A user's membership of a group; ``valid_from`` and ``valid_until`` (aware
    datetimes, either may be missing) bound when it counts (DOMAIN.md section 9)."""

    group: str
    user: str
    valid_from: datetime | None = None
    valid_until: datetime | None = None


class RoleGrantRecord(_Record, frozen=True, kw_only=True, tag="role_grant"):
    """A global role held by a user, tenant-wide; from ``valid_from`` until ``valid_until``
    when given (aware date-times, ``valid_from`` before ``valid_until``; absent: open)."""

    tenant: str | None = None
    user: str
    role: str
    valid_from: datetime | None = None
    valid_until: datetime | None = None


class InventoryGrantRecord(_Record, frozen=True, kw_only=True, tag="inventory_grant"):
    """An inventory role on ``group`` held by a user, or by every member of a group; from
    ``valid_from`` until ``valid_until`` when given (as a role grant's)."""

    tenant: str | None = None
    principal_kind: Literal["user", "group"] = "user"
    principal: str
    role: str
    group: str
    valid_from: datetime | None = None
    valid_until: datetime | None = None


class DelegationRecord(_Record, frozen=True, kw_only=True, tag="delegation"):
    """``delegate`` manages the user hierarchy of ``owner``, from ``valid_from`` and until
    ``until`` (its ``valid_until``) when given."""

    tenant: str | None = None
    owner: str
    delegate: str
    until: datetime | None = None
    valid_from: datetime | None = None


class SupportRequestRecord(_Record, frozen=True, kw_only=True, tag="support_request"):
    tenant: str | None = None
    requested_by: str
    until: datetime


class RecipeRecord(_Record, frozen=True, kw_only=True, tag="recipe"):
    """A device recipe of a tenant (since version 2): ``name_pattern`` holds ``{n}``;
    ``parent`` (a gateway) and ``groups`` are a device and groups of the same tenant, listed
    earlier."""

    id: str | None = None
    tenant: str | None = None
    name: str
    name_pattern: str
    tags: list[Pair] = []
    parent: str | None = None
    groups: list[str] = []


class ConnectorRecord(_Record, frozen=True, kw_only=True, tag="connector"):
    """A share (DOMAIN.md section 7) offered by ``tenant`` (the source) to ``destination``,
    tenants listed earlier. Its filters: ``groups`` and ``devices`` of the source, listed
    earlier; ``tags``, one all-of list of ``[key, value]`` matchers narrowing them, or
    null. ``security_code`` is in the document only when the export asked for it
    (``include_secrets=True``); an import of a connector without it gives the connector a
    new code (see the document reference). ``valid_from`` and ``valid_until`` bound when
    the share gives reach (DOMAIN.md section 9)."""

    id: str | None = None
    ref: str | None = None
    tenant: str | None = None
    destination: str
    name: str
    description: str = ""
    groups: list[str] = []
    devices: list[str] = []
    tags: list[Matcher] | None = None
    status: Literal["active", "suspended"] = "active"
    security_code: str = ""
    valid_from: datetime | None = None
    valid_until: datetime | None = None


class SubscriptionRecord(_Record, frozen=True, kw_only=True, tag="subscription"):
    """The destination ``tenant``'s acceptance of ``connector`` (listed earlier); ``group``
    is its virtual group, a group record of the same tenant listed earlier, with no
    devices, no tag rules and no child groups of its own."""

    id: str | None = None
    ref: str | None = None
    tenant: str | None = None
    connector: str
    name: str
    group: str
    status: Literal["active", "paused"] = "active"


class UsageRecord(_Record, frozen=True, kw_only=True, tag="usage"):
    """A tenant's usage statistics of one UTC day (``include_usage``)."""

    tenant: str | None = None
    day: date
    devices: int = 0
    root_devices: int = 0
    users: int = 0
    groups: int = 0
    peak_devices: int = 0
    peak_root_devices: int = 0
    peak_users: int = 0
    peak_groups: int = 0
    requests: list[tuple[str, int]] = []
    shared_devices: int = 0
    peak_shared_devices: int = 0


class AuditEntry(_Record, frozen=True, kw_only=True, tag="audit"):
    """One audit log record of the source store (``include_audit``), kept as it was."""

    seq: int
    revision: int
    at: datetime
    tenant: str | None = None
    actor: str
    action: str
    target: str | None = None
    before: Any = None
    after: Any = None


Record: TypeAlias = (
    TenantRecord
    | RoleRecord
    | DeviceRecord
    | GroupRecord
    | UserRecord
    | MembershipRecord
    | RoleGrantRecord
    | InventoryGrantRecord
    | DelegationRecord
    | SupportRequestRecord
    | RecipeRecord
    | ConnectorRecord
    | SubscriptionRecord
    | UsageRecord
    | AuditEntry
)

KINDS: tuple[str, ...] = (
    "tenant", "role", "device", "group", "user", "membership", "role_grant",
    "inventory_grant", "delegation", "support_request", "recipe", "connector", "subscription",
    "usage", "audit",
)  # fmt: skip
"""Every record kind, in the order a document lists them (what a record refers to comes
before it)."""


class Scope(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What the document holds: the whole store (no tenant), one tenant with its
    subtenants, or one tenant's devices matching tag rules."""

    tenant: str | None = None
    device_tags: list[list[Matcher]] | None = None


class Header(msgspec.Struct, frozen=True, kw_only=True):
    """What comes first: the format, its version, and what follows.

    ``counts`` (records per kind) lets a reader tell a cut-off document from a whole one;
    a document written by hand may leave it out. Nothing in the header depends on when or
    from which revision the document was written (the revision is history, not state), so
    the same state gives the same bytes."""

    format: Literal["tenancy"] = "tenancy"
    version: int = DOCUMENT_VERSION
    scope: Scope = Scope()
    usage: bool = False
    audit: bool = False
    counts: dict[str, int] | None = None


class Document(msgspec.Struct, frozen=True, kw_only=True):
    """A whole document, as JSON: ``{"header": {...}, "records": [...]}``."""

    header: Header
    records: list[Record] = []


def document_schema() -> dict[str, Any]:
    """The JSON Schema of the document (a :class:`Document`), as a dict. Runtime
    complexity: O(number of record kinds), a few milliseconds."""
    return msgspec.json.schema(Document)
