"""Random sequences of writes through the public API, checked against the naive oracle after
every step (DOMAIN.md section 4, invariants 2, 6 and 8).

The machine keeps a small world (a few tenants, groups, devices, users) and drives every
write of the core: tenants and subtenants, suspend / activate / delete, groups (create,
rename, move including attempted cycles, delete with cascade), devices (gateways, re-parent
including attempted cycles, tags, delete), users (enable / disable, tags, email),
memberships (some with a window: valid from and until a few instants around a clock the
machine moves forward and back, with listings paged across a move) and associations, cross-
tenant shares (connectors with group and device filters and tag matchers, accepted with the
right or a wrong code, both toggles, windows, both deletions, and the virtual group's
limits), and
"reopen": a new :class:`tenancy.Tenancy` on the same store, which rebuilds its index from
the store's snapshot.

Each write is attempted with ids that are sometimes the tenant's own, sometimes another
tenant's and sometimes unknown. Before the call the machine works out, from the oracle,
which rules the write breaks; it then requires exactly this: a write that breaks no rule
succeeds, and a write that breaks some rule raises one of the matching TenancyError classes
and changes nothing (same revision, same store snapshot).

After every step: the handle's index holds exactly the store's records,
``index.check_invariants()`` passes, and for every (user, device) pair, including unknown
ids, ``verify`` and ``explain`` agree with the oracle (an allowed explanation is checked as
a proof); ``devices_for`` walked page by page with a small page size and ``users_for`` of
every device equal the oracle's lists. Isolation (DOMAIN.md section 4, invariant 4) is its
own invariant: no user reaches a device of another tenant except through an accepted, active
share from that tenant to its own whose filters select the device.

Run more examples with ``TENANCY_HYPOTHESIS_EXAMPLES=2000`` (see tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import tenancy
from tenancy import (
    AlreadyExists,
    CrossTenantReference,
    CycleError,
    InUse,
    InvalidValue,
    MemoryStore,
    NotFound,
    TenancyError,
    TenantSuspended,
    WrongSecurityCode,
)
from tenancy.records import changes as ch
from tenancy.records.model import parse_rules
from tenancy.testing import strategies as ts
from tenancy.testing.clock import ManualClock
from tenancy.testing.oracle import Oracle

R = TypeVar("R")
ErrorClasses = set[type[TenancyError]]

MAX_TENANTS = 4  # the management tenant and three more
MAX_GROUPS = 9
MAX_DEVICES = 12
MAX_USERS = 9  # admins included
MAX_CONNECTORS = 3
EMPTY: frozenset[str] = frozenset()

# A reference to a record: mostly one of the tenant's own, sometimes another tenant's,
# sometimes an id nobody has. Shrinks towards "own".
refs = st.tuples(
    st.integers(0, 19).map(lambda i: "own" if i < 17 else "foreign" if i < 19 else "missing"),
    st.integers(0, 15),
)
Ref = tuple[str, int]
names = ts.names()
small_tags = st.lists(ts.tag_pairs(), max_size=2)
bad_tag: tuple[str, str] = ("site", "")
user_matchers = st.tuples(
    st.sampled_from(("notify", "role")), st.none() | st.sampled_from(("sms", "mail", "ops"))
)


START = datetime(2026, 12, 4, 9, tzinfo=UTC)
"""The clock's first instant; windows start and end a few hours around it."""
instants = st.integers(-1, 6)
"""Hours from START: the instants of the windows, and where the clock moves."""
_bound = st.none() | instants.map(lambda h: START + timedelta(hours=h))
Window = tuple[datetime | None, datetime | None]
windows: st.SearchStrategy[Window] = st.one_of(  # one_of picks a branch uniformly
    st.just((None, None)),
    st.just((None, None)),
    st.tuples(_bound, _bound),
    st.tuples(_bound, _bound),
    st.just((START.replace(tzinfo=None), None)),  # naive: refused
)


def _bad_window(valid_from: datetime | None, valid_until: datetime | None) -> bool:
    if any(b is not None and b.tzinfo is None for b in (valid_from, valid_until)):
        return True
    return valid_from is not None and valid_until is not None and valid_from >= valid_until


class _Rejected:
    """What :meth:`ReachMachine._attempt` returns for a write that was (rightly) refused."""


REJECTED = _Rejected()


def _check_domain(domain: str) -> bool:
    return (
        2 <= len(domain) <= 63
        and all(c.isdigit() or c == "-" or "a" <= c <= "z" for c in domain)
        and domain[0].isalpha()
        and not domain.endswith("-")
    )


class ReachMachine(RuleBasedStateMachine):
    """A small world driven by random writes and compared with the oracle after each."""

    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryStore()
        self.clock = ManualClock(START)
        self.tn = tenancy.Tenancy(self.store, clock=self.clock)
        self.follower = tenancy.Tenancy(self.store, clock=self.clock)
        self.serial = 0
        self.page_size = 2
        self.tenant_ids: list[str] = [self.tn.management_tenant.id]
        self.group_ids: list[str] = []
        self.device_ids: list[str] = []
        self.user_ids: list[str] = [u.id for u in self.store.snapshot().users]
        self.oracle = Oracle(self.store.snapshot(), now=self.clock.now)

    # ------------------------------------------------------------------ helpers

    def _next_id(self, kind: str) -> str:
        self.serial += 1
        return f"t{self.serial:08d}" if kind == "tenant" else f"{kind[0]}{self.serial}"

    def _share_ids(self) -> dict[str, str]:
        """Ids for a subscription and its virtual group: given, like every id the machine
        makes, so a replayed example sorts its records alike (a generated id would make
        Hypothesis see another machine, FlakyStrategyDefinition)."""
        return {"id": self._next_id("subscription"), "group_id": self._next_id("group")}

    def _refresh(self) -> None:
        """Re-read the truth and forget ids that no longer exist (cascades, deletes)."""
        self.oracle = Oracle(self.store.snapshot(), now=self.clock.now)
        o = self.oracle
        self.tenant_ids = [t for t in self.tenant_ids if t in o.tenants]
        self.group_ids = [g for g in self.group_ids if g in o.groups]
        self.device_ids = [d for d in self.device_ids if d in o.devices]
        known = set(self.user_ids)
        self.user_ids = [u for u in self.user_ids if u in o.users]
        self.user_ids += sorted(u for u in o.users if u not in known)  # new admin users

    def _blocked(self, tenant_id: str) -> bool:
        return self.oracle.suspended_blocker(tenant_id) is not None

    def _tenant_order(self) -> list[str]:
        """Customer tenants in creation order, then the management tenant."""
        mgmt = self.tn.management_tenant.id
        return [t for t in self.tenant_ids if t != mgmt] + [mgmt]

    def _tenant(self, ref: Ref) -> str:
        """A tenant to act in: "own" picks an active one (writes mostly succeed), "foreign"
        any one (suspended ones too), "missing" an id no tenant has."""
        how, i = ref
        if how == "missing":
            return f"no-such-tenant-{i}"
        pool = self._tenant_order()
        if how == "own":
            pool = [t for t in pool if not self._blocked(t)] or pool
        return pool[i % len(pool)]

    def _ids(self, kind: str) -> list[str]:
        return {"group": self.group_ids, "device": self.device_ids, "user": self.user_ids}[kind]

    def _target(self, kind: str, ref: Ref, *, avoid: frozenset[str] = EMPTY) -> tuple[str, str]:
        """The record a write is about, and the tenant scope the write is made in: "own" a
        record of an active tenant (not in ``avoid`` if possible) in its own scope,
        "foreign" a record through another tenant's scope, "missing" an unknown id."""
        how, i = ref
        ids = self._ids(kind)
        table = self._table(kind)
        if how == "missing" or not ids:
            return self._tenant(("own", i)), f"no-such-{kind}-{i}"
        if how == "own":
            pool = [x for x in ids if not self._blocked(table[x].tenant_id) and x not in avoid]
            pool = pool or ids
            record_id = pool[i % len(pool)]
            return table[record_id].tenant_id, record_id
        record_id = ids[i % len(ids)]
        owner = table[record_id].tenant_id
        others = [t for t in self._tenant_order() if t != owner] or [owner]
        return others[i % len(others)], record_id

    def _pick(self, kind: str, tenant_id: str, ref: Ref) -> str | None:
        """A second record a write names (a parent, a device to associate, a member): "own"
        one of the acting tenant (None when it has none), "foreign" another tenant's,
        "missing" an unknown id."""
        how, i = ref
        owners = self._table(kind)
        ids = self._ids(kind)
        if how == "own":
            candidates = [x for x in ids if owners[x].tenant_id == tenant_id]
            return candidates[i % len(candidates)] if candidates else None
        candidates = [x for x in ids if owners[x].tenant_id != tenant_id]
        if how == "missing" or not candidates:
            return f"no-such-{kind}-{i}"
        return candidates[i % len(candidates)]

    def _picks(self, kind: str, tenant_id: str, refs: list[Ref]) -> list[str]:
        return [x for x in (self._pick(kind, tenant_id, r) for r in refs) if x is not None]

    def _table(self, kind: str) -> Mapping[str, Any]:
        tables: dict[str, Mapping[str, Any]] = {
            "group": self.oracle.groups,
            "device": self.oracle.devices,
            "user": self.oracle.users,
        }
        return tables[kind]

    def _owned(self, kind: str, record_id: str | None, tenant_id: str) -> ErrorClasses:
        """The errors a reference to ``record_id`` from ``tenant_id`` may raise."""
        if record_id is None:
            return set()
        table = self._table(kind)
        if record_id not in table:
            return {NotFound}
        if table[record_id].tenant_id != tenant_id:
            return {CrossTenantReference}
        return set()

    def _virtual(self, group_id: str | None) -> bool:
        """Is this the virtual group of a subscription?"""
        return group_id is not None and any(
            s.group_id == group_id for s in self.oracle.subscriptions.values()
        )

    def _writable(self, tenant_id: str) -> ErrorClasses:
        if tenant_id not in self.oracle.tenants:
            return {NotFound}
        if self.oracle.suspended_blocker(tenant_id) is not None:
            return {TenantSuspended}
        return set()

    def _attempt(self, write: Callable[[], R], expected: ErrorClasses) -> R | _Rejected:
        """Run a write. With no expected error it must succeed (the caller then checks that
        the store holds what was asked); otherwise it must raise one of the expected
        classes, naming its value and rule, and change nothing."""
        before_revision = self.tn.revision
        before = self.store.snapshot()
        rejected: TenancyError | None = None
        try:
            result = write()
        except TenancyError as exc:
            rejected = exc
        if rejected is None:
            assert not expected, f"the write should have raised one of {expected}"
            self._refresh()
            return result
        assert expected, f"a valid write was rejected: {rejected!r}"
        assert isinstance(rejected, tuple(expected)), (rejected, expected)
        assert rejected.rule, rejected
        assert rejected.rule in str(rejected), f"the message lacks the rule: {rejected}"
        assert repr(rejected.value) in str(rejected), f"the message lacks the value: {rejected}"
        assert self.tn.revision == before_revision, "a rejected write moved the revision"
        assert self.store.snapshot() == before, "a rejected write changed the store"
        return REJECTED

    def _ok(self, write: Callable[[], object], expected: ErrorClasses) -> bool:
        """:meth:`_attempt`, answering whether the write was accepted."""
        return not isinstance(self._attempt(write, expected), _Rejected)

    def _scope(self, tenant_id: str) -> tenancy.TenantScope:
        return self.tn.tenant(tenant_id)

    # ------------------------------------------------------------------ set-up

    @initialize(
        page_size=st.integers(1, 3),
        allow_subtenants=st.booleans(),
        plan=ts.world_plans(min_devices=2, max_devices=8, min_groups=1, max_groups=5, max_users=4),
        terms=st.lists(st.tuples(st.integers(0, 15), st.tuples(_bound, _bound)), max_size=3),
    )
    def start(
        self, page_size: int, allow_subtenants: bool, plan: ts.WorldPlan, terms: list[Any]
    ) -> None:
        """Every run starts with one populated customer tenant (a random group forest,
        devices with gateways and tags, users with memberships, some of them with a window),
        so the rules below act on an interesting world from the first step."""
        self.page_size = page_size
        world = ts.build_world(self.tn, plan, prefix="w", allow_subtenants=allow_subtenants)
        pairs = self.store.snapshot().memberships
        for pick, (valid_from, valid_until) in terms:
            if pairs and not _bad_window(valid_from, valid_until):
                gid, uid = pairs[pick % len(pairs)]
                self._scope(world.tenant_id).add_member(
                    gid, uid, valid_from=valid_from, valid_until=valid_until
                )
        self.tenant_ids.append(world.tenant_id)
        self.group_ids += world.group_ids
        self.device_ids += world.device_ids
        self.user_ids += world.user_ids
        self._refresh()

    # ------------------------------------------------------------------ tenants

    def _customer(self, ref: Ref, *, prefer: Callable[[str], bool] | None = None) -> str:
        """A tenant for the lifecycle rules: "own" a customer tenant (one that ``prefer``
        accepts if any), "foreign" the management tenant, "missing" an unknown id."""
        how, i = ref
        if how == "missing":
            return f"no-such-tenant-{i}"
        mgmt = self.tn.management_tenant.id
        customers = [t for t in self.tenant_ids if t != mgmt]
        if how == "foreign" or not customers:
            return mgmt
        if prefer is not None:
            customers = [t for t in customers if prefer(t)] or customers
        return customers[i % len(customers)]

    @precondition(lambda self: len(self.tenant_ids) < MAX_TENANTS)
    @rule(
        parent=refs, domain=st.integers(0, 9), allow_subtenants=st.booleans(), dup=st.integers(0, 9)
    )
    def create_tenant(self, parent: Ref, domain: int, allow_subtenants: bool, dup: int) -> None:
        """A subtenant of the management tenant or of a customer; sometimes with a taken or
        malformed domain, a taken id, or under a parent that does not allow subtenants."""
        o = self.oracle
        parent_id = self._tenant(parent)
        name = ("management", "-bad", "Bad", "x")[domain] if domain < 4 else f"c{self.serial}"
        new_id = self.tenant_ids[-1] if dup == 0 else self._next_id("tenant")
        expected: ErrorClasses = set()
        if parent_id not in o.tenants:
            expected.add(NotFound)
        else:
            if self._blocked(parent_id):
                expected.add(TenantSuspended)
            if not o.tenants[parent_id].allow_subtenants:
                expected.add(InvalidValue)
        if not _check_domain(name):
            expected.add(InvalidValue)
        if any(t.domain == name for t in o.tenants.values()):
            expected.add(AlreadyExists)
        if new_id in o.tenants:
            expected.add(AlreadyExists)
        tenant = self._attempt(
            lambda: self.tn.create_tenant(
                domain=name,
                name=name.title(),
                admin_email=f"admin@{name}.example",
                parent=parent_id,
                allow_subtenants=allow_subtenants,
                id=new_id,
            ),
            expected,
        )
        if isinstance(tenant, _Rejected):
            return
        assert self.oracle.tenants[new_id].parent_id == parent_id
        assert self.oracle.tenants[new_id].allow_subtenants == allow_subtenants
        admin = self.oracle.users[tenant.admin_user_id or ""]
        assert (admin.tenant_id, admin.email) == (new_id, f"admin@{name}.example")
        self.tenant_ids.append(tenant.id)
        self._refresh()

    @rule(ref=refs, name=names)
    def rename_tenant(self, ref: Ref, name: str) -> None:
        tenant_id = self._tenant(ref)
        done = self._attempt(
            lambda: self.tn.update_tenant(tenant_id, name=name), self._writable(tenant_id)
        )
        if done is not REJECTED:
            assert self.oracle.tenants[tenant_id].name == name

    @precondition(lambda self: not any(t.status != "active" for t in self.oracle.tenants.values()))
    @rule(ref=refs)
    def suspend_tenant(self, ref: Ref) -> None:
        """Suspend a customer (at most one at a time, so most writes still have an active
        tenant to go to); the management tenant must refuse."""
        tenant_id = self._customer(ref)
        expected: ErrorClasses = set()
        if tenant_id not in self.oracle.tenants:
            expected.add(NotFound)
        elif self.oracle.tenants[tenant_id].parent_id is None:
            expected.add(InvalidValue)
        if self._ok(lambda: self.tn.suspend_tenant(tenant_id), expected):
            assert self.oracle.tenants[tenant_id].status == "suspended"

    @precondition(lambda self: any(t.status != "active" for t in self.oracle.tenants.values()))
    @rule(ref=refs)
    def activate_tenant(self, ref: Ref) -> None:
        """Activate a (preferably suspended) tenant: every answer comes back."""
        tenant_id = self._customer(ref, prefer=lambda t: self.oracle.tenants[t].status != "active")
        expected: ErrorClasses = set() if tenant_id in self.oracle.tenants else {NotFound}
        if self._ok(lambda: self.tn.activate_tenant(tenant_id), expected):
            assert self.oracle.tenants[tenant_id].status == "active"

    @precondition(lambda self: len(self.tenant_ids) >= 3)
    @rule(ref=refs, cascade=st.booleans())
    def delete_tenant(self, ref: Ref, cascade: bool) -> None:
        """Delete a customer (only when there are two, so the world stays populated), with or
        without cascade; the management tenant must refuse."""
        tenant_id = self._customer(ref)
        o = self.oracle
        expected: ErrorClasses = set()
        if tenant_id not in o.tenants:
            expected.add(NotFound)
        elif o.tenants[tenant_id].parent_id is None:
            expected.add(InvalidValue)
        elif not cascade and any(t.parent_id == tenant_id for t in o.tenants.values()):
            expected.add(InUse)
        subtree = {t for t in o.tenants if tenant_id in o.tenant_ancestors(t)}
        if self._ok(lambda: self.tn.delete_tenant(tenant_id, cascade=cascade), expected):
            left = self.oracle
            assert not subtree & set(left.tenants)
            for table in (left.groups, left.devices, left.users):
                assert not any(r.tenant_id in subtree for r in table.values())

    # ------------------------------------------------------------------ groups

    @precondition(lambda self: len(self.group_ids) < MAX_GROUPS)
    @rule(
        tenant=refs,
        parent=st.none() | refs,
        devices=st.lists(refs, max_size=2),
        rules=st.lists(ts.tag_rules(), max_size=2),
        name=names,
        reuse_id=st.integers(0, 9),
    )
    def create_group(
        self,
        tenant: Ref,
        parent: Ref | None,
        devices: list[Ref],
        rules: list[ts.RawRule],
        name: str,
        reuse_id: int,
    ) -> None:
        tid = self._tenant(tenant)
        parent_id = None if parent is None else self._pick("group", tid, parent)
        device_ids = self._picks("device", tid, devices)
        reuse = reuse_id == 0 and self.group_ids  # a duplicate id, one time in ten
        new_id = self.group_ids[-1] if reuse else self._next_id("group")
        expected = self._writable(tid) | self._owned("group", parent_id, tid)
        if self._virtual(parent_id):  # no child groups under a virtual group
            expected.add(InvalidValue)
        for did in device_ids:
            expected |= self._owned("device", did, tid)
        if new_id in self.oracle.groups:
            expected.add(AlreadyExists)
        group = self._attempt(
            lambda: self._scope(tid).create_group(
                name, parent=parent_id, device_ids=device_ids, device_tags=rules, id=new_id
            ),
            expected,
        )
        if isinstance(group, _Rejected):
            return
        record = self.oracle.groups[new_id]
        assert (record.tenant_id, record.parent_id) == (tid, parent_id)
        assert record.device_ids == set(device_ids)
        assert record.device_tags == parse_rules(rules)
        self.group_ids.append(group.id)

    @rule(group=refs, name=names, description=names)
    def rename_group(self, group: Ref, name: str, description: str) -> None:
        tid, gid = self._target("group", group)
        done = self._attempt(
            lambda: self._scope(tid).update_group(gid, name=name, description=description),
            self._writable(tid) | self._owned("group", gid, tid),
        )
        if done is not REJECTED:
            record = self.oracle.groups[gid]
            assert (record.name, record.description) == (name, description)

    @rule(group=refs, parent=st.none() | refs)
    def move_group(self, group: Ref, parent: Ref | None) -> None:
        """Move a group (with its subtree) under another group of its tenant, or to the root;
        a parent below the group must raise CycleError."""
        tid, gid = self._target("group", group)
        parent_id = None if parent is None else self._pick("group", tid, parent)
        expected = (
            self._writable(tid)
            | self._owned("group", gid, tid)
            | self._owned("group", parent_id, tid)
        )
        if self._virtual(parent_id):
            expected.add(InvalidValue)
        if not expected and parent_id and gid in self.oracle.group_ancestors(parent_id):
            expected.add(CycleError)
        if self._ok(lambda: self._scope(tid).move_group(gid, parent_id), expected):
            assert self.oracle.groups[gid].parent_id == parent_id

    @precondition(lambda self: self.group_ids)
    @rule(group=st.integers(0, 15), below=st.integers(0, 15))
    def move_group_under_itself(self, group: int, below: int) -> None:
        """Always a cycle: the new parent is the group or one of its descendants."""
        gid = self.group_ids[group % len(self.group_ids)]
        tid = self.oracle.groups[gid].tenant_id
        subtree = sorted(self.oracle.group_descendants(gid))
        parent_id = subtree[below % len(subtree)]
        expected = self._writable(tid) or {CycleError}
        if self._virtual(parent_id) and not self._writable(tid):
            expected = {InvalidValue}
        self._attempt(lambda: self._scope(tid).move_group(gid, parent_id), expected)

    @precondition(lambda self: len(self.group_ids) >= 2)  # keep the world populated
    @rule(group=refs, cascade=st.booleans())
    def delete_group(self, group: Ref, cascade: bool) -> None:
        tid, gid = self._target("group", group)
        expected = self._writable(tid) | self._owned("group", gid, tid)
        if not expected and not cascade and len(self.oracle.group_descendants(gid)) > 1:
            expected.add(InUse)
        subtree = self.oracle.group_descendants(gid) if gid in self.oracle.groups else set()
        if not expected and any(self._virtual(g) for g in subtree):
            expected.add(InUse)  # deleted only with its subscription
        if self._ok(lambda: self._scope(tid).delete_group(gid, cascade=cascade), expected):
            assert not subtree & set(self.oracle.groups)
            assert not any(g in subtree for g, _ in self.oracle.memberships)

    @rule(
        group=refs,
        devices=st.lists(refs, max_size=2),
        rules=st.lists(ts.tag_rules(), max_size=2),
    )
    def associate(self, group: Ref, devices: list[Ref], rules: list[ts.RawRule]) -> None:
        tid, gid = self._target("group", group)
        device_ids = self._picks("device", tid, devices)
        expected = self._writable(tid) | self._owned("group", gid, tid)
        if not expected and self._virtual(gid):
            expected.add(InvalidValue)  # a virtual group has no associations
        for did in device_ids:
            expected |= self._owned("device", did, tid)
        done = self._attempt(
            lambda: self._scope(tid).associate(gid, device_ids=device_ids, device_tags=rules),
            expected,
        )
        if done is not REJECTED:
            record = self.oracle.groups[gid]
            assert set(device_ids) <= record.device_ids
            assert parse_rules(rules) <= record.device_tags

    @rule(
        group=refs,
        devices=st.lists(refs, max_size=1),
        picks=st.lists(st.integers(0, 7), min_size=1, max_size=2),
        drawn=st.lists(ts.tag_rules(), max_size=1),
    )
    def dissociate(
        self, group: Ref, devices: list[Ref], picks: list[int], drawn: list[ts.RawRule]
    ) -> None:
        """Dissociate some of the group's own rules and ids (and maybe ones it lacks)."""
        tid, gid = self._target("group", group)
        record = self.oracle.groups.get(gid)
        own_rules = sorted(record.device_tags, key=repr) if record else []
        own_ids = sorted(record.device_ids) if record else []
        rules: list[object] = list(drawn)
        rules += [tenancy.AllOf(own_rules[i % len(own_rules)]) for i in picks if own_rules]
        device_ids = self._picks("device", tid, devices)
        device_ids += [own_ids[i % len(own_ids)] for i in picks if own_ids]
        expected = self._writable(tid) | self._owned("group", gid, tid)
        for did in device_ids:
            expected |= self._owned("device", did, tid)
        done = self._attempt(
            lambda: self._scope(tid).dissociate(gid, device_ids=device_ids, device_tags=rules),  # type: ignore[arg-type]
            expected,
        )
        if done is not REJECTED:
            record = self.oracle.groups[gid]
            assert not set(device_ids) & record.device_ids
            assert not parse_rules(rules) & record.device_tags  # type: ignore[arg-type]

    # ------------------------------------------------------------------ devices

    @precondition(lambda self: len(self.device_ids) < MAX_DEVICES)
    @rule(
        tenant=refs,
        parent=st.none() | refs,
        tags=small_tags,
        name=names,
        reuse_id=st.integers(0, 9),
    )
    def create_device(
        self,
        tenant: Ref,
        parent: Ref | None,
        tags: list[tuple[str, str]],
        name: str,
        reuse_id: int,
    ) -> None:
        tid = self._tenant(tenant)
        parent_id = None if parent is None else self._pick("device", tid, parent)
        reuse = reuse_id == 0 and self.device_ids
        new_id = self.device_ids[-1] if reuse else self._next_id("device")
        expected = self._writable(tid) | self._owned("device", parent_id, tid)
        if new_id in self.oracle.devices:
            expected.add(AlreadyExists)
        device = self._attempt(
            lambda: self._scope(tid).create_device(name, tags=tags, id=new_id, parent=parent_id),
            expected,
        )
        if isinstance(device, _Rejected):
            return
        record = self.oracle.devices[new_id]
        assert (record.tenant_id, record.parent_id, record.name) == (tid, parent_id, name)
        assert record.tags == set(tags)
        self.device_ids.append(device.id)

    @precondition(lambda self: len(self.device_ids) < MAX_DEVICES)
    @rule(
        tenant=refs,
        specs=st.lists(
            st.tuples(st.none() | st.integers(0, 15), small_tags, st.integers(0, 9)),
            min_size=1,
            max_size=3,
        ),
    )
    def create_devices_in_bulk(
        self, tenant: Ref, specs: list[tuple[int | None, list[tuple[str, str]], int]]
    ) -> None:
        """Several devices in one transaction; a parent may be an existing device of the
        tenant or one created earlier in the same call; one bad spec creates nothing."""
        tid = self._tenant(tenant)
        own = [d for d in self.device_ids if self.oracle.devices[d].tenant_id == tid]
        expected = self._writable(tid)
        made: list[dict[str, Any]] = []
        for parent, tags, flaw in specs:
            new_id = self._next_id("device")
            candidates = own + [m["id"] for m in made]
            spec: dict[str, Any] = {"name": new_id, "id": new_id, "tags": tags}
            if parent is not None and candidates:
                spec["parent"] = candidates[parent % len(candidates)]
            if flaw == 0:
                spec["tags"] = [*tags, bad_tag]
                expected.add(InvalidValue)
            made.append(spec)
        devices = self._attempt(lambda: self._scope(tid).create_devices(made), expected)
        if isinstance(devices, _Rejected):
            return
        assert [d.id for d in devices] == [m["id"] for m in made]
        for m in made:
            record = self.oracle.devices[m["id"]]
            assert record.parent_id == m.get("parent")
            assert record.tags == frozenset(m["tags"])
        self.device_ids += [d.id for d in devices]

    @rule(device=refs, parent=st.none() | refs, name=st.none() | names)
    def update_device(self, device: Ref, parent: Ref | None, name: str | None) -> None:
        """Re-parent a device (under a gateway, or detached) and maybe rename it; a gateway
        below the device must raise CycleError."""
        tid, did = self._target("device", device)
        parent_id = None if parent is None else self._pick("device", tid, parent)
        expected = self._writable(tid) | self._owned("device", did, tid)
        if not expected and parent_id != self.oracle.devices[did].parent_id:
            expected |= self._owned("device", parent_id, tid)
            if not expected and parent_id and did in self.oracle.device_gateways(parent_id):
                expected.add(CycleError)
        kwargs: dict[str, Any] = {"parent": parent_id}
        if name is not None:
            kwargs["name"] = name
        if self._ok(lambda: self._scope(tid).update_device(did, **kwargs), expected):
            record = self.oracle.devices[did]
            assert record.parent_id == parent_id
            assert name is None or record.name == name

    @precondition(lambda self: self.device_ids)
    @rule(device=st.integers(0, 15), below=st.integers(0, 15))
    def make_device_its_own_gateway(self, device: int, below: int) -> None:
        """Always a cycle: the new gateway is the device or one of its child devices."""
        did = self.device_ids[device % len(self.device_ids)]
        tid = self.oracle.devices[did].tenant_id
        below_it = sorted(d for d in self.device_ids if did in self.oracle.device_gateways(d))
        parent_id = below_it[below % len(below_it)]
        expected = self._writable(tid) or {CycleError}
        self._attempt(lambda: self._scope(tid).update_device(did, parent=parent_id), expected)

    @rule(device=refs, tags=small_tags, malformed=st.integers(0, 9))
    def tag_device(self, device: Ref, tags: list[tuple[str, str]], malformed: int) -> None:
        tid, did = self._target("device", device)
        expected = self._writable(tid) | self._owned("device", did, tid)
        if malformed == 0:
            tags = [*tags, bad_tag]
            expected.add(InvalidValue)
        if self._ok(lambda: self._scope(tid).tag_device(did, tags), expected):
            assert set(tags) <= self.oracle.devices[did].tags

    @rule(device=refs, tags=small_tags)
    def untag_device(self, device: Ref, tags: list[tuple[str, str]]) -> None:
        tid, did = self._target("device", device)
        record = self.oracle.devices.get(did)
        if record is not None:
            tags = tags + sorted(record.tags)[:1]  # usually removes one it has
        done = self._attempt(
            lambda: self._scope(tid).untag_device(did, tags),
            self._writable(tid) | self._owned("device", did, tid),
        )
        if done is not REJECTED:
            assert not set(tags) & self.oracle.devices[did].tags

    @precondition(lambda self: len(self.device_ids) >= 3)  # keep the world populated
    @rule(device=refs, cascade=st.booleans())
    def delete_device(self, device: Ref, cascade: bool) -> None:
        tid, did = self._target("device", device)
        expected = self._writable(tid) | self._owned("device", did, tid)
        children = [d for d in self.oracle.devices.values() if d.parent_id == did]
        if not expected and not cascade and children:
            expected.add(InUse)
        below = [d for d in self.device_ids if did in self.oracle.device_gateways(d)]
        if self._ok(lambda: self._scope(tid).delete_device(did, cascade=cascade), expected):
            assert not set(below) & set(self.oracle.devices)
            assert not any(set(below) & g.device_ids for g in self.oracle.groups.values())

    # ------------------------------------------------------------------ users

    def _email_taken(self, tenant_id: str, email: str, by_other_than: str | None) -> bool:
        return any(
            u.tenant_id == tenant_id
            and u.email.casefold() == email.casefold()
            and u.id != by_other_than
            for u in self.oracle.users.values()
        )

    @precondition(lambda self: len(self.user_ids) < MAX_USERS)
    @rule(
        tenant=refs,
        email=ts.emails(),
        enabled=st.integers(0, 4),
        tags=ts.user_tags(),
        reuse_id=st.integers(0, 9),
    )
    def create_user(
        self,
        tenant: Ref,
        email: str,
        enabled: int,
        tags: frozenset[tuple[str, str]],
        reuse_id: int,
    ) -> None:
        tid = self._tenant(tenant)
        new_id = self.user_ids[-1] if reuse_id == 0 else self._next_id("user")
        expected = self._writable(tid)
        if tid in self.oracle.tenants and self._email_taken(tid, email, None):
            expected.add(AlreadyExists)
        if new_id in self.oracle.users:
            expected.add(AlreadyExists)
        user = self._attempt(
            lambda: self._scope(tid).create_user(email, enabled=enabled != 0, tags=tags, id=new_id),
            expected,
        )
        if isinstance(user, _Rejected):
            return
        record = self.oracle.users[new_id]
        assert (record.tenant_id, record.email, record.enabled) == (tid, email, enabled != 0)
        assert record.tags == tags
        self.user_ids.append(user.id)

    @rule(
        user=refs,
        enabled=st.none() | st.booleans(),
        tags=st.none() | ts.user_tags(),
        email=st.none() | ts.emails(),
        first_name=st.none() | names,
    )
    def update_user(
        self,
        user: Ref,
        enabled: bool | None,
        tags: frozenset[tuple[str, str]] | None,
        email: str | None,
        first_name: str | None,
    ) -> None:
        """Enable or disable a user, replace its tags, change its email or rename it."""
        admins = frozenset(t.admin_user_id or "" for t in self.oracle.tenants.values())
        tid, uid = self._target("user", user, avoid=admins)
        expected = self._writable(tid) | self._owned("user", uid, tid)
        fields: dict[str, Any] = {}
        if enabled is not None:
            fields["enabled"] = enabled
            if not expected and not enabled and self.oracle.tenants[tid].admin_user_id == uid:
                expected.add(InvalidValue)
        if tags is not None:
            fields["tags"] = tags
        if email is not None:
            fields["email"] = email
            if not expected and self._email_taken(tid, email, uid):
                expected.add(AlreadyExists)
        if first_name is not None:
            fields["first_name"] = first_name
        if self._ok(lambda: self._scope(tid).update_user(uid, **fields), expected):
            record = self.oracle.users[uid]
            for field, value in fields.items():
                assert getattr(record, field) == value, field

    @precondition(lambda self: len(self.user_ids) >= 4)  # keep the world populated
    @rule(user=refs)
    def delete_user(self, user: Ref) -> None:
        """Delete a user (mostly not an admin: deleting a tenant's first admin must fail)."""
        admins = frozenset(t.admin_user_id or "" for t in self.oracle.tenants.values())
        tid, uid = self._target("user", user, avoid=admins)
        expected = self._writable(tid) | self._owned("user", uid, tid)
        if not expected and self.oracle.tenants[tid].admin_user_id == uid:
            expected.add(InUse)
        if self._ok(lambda: self._scope(tid).delete_user(uid), expected):
            assert uid not in self.oracle.users
            assert not any(u == uid for _, u in self.oracle.memberships)

    @rule(group=refs, user=refs, window=windows)
    def add_member(self, group: Ref, user: Ref, window: Window) -> None:
        """Add a membership, or set the window of an existing one: mostly none (it counts
        always), else from and/or until one of a few instants around the clock's, sometimes
        a window that ends before it starts or a naive bound (InvalidValue)."""
        tid, gid = self._target("group", group)
        uid = self._pick("user", tid, user) or "no-such-user"
        valid_from, valid_until = window
        expected = (
            self._writable(tid) | self._owned("group", gid, tid) | self._owned("user", uid, tid)
        )
        if _bad_window(valid_from, valid_until):
            expected = {InvalidValue}
        add = self._scope(tid).add_member
        if self._ok(
            lambda: add(gid, uid, valid_from=valid_from, valid_until=valid_until), expected
        ):
            assert (gid, uid) in self.oracle.memberships
            term = self.oracle.terms.get((gid, uid))
            if valid_from is None and valid_until is None:
                assert term is None
            else:
                assert term is not None
                assert (term.valid_from, term.valid_until) == (valid_from, valid_until)

    @rule(hours=instants)
    def move_the_clock(self, hours: int) -> None:
        """Move the clock to one of the instants windows start and end at (or between
        them), forward or back: no write happens, yet every answer must follow."""
        self.clock.set(START + timedelta(hours=hours, microseconds=-1 if hours % 3 == 2 else 0))
        self._refresh()

    @rule(user=st.integers(0, 15), hours=instants)
    def page_across_an_instant(self, user: int, hours: int) -> None:
        """A listing started before the clock moves and continued after it gives, after
        the cursor, exactly what the oracle says at the new instant."""
        uid = self.user_ids[user % len(self.user_ids)]
        first = self.tn.devices_for(uid, limit=self.page_size)
        self.move_the_clock(hours)
        if first.next is None:
            return
        last = first.items[-1].id
        rest: list[str] = []
        after: str | None = first.next
        while after is not None:
            page = self.tn.devices_for(uid, limit=self.page_size, after=after)
            rest.extend(d.id for d in page.items)
            after = page.next
        assert rest == [d for d in self.oracle.devices_for(uid) if d > last], (uid, hours)

    @rule(membership=st.integers(0, 15), group=refs, user=refs, existing=st.integers(0, 4))
    def remove_member(self, membership: int, group: Ref, user: Ref, existing: int) -> None:
        """End a membership (mostly an existing one; else any group and user)."""
        pairs = self.oracle.snapshot.memberships
        if existing and pairs:
            gid, uid = pairs[membership % len(pairs)]
            tid = self.oracle.groups[gid].tenant_id
        else:
            tid, gid = self._target("group", group)
            uid = self._pick("user", tid, user) or "no-such-user"
        expected = (
            self._writable(tid) | self._owned("group", gid, tid) | self._owned("user", uid, tid)
        )
        if self._ok(lambda: self._scope(tid).remove_member(gid, uid), expected):
            assert (gid, uid) not in self.oracle.memberships

    # ------------------------------------------------------------------ shares

    @precondition(lambda self: len(self.oracle.connectors) < MAX_CONNECTORS)
    @rule(
        source=refs,
        destination=refs,
        groups=st.lists(refs, max_size=2),
        devices=st.lists(refs, max_size=2),
        tags=st.none() | st.lists(ts.matchers(), min_size=1, max_size=2),
        name=names,
    )
    def create_connector(
        self,
        source: Ref,
        destination: Ref,
        groups: list[Ref],
        devices: list[Ref],
        tags: list[ts.Matcher] | None,
        name: str,
    ) -> None:
        """A connector from a customer (sometimes the management tenant or an unknown one)
        to any tenant (sometimes itself or an unknown one), with some of its own (or
        foreign, unknown, virtual) groups and devices as filters, maybe narrowed by tags."""
        o = self.oracle
        src = self._customer(source)
        dst = self._tenant(destination)
        if destination[0] == "own" and dst == src:  # "own": mostly another tenant
            others = [t for t in self._tenant_order() if t != src]
            dst = others[destination[1] % len(others)] if others else dst
        group_ids = self._picks("group", src, groups)
        device_ids = self._picks("device", src, devices)
        expected = self._writable(src)
        if src in o.tenants and o.tenants[src].parent_id is None:
            expected.add(InvalidValue)  # never from the management tenant
        if dst not in o.tenants:
            expected.add(NotFound)
        elif dst == src:
            expected.add(InvalidValue)
        for gid in group_ids:
            expected |= self._owned("group", gid, src)
            if self._virtual(gid):
                expected.add(InvalidValue)  # shares never chain
        for did in device_ids:
            expected |= self._owned("device", did, src)
        if not group_ids and not device_ids:
            expected.add(InvalidValue)
        connector = self._attempt(
            lambda: self._scope(src).create_connector(
                name,
                destination=dst,
                groups=group_ids,
                devices=device_ids,
                tags=tags,
                id=self._next_id("connector"),
            ),
            expected,
        )
        if not isinstance(connector, _Rejected):
            stored = self.oracle.connectors[connector.id]
            assert stored.group_ids == frozenset(group_ids)
            assert stored.device_ids == frozenset(device_ids)

    @precondition(lambda self: len(self.oracle.connectors) < MAX_CONNECTORS)
    @rule(pick=st.integers(0, 15), tags=st.none() | st.lists(ts.matchers(), max_size=1))
    def share_a_group(self, pick: int, tags: list[ts.Matcher] | None) -> None:
        """The whole happy path in one step, so shares are often live: a customer shares one
        of its ordinary groups with another active tenant, which accepts and makes one of
        its users a member of the virtual group."""
        o = self.oracle
        groups = [
            g for g in self.group_ids
            if not self._virtual(g) and o.tenants[o.groups[g].tenant_id].parent_id is not None
            and not self._blocked(o.groups[g].tenant_id)
        ]  # fmt: skip
        if not groups:
            return
        gid = groups[pick % len(groups)]
        src = o.groups[gid].tenant_id
        others = [t for t in self._tenant_order() if t != src and not self._blocked(t)]
        if not others:
            return
        dst = others[pick % len(others)]
        c = self._attempt(
            lambda: self._scope(src).create_connector(
                "s", destination=dst, groups=[gid], tags=tags, id=self._next_id("connector")
            ),
            set(),
        )
        assert not isinstance(c, _Rejected)
        sub = self._attempt(
            lambda: self._scope(dst).accept_connector(
                c.id, security_code=c.security_code, name="S", **self._share_ids()
            ),
            set(),
        )
        assert not isinstance(sub, _Rejected)
        self.group_ids.append(sub.group_id)
        users = sorted(u for u, r in self.oracle.users.items() if r.tenant_id == dst)
        self._attempt(
            lambda: self._scope(dst).add_member(sub.group_id, users[pick % len(users)]), set()
        )

    def _connector(self, pick: int) -> tenancy.Connector | None:
        ids = sorted(self.oracle.connectors)
        return self.oracle.connectors[ids[pick % len(ids)]] if ids else None

    @precondition(lambda self: self.oracle.connectors)
    @rule(
        pick=st.integers(0, 7),
        right=st.integers(0, 4),
        name=names,
        member=st.none() | st.integers(0, 15),
    )
    def accept_connector(self, pick: int, right: int, name: str, member: int | None) -> None:
        """The destination accepts, mostly with the right code, and maybe makes one of its
        users a member of the virtual group; a wrong code is refused and on record (a
        ConnectorAcceptRefused commit), and changes nothing else."""
        c = self._connector(pick)
        assert c is not None
        dst = c.destination_tenant_id
        expected = self._writable(dst)
        if c.id in self.oracle.subscriptions:
            expected.add(AlreadyExists)
        scope = self._scope(dst)
        if right == 0 and not expected:
            revision, before = self.tn.revision, self.store.snapshot()
            with pytest.raises(WrongSecurityCode) as raised:
                scope.accept_connector(c.id, security_code="wrong", name=name)
            assert c.security_code not in str(raised.value)
            kinds = [type(x) for commit in self.tn.changes(after=revision) for x in commit.changes]
            assert [k for k in kinds if k is not ch.UsageRecorded] == [ch.ConnectorAcceptRefused]
            after = self.store.snapshot()
            assert (after.groups, after.access, after.memberships) == (
                before.groups, before.access, before.memberships,
            )  # fmt: skip
            self._refresh()
            return
        code = "wrong" if right == 0 else c.security_code
        sub = self._attempt(
            lambda: scope.accept_connector(
                c.id, security_code=code, name=name, **self._share_ids()
            ),
            expected,
        )
        if not isinstance(sub, _Rejected):
            assert self.oracle.subscriptions[c.id] == sub
            assert self.oracle.groups[sub.group_id].tenant_id == dst
            self.group_ids.append(sub.group_id)
            event("a connector was accepted")
            users = sorted(u for u, r in self.oracle.users.items() if r.tenant_id == dst)
            if member is not None and users:
                uid = users[member % len(users)]
                self._attempt(lambda: scope.add_member(sub.group_id, uid), set())

    @precondition(lambda self: self.oracle.connectors)
    @rule(pick=st.integers(0, 7), active=st.booleans())
    def toggle_connector(self, pick: int, active: bool) -> None:
        c = self._connector(pick)
        assert c is not None
        src = c.source_tenant_id
        scope = self._scope(src)
        toggle = scope.activate_connector if active else scope.suspend_connector
        if self._ok(lambda: toggle(c.id), self._writable(src)):
            assert self.oracle.connectors[c.id].status == ("active" if active else "suspended")

    @precondition(lambda self: self.oracle.connectors)
    @rule(pick=st.integers(0, 7), window=windows)
    def set_connector_window(self, pick: int, window: Window) -> None:
        """Give a connector a window (or take it away): its share gives reach only inside."""
        c = self._connector(pick)
        assert c is not None
        valid_from, valid_until = window
        src = c.source_tenant_id
        expected: ErrorClasses = (
            {InvalidValue} if _bad_window(valid_from, valid_until) else self._writable(src)
        )
        bounded = {"valid_from": valid_from, "valid_until": valid_until}
        if self._ok(lambda: self._scope(src).set_connector_window(c.id, **bounded), expected):
            stored = self.oracle.connectors[c.id]
            assert (stored.valid_from, stored.valid_until) == window

    @precondition(lambda self: self.oracle.subscriptions)
    @rule(pick=st.integers(0, 7), active=st.booleans())
    def toggle_subscription(self, pick: int, active: bool) -> None:
        subs = sorted(self.oracle.subscriptions.values(), key=lambda s: s.id)
        sub = subs[pick % len(subs)]
        scope = self._scope(sub.tenant_id)
        toggle = scope.resume_subscription if active else scope.pause_subscription
        if self._ok(lambda: toggle(sub.id), self._writable(sub.tenant_id)):
            status = self.oracle.subscriptions[sub.connector_id].status
            assert status == ("active" if active else "paused")

    @precondition(lambda self: self.oracle.connectors)
    @rule(pick=st.integers(0, 7), which=st.sampled_from(("connector", "subscription")))
    def end_a_share(self, pick: int, which: str) -> None:
        """Delete a connector (its subscription and virtual group go with it) or a
        subscription (its virtual group goes; the connector stays)."""
        c = self._connector(pick)
        assert c is not None
        sub = self.oracle.subscriptions.get(c.id)
        if which == "subscription" and sub is not None:
            tid = sub.tenant_id
            done = self._ok(
                lambda: self._scope(tid).delete_subscription(sub.id), self._writable(tid)
            )
            if done:
                assert c.id in self.oracle.connectors
        else:
            tid = c.source_tenant_id
            done = self._ok(lambda: self._scope(tid).delete_connector(c.id), self._writable(tid))
            if done:
                assert c.id not in self.oracle.connectors
        if done and sub is not None:
            assert c.id not in self.oracle.subscriptions
            assert sub.group_id not in self.oracle.groups

    # ------------------------------------------------------------------ handles

    @rule()
    def reopen(self) -> None:
        """A new handle on the same store rebuilds its index from the snapshot."""
        self.tn = tenancy.Tenancy(self.store, clock=self.clock)

    @rule()
    def follower_catches_up(self) -> None:
        """A second handle, written to by nobody, follows the change log to the same index."""
        self.follower.catch_up()
        assert self.follower.revision == self.tn.revision
        for uid in self.oracle.users:  # it agrees across instants without a write of its own
            for did in self.oracle.devices:
                assert self.follower.verify(uid, did) == self.tn.verify(uid, did), (uid, did)
        assert self.follower.index.snapshot() == self.store.snapshot()
        self.follower.index.check_invariants()
        for table, mine_table, their_table in zip(
            ("reach", "cover"),
            self.tn.index.reach_tables(),
            self.follower.index.reach_tables(),
            strict=True,
        ):
            mine = {k: v for k, v in mine_table.items() if v}
            theirs = {k: v for k, v in their_table.items() if v}
            assert mine == theirs, table

    @rule(
        user=st.integers(0, 15),
        matchers=st.lists(ts.matchers(), max_size=2),
        user_matchers=st.lists(user_matchers, max_size=2),
    )
    def filtered_listing(
        self, user: int, matchers: list[ts.Matcher], user_matchers: list[ts.Matcher]
    ) -> None:
        """devices_for with a tag filter and with each group filter, users_for with a user
        tag filter, against the oracle."""
        o = self.oracle
        uid = self.user_ids[user % len(self.user_ids)]
        assert self._walk(uid, tags=matchers) == o.devices_for(uid, tags=matchers)
        for gid in [*self.group_ids, "no-such-group"]:
            assert self._walk(uid, group=gid) == o.devices_for(uid, group=gid), gid
        for did in self.device_ids:
            got = [u.id for u in self.tn.users_for(did, tags=user_matchers)]
            assert got == o.users_for(did, tags=user_matchers)

    @rule(user=st.integers(0, 15))
    def group_queries(self, user: int) -> None:
        """groups_for (direct and inherited), in_group and devices_in against the oracle."""
        o = self.oracle
        uid = self.user_ids[user % len(self.user_ids)]
        for inherited in (True, False):
            got = [g.id for g in self.tn.groups_for(uid, inherited=inherited)]
            assert got == o.groups_for(uid, inherited=inherited)
        for gid in [*self.group_ids, "no-such-group"]:
            assert self.tn.in_group(uid, gid) == o.in_group(uid, gid), gid
            for descendants in (True, False):
                got = [d.id for d in self.tn.devices_in(gid, descendants=descendants, limit=100)]
                assert got == o.devices_in(gid, descendants=descendants), (gid, descendants)

    # ------------------------------------------------------------------ checks

    def _walk(self, user_id: str, **filters: Any) -> list[str]:
        """Every page of devices_for, checking the page contract on the way."""
        seen: list[str] = []
        after = None
        while True:
            page = self.tn.devices_for(user_id, limit=self.page_size, after=after, **filters)
            assert len(page.items) <= self.page_size
            seen.extend(d.id for d in page.items)
            if page.next is None:
                break
            assert len(page.items) == self.page_size, "only the last page may be short"
            assert isinstance(page.next, str), "the cursor is an opaque string"
            after = page.next
        assert len(seen) <= len(self.oracle.devices), "a page repeated devices"
        return seen

    @invariant()
    def answers_agree_with_the_oracle(self) -> None:
        o = self.oracle
        index = self.tn.index
        assert index.snapshot() == self.store.snapshot(), "the index holds other records"
        index.check_invariants()
        users = [*o.users, "no-such-user"]
        devices = [*o.devices, "no-such-device"]
        for uid in users:
            for did in devices:
                code, blocker = o.explain_code(uid, did)
                assert self.tn.verify(uid, did) == (code == "allowed"), (uid, did, code)
                explanation = self.tn.explain(uid, did)
                assert explanation.code == code, (uid, did, explanation, code)
                if code in ("expired", "not-started"):
                    event(f"a membership or a share outside its window: {code}")
                if code == "allowed":
                    assert o.proves(explanation), explanation
                elif blocker is not None:
                    assert repr(blocker) in explanation.reason, (explanation, blocker)
            assert self._walk(uid) == o.devices_for(uid), uid
        for did in devices:
            assert [u.id for u in self.tn.users_for(did)] == o.users_for(did), did

    @invariant()
    def isolation(self) -> None:
        """No user reaches a device of another tenant except through an accepted, active
        share from the device's tenant to the user's whose filters select the device, with
        the user in its virtual group or above it (DOMAIN.md section 4, invariant 4)."""
        o = self.oracle
        for uid, user in o.users.items():
            member_of = o.member_groups(uid)
            for did, device in o.devices.items():
                if user.tenant_id == device.tenant_id or not self.tn.verify(uid, did):
                    continue
                through = [
                    c.id
                    for c in o.connectors.values()
                    if (c.source_tenant_id, c.destination_tenant_id)
                    == (device.tenant_id, user.tenant_id)
                    and c.status == "active"
                    and (s := o.subscriptions.get(c.id)) is not None
                    and s.status == "active"
                    and member_of & set(o.group_ancestors(s.group_id))
                    and o.shares(c, did)
                ]
                assert through, f"{uid} of {user.tenant_id} reaches {did} of {device.tenant_id}"
                event("a user reaches a device through a share")


ReachMachine.TestCase.settings = settings(deadline=None)
TestReachAgainstOracle = ReachMachine.TestCase
