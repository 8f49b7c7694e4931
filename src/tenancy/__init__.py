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

from os import PathLike

from tenancy.access import Identity
from tenancy.changes import Change, Commit, Revision
from tenancy.errors import (
    AlreadyExists,
    CrossTenantReference,
    CycleError,
    InUse,
    InvalidValue,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    StaleRevision,
    StoreError,
    TenancyError,
    TenantSuspended,
)
from tenancy.grants import (
    Delegation,
    InventoryGrant,
    Permission,
    RoleDefinition,
    RoleGrant,
    SupportRequest,
)
from tenancy.model import (
    AllOf,
    Association,
    AuditRecord,
    Device,
    Explanation,
    Group,
    Page,
    RetentionRule,
    SafetyLimits,
    TagMatcher,
    Tenant,
    TenantPolicy,
    UsageCounts,
    UsageDay,
    User,
    all_of,
)
from tenancy.scope import TenantScope
from tenancy.service import Tenancy
from tenancy.snapshot import Snapshot
from tenancy.store import Capabilities, MemoryStore, Store

__version__ = "0.1.0"

__all__ = [
    "AllOf",
    "AlreadyExists",
    "Association",
    "AuditRecord",
    "Capabilities",
    "Change",
    "Commit",
    "CrossTenantReference",
    "CycleError",
    "Delegation",
    "Device",
    "Explanation",
    "Group",
    "Identity",
    "InUse",
    "InvalidValue",
    "InventoryGrant",
    "LimitExceeded",
    "MemoryStore",
    "NotFound",
    "Page",
    "Permission",
    "PermissionDenied",
    "RetentionRule",
    "Revision",
    "RoleDefinition",
    "RoleGrant",
    "SafetyLimits",
    "Snapshot",
    "StaleRevision",
    "Store",
    "StoreError",
    "SupportRequest",
    "TagMatcher",
    "Tenancy",
    "TenancyError",
    "Tenant",
    "TenantPolicy",
    "TenantScope",
    "TenantSuspended",
    "UsageCounts",
    "UsageDay",
    "User",
    "__version__",
    "all_of",
    "open",
]


def open(
    target: str | PathLike[str] | Store | None = None,
    **options: object,
) -> Tenancy:
    """Open a handle on a store.

    ``None`` or ``":memory:"`` gives a fresh in-memory store; a :class:`Store` instance is
    used as it is. Options are passed to :class:`Tenancy` (``clock=``, ``staleness=``,
    ``limits=``, ``usage_flush_interval=``, ``write_timeout=``), except the options of a
    SQLite file: ``integrity=`` (``"rows"``, ``"quick"``, ``"full"``: what the open checks)
    and ``create=`` (None: a missing file becomes a new store; True: an empty file does
    too; False: only an existing store opens), see :class:`~tenancy.store.sqlite.SQLiteStore`.
    """
    file_options = {key: options.pop(key) for key in _FILE_OPTIONS if key in options}
    if target is None or target == ":memory:" or isinstance(target, Store):
        if file_options:
            key = min(file_options)
            raise InvalidValue(
                file_options[key], f"{key}= is an option of a SQLite file", field=key
            )
        store: Store = MemoryStore() if not isinstance(target, Store) else target
    else:
        from tenancy.store.sqlite import SQLiteStore  # noqa: PLC0415 - only loaded when used

        store = SQLiteStore.from_url(target, **file_options)
    try:
        return Tenancy(store, **options)  # type: ignore[arg-type]
    except BaseException:
        if store is not target:
            store.close()  # a handle that did not open leaves no connection behind
        raise


_FILE_OPTIONS = ("create", "integrity")
