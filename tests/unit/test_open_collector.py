"""A cold open pauses the cyclic collector and leaves what it built to the oldest generation."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from tenancy.handle.writer import _gc_paused


class _Node:
    """A container that can be part of a reference cycle."""

    def __init__(self) -> None:
        self.other: object = None


@pytest.fixture
def collector() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.enable()
    gc.collect()
    yield
    gc.unfreeze()
    if not was_enabled:
        gc.disable()


def test_the_collector_is_paused_while_building(collector: None) -> None:
    with _gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_what_was_built_skips_the_young_generation(collector: None) -> None:
    with _gc_paused():
        made = [_Node() for _ in range(5_000)]
    assert gc.get_count()[0] < 1_000, "the young generation would walk them again"
    assert gc.get_freeze_count() == 0, "nothing stays frozen"
    assert all(gc.is_tracked(node) for node in made)


def test_a_cycle_made_while_paused_is_still_collected(collector: None) -> None:
    with _gc_paused():
        node = _Node()
        node.other = node
        gone = weakref.ref(node)
        del node
    gc.collect()
    assert gone() is None


def test_objects_the_application_froze_stay_frozen(collector: None) -> None:
    kept = [_Node() for _ in range(100)]
    gc.freeze()
    frozen = gc.get_freeze_count()
    with _gc_paused():
        made = [_Node() for _ in range(100)]
    # Thawed, the count would be 0. It is not compared exactly: a thread an earlier test
    # left running (a follower, a timer) may free old, frozen objects meanwhile, which
    # lowers it by a few (seen in a full run: 41 of 322,249).
    assert gc.get_freeze_count() > frozen // 2
    assert len(kept) == len(made) == 100
