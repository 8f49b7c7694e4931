"""The group forest and its closure: pure, no I/O.

Rules this module keeps, and :meth:`GroupForest.check` verifies:

Rule 1. Every group has at most one parent, and following parents always ends at a root:
   the forest has no cycle. :meth:`would_cycle` answers in O(1) *before* a move is written,
   because ``up[p]`` already lists every ancestor of ``p``.

Rule 2. ``up[g]`` is the tuple of ``g``'s ancestors from its root down, then ``g``,
   exactly. It is the unit the index builds device covers from (a device's cover is the
   union of ``up`` over the groups that associate it), so it is kept materialised rather
   than walked on demand. A tuple, not a frozenset: six groups deep, a frozenset takes 728
   bytes and the tuple 104, and a hundred thousand groups hold one each.

Rule 3. Moving ``g`` rewrites ``up`` for ``g``'s subtree and nothing else: the cost is the
   size of the subtree times its depth, never the size of the forest.

Deep trees are fine: nothing here recurses on the Python stack, so a chain of 10,000 groups
is as legal as a chain of 3 (depth is bounded by the store's safety limits, not by us).
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["GroupForest"]


class GroupForest:
    """Parents, children and ancestors-or-self sets of every group."""

    __slots__ = ("children", "parent", "up")

    def __init__(self) -> None:
        self.parent: dict[str, str | None] = {}
        self.children: dict[str, set[str]] = {}
        """group -> its child groups; a leaf (most groups) has no entry: an empty set
        costs 216 bytes, and a million-device tree has about a hundred thousand leaves."""
        self.up: dict[str, tuple[str, ...]] = {}

    def __contains__(self, group_id: object) -> bool:
        return group_id in self.parent

    def add(self, group_id: str, parent_id: str | None) -> None:
        """Add a new leaf. Runtime complexity: O(depth)."""
        self.parent[group_id] = parent_id
        if parent_id is None:
            self.up[group_id] = (group_id,)
        else:
            self._adopt(parent_id, group_id)
            self.up[group_id] = (*self.up[parent_id], group_id)

    def would_cycle(self, group_id: str, new_parent_id: str | None) -> bool:
        """True when putting ``group_id`` under ``new_parent_id`` makes a cycle.
        Runtime complexity: O(1)."""
        return new_parent_id is not None and group_id in self.up[new_parent_id]

    def move(self, group_id: str, new_parent_id: str | None) -> list[str]:
        """Re-parent ``group_id`` and return its subtree (whose ``up`` sets changed).
        Runtime complexity: O(subtree size x depth)."""
        old_parent = self.parent[group_id]
        if old_parent is not None:
            self._disown(old_parent, group_id)
        if new_parent_id is not None:
            self._adopt(new_parent_id, group_id)
        self.parent[group_id] = new_parent_id
        subtree = list(self.descendants(group_id, include_self=True))
        above: tuple[str, ...] = () if new_parent_id is None else self.up[new_parent_id]
        # descendants() yields parents before children, so each parent's up is fresh.
        for g in subtree:
            p = self.parent[g]
            self.up[g] = (*(above if g == group_id else self.up[p]), g)  # type: ignore[index]
        return subtree

    def remove(self, group_id: str) -> None:
        """Remove a leaf group. Runtime complexity: O(1)."""
        assert group_id not in self.children, "only leaves are removed; callers go bottom-up"
        parent_id = self.parent.pop(group_id)
        if parent_id is not None:
            self._disown(parent_id, group_id)
        del self.up[group_id]

    def has_children(self, group_id: str) -> bool:
        return group_id in self.children

    def _adopt(self, parent_id: str, group_id: str) -> None:
        kids = self.children.get(parent_id)
        if kids is None:
            kids = self.children[parent_id] = set()
        kids.add(group_id)

    def _disown(self, parent_id: str, group_id: str) -> None:
        kids = self.children[parent_id]
        kids.discard(group_id)
        if not kids:
            del self.children[parent_id]

    def descendants(self, group_id: str, *, include_self: bool = False) -> Iterator[str]:
        """Every group below ``group_id``, parents before their children (breadth first).
        Runtime complexity: O(subtree size)."""
        if include_self:
            yield group_id
        frontier = [group_id]
        while frontier:
            nxt: list[str] = []
            for g in frontier:
                kids = self.children.get(g, ())
                yield from kids
                nxt.extend(kids)
            frontier = nxt

    def path_down(self, ancestor_id: str, group_id: str) -> tuple[str, ...]:
        """The groups from ``ancestor_id`` down to ``group_id``, both included.
        Runtime complexity: O(depth)."""
        path = [group_id]
        g: str | None = group_id
        while g != ancestor_id:
            g = self.parent[g]  # type: ignore[index]
            assert g is not None, "ancestor_id must be an ancestor of group_id"
            path.append(g)
        return tuple(reversed(path))

    def check(self) -> None:
        """Assert rules 1 and 2 by recomputing from parents alone."""
        for g, parent in self.parent.items():
            assert parent is None or g in self.children[parent], (g, parent)
            expected = [g]
            walk = parent
            while walk is not None:
                assert walk not in expected, f"cycle through {walk!r}"
                expected.append(walk)
                walk = self.parent[walk]
            assert self.up[g] == tuple(reversed(expected)), (g, self.up[g], expected)
        for g, kids in self.children.items():
            assert kids, f"{g!r} has an empty set of children"
            for k in kids:
                assert self.parent[k] == g, (g, k)
