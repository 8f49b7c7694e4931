"""The index's view of time beyond single memberships: which users' reach depends on the
clock through a share with a window, and the checks of :mod:`tenancy.index.terms`.

A connector with a window (DOMAIN.md section 9) gives reach through its virtual group and
the destination's groups above it only while the clock is inside the window. The members
of those groups therefore read the clock to verify, like a user with a membership of its
own that has a window: :func:`timed_groups` says which groups those are, and the index
moves the members of the groups that join or leave the set between its two reach tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenancy.index.invariants import as_sets

if TYPE_CHECKING:
    from tenancy.index.tables import IndexTables

__all__ = ["check_invariants", "timed_groups"]


def timed_groups(index: IndexTables) -> frozenset[str]:
    """The groups through which a connector with a window gives reach: the virtual group of
    its subscription and the groups above it. O(connectors with a window x depth)."""
    through: set[str] = set()
    for cid in index._terms.connectors:
        sub = index._access.subscription_of(cid)
        if sub is not None and sub.group_id in index._groups:
            through.update(index.group_path(sub.group_id))
    return frozenset(through)


def check_invariants(index: IndexTables, fresh: IndexTables) -> None:
    """Assert that the time tables of ``index`` match those of ``fresh``, an index built
    from its records and brought to the same instant; and that exactly the users whose
    reach depends on the clock are in the timed table. For tests: O(everything)."""
    terms, again = index._terms, fresh._terms
    assert terms.by_pair == again.by_pair, "membership terms"
    assert as_sets(terms.by_user) == as_sets(again.by_user), "terms by user"
    assert as_sets(terms.by_group) == as_sets(again.by_group), "terms by group"
    assert terms.next_boundary() == again.next_boundary(), "next boundary"
    assert terms.connectors == again.connectors, "connector windows"
    assert index._timed_groups == fresh._timed_groups, "groups of shares with a window"
    assert not set(index._reach) & set(index._timed_reach), "a user in both reach tables"
    timed_users = set(terms.by_user) | {
        u for u, gs in index._user_groups.items() if not gs.isdisjoint(index._timed_groups)
    }
    assert set(index._timed_reach) == timed_users, "the timed users"
