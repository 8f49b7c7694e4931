"""Reach through cross-tenant shares: how the index puts a share into device covers.

The rules of :mod:`tenancy.index.index` hold with one addition, which keeps ``verify`` the
same ``isdisjoint`` for every user, with or without shares:

Rule S1. A share is *live* while its connector and its subscription are both active, its
   connector is inside its window (if it has one) at the index's view of time
   (:mod:`tenancy.index.terms`), its virtual group exists, and neither its source nor its
   destination is blocked (suspended, or below a suspended tenant). ``live[c]`` holds the
   live shares; ``live_from[t]`` the live shares of each source tenant.

Rule S2. A live share *shares* device ``d`` of its source when ``d`` matches its tag
   matchers (if any) and a filter group is in ``d``'s own cover (rule 2 without shares,
   so a device shared into the source is never shared on), or ``d`` or a gateway above it
   is a filter device.

Rule S3. ``share_part[d]`` is the union, over the live shares sharing ``d``, of the
   virtual group and its ancestors (groups of the destination); ``cover[d]`` is the own
   cover of rule 2 plus ``share_part[d]``. Own covers hold groups of ``d``'s tenant only
   and share parts groups of other tenants, so the own cover is ``cover - share_part``.
   A child device does not inherit its gateway's share part: it is shared by rule S2 on
   its own (its tags must match too).

Rule S4. A share turned on or off (either status, a tenant's suspension, a change of its
   filters, its deletion) re-derives the share parts of the devices it shared before (the
   devices its virtual group covers) and after (its filters' devices): what it touches,
   never the store. A change of a device's own cover re-derives its share part with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from tenancy.index.sorted_ids import SortedIds
from tenancy.index.tables import EMPTY, IndexTables, LiveShare
from tenancy.records.model import Device
from tenancy.records.tags import rule_matches

__all__ = ["live_state", "part_for", "reshare", "reshare_tenants", "shared_by"]


def live_state(index: IndexTables, connector_id: str) -> LiveShare | None:
    """Rule S1 for one connector, from the records: its live share, or None."""
    access = index._access
    c = access.connector(connector_id)
    if c is None or c.status != "active" or not index._terms.connector_counts(c.id):
        return None
    sub = access.subscription_of(connector_id)
    if sub is None or sub.status != "active" or sub.group_id not in index._groups:
        return None
    for tenant_id in (c.source_tenant_id, c.destination_tenant_id):
        if tenant_id not in index._tenants or tenant_id in index._blocked:
            return None
    return LiveShare(
        c.id, sub.id, c.source_tenant_id, c.destination_tenant_id, sub.group_id,
        c.group_ids, c.device_ids, c.tags,
    )  # fmt: skip


def _shares(index: IndexTables, share: LiveShare, device: Device, own: Iterable[str]) -> bool:
    """Rule S2: does the live share share the device, whose own cover is ``own``?"""
    if device.tenant_id != share.source_tenant_id:
        return False
    if share.tags is not None and not rule_matches(share.tags, device.tags):
        return False
    if share.group_ids and not share.group_ids.isdisjoint(own):
        return True
    if share.device_ids:
        devices = index._devices
        walk: Device | None = device
        while walk is not None:
            if walk.id in share.device_ids:
                return True
            walk = None if walk.parent_id is None else devices.get(walk.parent_id)
    return False


def part_for(index: IndexTables, device: Device, own: frozenset[str]) -> frozenset[str]:
    """Rule S3 for one device: its share part, given its own cover. O(1) for a device of
    a tenant with no live share; else O(its tenant's live shares x (filters + gateways))."""
    cids = index._live_from.get(device.tenant_id)
    if not cids:
        return EMPTY
    up = index._forest.up
    part: set[str] = set()
    for cid in cids:
        share = index._live[cid]
        if _shares(index, share, device, own):
            part.update(up[share.group_id])
    return frozenset(part) if part else EMPTY


def shared_by(index: IndexTables, share: LiveShare) -> set[str]:
    """The devices the live share shares (rule S2): its filter groups' devices of the
    source and its filter devices with their child devices, narrowed by its tags.
    O(devices of its filters)."""
    devices = index._devices
    source = share.source_tenant_id
    found: set[str] = set()
    for gid in share.group_ids:
        covered = index._covered.get(gid)
        if covered is not None and index._groups[gid].tenant_id == source:
            found.update(d for d in covered if devices[d].tenant_id == source)
    children = index._device_children
    frontier = [d for d in share.device_ids if d in devices and devices[d].tenant_id == source]
    while frontier:
        found.update(frontier)
        frontier = [c for d in frontier for c in children.get(d, ()) if c not in found]
    if share.tags is not None:
        rule = share.tags
        found = {d for d in found if rule_matches(rule, devices[d].tags)}
    return found


def reshare(index: IndexTables, connector_ids: Iterable[str], *, off: bool = False) -> None:
    """Rule S4: bring these connectors' shares in line with the records (``off``: turn
    them off, whatever the records say: their virtual group is about to go), and
    re-derive the share parts of the devices they shared before and share now.
    Idempotent."""
    connector_ids = list(connector_ids)
    affected: dict[str, set[str]] = defaultdict(set)  # source tenant -> devices
    for cid in connector_ids:
        old = index._live.get(cid)
        new = None if off else live_state(index, cid)
        if old == new:
            continue
        if old is not None:
            covered = index._covered.get(old.group_id)
            if covered is not None:
                affected[old.source_tenant_id].update(covered)
            del index._live[cid]
            sources = index._live_from[old.source_tenant_id]
            sources.discard(cid)
            if not sources:
                del index._live_from[old.source_tenant_id]
        if new is not None:
            index._live[cid] = new
            index._live_from.setdefault(new.source_tenant_id, set()).add(cid)
    for cid in connector_ids:
        share = index._live.get(cid)
        if share is not None:
            affected[share.source_tenant_id] |= shared_by(index, share)
    for tenant_id, device_ids in affected.items():
        _refresh_parts(index, tenant_id, device_ids)


def reshare_tenants(index: IndexTables, tenant_ids: Iterable[str]) -> None:
    """Rule S4 for tenants whose status changed: every share from or to one of them."""
    access = index._access
    cids: set[str] = set()
    for tid in tenant_ids:
        cids |= access.connectors_from(tid) | access.connectors_to(tid)
    if cids:
        reshare(index, sorted(cids))


def _cover_only(index: IndexTables, tenant_id: str) -> bool:
    """Do the tenant's live shares filter by groups alone (no filter device, no tags)? Then
    a device's share part is a function of its own cover, worked out once per cover."""
    live = index._live
    return all(
        not live[cid].device_ids and live[cid].tags is None
        for cid in index._live_from.get(tenant_id, ())
    )


def _refresh_parts(index: IndexTables, tenant_id: str, device_ids: Iterable[str]) -> None:
    """Re-derive the share part (rule S3) of these devices of one tenant, their own covers
    unchanged: the fast path of a share turned on or off. When the tenant's live shares
    filter by groups alone, devices with equal covers move together (a site's thousand
    devices hold one interned cover): one share part worked out, one interning; covered
    lists grow and shrink in one batch per group."""
    covers, parts = index._cover, index._share_part
    moves: list[tuple[list[str], frozenset[str], frozenset[str], frozenset[str]]] = []
    if _cover_only(index, tenant_id):
        by_cover: dict[tuple[frozenset[str], frozenset[str]], list[str]] = defaultdict(list)
        covers_get, parts_get = covers.get, parts.get
        for did in device_ids:
            old_cover = covers_get(did)
            if old_cover is not None:
                by_cover[(old_cover, parts_get(did, EMPTY))].append(did)
        for (old_cover, old_part), ids in by_cover.items():
            own = old_cover - old_part if old_part else old_cover
            new_part = _part_of_own(index, tenant_id, own)
            if new_part != old_part:
                moves.append((ids, old_cover, old_part, new_part))
    else:
        devices = index._devices
        for did in device_ids:
            device = devices.get(did)
            if device is None:
                continue
            old_cover, old_part = covers[did], parts.get(did, EMPTY)
            own = old_cover - old_part if old_part else old_cover
            new_part = part_for(index, device, own)
            if new_part != old_part:
                moves.append(([did], old_cover, old_part, new_part))
    sets = index._sets
    added: dict[str, list[str]] = defaultdict(list)
    removed: dict[str, list[str]] = defaultdict(list)
    for ids, old_cover, old_part, new_part in moves:
        own = old_cover - old_part if old_part else old_cover
        cover = sets.take(own | new_part, len(ids))
        sets.release(old_cover, len(ids))
        for did in ids:
            covers[did] = cover
        if new_part:
            parts.update(dict.fromkeys(ids, new_part))
        else:
            for did in ids:
                del parts[did]
        for gid in old_part - new_part:
            removed[gid].extend(ids)
        for gid in new_part - old_part:
            added[gid].extend(ids)
    covered = index._covered
    for gid, gone in removed.items():
        covered[gid].discard_many(gone)
    for gid, ids in added.items():
        covered.setdefault(gid, SortedIds()).update(ids)


def _part_of_own(index: IndexTables, tenant_id: str, own: frozenset[str]) -> frozenset[str]:
    """:func:`part_for` for a tenant whose live shares filter by groups alone."""
    up = index._forest.up
    live = index._live
    part: set[str] = set()
    for cid in index._live_from.get(tenant_id, ()):
        share = live[cid]
        if not share.group_ids.isdisjoint(own):
            part.update(up[share.group_id])
    return frozenset(part) if part else EMPTY
