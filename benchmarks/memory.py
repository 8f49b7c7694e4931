"""Load one system in a fresh process and measure its load time and memory (RSS deltas).

    python -m benchmarks.memory SYSTEM --scale L [--seed N] [--db FILE]

prints one JSON object: ``seconds`` (the load, wall clock), ``cpu_seconds`` (the CPU time
of this process: less sensitive to other work on the machine), ``rss`` (resident memory
after the load minus before it, after a full collection) and ``peak`` (the highest resident
memory during the load minus before it), in bytes, read from ``/proc/self/status`` (the
peak is reset just before the load through ``/proc/self/clear_refs``).

Before the load the process holds the interpreter, the imports and, for the systems built
from the plan, the plan itself; the delta is what the system adds. For ``tenancy-sqlite``
nothing else is loaded: its delta is everything the library holds after opening the file,
strings and records included. Systems built from the plan may share the plan's strings
(ids, tag pairs) instead of holding their own, which the delta does not count.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import re
import sys
import time
from pathlib import Path

from benchmarks.cache import work_copy
from benchmarks.systems import ALL_SYSTEMS, load
from tenancy.handle.writer import _release_free_heap
from tenancy.testing.workload import DEFAULT_SEED, SCALES, Workload, plan

__all__ = ["main", "rss"]


def _status(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no {field} in /proc/self/status")
    return int(found.group(1)) * 1024


def rss() -> int:
    """Resident memory of this process, in bytes."""
    return _status("VmRSS")


def _reset_peak() -> None:
    with contextlib.suppress(OSError):  # not permitted: the peak covers the whole process
        Path("/proc/self/clear_refs").write_text("5")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    parser.add_argument("system", choices=ALL_SYSTEMS)
    parser.add_argument("--scale", choices=sorted(SCALES), default="S")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args(argv)
    w: Workload | None = None
    if args.system != "tenancy-sqlite":
        w = plan(SCALES[args.scale], seed=args.seed)
        if args.system not in ("tenancy", "limit"):
            w.associating(next(iter(w.devices)))  # the plan's own look-up tables, not the peer's
    db: Path | None = None
    if args.system == "tenancy-sqlite":
        if args.db is None:
            parser.error("tenancy-sqlite opens a file: pass --db")
        db = work_copy(args.db, f"memory-{os.getpid()}.db")  # the cached file stays as it is
    gc.collect()
    # The open trims the C heap (malloc_trim); trim it before the baseline too, or the
    # delta subtracts free heap left by the imports (compiling modules), which the open's
    # trim gives back, from what the load holds.
    _release_free_heap()
    before = rss()
    _reset_peak()
    start, cpu = time.perf_counter(), time.process_time()
    system = load(args.system, w, db=db)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = _status("VmHWM")
    gc.collect()
    after = rss()
    devices = SCALES[args.scale].devices
    json.dump(
        {
            "system": args.system,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "rss": after - before,
            "peak": peak - before,
            "per_device": (after - before) / devices,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    system.close()
    if db is not None:
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
