"""The terms of time-bounded memberships, as the index keeps them, and the instant its view
of them is for.

A membership with a :class:`~tenancy.records.terms.MembershipTerm` counts only inside its
window. The index keeps the memberships that count at one instant, its *view*, in its
ordinary tables (``members``, ``user_groups``, ``reach``), so every query reads them as it
always did; this module holds the terms and says when the view must move:

- The status of every term is constant between two consecutive *boundaries* (a
  ``valid_from`` or a ``valid_until`` of some term). :class:`Terms` keeps them sorted, and
  the interval ``[lo, hi)`` of boundaries around the view: while the clock reads an instant
  inside it, the view is exact and nothing is done. A clock outside it (later, or earlier:
  an injected clock may step back) moves the view to that instant, re-deciding only the
  memberships whose boundaries lie between the two instants. So nothing is scheduled, no
  write happens at the instant, and every process with the same clock agrees.
- Until a first instant is given, no term's membership counts (``view`` is None): an index
  just built never answers before it was told the time.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import defaultdict
from collections.abc import Set
from datetime import datetime

from tenancy.records.terms import MembershipTerm
from tenancy.records.window import in_window

__all__ = ["Terms"]

Pair = tuple[str, str]
"""What a boundary belongs to: (group id, user id) for a membership, ("", connector id)
for a connector (a group id is never empty)."""

_NONE: frozenset[str] = frozenset()


class Terms:
    """Every membership term by pair, user and group, the sorted boundaries, and the view.

    The index changes it through :meth:`put`, :meth:`drop` and :meth:`move_view`, and asks
    :meth:`counts` whether a membership counts at the view."""

    def __init__(self) -> None:
        self.connectors: dict[str, tuple[datetime | None, datetime | None]] = {}
        """connector id -> its window, for the connectors that have one."""
        self.by_pair: dict[Pair, MembershipTerm] = {}
        self.by_user: dict[str, set[str]] = defaultdict(set)
        """user -> the groups of its memberships with a term."""
        self.by_group: dict[str, set[str]] = defaultdict(set)
        """group -> the users of its memberships with a term."""
        self._boundaries: list[tuple[datetime, str, str]] = []
        """(instant, *pair) for every bound of every term and connector window, sorted."""
        self.view: datetime | None = None
        self._lo: datetime | None = None
        """The latest boundary at or before the view (None: none is)."""
        self._hi: datetime | None = None
        """The earliest boundary after the view (None: none is)."""

    def __bool__(self) -> bool:
        return bool(self.by_pair) or bool(self.connectors)

    # ----------------------------------------------------------------- reads

    def stale(self, now: datetime) -> bool:
        """Would a membership or a connector count differently at ``now`` than at the
        view? O(1)."""
        if not self.by_pair and not self.connectors:
            return False
        if self.view is None:
            return True
        lo, hi = self._lo, self._hi
        return (lo is not None and now < lo) or (hi is not None and now >= hi)

    def counts(self, group_id: str, user_id: str) -> bool:
        """Does the membership count at the view? True for one without a term. O(1)."""
        term = self.by_pair.get((group_id, user_id))
        if term is None:
            return True
        return self.view is not None and in_window(term.valid_from, term.valid_until, self.view)

    def connector_counts(self, connector_id: str) -> bool:
        """Is the connector inside its window at the view? True for one without. O(1)."""
        window = self.connectors.get(connector_id)
        if window is None:
            return True
        return self.view is not None and in_window(*window, self.view)

    def term(self, group_id: str, user_id: str) -> MembershipTerm | None:
        """The membership's term, or None. O(1)."""
        return self.by_pair.get((group_id, user_id))

    def groups_of(self, user_id: str) -> Set[str]:
        """The groups of the user's memberships with a term. O(1)."""
        return self.by_user.get(user_id, _NONE)

    def users_of(self, group_id: str) -> Set[str]:
        """The users of the group's memberships with a term. O(1)."""
        return self.by_group.get(group_id, _NONE)

    def next_boundary(self) -> datetime | None:
        """The earliest instant after the view at which a membership's status changes.
        O(1)."""
        return self._hi

    # ----------------------------------------------------------------- upkeep

    def put(self, term: MembershipTerm) -> None:
        """Add or replace a term. O(log terms + terms) (a list insertion)."""
        pair = (term.group_id, term.user_id)
        old = self.by_pair.get(pair)
        if old is not None:
            self._unbound(old.valid_from, old.valid_until, pair)
        self.by_pair[pair] = term
        self.by_user[term.user_id].add(term.group_id)
        self.by_group[term.group_id].add(term.user_id)
        self._bound(term.valid_from, term.valid_until, pair)

    def put_connector(
        self, connector_id: str, valid_from: datetime | None, valid_until: datetime | None
    ) -> None:
        """Set a connector's window (both None: it has none). O(log terms + terms)."""
        self.drop_connector(connector_id)
        if valid_from is not None or valid_until is not None:
            self.connectors[connector_id] = (valid_from, valid_until)
            self._bound(valid_from, valid_until, ("", connector_id))

    def drop_connector(self, connector_id: str) -> None:
        """Forget a connector's window, if it has one. O(log terms + terms)."""
        window = self.connectors.pop(connector_id, None)
        if window is not None:
            self._unbound(*window, ("", connector_id))
            self._frame()

    def drop(self, group_id: str, user_id: str) -> MembershipTerm | None:
        """Forget the term of a membership, if it has one; returns it. O(log terms +
        terms)."""
        term = self.by_pair.pop((group_id, user_id), None)
        if term is None:
            return None
        self._unbound(term.valid_from, term.valid_until, (group_id, user_id))
        _discard(self.by_user, user_id, group_id)
        _discard(self.by_group, group_id, user_id)
        self._frame()
        return term

    def move_view(self, now: datetime) -> list[Pair]:
        """Set the view to ``now`` and return the memberships and connectors (as
        :data:`Pair`) whose status may differ from the old view's (all of them when there
        was none), sorted, for the index to re-decide. O(log terms + the boundaries
        crossed)."""
        old, self.view = self.view, now
        if old is None:
            crossed = set(self.by_pair) | {("", c) for c in self.connectors}
        else:
            # A status changes exactly at a boundary, so the ones in (earlier, later] are
            # those crossed, whichever way the clock went.
            low, high = min(old, now), max(old, now)
            start = bisect_right(self._boundaries, low, key=_instant)
            stop = bisect_right(self._boundaries, high, key=_instant)
            crossed = {(g, u) for _, g, u in self._boundaries[start:stop]}
        self._frame()
        return sorted(crossed)

    def _bound(self, valid_from: datetime | None, valid_until: datetime | None, pair: Pair) -> None:
        for instant in (valid_from, valid_until):
            if instant is not None:
                insort(self._boundaries, (instant, *pair))
        self._frame()

    def _unbound(
        self, valid_from: datetime | None, valid_until: datetime | None, pair: Pair
    ) -> None:
        for instant in (valid_from, valid_until):
            if instant is not None:
                entry = (instant, *pair)
                at = bisect_left(self._boundaries, entry)
                if at < len(self._boundaries) and self._boundaries[at] == entry:
                    del self._boundaries[at]

    def _frame(self) -> None:
        """Recompute ``[lo, hi)`` around the view. O(log boundaries)."""
        if self.view is None:
            self._lo = self._hi = None
            return
        at = bisect_right(self._boundaries, self.view, key=_instant)
        self._lo = self._boundaries[at - 1][0] if at else None
        self._hi = self._boundaries[at][0] if at < len(self._boundaries) else None


def _instant(entry: tuple[datetime, str, str]) -> datetime:
    return entry[0]


def _discard(table: dict[str, set[str]], key: str, value: str) -> None:
    values = table.get(key)
    if values is not None:
        values.discard(value)
        if not values:
            del table[key]
