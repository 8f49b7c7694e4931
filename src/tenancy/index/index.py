"""The closure index: a fast, disposable, pure-Python view of the store.

It is built from a snapshot (:meth:`Index.build`) and then only ever moves forward by
applying the same change records the store committed (:meth:`Index.apply`). It never does
I/O. Its rules, each checked by :meth:`Index.check_invariants` against a recomputation:

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
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import msgspec

from tenancy.index.access_tables import AccessState
from tenancy.index.forest import GroupForest
from tenancy.index.load import groups_parents_first, load_devices, tenants_parents_first
from tenancy.index.sorted_ids import SortedIds
from tenancy.index.tag_rules import TagTables
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
from tenancy.records.snapshot import Snapshot
from tenancy.records.state import UsageTable

__all__ = ["EMPTY", "GroupInfo", "Index"]

EMPTY: frozenset[str] = frozenset()


class GroupInfo:
    """The descriptive fields of a group; its place in the tree lives in the forest."""

    __slots__ = ("description", "id", "name", "tenant_id")

    def __init__(self, group_id: str, tenant_id: str, name: str, description: str) -> None:
        self.id = group_id
        self.tenant_id = tenant_id
        self.name = name
        self.description = description


class _Interner:
    """Keeps one copy of each equal frozenset, with a reference count to free it."""

    __slots__ = ("_counts", "_sets")

    def __init__(self) -> None:
        self._sets: dict[frozenset[str], frozenset[str]] = {EMPTY: EMPTY}
        self._counts: dict[frozenset[str], int] = defaultdict(int)

    def take(self, value: frozenset[str], count: int = 1) -> frozenset[str]:
        """The one copy of ``value``, now referenced ``count`` more times."""
        canonical = self._sets.setdefault(value, value)
        self._counts[canonical] += count
        return canonical

    def release(self, value: frozenset[str]) -> None:
        count = self._counts[value] - 1
        if count > 0:
            self._counts[value] = count
        else:
            del self._counts[value]
            if value:
                del self._sets[value]

    def __len__(self) -> int:
        return len(self._sets)


class Index:
    """Every answer tenancy gives, precomputed. See the module docstring for its rules."""

    def __init__(self) -> None:
        self.revision: ch.Revision = 0
        self.seq = 0
        """Odd while a commit is being applied, even otherwise (rule 6)."""
        # tenants
        self.tenants: dict[str, Tenant] = {}
        self.tenant_children: dict[str, set[str]] = defaultdict(set)
        self.blocked: dict[str, str] = {}
        """tenant id -> the suspended tenant (itself or an ancestor) that blocks it."""
        self.domains: dict[str, str] = {}
        self.tenant_groups: dict[str, set[str]] = defaultdict(set)
        self.tenant_devices: dict[str, SortedIds] = defaultdict(SortedIds)
        """tenant -> its devices sorted by id (tenant-wide listings page through it)."""
        self.tenant_users: dict[str, set[str]] = defaultdict(set)
        self.root_devices: dict[str, int] = defaultdict(int)
        """tenant id -> how many of its devices have no gateway (for limits and usage)."""
        self.usage = UsageTable()
        """Usage statistics by tenant and day: kept as the store keeps them, never derived."""
        # groups
        self.groups: dict[str, GroupInfo] = {}
        self.forest = GroupForest()
        self.group_ids: dict[str, set[str]] = defaultdict(set)
        self.tags = TagTables()
        """The tag rules and the tag index (tenancy.index.tag_rules); their four tables
        are published here under their own names."""
        self.group_rules = self.tags.group_rules
        self.rules_by_key = self.tags.rules_by_key
        self.direct: dict[str, SortedIds] = defaultdict(SortedIds)
        """group -> devices it associates itself (rule 1, reversed). Sorted id lists here
        and in the tag index: 8 bytes a device where a set takes 30 to 60."""
        self.covered: dict[str, SortedIds] = {}
        """group -> devices it covers, sorted by id (rule 2, reversed). A sorted list with no
        set beside it: every change adds or discards by difference of covers, so a device
        is never in it twice, and a set would cost ~35 bytes per device and ancestor."""
        self.members: dict[str, SortedIds] = defaultdict(SortedIds)
        """group -> its direct members, sorted by id (users_for merges them in order)."""
        # devices
        self.devices: dict[str, Device] = {}
        self.device_children: dict[str, set[str]] = defaultdict(set)
        self.id_groups: dict[str, set[str]] = defaultdict(set)
        """device -> groups that list its id."""
        self.devices_by_tag = self.tags.devices_by_tag
        self.tag_shapes = self.tags.tag_shapes
        self.cover: dict[str, frozenset[str]] = {}
        # users
        self.users: dict[str, User] = {}
        self.emails: dict[tuple[str, str], str] = {}
        self.user_groups: dict[str, frozenset[str]] = {}
        """user -> the groups it is a direct member of. While the user reaches them this is
        the very object of ``reach[user]``, which is interned: the users of one site share
        one set."""
        self.reach: dict[str, frozenset[str]] = {}
        self.muted: set[str] = set()
        """Users who are members of a group but reach nothing (disabled, or their tenant is
        suspended): users_for filters them out, and skips the filter while there are none."""
        self._sets = _Interner()
        # access control (roles, grants, owners): data only, read by tenancy.rules.access
        self.access = AccessState()

    # ----------------------------------------------------------------- building

    @classmethod
    def build(cls, snapshot: Snapshot) -> Index:
        """Build the index from a snapshot in bulk. Runtime complexity: O(records x depth)."""
        index = cls()
        index.revision = snapshot.revision
        index.usage = UsageTable(snapshot.usage)
        parents_first = tenants_parents_first(snapshot.tenants)
        for tenant in parents_first:
            index._add_tenant(tenant)
        for group in groups_parents_first(snapshot.groups):
            index._add_group_node(group)
        for group in snapshot.groups:
            if group.device_ids:
                index.group_ids[group.id].update(group.device_ids)
            for did in group.device_ids:
                index.id_groups[did].add(group.id)
            for rule in group.device_tags:
                index.tags.add_rule(group.id, group.tenant_id, rule)
        load_devices(index, snapshot.devices, EMPTY)
        for user in snapshot.users:
            index._add_user_record(user)
        joined: defaultdict[str, list[str]] = defaultdict(list)
        for gid, uid in snapshot.memberships:
            index.members[gid].add(uid)
            joined[uid].append(gid)
        for uid, gids in joined.items():
            index.user_groups[uid] = frozenset(gids)
        for uid in index.users:
            index._refresh_reach(uid)
        for record in snapshot.access:
            index.access.put(record)
        return index

    # ----------------------------------------------------------------- applying

    def apply_commit(self, commit: ch.Commit) -> None:
        """Apply one committed transaction. Commits must arrive in revision order."""
        assert commit.revision == self.revision + 1, (commit.revision, self.revision)
        self.apply(commit.changes)
        self.revision = commit.revision

    def apply(self, changes: Iterable[ch.Change]) -> None:
        """Apply validated changes. Runtime complexity: what each change touches (rule 5).

        Runs of ``DeviceCreated`` (bulk creation, imports) are applied as one batch.
        """
        self.seq += 1  # odd: a reader that walks a table now runs again (rule 6)
        self.access.cache = {}  # answers derived from the old state are void now
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
        self.access.cache = {}  # and those worked out from a half-applied one
        self.seq += 1

    def _apply_one(self, change: ch.Change) -> None:
        match change:
            case ch.UsageRecorded(tenant_id=tid):  # first: most commits carry one
                if tid in self.tenants:
                    self.usage.apply(change)
            case ch.TenantCreated(tenant=t):
                self._add_tenant(t)
            case ch.AccessSet(record=r):
                self.access.put(r)
            case ch.AccessRemoved(record=r):
                self.access.remove(r)
            case ch.SupportSessionStarted():
                pass
            case ch.TenantUpdated(tenant=t):
                self.tenants[t.id] = t
            case ch.TenantSuspended(tenant_id=tid):
                self._set_status(tid, SUSPENDED)
            case ch.TenantActivated(tenant_id=tid):
                self._set_status(tid, ACTIVE)
            case ch.TenantDeleted(tenant_id=tid):
                self._delete_tenant(tid)
            case ch.GroupCreated(group=g):
                self._add_group_node(g)
                self._associate(g.id, g.device_ids, g.device_tags)
            case ch.GroupUpdated(group_id=gid, name=name, description=description):
                info = self.groups[gid]
                info.name, info.description = name, description
            case ch.GroupMoved(group_id=gid, parent_id=parent_id):
                affected = list(self.covered[gid])
                self.forest.move(gid, parent_id)
                self._refresh_covers(affected)
            case ch.GroupDeleted(group_id=gid):
                self._delete_group(gid)
            case ch.Associated(group_id=gid, device_ids=ids, device_tags=rules):
                self._associate(gid, ids, rules)
            case ch.Dissociated(group_id=gid, device_ids=ids, device_tags=rules):
                self._dissociate(gid, ids, rules)
            case ch.DeviceCreated(device=d):
                self._add_devices([d])
            case ch.DeviceRenamed(device_id=did, name=name):
                self.devices[did] = msgspec.structs.replace(self.devices[did], name=name)
            case ch.DeviceTagged(device_id=did, tags=tags):
                self._retag(did, self.devices[did].tags | tags)
            case ch.DeviceUntagged(device_id=did, tags=tags):
                self._retag(did, self.devices[did].tags - tags)
            case ch.DeviceMoved(device_id=did, parent_id=parent_id):
                self._move_device(did, parent_id)
            case ch.DeviceDeleted(device_id=did):
                self._delete_device(did)
            case ch.UserCreated(user=u):
                self._add_user_record(u)
                self._refresh_reach(u.id)
            case ch.UserUpdated(user=u):
                old_user = self.users[u.id]
                del self.emails[(old_user.tenant_id, old_user.email.casefold())]
                self._add_user_record(u)
                self._refresh_reach(u.id)
            case ch.UserDeleted(user_id=uid):
                self._delete_user(uid)
            case ch.MemberAdded(group_id=gid, user_id=uid):
                self.members[gid].add(uid)
                self.user_groups[uid] = self.user_groups.get(uid, EMPTY) | {gid}
                self._refresh_reach(uid)
            case ch.MemberRemoved(group_id=gid, user_id=uid):
                self.members[gid].discard(uid)
                self._leave(uid, gid)
                self._refresh_reach(uid)
            case _:
                raise ch.unknown_change(change)

    # ----------------------------------------------------------------- tenants

    def _add_tenant(self, tenant: Tenant) -> None:
        self.tenants[tenant.id] = tenant
        self.domains[tenant.domain] = tenant.id
        if tenant.parent_id is not None:
            self.tenant_children[tenant.parent_id].add(tenant.id)
            if tenant.parent_id in self.blocked:
                self.blocked[tenant.id] = self.blocked[tenant.parent_id]
        if tenant.status == SUSPENDED and tenant.id not in self.blocked:
            self.blocked[tenant.id] = tenant.id

    def tenant_subtree(self, tenant_id: str) -> Iterator[str]:
        """The tenant and every tenant below it, parents first."""
        frontier = [tenant_id]
        while frontier:
            tid = frontier.pop()
            yield tid
            frontier.extend(self.tenant_children.get(tid, ()))

    def _set_status(self, tenant_id: str, status: str) -> None:
        old = self.tenants[tenant_id]
        self.tenants[tenant_id] = msgspec.structs.replace(old, status=status)
        # Re-derive who blocks whom for the subtree, parents first, then the users whose
        # effective reach flipped.
        for tid in self.tenant_subtree(tenant_id):
            tenant = self.tenants[tid]
            parent_block = None if tenant.parent_id is None else self.blocked.get(tenant.parent_id)
            blocker = parent_block or (tid if tenant.status == SUSPENDED else None)
            if blocker is None:
                self.blocked.pop(tid, None)
            else:
                self.blocked[tid] = blocker
            for uid in self.tenant_users.get(tid, ()):
                self._refresh_reach(uid)

    def _delete_tenant(self, tenant_id: str) -> None:
        tenant = self.tenants.pop(tenant_id)
        del self.domains[tenant.domain]
        self.usage.drop(tenant_id)
        self.access.drop_tenant(tenant_id)
        self.blocked.pop(tenant_id, None)
        if tenant.parent_id is not None:
            self.tenant_children[tenant.parent_id].discard(tenant_id)
        self.tenant_children.pop(tenant_id, None)
        # Everything of the tenant goes, so nothing is re-derived: users, then devices
        # (children before gateways), then groups bottom-up so each removal is of a leaf.
        for uid in list(self.tenant_users.pop(tenant_id, ())):
            self._delete_user(uid)
        devices = self.tenant_devices.pop(tenant_id, SortedIds())
        for did in reversed(self._devices_parents_first(list(devices))):
            self._delete_device(did)
        self.root_devices.pop(tenant_id, None)
        groups = self.tenant_groups.pop(tenant_id, set())
        roots = [g for g in groups if self.forest.parent[g] is None]
        order = [g for r in roots for g in self.forest.descendants(r, include_self=True)]
        for gid in reversed(order):
            for rule in list(self.group_rules.get(gid, ())):
                self.tags.remove_rule(gid, tenant_id, rule)
            self._drop_group(gid)

    # ----------------------------------------------------------------- groups

    def _add_group_node(self, group: Group) -> None:
        self.groups[group.id] = GroupInfo(group.id, group.tenant_id, group.name, group.description)
        self.forest.add(group.id, group.parent_id)
        self.tenant_groups[group.tenant_id].add(group.id)
        self.covered.setdefault(group.id, SortedIds())

    def _associate(self, group_id: str, ids: frozenset[str], rules: frozenset[TagRule]) -> None:
        before = self._associations_of(self._touched(group_id, ids, rules))
        for did in ids:
            self.group_ids[group_id].add(did)
            self.id_groups[did].add(group_id)
        for rule in rules:
            self.tags.add_rule(group_id, self.groups[group_id].tenant_id, rule)
        self._reassociate(before)

    def _touched(self, group_id: str, ids: frozenset[str], rules: frozenset[TagRule]) -> set[str]:
        """The devices whose association with ``group_id`` these ids and rules decide."""
        tenant_id = self.groups[group_id].tenant_id
        touched = set(ids)
        for rule in rules:
            touched.update(self.tags.devices_matching(tenant_id, rule, self.devices))
        return touched

    def _dissociate(self, group_id: str, ids: frozenset[str], rules: frozenset[TagRule]) -> None:
        before = self._associations_of(self._touched(group_id, ids, rules))
        for did in ids:
            self.group_ids[group_id].discard(did)
            self.id_groups[did].discard(group_id)
        for rule in rules:
            self.tags.remove_rule(group_id, self.groups[group_id].tenant_id, rule)
        self._reassociate(before)

    def _delete_group(self, group_id: str) -> None:
        """Delete a leaf group: its associations and memberships end, then the devices it
        covered are re-derived without it."""
        affected = list(self.covered[group_id])
        self._dissociate(
            group_id,
            frozenset(self.group_ids.get(group_id, ())),
            frozenset(self.group_rules.get(group_id, ())),
        )
        for uid in self.members.pop(group_id, ()):
            self._leave(uid, group_id)
            self._refresh_reach(uid)
        self.forest.remove(group_id)
        self._refresh_covers(affected)
        self._drop_group(group_id)

    def _drop_group(self, group_id: str) -> None:
        """Forget a leaf group that no device, user or rule refers to any more."""
        if group_id in self.forest:
            self.forest.remove(group_id)
        info = self.groups.pop(group_id)
        tenant_groups = self.tenant_groups.get(info.tenant_id)
        if tenant_groups is not None:
            tenant_groups.discard(group_id)
        for table in (self.group_ids, self.group_rules, self.direct, self.members):
            table.pop(group_id, None)
        covered = self.covered.pop(group_id)
        assert not covered, (group_id, list(covered)[:5])

    # ----------------------------------------------------------------- devices

    def _add_device_records(self, devices: list[Device]) -> None:
        """Index a batch of device records: one loop with everything it writes at hand (a
        snapshot of a million devices spends most of its build here), and each tenant's
        sorted set grows once."""
        records, children, by_tag = self.devices, self.device_children, self.devices_by_tag
        new_bucket = self.tags.new_bucket
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
            self.root_devices[tenant_id] += count
        for tenant_id, ids in by_tenant.items():
            self.tenant_devices[tenant_id].update(ids)

    def _add_devices(self, devices: list[Device]) -> None:
        """Add new devices in one batch: devices with equal tags share one association
        look-up, equal inputs share one cover, and each group's sorted set grows once."""
        self._add_device_records(devices)
        assoc_memo: dict[tuple[str, frozenset[Tag]], frozenset[str]] = {}
        cover_memo: dict[tuple[frozenset[str], frozenset[str]], frozenset[str]] = {}
        added: dict[str, list[str]] = defaultdict(list)
        take = self._sets.take
        for did in self._devices_parents_first([d.id for d in devices]):
            device = self.devices[did]
            key = (device.tenant_id, device.tags)
            assoc = assoc_memo.get(key)
            if assoc is None or did in self.id_groups:
                assoc = self.groups_associating(device)
                if did not in self.id_groups:
                    assoc_memo[key] = assoc
            for gid in assoc:
                self.direct[gid].add(did)
            parent_id = device.parent_id
            cover_key = (assoc, EMPTY if parent_id is None else self.cover[parent_id])
            cover = cover_memo.get(cover_key)
            if cover is None:
                cover = cover_memo[cover_key] = self.compute_cover(*cover_key)
            self.cover[did] = take(cover)
            for gid in cover:
                added[gid].append(did)
        for gid, ids in added.items():
            self.covered[gid].update(ids)

    def groups_associating(self, device: Device) -> frozenset[str]:
        """Rule 1 for one device: the groups that list its id or whose tag rules match its
        tags. Not stored (a million devices would hold a dict entry each): recomputed in
        O(tags x candidate rules)."""
        by_rule = self.tags.rule_groups(device.tenant_id, device.tags)
        listed = self.id_groups.get(device.id)
        return by_rule | listed if listed else by_rule

    def _associations_of(self, device_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        """Rule 1 for these devices now: taken before a change, for :meth:`_reassociate`."""
        devices = self.devices
        return {d: self.groups_associating(devices[d]) for d in device_ids if d in devices}

    def _reassociate(self, before: dict[str, frozenset[str]]) -> None:
        """After a change to ids, rules or tags: move each device between the groups'
        ``direct`` lists by the difference of its associations, then re-derive the covers
        of those whose associations changed."""
        changed = []
        for did, old in before.items():
            new = self.groups_associating(self.devices[did])
            if new == old:
                continue
            for gid in old - new:
                self.direct[gid].discard(did)
            for gid in new - old:
                self.direct[gid].add(did)
            changed.append(did)
        self._refresh_covers(changed)

    def _retag(self, device_id: str, tags: frozenset[Tag]) -> None:
        before = self._associations_of([device_id])
        old = self.devices[device_id]
        self.tags.unindex_tags(device_id, old.tenant_id, old.tags)
        new = msgspec.structs.replace(old, tags=tags)
        self.devices[device_id] = new
        self.tags.index_tags(device_id, new.tenant_id, new.tags)
        self._reassociate(before)

    def _move_device(self, device_id: str, parent_id: str | None) -> None:
        old = self.devices[device_id]
        if old.parent_id is not None:
            self.device_children[old.parent_id].discard(device_id)
        if parent_id is not None:
            self.device_children[parent_id].add(device_id)
        if (old.parent_id is None) != (parent_id is None):
            self.root_devices[old.tenant_id] += 1 if parent_id is None else -1
        self.devices[device_id] = msgspec.structs.replace(old, parent_id=parent_id)
        self._refresh_covers([device_id])

    def _delete_device(self, device_id: str) -> None:
        device = self.devices[device_id]
        for gid in self.groups_associating(device):
            self.direct[gid].discard(device_id)
        for gid in self.id_groups.pop(device_id, set()):
            self.group_ids[gid].discard(device_id)
        self.tags.unindex_tags(device_id, device.tenant_id, device.tags)
        for gid in self.cover.get(device_id, EMPTY):
            self.covered[gid].discard(device_id)
        if device_id in self.cover:
            self._sets.release(self.cover.pop(device_id))
        if device.parent_id is not None:
            self.device_children[device.parent_id].discard(device_id)
        else:
            self.root_devices[device.tenant_id] -= 1
        self.device_children.pop(device_id, None)
        del self.devices[device_id]
        tenant_devices = self.tenant_devices.get(device.tenant_id)
        if tenant_devices is not None:
            tenant_devices.discard(device_id)

    def take_set(self, value: frozenset[str], count: int = 1) -> frozenset[str]:
        """The one copy of ``value`` (rule 4), now referenced ``count`` more times."""
        return self._sets.take(value, count)

    def compute_cover(self, assoc: frozenset[str], parent_cover: frozenset[str]) -> frozenset[str]:
        """Rule 2 for one device: its associating groups, their ancestors and its gateway's
        cover."""
        up = self.forest.up
        cover = set(parent_cover)
        for gid in assoc:
            cover.update(up[gid])
        return frozenset(cover)

    def _set_cover(self, device_id: str, cover: frozenset[str]) -> bool:
        old = self.cover.get(device_id)
        if old is not None and old == cover:
            return False
        previous = EMPTY if old is None else old
        for gid in previous - cover:
            self.covered[gid].discard(device_id)
        for gid in cover - previous:
            self.covered[gid].add(device_id)
        self.cover[device_id] = self._sets.take(cover)
        if old is not None:
            self._sets.release(old)
        return True

    def _refresh_covers(self, device_ids: Iterable[str]) -> None:
        """Re-derive rule 2 for these devices and, where a cover changed, their children.

        Shallowest gateway depth first (a heap), so a device is computed only once every
        gateway above it is final, and at most once: a child queued by a changed gateway
        may also be in ``device_ids`` further down the same chain."""
        heap = [(self.device_depth(d), d) for d in set(device_ids) if d in self.devices]
        heapq.heapify(heap)
        queued = {d for _, d in heap}
        # Rule 1 is recomputed: once per tenant and set of tags for devices no group lists.
        by_tags: dict[tuple[str, frozenset[Tag]], frozenset[str]] = {}
        while heap:
            depth, did = heapq.heappop(heap)
            device = self.devices[did]
            listed = did in self.id_groups
            key = (device.tenant_id, device.tags)
            assoc = None if listed else by_tags.get(key)
            if assoc is None:
                assoc = self.groups_associating(device)
                if not listed:
                    by_tags[key] = assoc
            parent_id = device.parent_id
            parent_cover = EMPTY if parent_id is None else self.cover.get(parent_id, EMPTY)
            cover = self.compute_cover(assoc, parent_cover)
            if self._set_cover(did, cover):
                for child in self.device_children.get(did, ()):
                    if child not in queued:
                        queued.add(child)
                        heapq.heappush(heap, (depth + 1, child))

    def device_depth(self, device_id: str) -> int:
        depth = 0
        parent_id = self.devices[device_id].parent_id
        while parent_id is not None:
            depth += 1
            parent_id = self.devices[parent_id].parent_id
        return depth

    def _devices_parents_first(self, device_ids: list[str]) -> list[str]:
        """Devices without a gateway first, in the given order, then the others by depth."""
        devices = self.devices
        roots = [d for d in device_ids if devices[d].parent_id is None]
        if len(roots) == len(device_ids):
            return device_ids
        children = [d for d in device_ids if devices[d].parent_id is not None]
        return roots + sorted(children, key=self.device_depth)

    # ----------------------------------------------------------------- users

    def _add_user_record(self, user: User) -> None:
        old = self.users.get(user.id)
        self.access.set_owner(user.id, None if old is None else old.owner_id, user.owner_id)
        self.users[user.id] = user
        self.emails[(user.tenant_id, user.email.casefold())] = user.id
        self.tenant_users[user.tenant_id].add(user.id)

    def _refresh_reach(self, user_id: str) -> None:
        user = self.users[user_id]
        groups = self.user_groups.get(user_id)
        effective = (
            groups if groups and user.enabled and user.tenant_id not in self.blocked else EMPTY
        )
        if groups and not effective:
            self.muted.add(user_id)
        else:
            self.muted.discard(user_id)
        old = self.reach.get(user_id)
        if old != effective:
            self.reach[user_id] = self._sets.take(effective)
            if old is not None:
                self._sets.release(old)
        if effective:
            self.user_groups[user_id] = self.reach[user_id]

    def _leave(self, user_id: str, group_id: str) -> None:
        groups = self.user_groups.get(user_id, EMPTY) - {group_id}
        if groups:
            self.user_groups[user_id] = groups
        else:
            self.user_groups.pop(user_id, None)

    def _delete_user(self, user_id: str) -> None:
        user = self.users.pop(user_id)
        self.access.forget_user(user_id, user.owner_id)
        del self.emails[(user.tenant_id, user.email.casefold())]
        tenant_users = self.tenant_users.get(user.tenant_id)
        if tenant_users is not None:
            tenant_users.discard(user_id)
        for gid in self.user_groups.pop(user_id, EMPTY):
            self.members[gid].discard(user_id)
        self._sets.release(self.reach.pop(user_id))
        self.muted.discard(user_id)

    # ----------------------------------------------------------------- records out

    def group_record(self, group_id: str) -> Group:
        info = self.groups[group_id]
        return Group(
            id=group_id,
            tenant_id=info.tenant_id,
            name=info.name,
            description=info.description,
            parent_id=self.forest.parent[group_id],
            device_ids=frozenset(self.group_ids.get(group_id, ())),
            device_tags=frozenset(self.group_rules.get(group_id, ())),
        )

    def snapshot(self) -> Snapshot:
        """The records this index was built from and moved forward to (for checks)."""
        return Snapshot(
            revision=self.revision,
            tenants=[self.tenants[k] for k in sorted(self.tenants)],
            groups=[self.group_record(k) for k in sorted(self.groups)],
            devices=[self.devices[k] for k in sorted(self.devices)],
            users=[self.users[k] for k in sorted(self.users)],
            memberships=sorted((g, u) for g, us in self.members.items() for u in us),
            usage=self.usage.rows(),
            access=self.access.sorted_records(),
        )

    # ----------------------------------------------------------------- checking

    def check_invariants(self) -> None:
        """Recompute every derived structure from the records and assert it matches.

        Slow (O(everything)); for tests, after every step of a stateful test.
        """
        self.forest.check()
        fresh = Index.build(self.snapshot())
        assert fresh.blocked == self.blocked, (fresh.blocked, self.blocked)
        assert _nonempty(fresh.cover) == _nonempty(self.cover), "rule 2: covers"
        assert _as_sets(fresh.covered) == _as_sets(self.covered), "rule 2: covered"
        assert _as_sets(fresh.direct) == _as_sets(self.direct), "rule 1: direct"
        assert _nonempty(fresh.reach) == _nonempty(self.reach), "rule 3: reach"
        assert fresh.muted == self.muted, "members who reach nothing"
        assert _as_sets(fresh.members) == _as_sets(self.members), "memberships"
        assert fresh.access.records == self.access.records, "access records"
        assert _as_sets(fresh.access.sub_users) == _as_sets(self.access.sub_users), "owners"
        assert _as_sets(fresh.access.user_roles) == _as_sets(self.access.user_roles), "roles"
        assert _as_sets(fresh.access.inventory) == _as_sets(self.access.inventory), "grants"
        assert _as_sets(fresh.devices_by_tag) == _as_sets(self.devices_by_tag), "tag index"
        assert _as_sets(fresh.tag_shapes) == _as_sets(self.tag_shapes), "tag shapes"
        assert _as_sets(fresh.rules_by_key) == _as_sets(self.rules_by_key), "rule index"
        assert fresh.emails == self.emails, "email index"
        assert fresh.domains == self.domains, "domain index"
        assert _nonzero(fresh.root_devices) == _nonzero(self.root_devices), "root devices"
        for name in ("tenant_groups", "tenant_devices", "tenant_users", "device_children"):
            assert _as_sets(getattr(fresh, name)) == _as_sets(getattr(self, name)), name
        # Rule 4: every interned set is shared, and counts match the references held.
        references: dict[frozenset[str], int] = defaultdict(int)
        for table in (self.cover, self.reach):
            for value in table.values():
                assert value is self._sets._sets[value], "an equal set was stored twice"
                references[value] += 1
        assert dict(references) == dict(self._sets._counts), "interned reference counts"


def _nonzero(table: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in table.items() if v}


def _nonempty(table: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    return {k: v for k, v in table.items() if v}


def _as_sets(table: Mapping[Any, Iterable[Any]]) -> dict[Any, frozenset[Any]]:
    """A table of collections as comparable frozensets, leaving out empty entries."""
    return {k: frozenset(v) for k, v in table.items() if v}
