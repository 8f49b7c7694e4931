"""tenancy: which devices may this user see, and may it see this one, in microseconds.

>>> import tenancy
>>> tn = tenancy.open()                       # in-memory; tenancy.open("app.db") for SQLite
>>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="admin@acme.example")
>>> t = tn.tenant(acme.id)
>>> region = t.create_group("California Northern")
>>> site = t.create_group("San Bruno", parent=region.id, device_tags=[("site", "san-bruno")])
>>> gen = t.create_device("Generator 7", tags=[("site", "san-bruno")])
>>> boss = t.create_user("boss@acme.example")
>>> t.add_member(region.id, boss.id)
>>> tn.verify(boss.id, gen.id)
True
>>> [d.name for d in tn.devices_for(boss.id)]
['Generator 7']
"""

from __future__ import annotations

from tenancy.errors import (
    AlreadyExists,
    CrossTenantReference,
    CycleError,
    InUse,
    InvalidDocument,
    InvalidValue,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    StaleRevision,
    StoreError,
    TenancyError,
    TenantSuspended,
    WrongSecurityCode,
)
from tenancy.handle.open import open
from tenancy.handle.scope import TenantScope
from tenancy.handle.store_lookups import every_page
from tenancy.handle.tenancy import Tenancy
from tenancy.records.changes import Change, Commit, Revision
from tenancy.records.grants import (
    Delegation,
    InventoryGrant,
    Permission,
    RoleDefinition,
    RoleGrant,
    SupportRequest,
)
from tenancy.records.model import (
    AllOf,
    Association,
    AuditRecord,
    Device,
    Explanation,
    Group,
    Page,
    RetentionRule,
    RulesInput,
    SafetyLimits,
    TagMatcher,
    TagsInput,
    Tenant,
    TenantPolicy,
    UsageCounts,
    UsageDay,
    User,
    all_of,
)
from tenancy.records.recipes import Recipe
from tenancy.records.review import ReachDiff
from tenancy.records.sharing import Connector, Subscription
from tenancy.records.snapshot import Snapshot
from tenancy.records.terms import MembershipTerm
from tenancy.rules.access import Identity
from tenancy.store import Capabilities, MemoryStore, Store
from tenancy.transfer import ImportReport, document_schema

__version__ = "0.1.0"
"""The version of tenancy, a string such as ``"0.1.0"``."""

__all__ = [
    "AllOf",
    "AlreadyExists",
    "Association",
    "AuditRecord",
    "Capabilities",
    "Change",
    "Commit",
    "Connector",
    "CrossTenantReference",
    "CycleError",
    "Delegation",
    "Device",
    "Explanation",
    "Group",
    "Identity",
    "ImportReport",
    "InUse",
    "InvalidDocument",
    "InvalidValue",
    "InventoryGrant",
    "LimitExceeded",
    "MembershipTerm",
    "MemoryStore",
    "NotFound",
    "Page",
    "Permission",
    "PermissionDenied",
    "ReachDiff",
    "Recipe",
    "RetentionRule",
    "Revision",
    "RoleDefinition",
    "RoleGrant",
    "RulesInput",
    "SafetyLimits",
    "Snapshot",
    "StaleRevision",
    "Store",
    "StoreError",
    "Subscription",
    "SupportRequest",
    "TagMatcher",
    "TagsInput",
    "Tenancy",
    "TenancyError",
    "Tenant",
    "TenantPolicy",
    "TenantScope",
    "TenantSuspended",
    "UsageCounts",
    "UsageDay",
    "User",
    "WrongSecurityCode",
    "__version__",
    "all_of",
    "document_schema",
    "every_page",
    "open",
]
