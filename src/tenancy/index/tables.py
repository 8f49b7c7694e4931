"""The index's tables and the questions they answer: the read interface of the index.

Every table is private (a leading underscore): modules outside ``tenancy/index/`` ask the
index questions through the methods and read-only properties below, and hand it changes
through :meth:`Index.apply <tenancy.index.index.Index.apply>` alone. So a change of
representation (integer ids, arrays, other sorted lists) is made by editing
``tenancy/index/`` and nothing else; ``tests/unit/test_index_interface.py`` fails if a module
elsewhere reads a private attribute of the index.

What the answers are:

- Records (:attr:`~IndexTables.tenants`, :attr:`~IndexTables.groups`,
  :attr:`~IndexTables.devices`, :attr:`~IndexTables.users`) are read-only mappings from id
  to an immutable record.
- Sets of ids (``AbstractSet[str]``) and sorted id sequences are views of the tables
  themselves, not copies: read them, never keep them across a write (see rule 6 of
  :mod:`tenancy.index.index` for what a reader may see during one).
- Listings in id order are iterators that start strictly after a cursor position, so a
  page costs O(log n + page) however large the list.
- An unknown id gives an empty answer (or None), never an exception, unless the method
  says otherwise.

Costs are stated per call; n is the size of the list read, d the depth of the group tree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence, Set
from datetime import date, datetime
from typing import NamedTuple

from tenancy.index.access_tables import AccessState
from tenancy.index.forest import GroupForest
from tenancy.index.sorted_ids import SortedIds
from tenancy.index.tag_rules import TagTables
from tenancy.index.terms import Terms
from tenancy.records import changes as ch
from tenancy.records.model import Device, Group, TagRule, Tenant, UsageDay, User
from tenancy.records.state import UsageTable
from tenancy.records.terms import MembershipTerm

__all__ = ["EMPTY", "GroupInfo", "IndexTables", "LiveShare"]

EMPTY: frozenset[str] = frozenset()

_NO_IDS: Sequence[str] = ()


class GroupInfo(NamedTuple):
    """The descriptive fields of a group; its place in the tree lives in the forest.
    Immutable: an edit of the group replaces it."""

    id: str
    tenant_id: str
    name: str
    description: str


class LiveShare(NamedTuple):
    """A share that gives reach now: its connector and subscription are both active, and
    its source, its destination and every tenant above them are active. ``group_id`` is
    the destination's virtual group; the filters are the connector's."""

    connector_id: str
    subscription_id: str
    source_tenant_id: str
    destination_tenant_id: str
    group_id: str
    group_ids: frozenset[str]
    device_ids: frozenset[str]
    tags: TagRule | None


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

    def release(self, value: frozenset[str], count: int = 1) -> None:
        """``value`` is referenced ``count`` fewer times (forgotten at none)."""
        count = self._counts[value] - count
        if count > 0:
            self._counts[value] = count
        else:
            del self._counts[value]
            if value:
                del self._sets[value]

    def __len__(self) -> int:
        return len(self._sets)


class IndexTables:
    """The tables of :class:`~tenancy.index.index.Index` and its read interface (see the
    module docstring). Only ``tenancy/index/`` writes the tables."""

    def __init__(self) -> None:
        self._revision: ch.Revision = 0
        self._seq = 0
        """Odd while a commit is being applied, even otherwise (rule 6)."""
        # tenants
        self._tenants: dict[str, Tenant] = {}
        self._tenant_children: dict[str, set[str]] = defaultdict(set)
        self._blocked: dict[str, str] = {}
        """tenant id -> the suspended tenant (itself or an ancestor) that blocks it."""
        self._domains: dict[str, str] = {}
        self._tenant_groups: dict[str, set[str]] = defaultdict(set)
        self._tenant_devices: dict[str, SortedIds] = defaultdict(SortedIds)
        """tenant -> its devices sorted by id (tenant-wide listings page through it)."""
        self._tenant_users: dict[str, set[str]] = defaultdict(set)
        self._root_devices: dict[str, int] = defaultdict(int)
        """tenant id -> how many of its devices have no gateway (for limits and usage)."""
        self._usage = UsageTable()
        """Usage statistics by tenant and day: kept as the store keeps them, never derived."""
        # groups
        self._groups: dict[str, GroupInfo] = {}
        self._forest = GroupForest()
        self._group_ids: dict[str, set[str]] = defaultdict(set)
        self._tags = TagTables()
        """The tag rules and the tag index (tenancy.index.tag_rules); their four tables
        are kept here too under their own names."""
        self._group_rules = self._tags.group_rules
        self._rules_by_key = self._tags.rules_by_key
        self._direct: dict[str, SortedIds] = defaultdict(SortedIds)
        """group -> devices it associates itself (rule 1, reversed). Sorted id lists here
        and in the tag index: 8 bytes a device where a set takes 30 to 60."""
        self._covered: dict[str, SortedIds] = {}
        """group -> devices it covers, sorted by id (rule 2, reversed). A sorted list with no
        set beside it: every change adds or discards by difference of covers, so a device
        is never in it twice, and a set would cost ~35 bytes per device and ancestor."""
        self._members: dict[str, SortedIds] = defaultdict(SortedIds)
        """group -> its direct members, sorted by id (users_for merges them in order)."""
        # devices
        self._devices: dict[str, Device] = {}
        self._device_children: dict[str, set[str]] = defaultdict(set)
        self._id_groups: dict[str, set[str]] = defaultdict(set)
        """device -> groups that list its id."""
        self._devices_by_tag = self._tags.devices_by_tag
        self._tag_shapes = self._tags.tag_shapes
        self._cover: dict[str, frozenset[str]] = {}
        # users
        self._users: dict[str, User] = {}
        self._emails: dict[tuple[str, str], str] = {}
        self._user_groups: dict[str, frozenset[str]] = {}
        """user -> the groups it is a direct member of. While the user reaches them this is
        the very object of ``reach[user]``, which is interned: the users of one site share
        one set."""
        self._reach: dict[str, frozenset[str]] = {}
        """user -> the groups it reaches devices through (rule 3), for every user whose
        reach does not depend on the clock: verify reads it with no clock, so a user with a
        time-bounded membership is never here (a miss sends verify to the clock)."""
        self._timed_reach: dict[str, frozenset[str]] = {}
        """The same for the users with a time-bounded membership, at the view of
        ``terms``: read only after :meth:`Index.retime` brought the view to the clock."""
        self._timed_groups: frozenset[str] = frozenset()
        """The virtual groups of connectors with a window and the groups above them: a
        user who is a member of one reaches through a share that starts or ends with the
        clock, so it lives in the timed table."""
        self._terms = Terms()
        """The terms of time-bounded memberships, and the instant the tables are for."""
        self._muted: set[str] = set()
        """Users who are members of a group but reach nothing (disabled, or their tenant is
        suspended): users_for filters them out, and skips the filter while there are none."""
        self._sets = _Interner()
        # access control (roles, grants, owners): data only, read by tenancy.rules.access
        self._access = AccessState()
        # cross-tenant shares (tenancy.index.shares)
        self._live: dict[str, LiveShare] = {}
        """connector id -> its share, while the share is live."""
        self._live_from: dict[str, set[str]] = {}
        """source tenant -> the connectors of its live shares (no entry without one)."""
        self._share_part: dict[str, frozenset[str]] = {}
        """device -> the groups of its cover that only live shares put there: the virtual
        groups sharing it and their ancestors (no entry for a device shared nowhere)."""

    # ----------------------------------------------------------------- where it stands

    @property
    def revision(self) -> ch.Revision:
        """The revision of the last commit applied. O(1)."""
        return self._revision

    @property
    def seq(self) -> int:
        """How many times an apply started or ended: odd while one runs. A reader that walks
        a table and read the same even value before and after saw no write (rule 6). O(1)."""
        return self._seq

    # ----------------------------------------------------------------- the hot pair

    def reach_tables(self) -> tuple[Mapping[str, Set[str]], Mapping[str, Set[str]]]:
        """``(reach, cover)``: user id -> an opaque set, device id -> an opaque set, with the
        contract that the user reaches the device exactly when
        ``not reach[user].isdisjoint(cover[device])``. An unknown id is missing (KeyError);
        a user who reaches nothing maps to an empty set. A user with a time-bounded
        membership is missing too: its answer depends on the clock, so a caller that misses
        asks :meth:`timed_verify <tenancy.index.index.Index.timed_verify>` instead. The two
        mappings are the index's own, live for as long as this index: bind them once
        (verify does, through the writer's views) and read them without a call. O(1)."""
        return self._reach, self._cover

    # ----------------------------------------------------------------- records

    @property
    def tenants(self) -> Mapping[str, Tenant]:
        """tenant id -> record, every tenant. O(1) a look-up."""
        return self._tenants

    @property
    def groups(self) -> Mapping[str, GroupInfo]:
        """group id -> its descriptive fields (:meth:`group_record` for the whole record).
        O(1) a look-up."""
        return self._groups

    @property
    def devices(self) -> Mapping[str, Device]:
        """device id -> record, every device. O(1) a look-up."""
        return self._devices

    @property
    def users(self) -> Mapping[str, User]:
        """user id -> record, every user. O(1) a look-up."""
        return self._users

    @property
    def access(self) -> AccessState:
        """The access-control records (roles, grants, owners, delegations, support), read
        through the methods of :class:`~tenancy.index.access_tables.AccessState`. O(1)."""
        return self._access

    # ----------------------------------------------------------------- tenants

    def tenant_by_domain(self, domain: str) -> str | None:
        """The id of the tenant with this domain, or None. O(1)."""
        return self._domains.get(domain)

    def child_tenants(self, tenant_id: str) -> Set[str]:
        """The ids of the tenants right below this one. O(1)."""
        return self._tenant_children.get(tenant_id, EMPTY)

    def tenant_subtree(self, tenant_id: str) -> Iterator[str]:
        """The tenant and every tenant below it, parents first. O(subtree)."""
        frontier = [tenant_id]
        while frontier:
            tid = frontier.pop()
            yield tid
            frontier.extend(self._tenant_children.get(tid, ()))

    def blocker_of(self, tenant_id: str) -> str | None:
        """The tenant that blocks this one: the topmost suspended tenant among it and those
        above it, or None while they are all active. O(1)."""
        return self._blocked.get(tenant_id)

    def groups_of_tenant(self, tenant_id: str) -> Set[str]:
        """The ids of the tenant's groups, unordered. O(1)."""
        return self._tenant_groups.get(tenant_id, EMPTY)

    def users_of_tenant(self, tenant_id: str) -> Set[str]:
        """The ids of the tenant's users, unordered. O(1)."""
        return self._tenant_users.get(tenant_id, EMPTY)

    def devices_of_tenant(self, tenant_id: str, after: str | None = None) -> Iterator[str]:
        """The ids of the tenant's devices in id order, strictly after ``after`` when given
        (a page resumes there). O(log n) to start, O(1) each id."""
        ids = self._tenant_devices.get(tenant_id)
        if ids is None:
            return iter(_NO_IDS)
        return ids.irange(minimum=after, inclusive=(False, True))

    def device_count(self, tenant_id: str) -> int:
        """How many devices the tenant has. O(1)."""
        ids = self._tenant_devices.get(tenant_id)
        return 0 if ids is None else len(ids)

    def root_device_count(self, tenant_id: str) -> int:
        """How many of the tenant's devices have no gateway. O(1)."""
        return self._root_devices.get(tenant_id, 0)

    def usage_on(self, tenant_id: str, day: date) -> UsageDay | None:
        """The tenant's stored usage row of that day, or None. O(1)."""
        return self._usage.get(tenant_id, day)

    def usage_before(self, tenant_id: str, day: date) -> UsageDay | None:
        """The tenant's latest stored usage row strictly before ``day``, or None.
        O(log days)."""
        return self._usage.last_before(tenant_id, day)

    def usage_between(self, tenant_id: str, start: date, end: date) -> list[UsageDay]:
        """The tenant's stored usage rows from ``start`` to ``end`` (both included), by day.
        O(log days + rows returned)."""
        return self._usage.between(tenant_id, start, end)

    # ----------------------------------------------------------------- groups

    def group_record(self, group_id: str) -> Group:
        """The group as a record (KeyError for an unknown id). O(ids + rules it holds)."""
        info = self._groups[group_id]
        return Group(
            id=group_id,
            tenant_id=info.tenant_id,
            name=info.name,
            description=info.description,
            parent_id=self._forest.parent[group_id],
            device_ids=frozenset(self._group_ids.get(group_id, ())),
            device_tags=frozenset(self._group_rules.get(group_id, ())),
        )

    def group_path(self, group_id: str) -> tuple[str, ...]:
        """The group's ancestors from its root down, then the group itself: the groups whose
        members reach what it covers. Empty for an unknown id. O(1) (kept materialised)."""
        return self._forest.up.get(group_id, ())

    def group_parent(self, group_id: str) -> str | None:
        """The group's parent group, or None for a root (or an unknown id). O(1)."""
        return self._forest.parent.get(group_id)

    def has_child_groups(self, group_id: str) -> bool:
        """Does any group sit right below this one? O(1)."""
        return self._forest.has_children(group_id)

    def groups_below(self, group_id: str, *, include_self: bool = False) -> Iterator[str]:
        """Every group below this one, parents before their children (breadth first).
        O(subtree)."""
        return self._forest.descendants(group_id, include_self=include_self)

    def would_cycle(self, group_id: str, new_parent_id: str | None) -> bool:
        """Would putting the group under ``new_parent_id`` make a cycle? O(d)."""
        return self._forest.would_cycle(group_id, new_parent_id)

    def group_path_down(self, ancestor_id: str, group_id: str) -> tuple[str, ...]:
        """The groups from ``ancestor_id`` down to ``group_id``, both included; the first
        must be an ancestor (or the group itself). O(d)."""
        return self._forest.path_down(ancestor_id, group_id)

    def lists_device(self, group_id: str, device_id: str) -> bool:
        """Does the group list the device by id (not by a tag rule)? O(1)."""
        ids = self._group_ids.get(group_id)
        return ids is not None and device_id in ids

    def tag_rules_of(self, group_id: str) -> Collection[TagRule]:
        """The group's tag rules, unordered. O(1)."""
        return self._group_rules.get(group_id, ())

    def devices_covered_by(self, group_id: str, after: str | None = None) -> Iterator[str]:
        """The ids of the devices the group covers (its own, its sub-groups', their child
        devices), in id order, strictly after ``after`` when given. Empty for an unknown id.
        O(log n) to start, O(1) each id: nothing is materialised."""
        ids = self._covered.get(group_id)
        if ids is None:
            return iter(_NO_IDS)
        return ids.irange(minimum=after, inclusive=(False, True))

    def devices_associated_by(self, group_id: str) -> Iterator[str]:
        """The ids of the devices the group itself associates (by id or tag rule), in id
        order. O(1) each id."""
        return iter(self._direct.get(group_id, _NO_IDS))

    def members_of(self, group_id: str) -> Sequence[str]:
        """The ids of the group's direct members whose membership counts at the view, in
        id order; a view, not a copy (so a caller can extend a list with it in one step).
        O(1)."""
        ids = self._members.get(group_id)
        return _NO_IDS if ids is None else ids.held

    def is_member(self, group_id: str, user_id: str) -> bool:
        """Is the user a direct member of the group, counting now or not (a membership
        outside its term is still a record)? O(log members)."""
        ids = self._members.get(group_id)
        return (ids is not None and user_id in ids) or (group_id, user_id) in self._terms.by_pair

    def held_members_of(self, group_id: str) -> list[str]:
        """The ids of the group's direct members in id order, those whose membership does
        not count now (outside its term) included. O(members)."""
        ids = self._members.get(group_id)
        held = _NO_IDS if ids is None else ids.held
        resting = self._terms.users_of(group_id)
        return sorted(set(held) | resting) if resting else list(held)

    def member_term(self, group_id: str, user_id: str) -> MembershipTerm | None:
        """The term of the user's membership of the group, or None (no membership, or one
        without end). O(1)."""
        return self._terms.term(group_id, user_id)

    def terms_of_user(self, user_id: str) -> list[MembershipTerm]:
        """The terms of the user's time-bounded memberships, by group id. O(its terms)."""
        terms = self._terms
        return [terms.by_pair[(g, user_id)] for g in sorted(terms.groups_of(user_id))]

    def terms_of_group(self, group_id: str) -> list[MembershipTerm]:
        """The terms of the group's time-bounded memberships, by user id. O(its terms)."""
        terms = self._terms
        return [terms.by_pair[(group_id, u)] for u in sorted(terms.users_of(group_id))]

    # ----------------------------------------------------------------- time

    @property
    def timed(self) -> bool:
        """Does any membership or connector have a window (so answers depend on the
        clock)? O(1): read by every query, so two dict truth tests and no call."""
        terms = self._terms
        return bool(terms.by_pair or terms.connectors)

    @property
    def view(self) -> datetime | None:
        """The instant the memberships with a term were last decided for (None before the
        first). O(1)."""
        return self._terms.view

    def has_window(self, user_id: str) -> bool:
        """Does the user hold a membership with a window (so its reach depends on the
        clock)? O(1)."""
        return user_id in self._timed_reach

    def retime_due(self, now: datetime) -> bool:
        """Would a membership count differently at ``now`` than in the tables? O(1)."""
        return self._terms.stale(now)

    def next_boundary(self) -> datetime | None:
        """The next instant after the view at which a membership starts or ends to count.
        O(1)."""
        return self._terms.next_boundary()

    # ----------------------------------------------------------------- devices

    def child_devices(self, device_id: str) -> Set[str]:
        """The ids of the devices whose gateway this device is, unordered. O(1)."""
        return self._device_children.get(device_id, EMPTY)

    def cover_of(self, device_id: str) -> Set[str]:
        """The groups covering the device (rule 2); empty for an unknown id. O(1)."""
        return self._cover.get(device_id, EMPTY)

    def shared_part_of(self, device_id: str) -> Set[str]:
        """The groups of the device's cover that are there through live shares only (the
        virtual groups sharing it and the destination's groups above them); empty for a
        device shared nowhere. O(1)."""
        return self._share_part.get(device_id, EMPTY)

    def own_cover_of(self, device_id: str) -> frozenset[str]:
        """The groups of the device's own tenant covering it (rule 2 without shares).
        O(1) for a device shared nowhere, else O(cover)."""
        cover = self._cover.get(device_id, EMPTY)
        part = self._share_part.get(device_id)
        return cover - part if part else cover

    def live_share(self, connector_id: str) -> LiveShare | None:
        """The connector's share while it is live (both sides active, every tenant
        involved active), else None. O(1)."""
        return self._live.get(connector_id)

    def groups_associating(self, device: Device) -> frozenset[str]:
        """Rule 1 for one device: the groups that list its id or whose tag rules match its
        tags. Not stored (a million devices would hold a dict entry each): recomputed in
        O(tags x candidate rules)."""
        by_rule = self._tags.rule_groups(device.tenant_id, device.tags)
        listed = self._id_groups.get(device.id)
        return by_rule | listed if listed else by_rule

    # ----------------------------------------------------------------- users

    def user_by_email(self, tenant_id: str, email: str) -> str | None:
        """The id of the tenant's user with this email (ignoring case), or None. O(len)."""
        return self._emails.get((tenant_id, email.casefold()))

    def groups_of_user(self, user_id: str) -> Set[str]:
        """The groups the user is a direct member of, whatever its status, among those
        whose membership counts at the view. O(1)."""
        return self._user_groups.get(user_id, EMPTY)

    def reach_of(self, user_id: str) -> Set[str]:
        """The groups the user reaches devices through (rule 3): its direct groups (whose
        membership counts at the view) while it is enabled and no tenant above it is
        suspended, else empty. O(1)."""
        groups = self._reach.get(user_id)
        return self._timed_reach.get(user_id, EMPTY) if groups is None else groups

    def without_muted(self, user_ids: list[str]) -> list[str]:
        """``user_ids`` without the members who reach nothing (disabled, or a suspended
        tenant): the list itself while there are none, else O(len) for a new one."""
        if not self._muted:
            return user_ids
        return list(filter(self.reach_of, user_ids))

    # ----------------------------------------------------------------- diagnostics

    def tables(self) -> Mapping[str, object]:
        """Every table by its internal name, for memory accounting, white-box tests and
        state comparisons: their names and types are the representation's own and change
        with it, so nothing but tools and tests may read this. O(tables)."""
        return {
            name[1:]: value
            for name, value in vars(self).items()
            if name.startswith("_") and name not in ("_revision", "_seq")
        }
