"""The audit records of a write: who changed what, and what it was before and after.

:func:`audit_records` is pure: it reads the index as it stands *before* the changes apply
(so a change's ``before`` is read from it) and returns one
:class:`~tenancy.records.model.AuditRecord` per change; the facade hands them to the store with the
changes, in one transaction, so both land or neither. :class:`~tenancy.handle.audit.AuditLog`
gives the facade its ``audit_log`` query, which reads the store's log (a page at a time).

What each record says:

- ``target`` is the id the change is about: the tenant, group, device or user it creates,
  updates or deletes; for a membership change the *user* (so the trail of a user shows
  the groups it joined and left), the group being in ``before`` / ``after``; for an
  access-control record the user (or group) it grants to; for a device recipe its id.
- ``tenant_id`` is the tenant of the record touched (a tenant's own id for tenant changes).
- ``before`` and ``after``: for a creation the new record (after) and for a deletion the
  old one (before); for an update that replaces a whole record (tenant, user) both
  records; for a change of some fields (rename, move, tags, status) those fields before and
  after; for an association or a membership the ids and rules added (after) or removed
  (before). Values are given as they are; the store keeps them as JSON.
- A change to a connector or a subscription (and a refused acceptance) is recorded in both
  tenants of the share: one record with the source's id and one with the destination's.
  A connector's security code is never in a record: ``before`` and ``after`` hold the
  connector without it (``security_code`` is ``""``).
- Usage statistics (``UsageRecorded``, stamped on writes and flushed in the background)
  are bookkeeping, not an act of anyone: they make no audit record.

A change of a type this module does not know is still recorded, under its type name, with
its fields as ``after``. A bulk creation costs one small struct per record: the record
itself is ``after``, encoded once, by the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from tenancy.index.index import Index
from tenancy.records import changes as ch
from tenancy.records.grants import AccessRecord
from tenancy.records.model import (
    ACTIVE,
    SUSPENDED,
    AuditRecord,
    Device,
    Group,
    Tenant,
    User,
)
from tenancy.records.recipes import Recipe
from tenancy.records.sharing import Connector, Subscription, redacted

__all__ = [
    "SYSTEM",
    "audit_records",
]


SYSTEM = "system"
"""The actor of the bare handle: the application itself."""


_Description = tuple[str | None, str | None, Any, Any]
"""(tenant_id, target, before, after) of one change."""


# What an access-control record is about, most specific first.
_SUBJECT_FIELDS = ("user_id", "principal_id", "owner_id", "requested_by", "group_id")


def audit_records(
    index: Index,
    changes: Sequence[ch.Change],
    *,
    actor: str,
    at: datetime,
    revision: ch.Revision,
) -> list[AuditRecord]:
    """One record per change (none for usage statistics), read against ``index`` before
    the changes apply. Runtime complexity: O(changes), plus the size of a deleted group.

    >>> import tenancy
    >>> from tenancy.records.changes import DeviceRenamed
    >>> tn = tenancy.open()
    >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    >>> gen = tn.tenant(acme.id).create_device("Generator", id="SN-1")
    >>> [r] = audit_records(tn.index, [DeviceRenamed(device_id="SN-1", name="Gen 7")],
    ...                     actor="system", at=tn.management_tenant.created_at, revision=9)
    >>> r.action, r.target, r.tenant_id == acme.id, r.before, r.after
    ('DeviceRenamed', 'SN-1', True, {'name': 'Generator'}, {'name': 'Gen 7'})
    """
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    view = _View(index, changes)
    out: list[AuditRecord] = []
    append = out.append
    for change in changes:
        kind = type(change)
        if kind is ch.DeviceCreated:
            # The bulk path: a hundred thousand of these in one write.
            device = change.device  # type: ignore[union-attr]
            record = AuditRecord(
                revision=revision, at=at, tenant_id=device.tenant_id, actor=actor,
                action="DeviceCreated", target=device.id, after=device,
            )  # fmt: skip
            append(record)
            continue
        if kind is ch.UsageRecorded:
            continue
        tenant_id, target, before, after = view.describe(change)
        record = AuditRecord(
            revision=revision, at=at, tenant_id=tenant_id, actor=actor,
            action=kind.__name__, target=target, before=before, after=after,
        )  # fmt: skip
        append(record)
        other = view.other_tenant(change)
        if other is not None and other != tenant_id:
            append(msgspec.structs.replace(record, tenant_id=other))
    return out


class _View:
    """The records as they stand between the changes of one commit: the index (the state
    before the commit) overlaid with what the commit's earlier changes did, so a second
    change to the same record sees the first (a deleted record is None)."""

    def __init__(self, index: Index, changes: Sequence[ch.Change]) -> None:
        self.index = index
        self.changes = changes
        self.tenants: dict[str, Tenant | None] = {}
        self.devices: dict[str, Device | None] = {}
        self.users: dict[str, User | None] = {}
        self.groups: dict[str, Group | None] = {}
        self._created: dict[str, Device] | None = None

    # ------------------------------------------------------------ current records

    def tenant(self, tenant_id: str) -> Tenant | None:
        if tenant_id in self.tenants:
            return self.tenants[tenant_id]
        return self.index.tenants.get(tenant_id)

    def device(self, device_id: str) -> Device | None:
        if device_id in self.devices:
            return self.devices[device_id]
        found = self.index.devices.get(device_id)
        if found is None:
            # Created earlier in this commit? (Bulk creations skip the overlay.)
            if self._created is None:
                self._created = {
                    c.device.id: c.device for c in self.changes if type(c) is ch.DeviceCreated
                }
            found = self._created.get(device_id)
        return found

    def user(self, user_id: str) -> User | None:
        if user_id in self.users:
            return self.users[user_id]
        return self.index.users.get(user_id)

    def group(self, group_id: str) -> Group | None:
        """The group's descriptive fields and parent (associations are left empty: only a
        deletion reads them, from :meth:`group_record`)."""
        if group_id in self.groups:
            return self.groups[group_id]
        info = self.index.groups.get(group_id)
        if info is None:
            return None
        return Group(
            id=group_id, tenant_id=info.tenant_id, name=info.name,
            description=info.description, parent_id=self.index.group_parent(group_id),
        )  # fmt: skip

    def group_record(self, group_id: str) -> Group | None:
        """The whole group, its device ids and tag rules included."""
        if group_id in self.groups:
            return self.groups[group_id]
        if group_id not in self.index.groups:
            return None
        return self.index.group_record(group_id)

    def tenant_of(self, record_id: str) -> str | None:
        """The tenant of a user, device or group (None when unknown)."""
        for find in (self.user, self.device, self.group):
            found = find(record_id)
            if found is not None:
                return found.tenant_id
        return None

    # ------------------------------------------------------------ describing changes

    def describe(self, change: ch.Change) -> _Description:
        before: Any
        old_g: Group | None
        match change:
            case ch.TenantCreated(tenant=t):
                self.tenants[t.id] = t
                return t.id, t.id, None, t
            case ch.TenantUpdated(tenant=t):
                old_t = self.tenant(t.id)
                self.tenants[t.id] = t
                return t.id, t.id, old_t, t
            case ch.TenantSuspended(tenant_id=tid) | ch.TenantActivated(tenant_id=tid):
                status = SUSPENDED if isinstance(change, ch.TenantSuspended) else ACTIVE
                old_t = self.tenant(tid)
                if old_t is not None:
                    self.tenants[tid] = msgspec.structs.replace(old_t, status=status)
                before = None if old_t is None else {"status": old_t.status}
                return tid, tid, before, {"status": status}
            case ch.TenantDeleted(tenant_id=tid):
                old_t = self.tenant(tid)
                self.tenants[tid] = None
                return tid, tid, old_t, None
            case ch.GroupCreated(group=g):
                self.groups[g.id] = g
                return g.tenant_id, g.id, None, g
            case ch.GroupUpdated(group_id=gid, name=name, description=description):
                old_g = self.group(gid)
                if old_g is None:
                    return None, gid, None, {"name": name, "description": description}
                self.groups[gid] = msgspec.structs.replace(
                    old_g, name=name, description=description
                )
                before = {"name": old_g.name, "description": old_g.description}
                return old_g.tenant_id, gid, before, {"name": name, "description": description}
            case ch.GroupMoved(group_id=gid, parent_id=parent):
                old_g = self.group(gid)
                if old_g is None:
                    return None, gid, None, {"parent_id": parent}
                self.groups[gid] = msgspec.structs.replace(old_g, parent_id=parent)
                return old_g.tenant_id, gid, {"parent_id": old_g.parent_id}, {"parent_id": parent}
            case ch.GroupDeleted(group_id=gid):
                old_g = self.group_record(gid)
                self.groups[gid] = None
                return (None if old_g is None else old_g.tenant_id), gid, old_g, None
            case ch.Associated(group_id=gid, device_ids=ids, device_tags=rules):
                old_g = self.group(gid)
                added = {"device_ids": ids, "device_tags": rules}
                return (None if old_g is None else old_g.tenant_id), gid, None, added
            case ch.Dissociated(group_id=gid, device_ids=ids, device_tags=rules):
                old_g = self.group(gid)
                removed = {"device_ids": ids, "device_tags": rules}
                return (None if old_g is None else old_g.tenant_id), gid, removed, None
            case ch.DeviceRenamed() | ch.DeviceTagged() | ch.DeviceUntagged() | ch.DeviceMoved():
                return self._device_change(change)
            case ch.DeviceDeleted(device_id=did):
                old_d = self.device(did)
                self.devices[did] = None
                return (None if old_d is None else old_d.tenant_id), did, old_d, None
            case ch.UserCreated(user=u):
                self.users[u.id] = u
                return u.tenant_id, u.id, None, u
            case ch.UserUpdated(user=u):
                old_u = self.user(u.id)
                self.users[u.id] = u
                return u.tenant_id, u.id, old_u, u
            case ch.UserDeleted(user_id=uid):
                old_u = self.user(uid)
                self.users[uid] = None
                return (None if old_u is None else old_u.tenant_id), uid, old_u, None
            case ch.MemberAdded(group_id=gid, user_id=uid):
                return self.tenant_of(uid), uid, None, {"group_id": gid}
            case ch.MemberRemoved(group_id=gid, user_id=uid):
                return self.tenant_of(uid), uid, {"group_id": gid}, None
            case ch.AccessSet(record=r):
                old_r = self.index.access.record(type(r).__name__, r.key)
                return r.tenant_id, _subject(r), _shown(old_r), _shown(r)
            case ch.AccessRemoved(record=r):
                return r.tenant_id, _subject(r), _shown(r), None
            case ch.ConnectorAcceptRefused(tenant_id=tid, connector_id=cid):
                return tid, cid, None, {"connector_id": cid}
            case ch.SupportSessionStarted(tenant_id=tid, support_user_id=sid, user_id=uid):
                return tid, uid, None, {"support_user_id": sid, "user_id": uid}
            case _:
                raise ch.unknown_change(change)

    def other_tenant(self, change: ch.Change) -> str | None:
        """The second tenant a share change is recorded in (None for other changes)."""
        match change:
            case ch.AccessSet(record=Connector() as c) | ch.AccessRemoved(record=Connector() as c):
                return c.destination_tenant_id
            case (
                ch.AccessSet(record=Subscription(connector_id=cid))
                | ch.AccessRemoved(record=Subscription(connector_id=cid))
                | ch.ConnectorAcceptRefused(connector_id=cid)
            ):
                connector = self.index.access.connector(cid)
                return None if connector is None else connector.source_tenant_id
            case _:
                return None

    def _device_change(self, change: ch.Change) -> _Description:
        did: str = change.device_id  # type: ignore[union-attr]
        old = self.device(did)
        field: str
        value: Any
        match change:
            case ch.DeviceRenamed(name=name):
                field, value = "name", name
            case ch.DeviceTagged(tags=tags):
                field, value = "tags", (frozenset() if old is None else old.tags) | tags
            case ch.DeviceUntagged(tags=tags):
                field, value = "tags", (frozenset() if old is None else old.tags) - tags
            case ch.DeviceMoved(parent_id=parent):
                field, value = "parent_id", parent
            case _:
                raise ch.unknown_change(change)
        if old is None:
            return None, did, None, {field: value}
        self.devices[did] = msgspec.structs.replace(old, **{field: value})
        return old.tenant_id, did, {field: getattr(old, field)}, {field: value}


def _shown(record: AccessRecord | None) -> AccessRecord | None:
    """The record as the audit log keeps it: a connector without its security code."""
    return redacted(record) if isinstance(record, Connector) else record


def _subject(record: AccessRecord) -> str:
    """The user (or group) an access-control record is about; a tenant's own role
    definitions are about the tenant; a device recipe, a connector or a subscription is
    about itself."""
    if isinstance(record, Recipe | Connector | Subscription):
        return record.id
    for name in _SUBJECT_FIELDS:
        value = getattr(record, name, None)
        if isinstance(value, str):
            return value
    return record.tenant_id
