"""The closure index: a fast, disposable, pure-Python view of the store.

It is built from a snapshot (:meth:`Index.build`) and then only ever moves forward by
applying the same change records the store committed (:meth:`Index.apply`). It never does
I/O. Its tables (named below without their leading underscore) are private: other modules
read them through the interface of :mod:`tenancy.index.tables`, and change them only by
handing this class changes. Its rules, each checked by :meth:`Index.check_invariants`
against a recomputation:

Rule 1. The groups that *associate* device ``d`` directly are those whose ``device_ids``
   hold ``d`` or one of whose tag rules matches ``d``'s tags (tag rules only ever match
   devices of the group's own tenant). ``direct[g]`` is the exact reverse: the devices ``g``
   associates, sorted by id. A device's own set is not stored (a dict entry per device is 50
   bytes at a million devices): :meth:`Index.groups_associating` recomputes it from the id
   lists and the rule index, and a change takes it before and after to update ``direct``.

Rule 2. ``cover[d]`` is the set of groups that *cover* ``d``: every associating group and
   all of its ancestors, plus the cover of ``d``'s parent device (a child device follows its
   gateway, recursively). ``covered[g]`` is the exact reverse: the devices whose cover holds
   ``g``, kept sorted by id so listing can page through it without materialising it.

Rule 3. ``reach[u]`` is the frozenset of groups ``u`` is a direct member of when ``u`` is
   enabled and no tenant from ``u``'s up to the root is suspended; otherwise it is empty.
   With rules 2 and 3, *u reaches d* is exactly ``not reach[u].isdisjoint(cover[d])``: the
   same test as the physical limit of a precomputed dict of frozensets, so verify costs two
   dict lookups and one ``isdisjoint``. Tenant isolation needs no extra test, because a
   device's cover only ever holds groups of its own tenant.

Rule 4. Equal sets are stored once: covers and reach sets are interned with a reference
   count, so a million devices at a thousand sites hold about a thousand covers.

Rule 5. Every change costs what it touches: a tag change re-derives one device (and its
   child devices), a membership one user, a move the moved subtree and the devices it
   covers; nothing rescans the store.

Rule 6. Readers take no lock; writers are serialised by the facade. Each change replaces a
   device's cover or a user's reach set by one dict assignment, so ``verify`` sees each of
   the two either before or after a write. Anything that walks a table (a listing, explain,
   a first-time check) may see a write half-way and raise nothing: a plain sorted list
   shifts under an iterator, repeating or skipping ids. So ``seq`` counts applies: it is odd
   while :meth:`Index.apply` runs and even otherwise, and a reader that read the same even
   value before and after its walk saw no write (the facade runs it again under the writer
   lock if not). The per-user access answers are a new dict at the start and the end of
   every apply, so an answer worked out from a half-applied index is never served.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import msgspec

from tenancy.index import invariants, shares, timeline
from tenancy.index.load import groups_parents_first, load_devices, tenants_parents_first
from tenancy.index.sorted_ids import SortedIds
from tenancy.index.tables import EMPTY, GroupInfo, IndexTables
from tenancy.records import changes as ch
from tenancy.records.model import (
    ACTIVE,
    SUSPENDED,
    Device,
    Group,
    Tag,
    TagRule,
    Tenant,
    User,
)
from tenancy.records.sharing import Connector, Subscription
from tenancy.records.snapshot import Snapshot
from tenancy.records.state import UsageTable
from tenancy.records.terms import MembershipTerm

__all__ = ["EMPTY", "GroupInfo", "Index"]


class Index(IndexTables):
    """Every answer tenancy gives, precomputed. See the module docstring for its rules, and
    :mod:`tenancy.index.tables` for its tables and the questions it answers."""

    # ----------------------------------------------------------------- building

    @classmethod
    def build(cls, snapshot: Snapshot) -> Index:
        """Build the index from a snapshot in bulk. Runtime complexity: O(records x depth)."""
        index = cls()
        index._revision = snapshot.revision
        index._usage = UsageTable(snapshot.usage)
        parents_first = tenants_parents_first(snapshot.tenants)
        for tenant in parents_first:
            index._add_tenant(tenant)
        for group in groups_parents_first(snapshot.groups):
            index._add_group_node(group)
        for group in snapshot.groups:
            if group.device_ids:
                index._group_ids[group.id].update(group.device_ids)
            for did in group.device_ids:
                index._id_groups[did].add(group.id)
            for rule in group.device_tags:
                index._tags.add_rule(group.id, group.tenant_id, rule)
        load_devices(index, snapshot.devices, EMPTY)
        for user in snapshot.users:
            index._add_user_record(user)
        terms = index._terms
        for record in snapshot.access:
            if type(record) is MembershipTerm:
                terms.put(record)
        joined: defaultdict[str, list[str]] = defaultdict(list)
        for gid, uid in snapshot.memberships:
            if terms and not terms.counts(gid, uid):
                continue  # not before the first retime: see tenancy.index.terms
            index._members[gid].add(uid)
            joined[uid].append(gid)
        for uid, gids in joined.items():
            index._user_groups[uid] = frozenset(gids)
        for uid in index._users:
            index._refresh_reach(uid)
        for record in snapshot.access:
            index._access._put(record)
            if type(record) is Connector:
                terms.put_connector(record.id, record.valid_from, record.valid_until)
        shares.reshare(index, sorted(index._access.all_connectors()))
        index._retime_groups()
        return index

    # ----------------------------------------------------------------- applying

    def apply_commit(self, commit: ch.Commit) -> None:
        """Apply one committed transaction. Commits must arrive in revision order.
        Runtime complexity: O(what its changes touch), as :meth:`apply`."""
        assert commit.revision == self._revision + 1, (commit.revision, self._revision)
        self.apply(commit.changes)
        self._revision = commit.revision

    def apply(self, changes: Iterable[ch.Change]) -> None:
        """Apply validated changes: the one way the index's tables change. Runtime
        complexity: O(what each change touches) (rule 5).

        Runs of ``DeviceCreated`` (bulk creation, imports) are applied as one batch.
        """
        self._seq += 1  # odd: a reader that walks a table now runs again (rule 6)
        self._access.cache = {}  # answers derived from the old state are void now
        changes = changes if isinstance(changes, list | tuple) else list(changes)
        for change in changes:
            # A membership and its term arrive in one commit, the term second: take the
            # term first, so that no reader ever sees the membership count for an instant
            # outside its window.
            if type(change) is ch.AccessSet and type(change.record) is MembershipTerm:
                self._terms.put(change.record)
        new_devices: list[Device] = []
        for change in changes:
            if type(change) is ch.DeviceCreated:
                new_devices.append(change.device)
                continue
            if new_devices:
                self._add_devices(new_devices)
                new_devices = []
            self._apply_one(change)
        if new_devices:
            self._add_devices(new_devices)
        # Not in a finally: an index that failed half-way stays odd, so no reader trusts it.
        self._access.cache = {}  # and those worked out from a half-applied one
        self._seq += 1

    def _apply_one(self, change: ch.Change) -> None:
        match change:
            case ch.UsageRecorded(tenant_id=tid):  # first: most commits carry one
                if tid in self._tenants:
                    self._usage.apply(change)
            case ch.TenantCreated(tenant=t):
                self._add_tenant(t)
            case ch.AccessSet(record=MembershipTerm() as term):
                self._access._put(term)
                self._terms.put(term)  # a term is only ever put with its membership held
                self._count(*term_pair(term), self._terms.counts(*term_pair(term)))
            case ch.AccessRemoved(record=MembershipTerm() as term):
                self._access._remove(term)
                # Still held (not removed with its membership): it counts from now on.
                if self._terms.drop(term.group_id, term.user_id) is not None:
                    self._count(term.group_id, term.user_id, True)
            case ch.AccessSet(record=r):
                self._access._put(r)
                if type(r) is Connector:
                    self._terms.put_connector(r.id, r.valid_from, r.valid_until)
                if type(r) is Connector or type(r) is Subscription:
                    shares.reshare(self, [r.id if type(r) is Connector else r.connector_id])  # type: ignore[union-attr]
                    self._retime_groups()
            case ch.AccessRemoved(record=r):
                self._access._remove(r)
                if type(r) is Connector:
                    self._terms.drop_connector(r.id)
                if type(r) is Connector or type(r) is Subscription:
                    shares.reshare(self, [r.id if type(r) is Connector else r.connector_id])  # type: ignore[union-attr]
                    self._retime_groups()
            case ch.SupportSessionStarted() | ch.ConnectorAcceptRefused():
                pass
            case ch.TenantUpdated(tenant=t):
                self._tenants[t.id] = t
            case ch.TenantSuspended(tenant_id=tid):
                self._set_status(tid, SUSPENDED)
            case ch.TenantActivated(tenant_id=tid):
                self._set_status(tid, ACTIVE)
            case ch.TenantDeleted(tenant_id=tid):
                self._delete_tenant(tid)
                self._retime_groups()
            case ch.GroupCreated(group=g):
                self._add_group_node(g)
                self._associate(g.id, g.device_ids, g.device_tags)
            case ch.GroupUpdated(group_id=gid, name=name, description=description):
                info = self._groups[gid]
                self._groups[gid] = info._replace(name=name, description=description)
            case ch.GroupMoved(group_id=gid, parent_id=parent_id):
                affected = list(self._covered[gid])
                self._forest.move(gid, parent_id)
                self._refresh_covers(affected)
                self._retime_groups()
            case ch.GroupDeleted(group_id=gid):
                virtual = self._access.virtual_group(gid)
                if virtual is not None:  # a share ends before its virtual group goes
                    shares.reshare(self, [virtual.connector_id], off=True)
                self._delete_group(gid)
                self._retime_groups()
            case ch.Associated(group_id=gid, device_ids=ids, device_tags=rules):
                self._associate(gid, ids, rules)
            case ch.Dissociated(group_id=gid, device_ids=ids, device_tags=rules):
                self._dissociate(gid, ids, rules)
            case ch.DeviceCreated(device=d):
                self._add_devices([d])
            case ch.DeviceRenamed(device_id=did, name=name):
                self._devices[did] = msgspec.structs.replace(self._devices[did], name=name)
            case ch.DeviceTagged(device_id=did, tags=tags):
                self._retag(did, self._devices[did].tags | tags)
            case ch.DeviceUntagged(device_id=did, tags=tags):
                self._retag(did, self._devices[did].tags - tags)
            case ch.DeviceMoved(device_id=did, parent_id=parent_id):
                self._move_device(did, parent_id)
            case ch.DeviceDeleted(device_id=did):
                self._delete_device(did)
            case ch.UserCreated(user=u):
                self._add_user_record(u)
                self._refresh_reach(u.id)
            case ch.UserUpdated(user=u):
                old_user = self._users[u.id]
                del self._emails[(old_user.tenant_id, old_user.email.casefold())]
                self._add_user_record(u)
                self._refresh_reach(u.id)
            case ch.UserDeleted(user_id=uid):
                self._delete_user(uid)
            case ch.MemberAdded(group_id=gid, user_id=uid):
                self._count(gid, uid, self._terms.counts(gid, uid))
            case ch.MemberRemoved(group_id=gid, user_id=uid):
                self._terms.drop(gid, uid)  # a term goes with its membership
                self._count(gid, uid, False)
            case _:
                raise ch.unknown_change(change)

    # ----------------------------------------------------------------- tenants

    def _add_tenant(self, tenant: Tenant) -> None:
        self._tenants[tenant.id] = tenant
        self._domains[tenant.domain] = tenant.id
        if tenant.parent_id is not None:
            self._tenant_children[tenant.parent_id].add(tenant.id)
            if tenant.parent_id in self._blocked:
                self._blocked[tenant.id] = self._blocked[tenant.parent_id]
        if tenant.status == SUSPENDED and tenant.id not in self._blocked:
            self._blocked[tenant.id] = tenant.id

    def _set_status(self, tenant_id: str, status: str) -> None:
        old = self._tenants[tenant_id]
        self._tenants[tenant_id] = msgspec.structs.replace(old, status=status)
        # Re-derive who blocks whom for the subtree, parents first, then the users whose
        # effective reach flipped.
        for tid in self.tenant_subtree(tenant_id):
            tenant = self._tenants[tid]
            parent_block = None if tenant.parent_id is None else self._blocked.get(tenant.parent_id)
            blocker = parent_block or (tid if tenant.status == SUSPENDED else None)
            if blocker is None:
                self._blocked.pop(tid, None)
            else:
                self._blocked[tid] = blocker
            for uid in self._tenant_users.get(tid, ()):
                self._refresh_reach(uid)
        shares.reshare_tenants(self, self.tenant_subtree(tenant_id))  # rule S1

    def _delete_tenant(self, tenant_id: str) -> None:
        tenant = self._tenants.pop(tenant_id)
        del self._domains[tenant.domain]
        self._usage.drop(tenant_id)
        access = self._access
        touching = access.connectors_from(tenant_id) | access.connectors_to(tenant_id)
        shares.reshare(self, sorted(touching), off=True)  # before its groups and devices go
        access._drop_tenant(tenant_id)
        for cid in touching:
            if access.connector(cid) is None:
                self._terms.drop_connector(cid)
        self._blocked.pop(tenant_id, None)
        if tenant.parent_id is not None:
            self._tenant_children[tenant.parent_id].discard(tenant_id)
        self._tenant_children.pop(tenant_id, None)
        # Everything of the tenant goes, so nothing is re-derived: users, then devices
        # (children before gateways), then groups bottom-up so each removal is of a leaf.
        for uid in list(self._tenant_users.pop(tenant_id, ())):
            self._delete_user(uid)
        devices = self._tenant_devices.pop(tenant_id, SortedIds())
        for did in reversed(self._devices_parents_first(list(devices))):
            self._delete_device(did)
        self._root_devices.pop(tenant_id, None)
        groups = self._tenant_groups.pop(tenant_id, set())
        roots = [g for g in groups if self._forest.parent[g] is None]
        order = [g for r in roots for g in self._forest.descendants(r, include_self=True)]
        for gid in reversed(order):
            for rule in list(self._group_rules.get(gid, ())):
                self._tags.remove_rule(gid, tenant_id, rule)
            self._drop_group(gid)

    # ----------------------------------------------------------------- groups

    def _add_group_node(self, group: Group) -> None:
        self._groups[group.id] = GroupInfo(group.id, group.tenant_id, group.name, group.description)
        self._forest.add(group.id, group.parent_id)
        self._tenant_groups[group.tenant_id].add(group.id)
        self._covered.setdefault(group.id, SortedIds())

    def _associate(self, group_id: str, ids: frozenset[str], rules: frozenset[TagRule]) -> None:
        before = self._associations_of(self._touched(group_id, ids, rules))
        for did in ids:
            self._group_ids[group_id].add(did)
            self._id_groups[did].add(group_id)
        for rule in rules:
            self._tags.add_rule(group_id, self._groups[group_id].tenant_id, rule)
        self._reassociate(before)

    def _touched(self, group_id: str, ids: frozenset[str], rules: frozenset[TagRule]) -> set[str]:
        """The devices whose association with ``group_id`` these ids and rules decide."""
        tenant_id = self._groups[group_id].tenant_id
        touched = set(ids)
        for rule in rules:
            touched.update(self._tags.devices_matching(tenant_id, rule, self._devices))
        return touched

    def _dissociate(self, group_id: str, ids: frozenset[str], rules: frozenset[TagRule]) -> None:
        before = self._associations_of(self._touched(group_id, ids, rules))
        for did in ids:
            self._group_ids[group_id].discard(did)
            self._id_groups[did].discard(group_id)
        for rule in rules:
            self._tags.remove_rule(group_id, self._groups[group_id].tenant_id, rule)
        self._reassociate(before)

    def _delete_group(self, group_id: str) -> None:
        """Delete a leaf group: its associations and memberships end, then the devices it
        covered are re-derived without it."""
        affected = list(self._covered[group_id])
        self._dissociate(
            group_id,
            frozenset(self._group_ids.get(group_id, ())),
            frozenset(self._group_rules.get(group_id, ())),
        )
        resting = list(self._terms.users_of(group_id))  # their terms go with the group
        for uid in resting:
            self._terms.drop(group_id, uid)
        for uid in self._members.pop(group_id, ()):
            self._leave(uid, group_id)
            self._refresh_reach(uid)
        for uid in resting:
            self._refresh_reach(uid)  # perhaps back in the clock-free table
        self._forest.remove(group_id)
        self._refresh_covers(affected)
        self._drop_group(group_id)

    def _drop_group(self, group_id: str) -> None:
        """Forget a leaf group that no device, user or rule refers to any more."""
        if group_id in self._forest:
            self._forest.remove(group_id)
        info = self._groups.pop(group_id)
        tenant_groups = self._tenant_groups.get(info.tenant_id)
        if tenant_groups is not None:
            tenant_groups.discard(group_id)
        for table in (self._group_ids, self._group_rules, self._direct, self._members):
            table.pop(group_id, None)
        covered = self._covered.pop(group_id)
        assert not covered, (group_id, list(covered)[:5])

    # ----------------------------------------------------------------- devices

    def _add_device_records(self, devices: list[Device]) -> None:
        """Index a batch of device records: one loop with everything it writes at hand (a
        snapshot of a million devices spends most of its build here), and each tenant's
        sorted set grows once."""
        records, children, by_tag = self._devices, self._device_children, self._devices_by_tag
        new_bucket = self._tags.new_bucket
        by_tenant: dict[str, list[str]] = defaultdict(list)
        roots: dict[str, int] = defaultdict(int)
        for device in devices:
            did, tenant_id = device.id, device.tenant_id
            records[did] = device
            by_tenant[tenant_id].append(did)
            if device.parent_id is None:
                roots[tenant_id] += 1
            else:
                children[device.parent_id].add(did)
            for key, value in device.tags:
                exact = (tenant_id, key, value)
                bucket = by_tag.get(exact)
                if bucket is None:
                    bucket = new_bucket(exact)
                bucket.add(did)
        for tenant_id, count in roots.items():
            self._root_devices[tenant_id] += count
        for tenant_id, ids in by_tenant.items():
            self._tenant_devices[tenant_id].update(ids)

    def _add_devices(self, devices: list[Device]) -> None:
        """Add new devices in one batch: devices with equal tags share one association
        look-up, equal inputs share one cover, and each group's sorted set grows once."""
        self._add_device_records(devices)
        assoc_memo: dict[tuple[str, frozenset[Tag]], frozenset[str]] = {}
        cover_memo: dict[tuple[frozenset[str], frozenset[str]], frozenset[str]] = {}
        added: dict[str, list[str]] = defaultdict(list)
        take = self._sets.take
        live_from, parts = self._live_from, self._share_part
        for did in self._devices_parents_first([d.id for d in devices]):
            device = self._devices[did]
            key = (device.tenant_id, device.tags)
            assoc = assoc_memo.get(key)
            if assoc is None or did in self._id_groups:
                assoc = self.groups_associating(device)
                if did not in self._id_groups:
                    assoc_memo[key] = assoc
            for gid in assoc:
                self._direct[gid].add(did)
            parent_id = device.parent_id
            parent_cover = EMPTY if parent_id is None else self._cover[parent_id]
            if parts and parent_id in parts:  # a gateway's share part is not inherited
                parent_cover = parent_cover - parts[parent_id]
            cover_key = (assoc, parent_cover)
            cover = cover_memo.get(cover_key)
            if cover is None:
                cover = cover_memo[cover_key] = self._compute_cover(*cover_key)
            if live_from and device.tenant_id in live_from:
                part = shares.part_for(self, device, cover)
                if part:
                    parts[did] = part
                    cover = cover | part
            self._cover[did] = take(cover)
            for gid in cover:
                added[gid].append(did)
        for gid, ids in added.items():
            self._covered[gid].update(ids)

    def _associations_of(self, device_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        """Rule 1 for these devices now: taken before a change, for :meth:`_reassociate`."""
        devices = self._devices
        return {d: self.groups_associating(devices[d]) for d in device_ids if d in devices}

    def _reassociate(self, before: dict[str, frozenset[str]]) -> None:
        """After a change to ids, rules or tags: move each device between the groups'
        ``direct`` lists by the difference of its associations, then re-derive the covers
        of those whose associations changed."""
        changed = []
        for did, old in before.items():
            new = self.groups_associating(self._devices[did])
            if new == old:
                continue
            for gid in old - new:
                self._direct[gid].discard(did)
            for gid in new - old:
                self._direct[gid].add(did)
            changed.append(did)
        self._refresh_covers(changed)

    def _retag(self, device_id: str, tags: frozenset[Tag]) -> None:
        before = self._associations_of([device_id])
        old = self._devices[device_id]
        self._tags.unindex_tags(device_id, old.tenant_id, old.tags)
        new = msgspec.structs.replace(old, tags=tags)
        self._devices[device_id] = new
        self._tags.index_tags(device_id, new.tenant_id, new.tags)
        self._reassociate(before)
        if new.tenant_id in self._live_from:  # tag matchers of a share may now (not) match
            self._refresh_covers([device_id])

    def _move_device(self, device_id: str, parent_id: str | None) -> None:
        old = self._devices[device_id]
        if old.parent_id is not None:
            self._device_children[old.parent_id].discard(device_id)
        if parent_id is not None:
            self._device_children[parent_id].add(device_id)
        if (old.parent_id is None) != (parent_id is None):
            self._root_devices[old.tenant_id] += 1 if parent_id is None else -1
        self._devices[device_id] = msgspec.structs.replace(old, parent_id=parent_id)
        self._refresh_covers([device_id])

    def _delete_device(self, device_id: str) -> None:
        device = self._devices[device_id]
        for gid in self.groups_associating(device):
            self._direct[gid].discard(device_id)
        for gid in self._id_groups.pop(device_id, set()):
            self._group_ids[gid].discard(device_id)
        self._tags.unindex_tags(device_id, device.tenant_id, device.tags)
        for gid in self._cover.get(device_id, EMPTY):
            self._covered[gid].discard(device_id)
        if device_id in self._cover:
            self._sets.release(self._cover.pop(device_id))
        self._share_part.pop(device_id, None)
        if device.parent_id is not None:
            self._device_children[device.parent_id].discard(device_id)
        else:
            self._root_devices[device.tenant_id] -= 1
        self._device_children.pop(device_id, None)
        del self._devices[device_id]
        tenant_devices = self._tenant_devices.get(device.tenant_id)
        if tenant_devices is not None:
            tenant_devices.discard(device_id)

    def _take_set(self, value: frozenset[str], count: int = 1) -> frozenset[str]:
        """The one copy of ``value`` (rule 4), now referenced ``count`` more times."""
        return self._sets.take(value, count)

    def _compute_cover(self, assoc: frozenset[str], parent_cover: frozenset[str]) -> frozenset[str]:
        """Rule 2 for one device: its associating groups, their ancestors and its gateway's
        cover."""
        up = self._forest.up
        cover = set(parent_cover)
        for gid in assoc:
            cover.update(up[gid])
        return frozenset(cover)

    def _set_cover(self, device_id: str, cover: frozenset[str]) -> bool:
        old = self._cover.get(device_id)
        if old is not None and old == cover:
            return False
        previous = EMPTY if old is None else old
        for gid in previous - cover:
            self._covered[gid].discard(device_id)
        for gid in cover - previous:
            self._covered[gid].add(device_id)
        self._cover[device_id] = self._sets.take(cover)
        if old is not None:
            self._sets.release(old)
        return True

    def _refresh_covers(self, device_ids: Iterable[str]) -> None:
        """Re-derive rule 2 for these devices and, where a cover changed, their children.

        Shallowest gateway depth first (a heap), so a device is computed only once every
        gateway above it is final, and at most once: a child queued by a changed gateway
        may also be in ``device_ids`` further down the same chain."""
        heap = [(self._device_depth(d), d) for d in set(device_ids) if d in self._devices]
        heapq.heapify(heap)
        queued = {d for _, d in heap}
        # Rule 1 is recomputed: once per tenant and set of tags for devices no group lists.
        by_tags: dict[tuple[str, frozenset[Tag]], frozenset[str]] = {}
        while heap:
            depth, did = heapq.heappop(heap)
            device = self._devices[did]
            listed = did in self._id_groups
            key = (device.tenant_id, device.tags)
            assoc = None if listed else by_tags.get(key)
            if assoc is None:
                assoc = self.groups_associating(device)
                if not listed:
                    by_tags[key] = assoc
            parent_id = device.parent_id
            parent_cover = EMPTY if parent_id is None else self.own_cover_of(parent_id)
            cover = self._compute_cover(assoc, parent_cover)
            shared = device.tenant_id in self._live_from
            if shared or did in self._share_part:
                part = shares.part_for(self, device, cover)
                if part:
                    self._share_part[did] = part
                    cover = cover | part
                else:
                    self._share_part.pop(did, None)
            # A child's share part hangs on its gateway chain too (rule S2): while its
            # tenant shares, children are re-derived even when the cover stayed the same.
            if self._set_cover(did, cover) or shared:
                for child in self._device_children.get(did, ()):
                    if child not in queued:
                        queued.add(child)
                        heapq.heappush(heap, (depth + 1, child))

    def _device_depth(self, device_id: str) -> int:
        depth = 0
        parent_id = self._devices[device_id].parent_id
        while parent_id is not None:
            depth += 1
            parent_id = self._devices[parent_id].parent_id
        return depth

    def _devices_parents_first(self, device_ids: list[str]) -> list[str]:
        """Devices without a gateway first, in the given order, then the others by depth."""
        devices = self._devices
        roots = [d for d in device_ids if devices[d].parent_id is None]
        if len(roots) == len(device_ids):
            return device_ids
        children = [d for d in device_ids if devices[d].parent_id is not None]
        return roots + sorted(children, key=self._device_depth)

    # ----------------------------------------------------------------- users

    def _add_user_record(self, user: User) -> None:
        old = self._users.get(user.id)
        self._access._set_owner(user.id, None if old is None else old.owner_id, user.owner_id)
        self._users[user.id] = user
        self._emails[(user.tenant_id, user.email.casefold())] = user.id
        self._tenant_users[user.tenant_id].add(user.id)

    def _refresh_reach(self, user_id: str) -> None:
        user = self._users[user_id]
        groups = self._user_groups.get(user_id)
        effective = (
            groups if groups and user.enabled and user.tenant_id not in self._blocked else EMPTY
        )
        if groups and not effective:
            self._muted.add(user_id)
        else:
            self._muted.discard(user_id)
        # A user with a time-bounded membership lives in the timed table, the others in the
        # one verify reads without a clock. Moving between them, the new entry is written
        # before the old one goes, so a lock-free reader finds one or the other.
        timed = user_id in self._terms.by_user or (
            bool(self._timed_groups) and not self._timed_groups.isdisjoint(groups or EMPTY)
        )
        table, other = (
            (self._timed_reach, self._reach) if timed else (self._reach, self._timed_reach)
        )
        old = table.get(user_id)
        if old != effective:  # None (no entry yet) differs from every set, EMPTY too
            table[user_id] = self._sets.take(effective)
            if old is not None:
                self._sets.release(old)
        moved = other.pop(user_id, None)
        if moved is not None:
            self._sets.release(moved)
        if effective:
            self._user_groups[user_id] = table[user_id]

    def _count(self, group_id: str, user_id: str, counted: bool) -> None:
        """Make the membership count (``members``, ``user_groups``, reach) or not."""
        ids = self._members.get(group_id)
        if counted == (ids is not None and user_id in ids):
            if user_id in self._users:
                self._refresh_reach(user_id)  # its table may change (timed or not)
            return
        if counted:
            self._members[group_id].add(user_id)
            self._user_groups[user_id] = self._user_groups.get(user_id, EMPTY) | {group_id}
        else:
            assert ids is not None
            ids.discard(user_id)
            self._leave(user_id, group_id)
        self._refresh_reach(user_id)

    # ----------------------------------------------------------------- time

    def retime(self, now: datetime) -> None:
        """Bring the memberships with a term to the instant ``now``: each counts exactly
        when ``valid_from <= now < valid_until``. A no-op while ``now`` is inside the
        interval the tables hold for (:meth:`retime_due`). Bumps ``seq`` and voids the
        per-user access answers, as an apply does (rule 6). Runtime complexity: O(log
        terms) to find the boundaries crossed since the last instant, plus what each of the
        memberships crossed costs (one user's reach)."""
        if not self._terms.stale(now):
            return
        self._seq += 1
        self._access.cache = {}
        for gid, uid in self._terms.move_view(now):
            if gid:
                self._count(gid, uid, self._terms.counts(gid, uid))
            else:  # ("", connector id): a share that starts or ends
                shares.reshare(self, [uid])
        self._access.cache = {}
        self._seq += 1

    def _retime_groups(self) -> None:
        """Re-place the members of the groups that joined or left
        :func:`tenancy.index.timeline.timed_groups` (a share with a window gives them
        reach). O(connectors with a window x depth), plus those members."""
        if not self._terms.connectors and not self._timed_groups:
            return
        old, self._timed_groups = self._timed_groups, timeline.timed_groups(self)
        for gid in old ^ self._timed_groups:
            for uid in list(self._members.get(gid, ())):
                self._refresh_reach(uid)

    def timed_verify(self, user_id: str, device_id: str) -> bool:
        """verify for a user the clock-free table does not hold: a user with a
        time-bounded membership, at the view (the caller retimes first), or an unknown id
        (False). Runtime complexity: O(1) in practice, as verify."""
        groups = self._timed_reach.get(user_id)
        if not groups:
            return False
        cover = self._cover.get(device_id)
        return cover is not None and not groups.isdisjoint(cover)

    def _leave(self, user_id: str, group_id: str) -> None:
        groups = self._user_groups.get(user_id, EMPTY) - {group_id}
        if groups:
            self._user_groups[user_id] = groups
        else:
            self._user_groups.pop(user_id, None)

    def _delete_user(self, user_id: str) -> None:
        user = self._users.pop(user_id)
        self._access._forget_user(user_id, user.owner_id)
        del self._emails[(user.tenant_id, user.email.casefold())]
        tenant_users = self._tenant_users.get(user.tenant_id)
        if tenant_users is not None:
            tenant_users.discard(user_id)
        for gid in self._user_groups.pop(user_id, EMPTY):
            self._members[gid].discard(user_id)
        for gid in list(self._terms.groups_of(user_id)):
            self._terms.drop(gid, user_id)
        reach = self._reach.pop(user_id, None)
        self._sets.release(self._timed_reach.pop(user_id) if reach is None else reach)
        self._muted.discard(user_id)

    # ----------------------------------------------------------------- records out

    def snapshot(self) -> Snapshot:
        """The records this index was built from and moved forward to (for checks).
        O(records log records)."""
        return Snapshot(
            revision=self._revision,
            tenants=[self._tenants[k] for k in sorted(self._tenants)],
            groups=[self.group_record(k) for k in sorted(self._groups)],
            devices=[self._devices[k] for k in sorted(self._devices)],
            users=[self._users[k] for k in sorted(self._users)],
            memberships=sorted(
                {(g, u) for g, us in self._members.items() for u in us} | set(self._terms.by_pair)
            ),
            usage=self._usage.rows(),
            access=self._access.sorted_records(),
        )

    # ----------------------------------------------------------------- checking

    def check_invariants(self) -> None:
        """Recompute every derived structure from the records and assert it matches.

        Slow (O(everything)); for tests, after every step of a stateful test.
        """
        self._forest.check()
        fresh = Index.build(self.snapshot())
        if self._terms.view is not None:
            fresh.retime(self._terms.view)
        timeline.check_invariants(self, fresh)
        invariants.check_derived(self, fresh)


def term_pair(term: MembershipTerm) -> tuple[str, str]:
    return term.group_id, term.user_id
