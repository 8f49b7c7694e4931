"""Cross-tenant sharing rules (DOMAIN.md section 7): what a write to a share must carry.

Rules, each a test in tests/unit/test_sharing.py:

Rule 1. A connector's source is never the management tenant and never its destination; the
   destination is fixed once created; at least one filter (a group or a device) is given
   at creation, and every filter names a group or a device of the source itself (a
   virtual group of the source, the door of another share, is refused: a share never
   chains).

Rule 2. Accepting gives the destination one subscription and its virtual group, created in
   the same commit; a connector has at most one subscription. A wrong security code is
   refused and the attempt is recorded (``ConnectorAcceptRefused``), never the code.

Rule 3. The virtual group is a group of the destination like any other for membership and
   placement, but has no associations and no child groups: nothing the destination writes
   can make it cover a device the connector does not share. It is deleted only with its
   subscription.

Rule 4. What ends a share takes everything that hangs on it in the same commit: deleting a
   subscription deletes its virtual group (memberships and inventory grants on it
   included); deleting a connector deletes its subscription; deleting a tenant deletes
   every connector from or to it. Deleting a group or device named by a filter drops it
   from that filter (a connector left with no filter shares nothing).

:func:`consequences` tells the write authorisation which changes of a commit follow from
another change of the same commit (the virtual group of a new subscription, the
subscription of a deleted connector...): they are authorised by that change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from tenancy.index.index import Index
from tenancy.records import changes as ch
from tenancy.records.changes import Change
from tenancy.records.grants import InventoryGrant
from tenancy.records.sharing import Connector, Subscription
from tenancy.rules.validate import replace

__all__ = [
    "Consequences",
    "connector_removal",
    "consequences",
    "filter_drops",
    "subscription_removal",
    "tenant_share_removals",
]


def subscription_removal(index: Index, subscription: Subscription) -> list[Change]:
    """The subscription, the inventory grants on its virtual group, then the group and
    the windows of its memberships (after it, as delete_group's)."""
    group_id = subscription.group_id
    grants = index.access.referring_to_group(group_id) if group_id in index.groups else []
    out: list[Change] = [ch.AccessRemoved(record=subscription)]
    out.extend(ch.AccessRemoved(record=r) for r in grants)
    if group_id in index.groups:
        out.append(ch.GroupDeleted(group_id=group_id))
        out.extend(ch.AccessRemoved(record=r) for r in index.terms_of_group(group_id))
    return out


def connector_removal(index: Index, connector: Connector) -> list[Change]:
    """The connector's subscription (as :func:`subscription_removal`), then the connector."""
    subscription = index.access.subscription_of(connector.id)
    out = [] if subscription is None else subscription_removal(index, subscription)
    out.append(ch.AccessRemoved(record=connector))
    return out


def tenant_share_removals(index: Index, tenant_ids: Iterable[str]) -> list[Change]:
    """Rule 4 for deleted tenants: every connector from or to any of them, with its
    subscription, sorted by connector id."""
    access = index.access
    ids: set[str] = set()
    for tenant_id in tenant_ids:
        ids |= access.connectors_from(tenant_id) | access.connectors_to(tenant_id)
    out: list[Change] = []
    for cid in sorted(ids):
        connector = access.connector(cid)
        if connector is not None:
            out.extend(connector_removal(index, connector))
    return out


def filter_drops(
    index: Index, *, group_ids: Iterable[str] = (), device_ids: Iterable[str] = ()
) -> list[Change]:
    """Rule 4 for deleted groups and devices: each connector naming one, without it.
    O(connectors naming them)."""
    groups, devices = frozenset(group_ids), frozenset(device_ids)
    access = index.access
    named: set[str] = set()
    for record_id in groups | devices:
        named |= access.connectors_naming(record_id)
    out: list[Change] = []
    for cid in sorted(named):
        c = access.connector(cid)
        if c is None:  # pragma: no cover - the tables are kept together
            continue
        out.append(
            ch.AccessSet(
                record=replace(c, group_ids=c.group_ids - groups, device_ids=c.device_ids - devices)
            )
        )
    return out


@attrs.define
class Consequences:
    """The changes of one commit that another change of it implies (see the module)."""

    created_groups: set[str] = attrs.Factory(set)
    """Virtual groups of the subscriptions this commit puts."""
    deleted_groups: set[str] = attrs.Factory(set)
    """Virtual groups of the subscriptions this commit removes."""
    removed: set[tuple[str, str]] = attrs.Factory(set)
    """(kind, key) of access records removed with a removed share or tenant."""
    narrowed: set[str] = attrs.Factory(set)
    """Connectors whose filters lose only groups or devices this commit deletes."""

    def follows(self, change: Change) -> bool:
        """Is the change implied by another change of the commit?"""
        match change:
            case ch.GroupCreated(group=g):
                return g.id in self.created_groups
            case ch.GroupDeleted(group_id=gid):
                return gid in self.deleted_groups
            case ch.AccessRemoved(record=r):
                return (type(r).__name__, r.key) in self.removed
            case ch.AccessSet(record=Connector(id=cid)):
                return cid in self.narrowed
            case _:
                return False


def _removing_subscription(index: Index, sub: Subscription, out: Consequences) -> None:
    out.deleted_groups.add(sub.group_id)
    for r in index.access.referring_to_group(sub.group_id) if sub.group_id in index.groups else ():
        if isinstance(r, InventoryGrant):
            out.removed.add((type(r).__name__, r.key))


def consequences(index: Index, changes: Sequence[Change]) -> Consequences:
    """What the commit's share and tenant changes imply, read against the index before
    the commit. O(changes + the shares they end)."""
    out = Consequences()
    access = index.access
    deleted_ids: set[str] = set()
    for change in changes:
        match change:
            case ch.AccessSet(record=Subscription(group_id=gid)) if gid not in index.groups:
                out.created_groups.add(gid)
            case ch.AccessRemoved(record=Subscription() as sub):
                _removing_subscription(index, sub, out)
            case ch.AccessRemoved(record=Connector(id=cid)):
                accepted = access.subscription_of(cid)
                if accepted is not None:
                    out.removed.add(("Subscription", accepted.key))
                    _removing_subscription(index, accepted, out)
            case ch.TenantDeleted(tenant_id=tid):
                for cid in access.connectors_from(tid) | access.connectors_to(tid):
                    out.removed.add(("Connector", cid))
                    accepted = access.subscription_of(cid)
                    if accepted is not None:
                        out.removed.add(("Subscription", accepted.key))
                        _removing_subscription(index, accepted, out)
            case ch.GroupDeleted(group_id=gid) | ch.DeviceDeleted(device_id=gid):
                deleted_ids.add(gid)
    for change in changes:
        if type(change) is ch.AccessSet and isinstance(change.record, Connector):
            new = change.record
            old = access.connector(new.id)
            if old is not None and old == replace(
                new, group_ids=old.group_ids, device_ids=old.device_ids
            ):
                dropped = (old.group_ids - new.group_ids) | (old.device_ids - new.device_ids)
                if (
                    new.group_ids <= old.group_ids
                    and new.device_ids <= old.device_ids
                    and dropped <= deleted_ids
                ):
                    out.narrowed.add(new.id)
    return out
