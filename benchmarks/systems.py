"""The systems under measurement, behind one small interface.

Every system answers the same questions on the same workload: ``verify``, a first page and
the full list of the devices a user reaches, the users who reach a device (whom to alert),
and, where it keeps data of its own, the writes. Each returns what its users get (tenancy:
records; the physical limit: records looked up by id; SQL, casbin, oso: ids); ``ids``
turns an answer into sorted ids for the agreement checks.

Keys: ``tenancy`` (memory store), ``tenancy-sqlite`` (the SQLite store, a file), ``limit``
(the physical limit), ``sql`` (naive recursive SQL), ``casbin`` (pycasbin), ``oso``
(oso 0.27). The peers are imported only when asked for: they are in the ``bench`` extra.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import tenancy
from benchmarks.naive_sql import NaiveSQL
from tenancy.handle.tenancy import Tenancy
from tenancy.rules.reach import MAX_PAGE_SIZE
from tenancy.testing.workload import PhysicalLimit, Workload, apply

__all__ = [
    "ALL_SYSTEMS",
    "LABELS",
    "PEERS",
    "System",
    "WriteTargets",
    "available",
    "load",
    "package_version",
]

ALL_SYSTEMS = ("tenancy", "tenancy-sqlite", "limit", "sql", "casbin", "oso")
PEERS = {"casbin": "casbin", "oso": "oso"}
"""Peer system -> the package it needs (from the ``bench`` extra)."""

LABELS = {
    "tenancy": "tenancy (memory store)",
    "tenancy-sqlite": "tenancy (SQLite store)",
    "limit": "physical limit",
    "sql": "naive recursive SQL",
    "casbin": "pycasbin (RBAC)",
    "oso": "oso 0.27 (Polar)",
    "call": "empty call",
}

Listing = Literal["native", "filter"]


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return ""


def available(key: str) -> bool:
    """Whether the system can be loaded here (a peer needs its package installed)."""
    package = PEERS.get(key)
    return package is None or importlib.util.find_spec(package) is not None


@dataclass(frozen=True)
class WriteTargets:
    """What the writes act on, chosen once from the plan (tenant 0)."""

    tenant_id: str
    user_id: str
    """A leaf user (a member of one site)."""
    site_id: str
    """The user's site; ``site_tag`` is the tag its rule matches."""
    site_tag: tuple[str, str]
    device_id: str
    """A site device the user does not reach."""
    device_site: str
    """The site that associates ``device_id`` (by its tag)."""
    moved: str
    """The group whose subtree moves (about 1,000 groups)."""
    home: str
    away: str


class System:
    """One system under measurement: the queries every system answers, and its writes."""

    key: str = ""
    listing: Listing = "native"
    """``filter``: the system has no listing; it filters every device (or user) instead."""
    writes = False

    def verify(self, user_id: str, device_id: str) -> bool:
        raise NotImplementedError

    def first_page(self, user_id: str, limit: int) -> Sequence[Any]:
        raise NotImplementedError

    def all_devices(self, user_id: str) -> Sequence[Any]:
        raise NotImplementedError

    def users_for(self, device_id: str) -> Sequence[Any]:
        raise NotImplementedError

    def ids(self, answer: Sequence[Any]) -> list[str]:
        return [str(x) for x in answer]

    # Writes: each returns a do and an undo (or one call for creation).
    def tag_change(self, t: WriteTargets) -> tuple[Callable[[], object], Callable[[], object]]:
        raise NotImplementedError

    def membership_change(
        self, t: WriteTargets
    ) -> tuple[Callable[[], object], Callable[[], object]]:
        raise NotImplementedError

    def device_creation(self, t: WriteTargets) -> Callable[[str], object]:
        raise NotImplementedError

    def subtree_move(self, t: WriteTargets) -> tuple[Callable[[], object], Callable[[], object]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the system holds (files, connections)."""


class TenancySystem(System):
    writes = True

    def __init__(self, key: str, tn: Tenancy) -> None:
        self.key = key
        self.tn = tn
        self.verify = tn.verify  # type: ignore[method-assign]  # the bound method, as apps call it

    def first_page(self, user_id: str, limit: int) -> Sequence[Any]:
        return self.tn.devices_for(user_id, limit=limit).items

    def all_devices(self, user_id: str) -> Sequence[Any]:
        out: list[Any] = []
        after = None
        while True:
            page = self.tn.devices_for(user_id, limit=MAX_PAGE_SIZE, after=after)
            out.extend(page.items)
            if page.next is None:
                return out
            after = page.next

    def users_for(self, device_id: str) -> Sequence[Any]:
        return self.tn.users_for(device_id)

    def ids(self, answer: Sequence[Any]) -> list[str]:
        return [record.id for record in answer]

    def tag_change(self, t: WriteTargets) -> tuple[Callable[[], object], Callable[[], object]]:
        scope = self.tn.tenant(t.tenant_id)
        return (
            lambda: scope.tag_device(t.device_id, [t.site_tag]),
            lambda: scope.untag_device(t.device_id, [t.site_tag]),
        )

    def membership_change(
        self, t: WriteTargets
    ) -> tuple[Callable[[], object], Callable[[], object]]:
        scope = self.tn.tenant(t.tenant_id)
        return (
            lambda: scope.add_member(t.device_site, t.user_id),
            lambda: scope.remove_member(t.device_site, t.user_id),
        )

    def device_creation(self, t: WriteTargets) -> Callable[[str], object]:
        scope = self.tn.tenant(t.tenant_id)
        tags = [t.site_tag, ("type", "pump")]
        return lambda device_id: scope.create_device("bench", tags=tags, id=device_id)

    def subtree_move(self, t: WriteTargets) -> tuple[Callable[[], object], Callable[[], object]]:
        scope = self.tn.tenant(t.tenant_id)
        return (
            lambda: scope.move_group(t.moved, t.away),
            lambda: scope.move_group(t.moved, t.home),
        )

    def close(self) -> None:
        self.tn.close()


class LimitSystem(System):
    """Every answer precomputed: frozensets for verify, each user's whole sorted answer for
    the listings, each device's users for users_for; listings map ids to records."""

    key = "limit"

    def __init__(self, limit: PhysicalLimit) -> None:
        self.limit = limit
        users, cover = limit.user_groups, limit.device_cover

        def physical(u: str, d: str) -> bool:
            return not users[u].isdisjoint(cover[d])

        self.verify = physical  # type: ignore[method-assign,assignment]
        self._answers: dict[str, list[str]] = {}
        self._users: dict[str, list[str]] = {}
        self._records = {d: d for d in cover}

    def prepare(self, user_ids: list[str], device_ids: list[str]) -> None:
        """Precompute the answers of the users and devices that will be asked."""
        for u in user_ids:
            self._answers[u] = list(self.limit.devices(u))
        for d in device_ids:
            self._users[d] = self.limit.users(d)

    def first_page(self, user_id: str, limit: int) -> Sequence[Any]:
        records = self._records
        return [records[d] for d in self._answers[user_id][:limit]]

    def all_devices(self, user_id: str) -> Sequence[Any]:
        records = self._records
        return [records[d] for d in self._answers[user_id]]

    def users_for(self, device_id: str) -> Sequence[Any]:
        return list(self._users[device_id])


class SQLSystem(System):
    key = "sql"
    writes = True

    def __init__(self, w: Workload) -> None:
        self.db = NaiveSQL(w)
        self.verify = self.db.verify  # type: ignore[method-assign]

    def first_page(self, user_id: str, limit: int) -> Sequence[Any]:
        return self.db.first_page(user_id, limit)

    def all_devices(self, user_id: str) -> Sequence[Any]:
        return self.db.all_devices(user_id)

    def users_for(self, device_id: str) -> Sequence[Any]:
        return self.db.users_for(device_id)

    def tag_change(self, t: WriteTargets) -> tuple[Callable[[], object], Callable[[], object]]:
        return (
            lambda: self.db.tag(t.device_id, *t.site_tag),
            lambda: self.db.untag(t.device_id, *t.site_tag),
        )

    def membership_change(
        self, t: WriteTargets
    ) -> tuple[Callable[[], object], Callable[[], object]]:
        return (
            lambda: self.db.add_member(t.device_site, t.user_id),
            lambda: self.db.remove_member(t.device_site, t.user_id),
        )

    def device_creation(self, t: WriteTargets) -> Callable[[str], object]:
        tags = [t.site_tag, ("type", "pump")]
        return lambda device_id: self.db.create_device(device_id, t.tenant_id, tags)

    def subtree_move(self, t: WriteTargets) -> tuple[Callable[[], object], Callable[[], object]]:
        return (
            lambda: self.db.move_group(t.moved, t.away),
            lambda: self.db.move_group(t.moved, t.home),
        )

    def close(self) -> None:
        self.db.close()


class CasbinSystem(System):
    key = "casbin"
    writes = True

    def __init__(self, w: Workload) -> None:
        from benchmarks.peer_casbin import CasbinRBAC

        self.peer = CasbinRBAC(w)
        self.verify = self.peer.verify  # type: ignore[method-assign]

    def first_page(self, user_id: str, limit: int) -> Sequence[Any]:
        return self.peer.first_page(user_id, limit)

    def all_devices(self, user_id: str) -> Sequence[Any]:
        return self.peer.all_devices(user_id)

    def users_for(self, device_id: str) -> Sequence[Any]:
        return self.peer.users_for(device_id)

    def tag_change(self, t: WriteTargets) -> tuple[Callable[[], object], Callable[[], object]]:
        return (
            lambda: self.peer.tag(t.device_id, t.site_id),
            lambda: self.peer.untag(t.device_id, t.site_id),
        )

    def membership_change(
        self, t: WriteTargets
    ) -> tuple[Callable[[], object], Callable[[], object]]:
        return (
            lambda: self.peer.add_member(t.device_site, t.user_id),
            lambda: self.peer.remove_member(t.device_site, t.user_id),
        )

    def device_creation(self, t: WriteTargets) -> Callable[[str], object]:
        return lambda device_id: self.peer.create_device(device_id, [t.site_id])

    def subtree_move(self, t: WriteTargets) -> tuple[Callable[[], object], Callable[[], object]]:
        return (
            lambda: self.peer.move_group(t.moved, t.home, t.away),
            lambda: self.peer.move_group(t.moved, t.away, t.home),
        )


class OsoSystem(System):
    key = "oso"
    listing = "filter"

    def __init__(self, w: Workload) -> None:
        from benchmarks.peer_oso import OsoPolar

        self.peer = OsoPolar(w)
        self.verify = self.peer.verify  # type: ignore[method-assign]

    def first_page(self, user_id: str, limit: int) -> Sequence[Any]:
        return self.peer.first_page(user_id, limit)

    def all_devices(self, user_id: str) -> Sequence[Any]:
        return self.peer.all_devices(user_id)

    def users_for(self, device_id: str) -> Sequence[Any]:
        return self.peer.users_for(device_id)


def load(key: str, w: Workload | None, *, db: Path | None = None) -> System:
    """Load one system from the plan (``tenancy`` creates the plan through the public API,
    so ``w`` must be a plan only; ``tenancy-sqlite`` opens the file ``db``)."""
    if key == "tenancy-sqlite":
        if db is None:
            raise ValueError("tenancy-sqlite opens a file: pass db=")
        return TenancySystem(key, tenancy.open(str(db)))
    if w is None:
        raise ValueError(f"{key} is built from the workload's plan: pass it")
    if key == "tenancy":
        return TenancySystem(key, apply(w).tn)
    if key == "limit":
        return LimitSystem(PhysicalLimit.from_plan(w))
    if key == "sql":
        return SQLSystem(w)
    if key == "casbin":
        return CasbinSystem(w)
    if key == "oso":
        return OsoSystem(w)
    raise ValueError(f"unknown system {key!r}: one of {', '.join(ALL_SYSTEMS)}")
