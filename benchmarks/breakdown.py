"""Where a cold open of the SQLite store spends its time, and where the index's memory goes.

    python -m benchmarks.breakdown --scale L

Opens the cached workload file (made by :mod:`benchmarks.cache` if missing) phase by phase,
as ``tenancy.open`` does, and prints each phase's CPU seconds: the store's snapshot (read
and decode), ``Index.build`` and leaving the cyclic collector's pause (``tenancy.open``
pauses it while it builds, then hands what it built to the oldest generation), then the
cost of one full collection afterwards: not part of the open, but the pause a process
holding the index sees whenever Python runs one. Then it prints the deep size of
each structure of the index in bytes per device. An object reachable from several
structures is counted once, in the first structure that reaches it, in the order printed;
the sizes are what ``sys.getsizeof`` reports, so the allocator's rounding and the holes
freed objects leave are not in them (``benchmarks.memory`` measures the resident memory).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
from sortedcontainers import SortedList

from benchmarks.cache import ensure
from tenancy.handle.writer import _gc_paused
from tenancy.index.index import Index
from tenancy.store.sqlite import SQLiteStore
from tenancy.testing.workload import DEFAULT_SEED, SCALES, plan

__all__ = ["deep_sizes", "main"]

ROOT = Path(__file__).resolve().parent.parent

_ORDER = (
    "devices",
    "cover",
    "covered",
    "direct",
    "devices_by_tag",
    "tag_shapes",
    "tenant_devices",
    "id_groups",
    "group_ids",
    "device_children",
    "users",
    "reach",
    "members",
    "user_groups",
    "emails",
    "tenant_users",
    "groups",
    "forest",
    "group_rules",
    "rules_by_key",
    "sets",
)
"""The index's structures, per device first, then per user, then per group."""


class _Sizer:
    def __init__(self) -> None:
        self.seen: set[int] = set()

    def size(self, root: object) -> int:
        """Bytes of ``root`` and of everything it reaches that no earlier call counted."""
        total = 0
        stack = [root]
        while stack:
            obj = stack.pop()
            if id(obj) in self.seen:
                continue
            self.seen.add(id(obj))
            total += sys.getsizeof(obj)
            stack.extend(_parts(obj))
        return total


def _parts(obj: object) -> list[Any]:
    if isinstance(obj, str | int | float | bytes) or obj is None:
        return []
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, set | frozenset | list | tuple):
        return list(obj)
    if isinstance(obj, msgspec.Struct):
        return [getattr(obj, f) for f in obj.__struct_fields__]
    if isinstance(obj, SortedList):
        return [obj.__dict__]
    slots = getattr(type(obj), "__slots__", None)
    if slots is not None:
        return [getattr(obj, s) for s in slots if hasattr(obj, s)]
    return [vars(obj)] if hasattr(obj, "__dict__") else []


def deep_sizes(index: Index) -> dict[str, int]:
    """Bytes held by each structure of ``index``, in the order of ``_ORDER``, then the rest."""
    sizer = _Sizer()
    tables = index.tables()
    sizes = {name: sizer.size(tables[name]) for name in _ORDER}
    sizes["everything else"] = sum(
        sizer.size(value) for name, value in tables.items() if name not in _ORDER
    )
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.breakdown")
    parser.add_argument("--scale", choices=sorted(SCALES), default="S")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".benchmarks" / "cache")
    args = parser.parse_args(argv)
    cached = ensure(plan(SCALES[args.scale], seed=args.seed), args.cache_dir)
    store = SQLiteStore(cached.path)
    try:
        gc.collect()
        with _gc_paused():  # as tenancy.open does
            cpu = time.process_time()
            snapshot = store.snapshot()
            phases = {"snapshot (read and decode)": time.process_time() - cpu}
            cpu = time.process_time()
            index = Index.build(snapshot)
            phases["Index.build"] = time.process_time() - cpu
            del snapshot
            cpu = time.process_time()
        phases["leaving the collector paused"] = time.process_time() - cpu
        cpu = time.process_time()
        gc.collect()
        full_collection = time.process_time() - cpu
    finally:
        store.close()
    devices = len(index.devices)
    print(f"cold open of {cached.path.name} ({devices:,} devices), CPU seconds:")
    for phase, seconds in phases.items():
        print(f"  {phase:28s} {seconds:7.2f}")
    print(f"  {'total':28s} {sum(phases.values()):7.2f}")
    print(f"a full collection afterwards (not part of the open): {full_collection:.2f}")
    print("index, deep size in bytes per device:")
    sizes = deep_sizes(index)
    for name, size in sizes.items():
        print(f"  {name:28s} {size / devices:7.1f}")
    print(f"  {'total':28s} {sum(sizes.values()) / devices:7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
