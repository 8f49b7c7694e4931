"""Index.build's bulk device load (tenancy._index_load) against the incremental upkeep."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import cast

import msgspec

from tenancy.index.index import Index
from tests.unit._world import hospital

_LISTS = ("covered", "direct", "devices_by_tag", "tenant_devices")


def _lists(index: Index) -> dict[str, dict[object, list[str]]]:
    tables = index.tables()
    return {
        name: {k: list(v) for k, v in cast("Mapping[object, Iterable[str]]", tables[name]).items()}
        for name in _LISTS
    }


def test_a_bulk_load_builds_what_the_writes_built() -> None:
    """The hospital world written change by change, then loaded from its snapshot: the same
    sorted lists and covers, whatever way each device was associated (a gateway chain, an
    id list, tag rules of every shape, no group at all)."""
    h = hospital()
    written = h.tn.index
    loaded = Index.build(written.snapshot())
    assert _lists(loaded) == _lists(written)
    assert loaded.reach_tables()[1] == written.reach_tables()[1]
    loaded.check_invariants()


def test_devices_out_of_id_order_are_loaded_in_order() -> None:
    """A snapshot lists its devices by id; one that does not (a store breaking its contract)
    still gives sorted lists, not wrong pages."""
    h = hospital()
    snapshot = h.tn.index.snapshot()
    shuffled = list(snapshot.devices)
    random.Random(7).shuffle(shuffled)
    loaded = Index.build(msgspec.structs.replace(snapshot, devices=shuffled))
    assert _lists(loaded) == _lists(Index.build(snapshot))
    for lists in _lists(loaded).values():
        assert all(ids == sorted(ids) for ids in lists.values())
