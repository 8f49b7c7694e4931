"""Export and import throughput and peak memory, each measured in a fresh process.

    python -m benchmarks.transfer --scale=M [--seed N] [--format json|msgpack]
    python -m benchmarks.transfer --scale=M --postgres [URL]   # import into PostgreSQL

The workload is the cached SQLite file of :mod:`benchmarks.cache` (made on first use).
Two child processes, one per direction, each print one JSON object:

- ``export``: open the cached file (the handle's own memory: resident memory after the
  open minus before it), then ``export_to`` a file; ``devices_per_s`` is devices over the
  export's wall-clock time (``cpu_seconds``, the process's CPU time, is steadier on a
  shared machine), ``peak`` the highest resident memory during the export minus
  the baseline before the open, and ``ratio`` that peak over the handle's own memory;
- ``import``: open a new, empty SQLite file and ``import_from`` the document exported
  above; ``peak`` the highest resident memory during the import minus the baseline before
  the open, ``own`` the handle's resident memory after it (collected), ``ratio`` the two;
- ``floor``: the import's two parts that are Python work in the importing process, each
  timed alone on an empty memory store: reading and validating the document (``plan``,
  the import's :class:`~tenancy.transfer.plan.Planner`) and building the index from the
  changes (``build``, :func:`tenancy.index.bulk.rebuilt`, the work an import's writer
  does beside the commit). They hold the interpreter lock, so no store can make an import
  faster than their sum: ``devices_per_s`` is the import's ceiling with a store that cost
  nothing. The export step's ``open_seconds`` (the cold open of the same store) is the
  other baseline of the same run.

With ``--postgres`` the import goes into a new schema of that server (default
``TENANCY_BENCH_POSTGRES``, else ``postgresql://postgres@127.0.0.1:5432/test``), dropped
afterwards, instead of a SQLite file: the migration path between stores. Its CPU time is
this process's; the server's work shows in the wall-clock time only.

Resident memory is read from ``/proc/self/status`` (VmRSS, and VmHWM reset through
``/proc/self/clear_refs`` just before the measured step), as in :mod:`benchmarks.memory`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import tenancy
from benchmarks.cache import ensure, work_copy
from benchmarks.memory import _reset_peak, _status, rss
from tenancy.handle.writer import _gc_paused, _release_free_heap
from tenancy.index.bulk import rebuilt
from tenancy.index.index import Index
from tenancy.records.changes import Commit
from tenancy.testing.workload import DEFAULT_SEED, SCALES, plan
from tenancy.transfer.frames import read_document
from tenancy.transfer.plan import Planner

__all__ = ["main"]

CACHE = Path(".benchmarks/cache")
POSTGRES = os.environ.get("TENANCY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _baseline() -> int:
    gc.collect()
    _release_free_heap()
    return rss()


def _export(db: Path, out: Path, format: str) -> dict[str, object]:
    before = _baseline()
    opened = time.perf_counter()
    tn = tenancy.open(str(db), staleness=None)
    open_seconds = time.perf_counter() - opened
    own = rss() - before
    devices = len(tn.index.devices)
    _reset_peak()
    start, cpu = time.perf_counter(), time.process_time()
    records = tn.export_to(out, format=format)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    peak = _status("VmHWM") - before
    tn.close()
    return {
        "step": "export", "format": format, "devices": devices, "records": records,
        "seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3),
        "devices_per_s": round(devices / seconds), "bytes": out.stat().st_size,
        "own": own, "peak": peak, "ratio": round(peak / own, 2),
        "open_seconds": round(open_seconds, 3),
    }  # fmt: skip


def _plan_and_build(document: Path) -> tuple[Index, float, float]:
    """The index an import of ``document`` into an empty memory store builds, and the
    seconds its planner and its index build took, each alone."""
    writer = tenancy.open()._writer
    with _gc_paused(), document.open("rb") as source:
        start = time.perf_counter()
        header, records = read_document(source)
        planner = Planner(writer.index, writer.limits, writer.clock(), header, None)
        changes = planner.plan(records).changes
        planned = time.perf_counter() - start
        del planner, records
        commit = Commit(revision=writer.index.revision + 1, changes=tuple(changes))
        start = time.perf_counter()
        index = rebuilt(writer.index, commit)
        built = time.perf_counter() - start
    return index, planned, built


def _floor(document: Path) -> dict[str, object]:
    index, planned, built = _plan_and_build(document)
    devices = len(index.devices)
    return {
        "step": "floor", "devices": devices, "plan_seconds": round(planned, 3),
        "build_seconds": round(built, 3), "seconds": round(planned + built, 3),
        "devices_per_s": round(devices / (planned + built)),
    }  # fmt: skip


def _import(document: Path, db: Path, postgres: str | None = None) -> dict[str, object]:
    schema = f"bench_import_{os.getpid()}"
    if postgres is None:
        for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            stale.unlink(missing_ok=True)
    before = _baseline()
    joiner = "&" if postgres is not None and "?" in postgres else "?"
    tn = tenancy.open(str(db) if postgres is None else f"{postgres}{joiner}schema={schema}",
                      staleness=None)  # fmt: skip
    try:
        _reset_peak()
        start, cpu = time.perf_counter(), time.process_time()
        report = tn.import_from(document)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        peak = _status("VmHWM") - before
        gc.collect()
        _release_free_heap()
        own = rss() - before
        devices = report.counts.get("device", 0)
    finally:
        tn.close()
        if postgres is not None:
            import psycopg  # the postgres extra, needed for --postgres only

            with psycopg.connect(postgres, autocommit=True) as admin:
                admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return {
        "step": "import", "store": "sqlite" if postgres is None else "postgresql",
        "devices": devices, "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3), "devices_per_s": round(devices / seconds),
        "own": own, "peak": peak, "ratio": round(peak / own, 2),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transfer")
    parser.add_argument("--scale", choices=sorted(SCALES), default="M")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--format", choices=["json", "msgpack"], default="json")
    parser.add_argument(
        "--postgres", nargs="?", const=POSTGRES, default=None, metavar="URL",
        help="import into a new schema of this PostgreSQL server instead of a SQLite file",
    )  # fmt: skip
    parser.add_argument("--step", choices=["export", "import", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--document", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step == "export":
        print(json.dumps(_export(args.db, args.document, args.format)))
        return 0
    if args.step == "import":
        print(json.dumps(_import(args.document, args.db, args.postgres)))
        return 0
    if args.step == "floor":
        print(json.dumps(_floor(args.document)))
        return 0
    cached = ensure(plan(SCALES[args.scale], seed=args.seed), CACHE)
    source = work_copy(cached.path, f"transfer-{os.getpid()}.db")
    suffix = "json" if args.format == "json" else "msgpack"
    document = CACHE / f"transfer-{os.getpid()}.{suffix}"
    target = CACHE / f"transfer-{os.getpid()}-import.db"
    results = []
    try:
        for step, extra in (
            ("export", ["--db", str(source), "--document", str(document)]),
            ("import", ["--db", str(target), "--document", str(document),
                        *([] if args.postgres is None else ["--postgres", args.postgres])]),
            ("floor", ["--document", str(document)]),
        ):  # fmt: skip
            line = subprocess.run(  # this very module, in a fresh process
                [sys.executable, "-m", "benchmarks.transfer", "--step", step,
                 "--format", args.format, *extra],
                check=True, capture_output=True, text=True, timeout=3600,
            ).stdout.strip().splitlines()[-1]  # fmt: skip
            results.append(json.loads(line))
            print(line, flush=True)
    finally:
        for path in (source, document, target):
            for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                stale.unlink(missing_ok=True)
    into = "" if args.postgres is None else ", import into PostgreSQL"
    print(f"\nscale {args.scale}, {args.format}{into}:")
    for r in results:
        if r["step"] == "floor":
            continue
        print(
            f"  {r['step']:<6} {r['devices']:>9,} devices in {r['seconds']:6.2f} s "
            f"({r['cpu_seconds']:6.2f} s CPU) = {r['devices_per_s']:>9,} devices/s; "
            f"peak {int(r['peak']) / 2**20:7.1f} MiB, "
            f"handle {int(r['own']) / 2**20:7.1f} MiB, ratio {r['ratio']}"
        )
    export, imported, floor = results
    print(
        f"  the export's cold open of the store: {export['open_seconds']:.2f} s\n"
        f"  floor  plan {floor['plan_seconds']:.2f} s + index build "
        f"{floor['build_seconds']:.2f} s = {floor['seconds']:.2f} s, at most "
        f"{floor['devices_per_s']:,} devices/s with a store that cost nothing; the import "
        f"took {float(imported['seconds']) / float(floor['seconds']):.2f} times that"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
