"""SortedIds, the index's sorted id lists, against a plain sorted list (a Hypothesis state
machine), across the size where it turns from a list into a SortedList."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tenancy.index import sorted_ids as _sorted_ids
from tenancy.index.sorted_ids import SortedIds

ids = st.integers(min_value=0, max_value=60).map(lambda i: f"d-{i:03d}")


class SortedIdsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ids = SortedIds()
        self.model: list[str] = []

    @rule(value=ids)
    def add(self, value: str) -> None:
        if value not in self.model:  # the index never adds an id twice
            self.ids.add(value)
            self.model = sorted([*self.model, value])

    @rule(value=ids)
    def discard(self, value: str) -> None:
        self.ids.discard(value)
        self.model = [v for v in self.model if v != value]

    @rule(values=st.sets(ids, max_size=12))
    def update(self, values: set[str]) -> None:
        new = values - set(self.model)
        self.ids.update(new)
        self.model = sorted([*self.model, *new])

    @rule(after=ids, inclusive=st.booleans())
    def irange(self, after: str, inclusive: bool) -> None:
        got = list(self.ids.irange(minimum=after, inclusive=(inclusive, True)))
        assert got == [v for v in self.model if v > after or (inclusive and v == after)]

    @rule(value=ids)
    def contains(self, value: str) -> None:
        assert (value in self.ids) == (value in self.model)

    @invariant()
    def in_order(self) -> None:
        assert list(self.ids) == self.model
        assert list(self.ids.held) == self.model
        assert len(self.ids) == len(self.model)
        assert list(self.ids.irange()) == self.model


class SmallLimitMachine(SortedIdsMachine):
    """The same with a limit of 8 ids, so both forms and the change between them are met."""

    def __init__(self) -> None:
        self._saved = _sorted_ids.LARGE
        _sorted_ids.LARGE = 8
        super().__init__()

    def teardown(self) -> None:
        _sorted_ids.LARGE = self._saved


TestSortedIds = SortedIdsMachine.TestCase
TestSortedIdsBothForms = SmallLimitMachine.TestCase
TestSortedIdsBothForms.settings = settings(max_examples=200, stateful_step_count=60)


def test_a_large_collection_becomes_a_sorted_list_and_stays_sorted() -> None:
    many = SortedIds(f"d-{i:05d}" for i in range(_sorted_ids.LARGE + 10, 0, -1))
    many.add("d-00000")
    many.discard("d-00005")
    assert list(many) == sorted({f"d-{i:05d}" for i in range(_sorted_ids.LARGE + 11)} - {"d-00005"})
    assert "d-00004" in many
    assert "d-00005" not in many


def test_adopt_sorts_the_given_list_in_place_and_keeps_it() -> None:
    ids = ["d-3", "d-1", "d-2"]
    adopted = SortedIds.adopt(ids)
    assert list(adopted) == ["d-1", "d-2", "d-3"]
    adopted.add("d-0")
    assert ids == ["d-0", "d-1", "d-2", "d-3"]  # the very list, no copy
    large = SortedIds.adopt([f"d-{i:05d}" for i in range(_sorted_ids.LARGE + 1, 0, -1)])
    assert list(large) == sorted(f"d-{i:05d}" for i in range(1, _sorted_ids.LARGE + 2))


def test_adopt_of_an_ordered_list_keeps_it_as_it_is() -> None:
    """``ordered=True`` is the caller's word that the list is sorted: nothing is compared."""
    ids = ["d-1", "d-2", "d-3"]
    adopted = SortedIds.adopt(ids, ordered=True)
    assert adopted.held is ids
    assert list(adopted) == ["d-1", "d-2", "d-3"]
