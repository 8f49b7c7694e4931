"""Seeded synthetic workloads: the hospital model of the source webinar, at any size.

One or a few tenants, each a forest with one root group ("Hospital group") above regions,
sub-regions and so on down to *sites* (the leaves). Devices are associated the ways real
deployments do it:

- most carry a ``("site", name)`` tag that the site's group rule ``("site", name)`` matches
  (site names repeat across tenants on purpose: a rule must never match another tenant's
  device);
- some ("mobile") have no site tag and are associated by id with a group at any level, and a
  few site devices are also listed by id on a group elsewhere (two paths to one device);
- gateways carry a site tag and have child devices that carry none (they follow their
  gateway);
- a few spares are associated with nothing (nobody reaches them).

Users sit at every level: a few at the root, some in the middle of the tree, most at sites;
some have a second membership elsewhere.

:func:`plan` decides every record from the seed without touching a handle (the benchmarks
load the same plan into peer systems); :func:`apply` creates it through the public API
(bulk where the API allows it: :meth:`~tenancy.TenantScope.create_devices` makes a whole
batch of devices in one commit), with ids chosen by the generator, so the same spec and seed
give the same store; :func:`build` does both. The seed is kept on the :class:`Workload` and
logged; pass it back to rebuild a failing case.

:meth:`Workload.limit` gives the *physical limit*: ``user -> frozenset(direct groups)`` and
``device -> frozenset(covering groups)``, computed from the generator's own plan by a naive
walk up the parent pointers, never from the index, so it doubles as an oracle.

>>> w = build(SCALES["S"].scaled(0.1), seed=7)
>>> lim = w.limit()
>>> pairs = sample_pairs(w, 30, seed=1)
>>> all(w.tn.verify(p.user_id, p.device_id) == lim.verify(p.user_id, p.device_id) for p in pairs)
True
"""

from __future__ import annotations

import logging
import random
import secrets
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from heapq import merge
from typing import Literal, NamedTuple

import tenancy
from tenancy.handle.tenancy import Tenancy

__all__ = [
    "DEFAULT_SEED",
    "SCALES",
    "DevicePlan",
    "Pair",
    "PhysicalLimit",
    "UserKind",
    "Workload",
    "WorkloadSpec",
    "apply",
    "build",
    "plan",
    "sample_pairs",
]

log = logging.getLogger(__name__)

DEFAULT_SEED = 20_240_611
"""The seed used when none is given, so two runs of a benchmark build the same store."""

UserKind = Literal["root", "middle", "leaf"]
DeviceKind = Literal["site", "mobile", "gateway", "child", "spare"]

_LEVEL_NAMES = ("Hospital group", "Region", "Sub-region", "District", "Area", "Zone")
_EQUIPMENT = ("generator", "pump", "monitor", "ventilator", "chiller", "infusion", "scanner")


@dataclass(frozen=True)
class WorkloadSpec:
    """The size and shape of a workload. Totals are across all tenants."""

    devices: int
    groups: int
    users: int
    depth: int
    """Levels of groups in each tenant, the root included (sites are the deepest level)."""
    tenants: int = 2
    main_share: float = 0.9
    """Fraction of every total that goes to the first tenant (the rest is split evenly)."""
    gateway_share: float = 0.01
    children_per_gateway: int = 5
    mobile_share: float = 0.03
    """Devices with no site tag, associated by id with a group at any level."""
    extra_id_share: float = 0.01
    """Site devices also listed by id on a random group (a second path to them)."""
    spare_share: float = 0.01
    root_user_share: float = 0.005
    middle_user_share: float = 0.2
    second_membership_share: float = 0.1
    batch: int = 10_000
    """Devices per create_devices call (one commit each)."""

    def scaled(self, factor: float) -> WorkloadSpec:
        """The same shape with every total multiplied by ``factor`` (at least one each)."""
        return replace(
            self,
            devices=max(1, round(self.devices * factor)),
            groups=max(self.tenants, round(self.groups * factor)),
            users=max(self.tenants, round(self.users * factor)),
        )


SCALES: dict[str, WorkloadSpec] = {
    "S": WorkloadSpec(devices=1_000, groups=100, users=200, depth=4),
    "M": WorkloadSpec(devices=100_000, groups=10_000, users=20_000, depth=5),
    "L": WorkloadSpec(devices=1_000_000, groups=100_000, users=100_000, depth=6),
}
"""S for tests and the smoke run, M for the targets of issue 2, L (a million devices, depth
up to 6) for issue 6."""


@dataclass(frozen=True, slots=True)
class DevicePlan:
    tenant_id: str
    kind: DeviceKind
    tags: frozenset[tuple[str, str]]
    parent_id: str | None = None


class Pair(NamedTuple):
    """A sampled (user, device) question with the physical limit's answer."""

    user_id: str
    device_id: str
    allowed: bool
    user_kind: UserKind


@dataclass
class Workload:
    """A built workload: the handle it was built in, and the plan it was built from."""

    spec: WorkloadSpec
    seed: int
    tenants: list[str] = field(default_factory=list)
    tenant_domain: dict[str, str] = field(default_factory=dict)
    group_name: dict[str, str] = field(default_factory=dict)
    """Every group, parents first (the order they are created in)."""
    group_tenant: dict[str, str] = field(default_factory=dict)
    group_parent: dict[str, str | None] = field(default_factory=dict)
    group_level: dict[str, int] = field(default_factory=dict)
    group_rules: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    """Exact-pair tag rules of each group (sites have one, other groups none)."""
    group_device_ids: dict[str, list[str]] = field(default_factory=dict)
    devices: dict[str, DevicePlan] = field(default_factory=dict)
    user_tenant: dict[str, str] = field(default_factory=dict)
    user_groups: dict[str, list[str]] = field(default_factory=dict)
    user_kind: dict[str, UserKind] = field(default_factory=dict)
    _tn: Tenancy | None = field(default=None, repr=False)

    @property
    def tn(self) -> Tenancy:
        """The handle :func:`apply` created the plan in."""
        if self._tn is None:
            raise ValueError(f"{self!r} is a plan only: apply() creates it in a handle")
        return self._tn

    def __repr__(self) -> str:
        return (
            f"Workload(seed={self.seed}, devices={len(self.devices)}, "
            f"groups={len(self.group_parent)}, users={len(self.user_groups)}, "
            f"tenants={len(self.tenants)}, depth={self.spec.depth})"
        )

    def groups_at(self, level: int, tenant_id: str | None = None) -> list[str]:
        """The groups at ``level`` (0 is the root), in id order."""
        tenant_id = self.tenants[0] if tenant_id is None else tenant_id
        return sorted(
            g
            for g, lv in self.group_level.items()
            if lv == level and self.group_tenant[g] == tenant_id
        )

    def subtree(self, group_id: str) -> list[str]:
        """The group and every group below it, from the plan."""
        children: dict[str, list[str]] = defaultdict(list)
        for g, p in self.group_parent.items():
            if p is not None:
                children[p].append(g)
        out = [group_id]
        for g in out:
            out.extend(children[g])
        return out

    def associating(self, device_id: str) -> list[str]:
        """The groups that associate the device directly (rule 1 of the index: its id is
        listed on the group, or the group's tag rule matches one of its tags), from the
        plan, sorted. Peers are given this and must work out the hierarchy themselves."""
        plan = self.devices[device_id]
        groups = list(self._id_groups.get(device_id, ()))
        for key, value in plan.tags:
            groups.extend(self._rule_groups.get((plan.tenant_id, key, value), ()))
        return sorted(set(groups))

    @cached_property
    def _rule_groups(self) -> dict[tuple[str, str, str], list[str]]:
        rule_groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for gid, rules in self.group_rules.items():
            for key, value in rules:
                rule_groups[(self.group_tenant[gid], key, value)].append(gid)
        return dict(rule_groups)

    @cached_property
    def _id_groups(self) -> dict[str, list[str]]:
        id_groups: dict[str, list[str]] = defaultdict(list)
        for gid, ids in self.group_device_ids.items():
            for did in ids:
                id_groups[did].append(gid)
        return dict(id_groups)

    def limit(self) -> PhysicalLimit:
        """The physical limit of this workload, computed once (see :class:`PhysicalLimit`)."""
        return self._limit

    @cached_property
    def _limit(self) -> PhysicalLimit:
        return PhysicalLimit.from_plan(self)


class PhysicalLimit:
    """The fastest possible answers: every reach precomputed as plain frozensets.

    ``user_groups[u]`` is the frozenset of u's direct groups; ``device_cover[d]`` the
    frozenset of groups that cover d. u reaches d exactly when they intersect (every user of
    a workload is enabled and every tenant active, and covers never cross tenants). Built by
    a naive walk over the plan, independent of the library's index.
    """

    def __init__(
        self, user_groups: dict[str, frozenset[str]], device_cover: dict[str, frozenset[str]]
    ) -> None:
        self.user_groups = user_groups
        self.device_cover = device_cover
        by_group: dict[str, list[str]] = defaultdict(list)
        for did in sorted(device_cover):
            for gid in device_cover[did]:
                by_group[gid].append(did)
        self.covered: dict[str, list[str]] = dict(by_group)
        """group -> the devices it covers, sorted by id."""
        members: dict[str, list[str]] = defaultdict(list)
        for uid in sorted(user_groups):
            for gid in user_groups[uid]:
                members[gid].append(uid)
        self.members: dict[str, list[str]] = dict(members)

    @classmethod
    def from_plan(cls, w: Workload) -> PhysicalLimit:
        interned: dict[frozenset[str], frozenset[str]] = {}

        def intern(s: frozenset[str]) -> frozenset[str]:
            return interned.setdefault(s, s)

        def ancestors(gid: str) -> Iterator[str]:
            walk: str | None = gid
            while walk is not None:
                yield walk
                walk = w.group_parent[walk]

        cover: dict[str, frozenset[str]] = {}

        def cover_of(did: str) -> frozenset[str]:
            known = cover.get(did)
            if known is not None:
                return known
            plan = w.devices[did]
            groups: set[str] = set()
            for gid in w.associating(did):
                groups.update(ancestors(gid))
            if plan.parent_id is not None:
                groups.update(cover_of(plan.parent_id))
            result = cover[did] = intern(frozenset(groups))
            return result

        for did in w.devices:
            cover_of(did)
        users = {u: intern(frozenset(gs)) for u, gs in w.user_groups.items()}
        return cls(users, cover)

    def verify(self, user_id: str, device_id: str) -> bool:
        return not self.user_groups[user_id].isdisjoint(self.device_cover[device_id])

    def devices(self, user_id: str) -> Iterator[str]:
        """Every device the user reaches, sorted by id, lazily."""
        sources = [self.covered.get(g, []) for g in self.user_groups[user_id]]
        last = None
        for did in merge(*sources):
            if did != last:
                yield did
                last = did

    def first_page(self, user_id: str, limit: int = 100, after: str | None = None) -> list[str]:
        out: list[str] = []
        for did in self.devices(user_id):
            if after is not None and did <= after:
                continue
            out.append(did)
            if len(out) == limit:
                break
        return out

    def users(self, device_id: str) -> list[str]:
        """Every user who reaches the device, sorted by id."""
        found = {u for g in self.device_cover[device_id] for u in self.members.get(g, ())}
        return sorted(found)


# --------------------------------------------------------------------------- building


def _level_sizes(groups: int, depth: int) -> list[int]:
    """Level sizes 1, r, r^2, ... adding up to ``groups``, each at least the one above."""
    depth = max(1, min(depth, groups))
    lo, hi = 1.0, float(groups)
    for _ in range(60):
        r = (lo + hi) / 2
        if sum(r**k for k in range(depth)) > groups:
            hi = r
        else:
            lo = r
    sizes = [1]
    for k in range(1, depth - 1):
        sizes.append(max(sizes[-1], round(lo**k)))
    if depth > 1:
        sizes.append(groups - sum(sizes))
    while depth > 1 and sizes[-1] < sizes[-2]:  # rounding overshot: shrink the middle
        k = max(i for i in range(1, depth - 1) if sizes[i] > sizes[i - 1] or i == 1)
        sizes[k] -= 1
        sizes[-1] += 1
    return sizes


def _split(total: int, parts: int, main_share: float) -> list[int]:
    """``total`` over ``parts`` tenants: ``main_share`` to the first, the rest evenly, and
    at least one each while there is one to give."""
    if parts == 1:
        return [total]
    main = max(min(total, 1), min(round(total * main_share), total - (parts - 1)))
    base, extra = divmod(total - main, parts - 1)
    return [main] + [base + (1 if i < extra else 0) for i in range(parts - 1)]


def plan(spec: WorkloadSpec, *, seed: int | None = DEFAULT_SEED) -> Workload:
    """The workload's plan alone, with no handle: every record and association it would
    create, decided by the seed. :func:`apply` creates it in a handle; peers of the
    benchmarks load it into their own structures.

    ``seed=None`` draws a new seed; either way it is logged and kept on the result.
    Runtime complexity: O(records); L (a million devices) takes a few seconds.
    """
    if spec.groups < spec.tenants or spec.depth < 1:
        raise ValueError(f"{spec}: every tenant needs a root group, and depth is at least 1")
    if seed is None:
        seed = secrets.randbelow(2**32)
    log.info("planning workload %s with seed=%d", spec, seed)
    rng = random.Random(seed)  # noqa: S311 - seeded test data, not secrets
    w = Workload(spec=spec, seed=seed)
    devices = _split(spec.devices, spec.tenants, spec.main_share)
    groups = _split(spec.groups, spec.tenants, spec.main_share)
    users = _split(spec.users, spec.tenants, spec.main_share)
    for k in range(spec.tenants):
        _plan_tenant(w, rng, k, n_devices=devices[k], n_groups=groups[k], n_users=users[k])
    return w


def apply(w: Workload, tn: Tenancy | None = None) -> Workload:
    """Create the planned records through the public API in ``tn`` (a fresh in-memory
    handle by default) and keep the handle on the workload. Bulk where the API allows it:
    :meth:`~tenancy.TenantScope.create_devices` makes ``spec.batch`` devices per commit.
    Runtime complexity: O(records x depth)."""
    if w._tn is not None:
        raise ValueError(f"{w!r} was already created in a handle")
    tn = tn if tn is not None else tenancy.open()
    for tenant_id in w.tenants:
        domain = w.tenant_domain[tenant_id]
        tn.create_tenant(
            domain=domain,
            name=f"Hospital group {domain.rpartition('-')[2]}",
            admin_email=f"admin@{domain}.example",
            id=tenant_id,
        )
    scopes = {tenant_id: tn.tenant(tenant_id) for tenant_id in w.tenants}
    for gid, parent in w.group_parent.items():  # parents first: the plan's order
        scopes[w.group_tenant[gid]].create_group(
            w.group_name[gid], parent=parent, device_tags=w.group_rules[gid], id=gid
        )
    batch: list[dict[str, object]] = []
    batch_tenant = None
    for did, device in w.devices.items():  # gateways before their children: the plan's order
        if batch and (device.tenant_id != batch_tenant or len(batch) == w.spec.batch):
            scopes[str(batch_tenant)].create_devices(batch)
            batch = []
        batch_tenant = device.tenant_id
        batch.append(
            {
                "name": f"{device.kind} {int(did.partition('-')[2])}",
                "tags": sorted(device.tags),
                "id": did,
                "parent": device.parent_id,
            }
        )
    if batch:
        scopes[str(batch_tenant)].create_devices(batch)
    for gid in sorted(w.group_device_ids):
        scopes[w.group_tenant[gid]].associate(gid, device_ids=w.group_device_ids[gid])
    for uid, chosen in w.user_groups.items():
        t = scopes[w.user_tenant[uid]]
        domain = w.tenant_domain[w.user_tenant[uid]]
        t.create_user(
            f"{uid}@{domain}.example", first_name=f"User {int(uid.partition('-')[2])}", id=uid
        )
        for gid in chosen:
            t.add_member(gid, uid)
    w._tn = tn
    return w


def build(
    spec: WorkloadSpec, *, seed: int | None = DEFAULT_SEED, tn: Tenancy | None = None
) -> Workload:
    """Plan the workload and create it in ``tn`` (a fresh in-memory handle by default):
    :func:`plan`, then :func:`apply`. S takes well under a second."""
    return apply(plan(spec, seed=seed), tn)


def _plan_tenant(
    w: Workload, rng: random.Random, k: int, *, n_devices: int, n_groups: int, n_users: int
) -> None:
    spec = w.spec
    domain = f"hospital-{k}"
    tenant_id = f"t-{domain}"
    w.tenants.append(tenant_id)
    w.tenant_domain[tenant_id] = domain

    # Groups, parents first: level sizes grow geometrically; every group above the last
    # level gets at least one child, the rest of the children pick parents at random.
    levels: list[list[str]] = []
    sites: list[str] = []
    serial = 0
    sizes = _level_sizes(n_groups, spec.depth)
    for level, size in enumerate(sizes):
        current: list[str] = []
        last = level == len(sizes) - 1
        for i in range(size):
            gid = f"g{k}-{serial:07d}"
            serial += 1
            if level == 0:
                parent = None
            else:
                above = levels[-1]
                parent = above[i] if i < len(above) else rng.choice(above)
            rules: tuple[tuple[str, str], ...] = ()
            if last:
                rules = (("site", f"site-{len(sites):06d}"),)
                sites.append(gid)
            name = "Site" if last and level else _LEVEL_NAMES[min(level, len(_LEVEL_NAMES) - 1)]
            w.group_name[gid] = f"{name} {i}"
            w.group_tenant[gid] = tenant_id
            w.group_parent[gid] = parent
            w.group_level[gid] = level
            w.group_rules[gid] = rules
            current.append(gid)
        levels.append(current)
    all_groups = [g for level in levels for g in level]
    site_tag = {g: w.group_rules[g][0] for g in sites}

    # Devices: decide every device's kind, then give ids in a shuffled order so a site's
    # devices are spread over the id space, as serial numbers are.
    n_gateways = round(n_devices * spec.gateway_share)
    n_children = min(n_gateways * spec.children_per_gateway, n_devices - n_gateways)
    n_mobile = min(round(n_devices * spec.mobile_share), n_devices - n_gateways - n_children)
    n_spare = min(
        round(n_devices * spec.spare_share), n_devices - n_gateways - n_children - n_mobile
    )
    n_site = n_devices - n_gateways - n_children - n_mobile - n_spare
    counts: list[tuple[DeviceKind, int]] = [
        ("gateway", n_gateways),
        ("child", n_children),
        ("mobile", n_mobile),
        ("spare", n_spare),
        ("site", n_site),
    ]
    kinds = [kind for kind, n in counts for _ in range(n)]
    numbers = list(range(n_devices))
    rng.shuffle(numbers)
    gateways: list[str] = []
    created: list[str] = []
    for kind, number in zip(kinds, numbers, strict=True):
        did = f"d{k}-{number:08d}"
        tags: set[tuple[str, str]] = set()
        parent = None
        if kind in ("site", "gateway"):
            tags.add(site_tag[rng.choice(sites)])
            tags.add(("type", "gateway" if kind == "gateway" else rng.choice(_EQUIPMENT)))
        elif kind == "child":
            parent = gateways[len(created) % len(gateways)]
            tags.add(("type", "sensor"))
        else:
            tags.add(("type", kind))
        if kind == "gateway":
            gateways.append(did)
        w.devices[did] = DevicePlan(tenant_id, kind, frozenset(tags), parent)
        created.append(did)

    # Associations by id: every mobile device with one group at any level, and a few site
    # devices with a second group.
    by_id: dict[str, list[str]] = defaultdict(list)
    site_devices = [d for d in created if w.devices[d].kind == "site"]
    extra = rng.sample(site_devices, min(len(site_devices), round(n_devices * spec.extra_id_share)))
    for did in created:
        if w.devices[did].kind == "mobile":
            by_id[rng.choice(all_groups)].append(did)
    for did in extra:
        by_id[rng.choice(all_groups)].append(did)
    for gid in sorted(by_id):
        w.group_device_ids[gid] = sorted(by_id[gid])

    # Users at every level, and their memberships.
    middle = [g for level in levels[1:-1] for g in level]
    n_root = min(n_users, max(1, round(n_users * spec.root_user_share)))
    n_middle = min(n_users - n_root, round(n_users * spec.middle_user_share)) if middle else 0
    for i in range(n_users):
        uid = f"u{k}-{i:07d}"
        if i < n_root:
            first = levels[0][i % len(levels[0])]
        elif i < n_root + n_middle:
            first = rng.choice(middle)
        else:
            first = rng.choice(sites)
        chosen = [first]
        if len(all_groups) > 1 and rng.random() < spec.second_membership_share:
            second = rng.choice(all_groups[1:])
            if second != first:
                chosen.append(second)
        w.user_tenant[uid] = tenant_id
        w.user_groups[uid] = chosen
        lowest = min(w.group_level[g] for g in chosen)
        leafy = all(w.group_level[g] == len(levels) - 1 for g in chosen)
        w.user_kind[uid] = "root" if lowest == 0 else "leaf" if leafy else "middle"


# --------------------------------------------------------------------------- sampling


def sample_pairs(
    w: Workload,
    n: int,
    *,
    seed: int | None = None,
    kinds: Iterable[UserKind] = ("root", "middle", "leaf"),
) -> list[Pair]:
    """``n`` (user, device) questions with the physical limit's answer: users taken in turn
    from ``kinds``; for each, half the time a device it reaches (when it reaches any) and
    half the time a device drawn from the whole store (mostly denied below the root).
    Deterministic for a given workload and seed (default: the workload's)."""
    rng = random.Random(w.seed if seed is None else seed)  # noqa: S311 - test data
    lim = w.limit()
    by_kind: dict[str, list[str]] = defaultdict(list)
    for uid in sorted(w.user_kind):
        by_kind[w.user_kind[uid]].append(uid)
    order = [k for k in kinds if by_kind.get(k)]
    if not order:
        raise ValueError(f"the workload has no users of kinds {list(kinds)}")
    all_devices = sorted(w.devices)
    pairs: list[Pair] = []
    for i in range(n):
        kind = order[i % len(order)]
        uid = rng.choice(by_kind[kind])
        reachable = [g for g in sorted(lim.user_groups[uid]) if lim.covered.get(g)]
        if reachable and rng.random() < 0.5:
            did = rng.choice(lim.covered[rng.choice(reachable)])
        else:
            did = rng.choice(all_devices)
        pairs.append(Pair(uid, did, lim.verify(uid, did), kind))
    return pairs
