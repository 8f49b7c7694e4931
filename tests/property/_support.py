"""What the property tests compare: every answer a handle gives, as plain data."""

from __future__ import annotations

from typing import Any

import attrs

from tenancy import Explanation, Tenancy

UNKNOWN_USER = "no-such-user"
UNKNOWN_DEVICE = "no-such-device"


@attrs.frozen
class Answers:
    """Every query answer of a handle about every record of its store (and unknown ids).

    Ids only, never names, so renaming compares equal; explanations whole (their reasons
    name ids, not names).
    """

    reach: frozenset[tuple[str, str]]
    devices_for: dict[str, tuple[str, ...]]
    users_for: dict[str, tuple[str, ...]]
    explain: dict[tuple[str, str], Explanation]
    groups_for: dict[str, tuple[str, ...]]


def walk_devices_for(tn: Tenancy, user_id: str, *, limit: int = 3, **filters: Any) -> list[str]:
    """Every page of ``devices_for``, following the cursor."""
    seen: list[str] = []
    after = None
    while True:
        page = tn.devices_for(user_id, limit=limit, after=after, **filters)
        seen.extend(d.id for d in page.items)
        if page.next is None:
            return seen
        after = page.next


def observe(tn: Tenancy) -> Answers:
    """Ask the handle everything, for every user and device the store holds."""
    snapshot = tn.store.snapshot()
    users = [u.id for u in snapshot.users] + [UNKNOWN_USER]
    devices = [d.id for d in snapshot.devices] + [UNKNOWN_DEVICE]
    return Answers(
        reach=frozenset((u, d) for u in users for d in devices if tn.verify(u, d)),
        devices_for={u: tuple(walk_devices_for(tn, u)) for u in users},
        users_for={d: tuple(u.id for u in tn.users_for(d)) for d in devices},
        explain={(u, d): tn.explain(u, d) for u in users for d in devices},
        groups_for={u: tuple(g.id for g in tn.groups_for(u)) for u in users},
    )


def reach_pairs(tn: Tenancy) -> set[tuple[str, str]]:
    """Every (user, device) pair of the store that verify allows."""
    snapshot = tn.store.snapshot()
    return {(u.id, d.id) for u in snapshot.users for d in snapshot.devices if tn.verify(u.id, d.id)}
