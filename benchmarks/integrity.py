"""The cost of integrity on open: cold opens of the cached SQLite file, each in a fresh
process, with every ``integrity=`` level and without the row checks, interleaved.

    python -m benchmarks.integrity --scale L --rounds 3

"without" is the same code with the checks of the default level switched off (checksums
summed with ``len``, no totals, references or device checks): the baseline of the ratios.
"""

from __future__ import annotations

import argparse
import json
import operator
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import tenancy
from benchmarks.cache import ensure
from tenancy.store import _codec
from tenancy.store import sqlite as sqlite_store
from tenancy.testing.workload import DEFAULT_SEED, SCALES, plan

ROOT = Path(__file__).resolve().parents[1]
MODES = ("without", "rows", "quick", "full")


def _switch_off() -> None:
    """The default level's checks made nothing (for the baseline only)."""

    def nothing(*_: Any) -> None:
        return None

    for owner, name, stand_in in (
        (_codec, "row_crc", len),
        (_codec, "key_crc", operator.is_),
        (sqlite_store.SQLiteStore, "_tally", nothing),
        (sqlite_store.SQLiteStore, "_check_references", nothing),
        (sqlite_store.SQLiteStore, "_check_devices", nothing),
    ):
        setattr(owner, name, stand_in)


def _child(mode: str, path: str) -> None:
    if mode == "without":
        _switch_off()
    integrity = "rows" if mode == "without" else mode
    start, cpu = time.perf_counter(), time.process_time()
    tn = tenancy.open(path, staleness=None, integrity=integrity)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    tn.close()
    print(json.dumps({"mode": mode, "wall": wall, "cpu": cpu}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.integrity")
    parser.add_argument("--scale", choices=sorted(SCALES), default="S")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".benchmarks" / "cache")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    path = ensure(plan(SCALES[args.scale], seed=args.seed), args.cache_dir).path
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.integrity", "--child", mode, str(path)],
                cwd=ROOT, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            runs[mode].append(json.loads(out))
            print(out.strip(), flush=True)
    for mode in MODES:
        ratios = [
            run["cpu"] / base["cpu"] for run, base in zip(runs[mode], runs["without"], strict=True)
        ]
        walls = [run["wall"] for run in runs[mode]]
        print(
            f"{mode:8} wall median {statistics.median(walls):6.2f} s, CPU ratio to without "
            f"(per round) {', '.join(f'{r:.3f}' for r in ratios)}, median "
            f"{statistics.median(ratios):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
