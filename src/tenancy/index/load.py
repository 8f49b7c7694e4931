"""Loading a snapshot's devices into a new index in one pass: what a cold open spends its
time on, kept apart from the index's incremental upkeep.

The index's rules 1 and 2 (module ``tenancy.index.index``) are computed here for every device at
once, with the work shared wherever devices are alike:

- each tag of a tenant is looked up once (:class:`_PairEntry`): its tag-index list, and the
  rules whose first matcher may match it. A device with one tag that one single-matcher
  rule matches (nearly all of them) takes that rule's group without a further look-up;
  any other takes the general one, :meth:`TagTables.rule_groups`;
- devices without a gateway that no group lists by id, and that the same groups associate,
  share one :class:`_CoverEntry`: their cover and the lists they go in.

Most devices are associated by exactly one group (a *tree device*). Such a device goes in
one list, its group's; the covered list of every group is then made at the end, deepest
groups first, by joining its own list with its children's finished lists and sorting (a
merge of sorted runs). That replaces an append per ancestor per device with about one
comparison per device per level. Every other device (associated by several groups or
none, listed by id, behind a gateway: the second, shorter pass) is appended to the direct
and covered list of each of its groups, as the index's incremental upkeep would.

Each list ends sorted by device id and becomes a ``SortedIds``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from itertools import islice
from operator import attrgetter, le
from typing import Protocol, TypeVar

from tenancy.index.forest import GroupForest
from tenancy.index.sorted_ids import SortedIds
from tenancy.index.tag_rules import TagTables
from tenancy.records.model import Device, Group, Tag, TagRule, Tenant

__all__ = ["LoadTarget", "groups_parents_first", "load_devices", "tenants_parents_first"]

_Append = Callable[[str], None]
_K = TypeVar("_K")


class LoadTarget(Protocol):
    """What the loader reads and fills of the index it loads: the Index is one. The loader
    names this interface, not the Index, so index.py imports the loader and not the other
    way round."""

    @property
    def _tags(self) -> TagTables: ...
    @property
    def _forest(self) -> GroupForest: ...
    @property
    def _devices(self) -> dict[str, Device]: ...
    @property
    def _device_children(self) -> dict[str, set[str]]: ...
    @property
    def _id_groups(self) -> dict[str, set[str]]: ...
    @property
    def _cover(self) -> dict[str, frozenset[str]]: ...
    @property
    def _covered(self) -> dict[str, SortedIds]: ...
    @property
    def _direct(self) -> dict[str, SortedIds]: ...
    @property
    def _tenant_devices(self) -> dict[str, SortedIds]: ...
    @property
    def _root_devices(self) -> dict[str, int]: ...
    def _compute_cover(self, assoc: frozenset[str], parent_cover: frozenset[str]) -> frozenset[str]:
        """Rule 2 for one device (its associating groups, their ancestors, its gateway's)."""

    def _take_set(self, value: frozenset[str], count: int = 1) -> frozenset[str]:
        """The one copy of ``value`` (rule 4), now referenced ``count`` more times."""

    def _device_depth(self, device_id: str) -> int:
        """How many gateways are above the device."""


class _PairEntry:
    """One tag of one tenant: its tag-index list and the tag rules that may match it."""

    __slots__ = ("add", "rules", "solo")

    def __init__(self, add: _Append, rules: list[tuple[str, TagRule]], solo: frozenset[str] | None):
        self.add = add
        self.rules = rules
        """Every rule whose first matcher matches this tag (exactly or by a wildcard)."""
        self.solo = solo
        """When ``rules`` is one rule of one matcher: its group, as the one-group set."""


class _CoverEntry:
    """What the devices without a gateway associated with one set of groups share."""

    __slots__ = ("appends", "count", "cover")

    def __init__(self, cover: frozenset[str], appends: list[_Append]) -> None:
        self.cover = cover
        self.appends = appends
        """The direct and covered lists such a device goes in."""
        self.count = 0


class _Loader:
    def __init__(self, index: LoadTarget, empty: frozenset[str]) -> None:
        self.index = index
        self.empty = empty
        self.tags: dict[tuple[str, str | None, str | None], list[str]] = {}
        self.tree: defaultdict[str, list[str]] = defaultdict(list)
        """Per group: the tree devices it associates (alone, without a gateway or id)."""
        self.direct: defaultdict[str, list[str]] = defaultdict(list)
        """Per group: the other devices it associates."""
        self.covered: defaultdict[str, list[str]] = defaultdict(list)
        """Per group: the other devices it covers."""
        self.one: dict[frozenset[str], frozenset[str]] = {empty: empty}
        """Equal group sets made here, kept as one object each (the empty one is the
        index's)."""
        self.by_assoc: dict[frozenset[str], _CoverEntry] = {}
        self.by_group: dict[str, frozenset[str]] = {}
        """Per group: the cover of a device it alone associates (it and its ancestors)."""
        self.covers: dict[frozenset[str], frozenset[str]] = {}
        """The cover of a device without a gateway, by its associating groups."""
        self.references: defaultdict[frozenset[str], int] = defaultdict(int)

    def canonical(self, groups: frozenset[str]) -> frozenset[str]:
        return self.one.setdefault(groups, groups)

    def pair_entry(self, tenant_id: str, key: str, value: str) -> _PairEntry:
        index = self.index
        exact = (tenant_id, key, value)
        index._tags.add_shapes(exact)
        ids = self.tags[exact] = []
        rules_by_key = index._tags.rules_by_key
        rules = [
            found
            for shape in (exact, (tenant_id, key, None), (tenant_id, None, value))
            for found in rules_by_key.get(shape, ())
        ]
        solo = None
        if len(rules) == 1 and len(rules[0][1]) == 1:
            solo = self.canonical(frozenset((rules[0][0],)))
        return _PairEntry(ids.append, rules, solo)

    def without_gateway(self, assoc: frozenset[str]) -> _CoverEntry:
        entry = self.by_assoc.get(assoc)
        if entry is None:
            if len(assoc) == 1:
                (gid,) = assoc
                entry = _CoverEntry(self.covering(gid), [self.tree[gid].append])
            else:
                cover = self.cover_without_gateway(assoc)
                entry = _CoverEntry(
                    cover,
                    [
                        *(self.direct[gid].append for gid in assoc),
                        *(self.covered[gid].append for gid in cover),
                    ],
                )
            self.by_assoc[assoc] = entry
        return entry

    def covering(self, gid: str) -> frozenset[str]:
        """``by_group[gid]``, one object per distinct set."""
        cover = self.by_group.get(gid)
        if cover is None:
            cover = self.by_group[gid] = self.canonical(frozenset(self.index._forest.up[gid]))
        return cover

    def cover_without_gateway(self, assoc: frozenset[str]) -> frozenset[str]:
        if len(assoc) == 1:
            return self.covering(next(iter(assoc)))
        cover = self.covers.get(assoc)
        if cover is None:
            cover = self.covers[assoc] = self.canonical(
                self.index._compute_cover(assoc, self.empty)
            )
        return cover

    def load(self, devices: list[Device]) -> None:
        index = self.index
        records, cover_of = index._devices, index._cover
        id_groups, empty, by_assoc = index._id_groups, self.empty, self.by_assoc
        by_tenant: defaultdict[str, list[str]] = defaultdict(list)
        pairs_of: defaultdict[str, dict[Tag, _PairEntry]] = defaultdict(dict)
        late: list[tuple[Device, frozenset[str]]] = []
        behind_gateway: defaultdict[str, int] = defaultdict(int)
        for device in devices:
            did, tenant_id, tags = device.id, device.tenant_id, device.tags
            records[did] = device
            by_tenant[tenant_id].append(did)
            pairs = pairs_of[tenant_id]
            # Rule 1 by the tags: most devices carry one tag that one single-matcher rule
            # matches; anything else takes the general look-up.
            assoc, general = empty, False
            for pair in tags:
                entry = pairs.get(pair)
                if entry is None:
                    entry = pairs[pair] = self.pair_entry(tenant_id, *pair)
                entry.add(did)
                if entry.rules:
                    if entry.solo is not None and assoc is empty:
                        assoc = entry.solo
                    else:
                        general = True
            if general:
                assoc = self.canonical(index._tags.rule_groups(tenant_id, tags))
            if device.parent_id is None and did not in id_groups:
                shared = by_assoc.get(assoc)
                if shared is None:
                    shared = self.without_gateway(assoc)
                shared.count += 1
                cover_of[did] = shared.cover
                for add in shared.appends:
                    add(did)
            else:
                late.append((device, assoc))
                if device.parent_id is not None:
                    behind_gateway[tenant_id] += 1
        for shared in self.by_assoc.values():
            if shared.count:
                self.references[shared.cover] += shared.count
        for tenant_id, ids in by_tenant.items():
            index._root_devices[tenant_id] += len(ids) - behind_gateway[tenant_id]
        del pairs_of  # its bound appends hold the tag lists
        self.load_late(late)
        self.finish(by_tenant)

    def load_late(self, late: list[tuple[Device, frozenset[str]]]) -> None:
        """Devices listed by id or behind a gateway: gateways before their children."""
        index = self.index
        cover_of = index._cover
        children = index._device_children
        late.sort(key=lambda pair: index._device_depth(pair[0].id))
        for device, by_tags in late:
            did, parent_id = device.id, device.parent_id
            listed = index._id_groups.get(did)
            assoc = self.canonical(by_tags | listed) if listed else by_tags
            if parent_id is None:
                cover = self.cover_without_gateway(assoc)
            else:
                children[parent_id].add(did)
                cover = self.canonical(index._compute_cover(assoc, cover_of[parent_id]))
            for gid in assoc:
                self.direct[gid].append(did)
            cover_of[did] = cover
            self.references[cover] += 1
            for gid in cover:
                self.covered[gid].append(did)

    def finish(self, by_tenant: dict[str, list[str]]) -> None:
        """Intern the group sets, then make each list a SortedIds: small ones are adopted
        as they are; a large one is copied into a SortedList and dropped at once, so the
        next copy reuses its memory instead of the process keeping both."""
        index = self.index
        take = index._take_set
        for groups, count in self.references.items():
            take(groups, count)
        self.by_assoc.clear()  # their bound appends hold the lists
        # The main pass met the devices in id order (a snapshot's order), so the lists it
        # alone filled are in order; those the second pass added to are sorted here.
        for tenant_id, ids in _drain(by_tenant):
            index._tenant_devices[tenant_id] = SortedIds.adopt(ids, ordered=True)
        for exact, ids in _drain(self.tags):
            index._tags.devices_by_tag[exact] = SortedIds.adopt(ids, ordered=True)
        for gid, ids in self.subtrees():
            index._covered[gid] = _adopt_with(ids, self.covered.pop(gid, None))
        for gid, ids in _drain(self.covered):  # groups that cover no tree device
            index._covered[gid] = SortedIds.adopt(ids)
        for gid, ids in _drain(self.tree):
            index._direct[gid] = _adopt_with(ids, self.direct.pop(gid, None))
        for gid, ids in _drain(self.direct):
            index._direct[gid] = SortedIds.adopt(ids)

    def subtrees(self) -> Iterator[tuple[str, list[str]]]:
        """Each group's tree devices and those of every group below it, in id order,
        deepest groups first: a group's list is its own list joined with its children's
        finished ones, then sorted (each part is sorted already, so the sort merges runs).
        Each tree device is met once per group above it, never twice in one list: it has
        exactly one associating group."""
        up = self.index._forest.up
        pending: dict[str, list[str]] = {gid: ids.copy() for gid, ids in self.tree.items()}
        joined: set[str] = set()  # groups whose pending list is several runs: sort them
        for gid in sorted(up, key=lambda g: len(up[g]), reverse=True):
            ids = pending.pop(gid, None)
            if ids is None:
                continue
            if gid in joined:
                ids.sort()
            path = up[gid]
            if len(path) > 1:
                above = pending.get(path[-2])
                if above is None:
                    pending[path[-2]] = ids.copy()
                else:
                    above += ids
                    joined.add(path[-2])
            yield gid, ids


def _adopt_with(ordered: list[str], extra: list[str] | None) -> SortedIds:
    """``ordered`` (in id order) with ``extra`` (in any order) added, as one SortedIds."""
    if not extra:
        return SortedIds.adopt(ordered, ordered=True)
    ordered += extra
    return SortedIds.adopt(ordered)


def _drain(table: dict[_K, list[str]]) -> Iterator[tuple[_K, list[str]]]:
    """The items of ``table``, each removed from it as it is handed out."""
    while table:
        yield table.popitem()


def load_devices(index: LoadTarget, devices: list[Device], empty: frozenset[str]) -> None:
    """Add every device of a snapshot to ``index``, which holds the snapshot's tenants,
    groups, id lists and tag rules and no device yet. Runtime complexity: O(devices x
    their covers' sizes), with the work per distinct set of tags done once.

    A snapshot lists its devices in id order (its contract), which the lists built here
    rely on; a store that broke it would get wrong pages, so it is checked (a C-speed
    pass, about 0.1 s at a million devices) and mended by a sort."""
    ids = list(map(_device_id, devices))
    if not all(map(le, ids, islice(ids, 1, None))):
        devices = sorted(devices, key=_device_id)
    del ids
    _Loader(index, empty).load(devices)


_device_id = attrgetter("id")


def tenants_parents_first(tenants: list[Tenant]) -> list[Tenant]:
    """Tenants in an order where every parent comes before its children."""
    by_parent: dict[str | None, list[Tenant]] = defaultdict(list)
    for t in tenants:
        by_parent[t.parent_id].append(t)
    out: list[Tenant] = []
    frontier = list(by_parent.get(None, ()))
    while frontier:
        out.extend(frontier)
        frontier = [c for t in frontier for c in by_parent.get(t.id, ())]
    return out


def groups_parents_first(groups: list[Group]) -> list[Group]:
    """Groups in an order where every parent comes before its children."""
    by_parent: dict[str | None, list[Group]] = defaultdict(list)
    for g in groups:
        by_parent[g.parent_id].append(g)
    out: list[Group] = []
    frontier = list(by_parent.get(None, ()))
    while frontier:
        out.extend(frontier)
        frontier = [c for g in frontier for c in by_parent.get(g.id, ())]
    return out
