"""Access control (DOMAIN.md section 5) under random writes, checked after every step.

A state machine keeps a small store (customer tenants A and B, A1 below A; a group tree,
devices with tags and a gateway, users in each) and drives the writes that change what a
user may do: memberships, associations and device tags (reach), global and inventory role
grants and revocations (to users and to every member of a group), custom role
(re)definitions and deletions, the tenant's default member role, owners (set, cleared,
cycles refused), new sub-users, deleted users and groups, disabled users, suspended and
re-activated tenants, and "reopen" (a new handle on the same store rebuilds its index from
the snapshot). Global and inventory role grants and delegations may carry a window
(``valid_from``, ``valid_until``, whole hours around the machine's clock, DOMAIN.md section
9), and the clock moves forward and back by whole hours, so it lands exactly on the bounds:
the oracle, told the same instant, is the definition of what each grant gives then.

Users also act, through ``as_user``: a random user makes a random write of the user
hierarchy (grants and revocations, memberships, owners, new sub-users, disabling, delegating,
defining roles). A refused write changes nothing. An accepted write by an actor without a
tenant-wide power over users (user_management UPDATE, tenant_management UPDATE) leaves the
actor holding nothing more than before, changes only what the actor and the users it
manages (its subtree, and the subtrees of owners who delegated to it) hold, and gives a new
user nothing: no path from a sub-user or a delegate to more than it was given.

Before each grant the machine works out from the naive oracle whether it breaks the
ceiling (a sub-user is never granted what an owner above it lacks) and requires exactly
that outcome; a refused write changes nothing (same revision, same store snapshot).

After every step, for every user (and an unknown id), every device (and an unknown id) and
every permission of ``PERMISSIONS``:

(a) ``devices_for(u, permission=p)``, walked page by page, lists exactly the devices for
    which ``check(u, p, d)`` holds;
(b) a sub-user never holds, by ``check``, a permission on a device that its owner lacks;
(c) ``check`` agrees with :class:`tenancy.testing.access_oracle.AccessOracle`, written from
    DOMAIN.md alone, and ``explain(u, d, permission=p).allowed`` with ``check``.

The number of examples is a quarter of the loaded Hypothesis profile's (tests/conftest.py),
so ``TENANCY_HYPOTHESIS_EXAMPLES=1000`` runs 250 here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import tenancy
from tenancy import (
    CycleError,
    Device,
    Group,
    InUse,
    InvalidValue,
    MemoryStore,
    NotFound,
    TenancyError,
    TenantSuspended,
    User,
)
from tenancy.records.grants import InventoryGrant, PrincipalKind, RoleKind
from tenancy.testing import strategies as ts
from tenancy.testing.access_oracle import BUILTIN_GLOBAL, BUILTIN_INVENTORY, AccessOracle, implied

from ._support import UNKNOWN_DEVICE, UNKNOWN_USER, walk_devices_for

R = TypeVar("R")
Errors = set[type[TenancyError]]

PERMISSIONS = (
    "device:READ",
    "device:CREATE",
    "device:UPDATE",
    "device:ADMIN",
    "group:UPDATE",
    "audit:READ",
    "user_management:CREATE",
    "tenant_management:CHANGE",
)
GLOBAL_POOL = (*PERMISSIONS, "tenant_management:UPDATE", "group:ADMIN")
DEVICE_POOL = ("device:READ", "device:CREATE", "device:UPDATE", "device:ADMIN")
CUSTOM = ("r1", "r2")
GLOBAL_ROLES = (*sorted(BUILTIN_GLOBAL), *CUSTOM, "rec", "nonesuch")
INVENTORY_ROLES = (*sorted(BUILTIN_INVENTORY), *CUSTOM)
TENANTS = ("A", "A1", "B")
MAX_USERS = 7  # per tenant, its admin included
NOW = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
starts = st.none() | st.integers(-3, 3)
"""A window's start, in hours from now (None: open)."""
lengths = st.none() | st.integers(1, 4)
"""A window's length in hours (None: open-ended)."""

indices = st.integers(0, 15)
principal_kinds: st.SearchStrategy[PrincipalKind] = st.sampled_from(("user", "group"))
role_kinds: st.SearchStrategy[RoleKind] = st.sampled_from(("global", "inventory"))
tenants = st.sampled_from(TENANTS)
ACTS = (
    "grant_role",
    "revoke_role",
    "grant_inventory_role",
    "revoke_inventory_role",
    "add_member",
    "remove_member",
    "set_owner",
    "release",
    "create_user",
    "disable",
    "delegate",
    "revoke_delegation",
    "define_role",
)
POWERS = ("user_management:UPDATE", "tenant_management:UPDATE")
"""Tenant-wide powers over other users' permissions (managing any user, the tenant's default
member role); an actor holding neither manages only its own hierarchy and delegations."""


class AccessMachine(RuleBasedStateMachine):
    """Random access-control writes, compared with the oracle after each."""

    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryStore()
        self.now = NOW
        self.tn = tenancy.Tenancy(self.store, clock=self.clock)
        self.tenant_ids: dict[str, str] = {}
        self.serial = 0

    # ------------------------------------------------------------------ helpers

    def clock(self) -> datetime:
        return self.now

    def _ids(self, tenant: str, kind: str) -> list[str]:
        """The tenant's current records of a kind, sorted (read from the store's truth)."""
        tid = self.tenant_ids[tenant]
        snap = self.store.snapshot()
        tables: dict[str, Sequence[User | Group | Device]] = {
            "user": snap.users,
            "group": snap.groups,
            "device": snap.devices,
        }
        return sorted(r.id for r in tables[kind] if r.tenant_id == tid)

    def _one(self, tenant: str, kind: str, i: int) -> str | None:
        ids = self._ids(tenant, kind)
        return ids[i % len(ids)] if ids else None

    def _oracle(self) -> AccessOracle:
        return AccessOracle(self.store.snapshot(), now=self.now)

    def _window(
        self, start: int | None, length: int | None
    ) -> tuple[datetime | None, datetime | None]:
        """``(valid_from, valid_until)`` from whole hours around now."""
        valid_from = None if start is None else self.now + start * HOUR
        valid_until = None if length is None else (valid_from or self.now) + length * HOUR
        if start is not None or length is not None:
            event("a grant with a window")
        return valid_from, valid_until

    def _blocked(self, tenant: str) -> Errors:
        oracle = self._oracle().reach
        return {TenantSuspended} if oracle.suspended_blocker(self.tenant_ids[tenant]) else set()

    def _attempt(self, write: Callable[[], R], expected: Errors) -> bool:
        """Run a write: with no expected error it must succeed; otherwise it must raise one
        of them, naming its rule, and change nothing. Answers whether it was accepted."""
        before_revision = self.tn.revision
        before = self.store.snapshot()
        rejected: TenancyError | None = None
        try:
            write()
        except TenancyError as exc:
            rejected = exc
        if rejected is None:
            assert not expected, f"the write should have raised one of {expected}"
            return True
        assert expected, f"a valid write was rejected: {rejected!r}"
        assert isinstance(rejected, tuple(expected)), (rejected, expected)
        assert rejected.rule, rejected
        assert self.tn.revision == before_revision, "a rejected write moved the revision"
        assert self.store.snapshot() == before, "a rejected write changed the store"
        return False

    def _role_perms(self, oracle: AccessOracle, tenant: str, kind: str, role: str) -> set[str]:
        """Every permission the role gives (None when the tenant has no such role)."""
        builtin = BUILTIN_GLOBAL if kind == "global" else BUILTIN_INVENTORY
        held = builtin.get(role)
        if held is None:
            held = oracle.custom.get((self.tenant_ids[tenant], kind, role), frozenset())
        return {p for h in held for p in implied(h)}

    def _role_known(self, oracle: AccessOracle, tenant: str, kind: str, role: str) -> bool:
        builtin = BUILTIN_GLOBAL if kind == "global" else BUILTIN_INVENTORY
        return role in builtin or (self.tenant_ids[tenant], kind, role) in oracle.custom

    # ------------------------------------------------------------------ set-up

    @initialize(tags=st.lists(ts.tag_sets(max_size=2), min_size=4, max_size=4))
    def start(self, tags: list[frozenset[tuple[str, str]]]) -> None:
        """Tenants A (allowing subtenants), A1 below it, and B. In each: the group tree
        root > c1 {site=a} > leaf {kind=*}, root > c2 {site=b}; the devices g0 > s0 and
        d1..d3 with drawn tags (d2 also site=a, d3 also site=b); custom roles r1 (global:
        group UPDATE, audit READ) and r2 (inventory: device UPDATE); besides the tenant's
        admin, u1 (a member of c1, holding r1) and its sub-users u2 (a member of root: it
        reaches more than its owner, and its own device READ there is capped) and u3 (in
        no group)."""
        tn = self.tn
        a = tn.create_tenant(
            domain="ten-a", name="A", admin_email="admin@a.example", allow_subtenants=True
        )
        a1 = tn.create_tenant(
            domain="ten-a1", name="A1", admin_email="admin@a1.example", parent=a.id
        )
        b = tn.create_tenant(domain="ten-b", name="B", admin_email="admin@b.example")
        self.tenant_ids = {"A": a.id, "A1": a1.id, "B": b.id}
        for name, tid in self.tenant_ids.items():
            t = tn.tenant(tid)
            p = name.lower()
            t.create_group("root", id=f"{p}-root")
            t.create_group("c1", id=f"{p}-c1", parent=f"{p}-root", device_tags=[("site", "a")])
            t.create_group("leaf", id=f"{p}-leaf", parent=f"{p}-c1", device_tags=[("kind", None)])
            t.create_group("c2", id=f"{p}-c2", parent=f"{p}-root", device_tags=[("site", "b")])
            t.create_device("g0", id=f"{p}-g0", tags=tags[0])
            t.create_device("s0", id=f"{p}-s0", parent=f"{p}-g0")
            t.create_device("d1", id=f"{p}-d1", tags=tags[1])
            t.create_device("d2", id=f"{p}-d2", tags=tags[2] | {("site", "a")})
            t.create_device("d3", id=f"{p}-d3", tags=tags[3] | {("site", "b")})
            for i in (1, 2):
                t.create_user(f"u{i}@{p}.example", id=f"{p}-u{i}")
            t.add_member(f"{p}-c1", f"{p}-u1")
            t.set_owner(f"{p}-u2", f"{p}-u1")
            t.create_user(f"u3@{p}.example", id=f"{p}-u3", owner=f"{p}-u1")
            t.define_role("r1", ["group:UPDATE", "audit:READ"])
            t.define_role("r2", ["device:UPDATE"], kind="inventory")
            t.define_role("rec", ["user_management:CREATE"])  # what a delegate must hold
            t.grant_role(f"{p}-u1", "r1")
            t.add_member(f"{p}-root", f"{p}-u2")  # reaches more than its owner

    # ------------------------------------------------------------------ reach

    @rule(tenant=tenants, g=indices, u=indices, add=st.booleans())
    def membership(self, tenant: str, g: int, u: int, add: bool) -> None:
        group, user = self._one(tenant, "group", g), self._one(tenant, "user", u)
        if group is None or user is None:
            return
        t = self.tn.tenant(self.tenant_ids[tenant])
        write = t.add_member if add else t.remove_member
        self._attempt(lambda: write(group, user), self._blocked(tenant))

    @rule(tenant=tenants, g=indices, d=indices, add=st.booleans())
    def association(self, tenant: str, g: int, d: int, add: bool) -> None:
        group, device = self._one(tenant, "group", g), self._one(tenant, "device", d)
        if group is None or device is None:
            return
        t = self.tn.tenant(self.tenant_ids[tenant])
        write = t.associate if add else t.dissociate
        self._attempt(lambda: write(group, device_ids=[device]), self._blocked(tenant))

    @rule(tenant=tenants, d=indices, tag=ts.tag_pairs(), add=st.booleans())
    def tagging(self, tenant: str, d: int, tag: tuple[str, str], add: bool) -> None:
        device = self._one(tenant, "device", d)
        if device is None:
            return
        t = self.tn.tenant(self.tenant_ids[tenant])
        write = t.tag_device if add else t.untag_device
        self._attempt(lambda: write(device, [tag]), self._blocked(tenant))

    @rule(tenant=tenants, g=indices, p=st.none() | indices)
    def move_group(self, tenant: str, g: int, p: int | None) -> None:
        group = self._one(tenant, "group", g)
        parent = None if p is None else self._one(tenant, "group", p)
        if group is None:
            return
        expected = self._blocked(tenant)
        if not expected and parent is not None:
            above = self._oracle().reach.group_ancestors(parent)
            expected = {CycleError} if group in above else set()
        t = self.tn.tenant(self.tenant_ids[tenant])
        self._attempt(lambda: t.move_group(group, parent), expected)

    @rule(tenant=tenants, g=indices)
    def delete_group(self, tenant: str, g: int) -> None:
        """Deleting a group (and its subtree) takes the grants on it and through it."""
        group = self._one(tenant, "group", g)
        if group is None:
            return
        t = self.tn.tenant(self.tenant_ids[tenant])
        if self._attempt(lambda: t.delete_group(group, cascade=True), self._blocked(tenant)):
            left = [
                r
                for r in self.store.snapshot().access
                if isinstance(r, InventoryGrant)
                and group in (r.group_id, r.principal_id if r.principal_kind == "group" else "")
            ]
            assert not left, left

    @rule(tenant=tenants)
    def create_group(self, tenant: str) -> None:
        self.serial += 1
        parent = self._one(tenant, "group", self.serial)
        t = self.tn.tenant(self.tenant_ids[tenant])
        self._attempt(
            lambda: t.create_group(f"g{self.serial}", parent=parent), self._blocked(tenant)
        )

    # ------------------------------------------------------------------ users and owners

    @rule(tenant=tenants, o=st.none() | indices)
    def create_user(self, tenant: str, o: int | None) -> None:
        if len(self._ids(tenant, "user")) >= MAX_USERS:
            return
        owner = None if o is None else self._one(tenant, "user", o)
        self.serial += 1
        t = self.tn.tenant(self.tenant_ids[tenant])
        email = f"n{self.serial}@{tenant.lower()}.example"
        self._attempt(lambda: t.create_user(email, owner=owner), self._blocked(tenant))

    @rule(tenant=tenants, u=indices, o=st.none() | indices)
    def set_owner(self, tenant: str, u: int, o: int | None) -> None:
        user = self._one(tenant, "user", u)
        owner = None if o is None else self._one(tenant, "user", o)
        if user is None:
            return
        expected = self._blocked(tenant)
        admin = self.tn.get_tenant(self.tenant_ids[tenant]).admin_user_id
        if not expected and owner is not None:
            oracle = self._oracle()
            if user == admin:
                expected = {InvalidValue}  # no tenant can lock itself out
            elif owner == user or user in oracle.owners(owner):
                expected = {CycleError}
        t = self.tn.tenant(self.tenant_ids[tenant])
        self._attempt(lambda: t.set_owner(user, owner), expected)

    @rule(tenant=tenants, u=indices, enabled=st.booleans())
    def enable(self, tenant: str, u: int, enabled: bool) -> None:
        user = self._one(tenant, "user", u)
        admin = self.tn.get_tenant(self.tenant_ids[tenant]).admin_user_id
        if user is None or user == admin:
            return
        t = self.tn.tenant(self.tenant_ids[tenant])
        self._attempt(lambda: t.update_user(user, enabled=enabled), self._blocked(tenant))

    @rule(tenant=tenants, u=indices)
    def delete_user(self, tenant: str, u: int) -> None:
        user = self._one(tenant, "user", u)
        if user is None:
            return
        expected = self._blocked(tenant)
        admin = self.tn.get_tenant(self.tenant_ids[tenant]).admin_user_id
        if not expected and (
            user == admin or self.tn.tenant(self.tenant_ids[tenant]).sub_users(user)
        ):
            expected = {InUse}
        t = self.tn.tenant(self.tenant_ids[tenant])
        if self._attempt(lambda: t.delete_user(user), expected):
            snap = self.store.snapshot()
            assert not [r for r in snap.access if user in r.key.split("/")], "grants left"

    # ------------------------------------------------------------------ roles

    @rule(
        tenant=tenants,
        u=indices,
        role=st.sampled_from(GLOBAL_ROLES),
        start=starts,
        length=lengths,
    )
    def grant_role(
        self, tenant: str, u: int, role: str, start: int | None, length: int | None
    ) -> None:
        """A grant to a sub-user is accepted exactly when every owner above it holds every
        permission of the role tenant-wide now (whatever the grant's own window)."""
        user = self._one(tenant, "user", u)
        if user is None:
            return
        oracle = self._oracle()
        expected = self._blocked(tenant)
        if not expected and not self._role_known(oracle, tenant, "global", role):
            expected = {NotFound}
        if not expected:
            owner = oracle.reach.users[user].owner_id
            perms = self._role_perms(oracle, tenant, "global", role)
            if owner is not None and not all(oracle.holds_tenant_wide(owner, p) for p in perms):
                expected = {InvalidValue}
        event(f"global grant: {sorted(e.__name__ for e in expected) or 'accepted'}")
        t = self.tn.tenant(self.tenant_ids[tenant])
        valid_from, valid_until = self._window(start, length)
        self._attempt(
            lambda: t.grant_role(user, role, valid_from=valid_from, valid_until=valid_until),
            expected,
        )

    @rule(tenant=tenants, u=indices, role=st.sampled_from(GLOBAL_ROLES))
    def revoke_role(self, tenant: str, u: int, role: str) -> None:
        """Revoking takes the role from the user and, through the cap, from its subtree."""
        user = self._one(tenant, "user", u)
        if user is None:
            return
        expected = self._blocked(tenant)
        admin = self.tn.get_tenant(self.tenant_ids[tenant]).admin_user_id
        if not expected and user == admin and role == "admin":
            expected = {InvalidValue}  # the first admin keeps the admin role
        t = self.tn.tenant(self.tenant_ids[tenant])
        self._attempt(lambda: t.revoke_role(user, role), expected)

    @rule(
        tenant=tenants,
        p=indices,
        to=principal_kinds,
        role=st.sampled_from(INVENTORY_ROLES),
        g=indices,
        start=starts,
        length=lengths,
    )
    def grant_inventory_role(
        self,
        tenant: str,
        p: int,
        to: PrincipalKind,
        role: str,
        g: int,
        start: int | None,
        length: int | None,
    ) -> None:
        """A grant on a group is accepted exactly when the owner of every sub-user it
        reaches holds every permission of the role on that group."""
        principal = self._one(tenant, to, p)
        group = self._one(tenant, "group", g)
        if principal is None or group is None:
            return
        oracle = self._oracle()
        expected = self._blocked(tenant)
        if not expected and not self._role_known(oracle, tenant, "inventory", role):
            expected = {NotFound}
        if not expected:
            users = (
                [principal]
                if to == "user"
                else sorted(u for g2, u in oracle.reach.memberships if g2 == principal)
            )
            perms = self._role_perms(oracle, tenant, "inventory", role)
            for user in users:
                owner = oracle.reach.users[user].owner_id
                if owner is not None and not all(
                    oracle.holds_on_group(owner, perm, group) for perm in perms
                ):
                    expected = {InvalidValue}
        event(f"inventory grant: {sorted(e.__name__ for e in expected) or 'accepted'}")
        t = self.tn.tenant(self.tenant_ids[tenant])
        window = self._window(start, length)
        self._attempt(
            lambda: t.grant_inventory_role(
                principal, role, group=group, to=to, valid_from=window[0], valid_until=window[1]
            ),
            expected,
        )

    @rule(
        tenant=tenants,
        p=indices,
        to=principal_kinds,
        role=st.sampled_from(INVENTORY_ROLES),
        g=indices,
    )
    def revoke_inventory_role(
        self, tenant: str, p: int, to: PrincipalKind, role: str, g: int
    ) -> None:
        principal = self._one(tenant, to, p)
        group = self._one(tenant, "group", g)
        if principal is None or group is None:
            return
        t = self.tn.tenant(self.tenant_ids[tenant])
        self._attempt(
            lambda: t.revoke_inventory_role(principal, role, group=group, to=to),
            self._blocked(tenant),
        )

    @rule(
        tenant=tenants,
        name=st.sampled_from(CUSTOM),
        kind=role_kinds,
        data=st.data(),
    )
    def define_role(self, tenant: str, name: str, kind: RoleKind, data: st.DataObject) -> None:
        """(Re)define a custom role: its holders gain or lose at once (sub-users capped)."""
        pool = GLOBAL_POOL if kind == "global" else DEVICE_POOL
        perms = data.draw(st.sets(st.sampled_from(pool), min_size=1, max_size=3))
        t = self.tn.tenant(self.tenant_ids[tenant])
        self._attempt(lambda: t.define_role(name, perms, kind=kind), self._blocked(tenant))

    @rule(tenant=tenants, name=st.sampled_from(CUSTOM), kind=role_kinds)
    def delete_role(self, tenant: str, name: str, kind: RoleKind) -> None:
        oracle = self._oracle()
        tid = self.tenant_ids[tenant]
        expected = self._blocked(tenant)
        if not expected and (tid, kind, name) not in oracle.custom:
            expected = {NotFound}
        elif not expected:
            # every grant of it, in its window or not: a record until revoked
            grants = oracle.all_role_grants if kind == "global" else oracle.all_inventory
            held = [r for r in grants if r.tenant_id == tid and r.role == name]
            expected = {InUse} if held else set()
        t = self.tn.tenant(tid)
        self._attempt(lambda: t.delete_role(name, kind=kind), expected)

    @rule(tenant=tenants, role=st.none() | st.sampled_from(INVENTORY_ROLES))
    def default_member_role(self, tenant: str, role: str | None) -> None:
        oracle = self._oracle()
        expected = self._blocked(tenant)
        if role is not None and not self._role_known(oracle, tenant, "inventory", role):
            expected |= {NotFound}  # looked up before or after the tenant's state
        t = self.tn.tenant(self.tenant_ids[tenant])
        if self._attempt(lambda: t.set_default_member_role(role), expected):
            assert t.default_member_role() == role

    # ------------------------------------------------------------------ tenants, reopen

    @rule(tenant=tenants, suspend=st.booleans())
    def suspension(self, tenant: str, suspend: bool) -> None:
        tid = self.tenant_ids[tenant]
        write = self.tn.suspend_tenant if suspend else self.tn.activate_tenant
        # Below a suspended tenant only activation is accepted.
        parent = self.tn.get_tenant(tid).parent_id
        reach = self._oracle().reach
        above = parent is not None and reach.suspended_blocker(parent) is not None
        self._attempt(lambda: write(tid), {TenantSuspended} if suspend and above else set())

    @rule()
    def reopen(self) -> None:
        """A new handle on the same store rebuilds the access state from the snapshot."""
        self.tn = tenancy.Tenancy(self.store, clock=self.clock)

    @rule(hours=st.integers(-3, 3).filter(bool))
    def tick(self, hours: int) -> None:
        """Time passes, or the clock steps back: windows open and close, either way."""
        self.now += hours * HOUR

    # ------------------------------------------------------------------ delegation, acting

    @rule(tenant=tenants, o=indices, d=indices, start=starts, hours=lengths)
    def delegate(self, tenant: str, o: int, d: int, start: int | None, hours: int | None) -> None:
        owner, delegate = self._one(tenant, "user", o), self._one(tenant, "user", d)
        if owner is None or delegate is None:
            return
        expected = self._blocked(tenant)
        if not expected and (
            owner == delegate
            or not self._oracle().holds_tenant_wide(delegate, "user_management:CREATE")
        ):
            expected = {InvalidValue}
        valid_from, until = self._window(start, hours)
        t = self.tn.tenant(self.tenant_ids[tenant])
        self._attempt(
            lambda: t.delegate(owner, delegate, valid_from=valid_from, until=until), expected
        )

    def _held(self) -> dict[str, frozenset[tuple[str, str]]]:
        """Every (permission, device) that check allows, per user."""
        snap = self.store.snapshot()
        return {
            u.id: frozenset(
                (p, d.id) for p in PERMISSIONS for d in snap.devices if self.tn.check(u.id, p, d.id)
            )
            for u in snap.users
        }

    def _managed(self, oracle: AccessOracle, actor: str) -> set[str]:
        """The users below the actor, or below an owner who delegated to it (a delegation
        in force: not ended, and the actor holding user_management:CREATE), by DOMAIN.md."""
        heads = {actor}
        if oracle.holds_tenant_wide(actor, "user_management:CREATE"):
            heads |= {r.owner_id for r in oracle.delegations if r.delegate_id == actor}
        return {u for u in oracle.reach.users if heads & set(oracle.owners(u))}

    @rule(
        tenant=tenants,
        a=indices,
        act=st.sampled_from(ACTS),
        x=indices,
        y=indices,
        role=st.sampled_from((*GLOBAL_ROLES, *INVENTORY_ROLES)),
    )
    def acting_write(self, tenant: str, a: int, act: str, x: int, y: int, role: str) -> None:
        """Any user of the tenant acts on any user."""
        actor = self._one(tenant, "user", a)
        if actor is not None:
            self._act(tenant, actor, self._one(tenant, "user", x), act, y, role)

    @rule(
        tenant=tenants,
        act=st.sampled_from(ACTS),
        x=indices,
        y=indices,
        role=st.sampled_from((*GLOBAL_ROLES, *INVENTORY_ROLES)),
    )
    def owner_acting(self, tenant: str, act: str, x: int, y: int, role: str) -> None:
        """u1, the owner of the initial hierarchy, acts on one of the users it manages."""
        actor = f"{tenant.lower()}-u1"
        oracle = self._oracle()
        if actor not in oracle.reach.users:
            return
        managed = sorted(self._managed(oracle, actor))
        self._act(tenant, actor, managed[x % len(managed)] if managed else actor, act, y, role)

    def _act(self, tenant: str, actor: str, user: str | None, act: str, y: int, role: str) -> None:
        """The actor makes the write ``act`` about ``user`` (and the y-th group, or the y-th
        user as a second user) through ``as_user``. Refused: nothing changes. Accepted by an
        actor without tenant-wide powers: it holds nothing more than before, and only itself
        and the users it manages hold anything different."""
        group = self._one(tenant, "group", y)
        if user is None or group is None:
            return
        oracle = self._oracle()
        if not oracle.active(actor):
            return
        acting = self.tn.as_user(actor)
        t = acting.tenant(self.tenant_ids[tenant])
        other = self._one(tenant, "user", y) or user
        self.serial += 1
        email = f"a{self.serial}@{tenant.lower()}.example"
        writes: dict[str, Callable[[], object]] = {
            "grant_role": lambda: t.grant_role(user, role),
            "revoke_role": lambda: t.revoke_role(user, role),
            "grant_inventory_role": lambda: t.grant_inventory_role(user, role, group=group),
            "revoke_inventory_role": lambda: t.revoke_inventory_role(user, role, group=group),
            "add_member": lambda: t.add_member(group, user),
            "remove_member": lambda: t.remove_member(group, user),
            "set_owner": lambda: t.set_owner(user, other),
            "release": lambda: t.set_owner(user, None),
            "create_user": lambda: t.create_user(email, owner=other),
            "disable": lambda: t.update_user(user, enabled=False),
            "delegate": lambda: t.delegate(actor, user),
            "revoke_delegation": lambda: t.revoke_delegation(other, user),
            "define_role": lambda: t.define_role(role, ["device:ADMIN", "audit:READ"]),
        }
        powerful = any(oracle.holds_tenant_wide(actor, p) for p in POWERS)
        managed = self._managed(oracle, actor)
        before = self._held()
        revision = self.tn.revision
        snapshot = self.store.snapshot()
        try:
            writes[act]()
        except TenancyError:
            assert self.tn.revision == revision, "a refused write moved the revision"
            assert self.store.snapshot() == snapshot, "a refused write changed the store"
            event(f"acting: refused ({'powerful' if powerful else 'plain'})")
            return
        event(f"acting: accepted ({'powerful' if powerful else 'plain'})")
        if powerful:
            return
        after = self._held()
        assert after.get(actor, frozenset()) <= before[actor], (act, actor, "raised itself")
        assert all(not after[u] for u in after if u not in before), "a new user holds something"
        changed = {u for u in before if after.get(u) != before[u]}
        assert changed <= managed | {actor}, (act, actor, changed - managed)
        if changed - {actor}:
            event("acting: a plain actor changed what a user it manages holds")

    # ------------------------------------------------------------------ the properties

    @invariant()
    def index_is_consistent(self) -> None:
        self.tn.index.check_invariants()

    @invariant()
    def listings_checks_and_the_oracle_agree(self) -> None:
        """(a), (b) and (c) for every user, device and permission."""
        if not self.tenant_ids:
            return
        tn = self.tn
        revision = tn.revision
        snap = self.store.snapshot()
        oracle = AccessOracle(snap, now=self.now)
        tenant_of = {u.id: u.tenant_id for u in snap.users}
        tenant_of.update({d.id: d.tenant_id for d in snap.devices})
        users = [u.id for u in snap.users] + [UNKNOWN_USER]
        devices = [d.id for d in snap.devices] + [UNKNOWN_DEVICE]
        owner_of = {u.id: u.owner_id for u in snap.users}
        for perm in PERMISSIONS:
            allowed: dict[str, set[str]] = {
                u: {d for d in devices if tn.check(u, perm, d)} for u in users
            }
            for u in users:
                # (c) the definition, written from DOMAIN.md alone (which denies every pair
                # across tenants, and unknown ids, at once)
                for d in devices:
                    expected = tenant_of.get(u, "?") == tenant_of.get(d) and oracle.check(
                        u, perm, d
                    )
                    assert (d in allowed[u]) == expected, (u, perm, d)
                # (a) a listing never disagrees with a check
                listed = walk_devices_for(tn, u, limit=2, permission=perm)
                assert listed == sorted(allowed[u]), (u, perm, listed)
                # (b) a sub-user never above its owner
                owner = owner_of.get(u)
                if owner is not None:
                    assert allowed[u] <= allowed[owner], (u, owner, perm)
                    if allowed[u]:
                        event("a sub-user holds a permission")
                    if any(oracle.holds_itself(u, perm, d) for d in devices if d not in allowed[u]):
                        event("a sub-user's own permission is capped by an owner")
            # explain agrees with check: on every other pair of one tenant (explaining costs
            # more than checking), and on unknown ids
            pairs = [(u, d) for u in users for d in devices if tenant_of.get(u) == tenant_of.get(d)]
            for u, d in [*pairs[::2], (UNKNOWN_USER, devices[0]), (users[0], UNKNOWN_DEVICE)]:
                explained = tn.explain(u, d, permission=perm)
                assert explained.allowed == (d in allowed[u]), (u, d, perm, explained)
                assert explained.permission == perm
        assert tn.revision == revision, "a query wrote something"
        assert self.store.snapshot() == snap, "a query changed the store"


_profile = settings()  # the loaded profile (tests/conftest.py)
AccessMachine.TestCase.settings = settings(
    max_examples=max(5, _profile.max_examples // 4),
    stateful_step_count=_profile.stateful_step_count,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestAccessAgainstOracle = AccessMachine.TestCase
