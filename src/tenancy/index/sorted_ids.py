"""SortedIds: a sorted collection of ids, lean enough to keep several per group.

The index keeps sorted id lists per group (the devices it covers, the devices it
associates, its members) and per tag (the devices carrying it): about 370,000 of them at a
million devices, most holding a dozen ids. ``sortedcontainers.SortedList`` costs about 650
bytes each before its first id (an instance dict and four lists); that alone was 240 bytes
per device. A SortedIds is one slot holding a plain sorted list (about 110 bytes for a
dozen ids), kept sorted with ``bisect``, until it grows past :data:`LARGE` ids; then it
holds a SortedList, whose inserts stay O(log n) at a million ids.

Only what the index uses is here: add, discard, update, membership, iteration in order,
and ``irange`` from a lower bound (how a page resumes after a cursor). Ids are never added
twice (the index adds and discards by differences of sets), so there is no deduplication.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Collection, Iterable, Iterator, Sequence, Set
from itertools import islice

from sortedcontainers import SortedList

__all__ = ["LARGE", "SortedIds"]

LARGE = 2_000
"""Beyond this many ids a plain list's insert (moving up to 16 KB) gives way to a
SortedList's."""


class SortedIds:
    """Ids in sorted order; see the module docstring."""

    __slots__ = ("_ids",)

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: list[str] | SortedList = []
        self.update(ids)

    @classmethod
    def adopt(cls, ids: list[str], *, ordered: bool = False) -> SortedIds:
        """A SortedIds made of ``ids`` itself, sorted in place: no copy. ``ordered`` says
        the caller built it in order already, so not even the comparisons of a sort of a
        sorted list are spent (a bulk load hands over some ten million ids)."""
        new = cls.__new__(cls)
        if not ordered:
            ids.sort()
        new._ids = ids if len(ids) <= LARGE else SortedList(ids)
        return new

    def add(self, value: str) -> None:
        ids = self._ids
        if isinstance(ids, list):
            insort(ids, value)
            if len(ids) > LARGE:
                self._ids = SortedList(ids)
        else:
            ids.add(value)

    def discard(self, value: str) -> None:
        ids = self._ids
        if isinstance(ids, list):
            i = bisect_left(ids, value)
            if i < len(ids) and ids[i] == value:
                del ids[i]
        else:
            ids.discard(value)

    def update(self, values: Iterable[str]) -> None:
        ids = self._ids
        if isinstance(ids, list):
            ids.extend(values)
            ids.sort()
            if len(ids) > LARGE:
                self._ids = SortedList(ids)
        else:
            ids.update(values)

    def discard_many(self, values: Collection[str]) -> None:
        """Discard several ids: one pass over the list when they are many (a share of ten
        thousand devices turned off), one bisect each when they are few."""
        if len(values) < 64 or len(values) * 8 < len(self._ids):
            for value in values:
                self.discard(value)
            return
        gone = values if isinstance(values, Set) else set(values)
        kept = [i for i in self._ids if i not in gone]
        self._ids = kept if len(kept) <= LARGE else SortedList(kept)

    def irange(
        self, minimum: str | None = None, inclusive: tuple[bool, bool] = (True, True)
    ) -> Iterator[str]:
        """The ids from ``minimum`` on (after it, when ``inclusive[0]`` is False)."""
        ids = self._ids
        if not isinstance(ids, list):
            return iter(ids.irange(minimum=minimum, inclusive=inclusive))
        if minimum is None:
            return iter(ids)
        start = bisect_left(ids, minimum) if inclusive[0] else bisect_right(ids, minimum)
        return islice(ids, start, None)

    def __contains__(self, value: object) -> bool:
        ids = self._ids
        if not isinstance(ids, list):
            return value in ids
        i = bisect_left(ids, value)
        return i < len(ids) and ids[i] == value

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    @property
    def held(self) -> Sequence[str]:
        """The ids in order, as the list (or SortedList) that holds them, for reading only.
        ``list.extend`` copies a plain list in one step, where it would step through an
        iterator one id at a time."""
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"SortedIds({list(self._ids)!r})"
