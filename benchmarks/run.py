"""The benchmark run: one workload, every system, measured side by side in one process.

    python -m benchmarks.run --scale M        # what `make bench SCALE=M` runs

1. Plan the seeded workload (:mod:`tenancy.testing.workload`) and its physical limit.
2. Make (or find) the cached SQLite file of the built workload (:mod:`benchmarks.cache`).
3. Load every system once in a process of its own, for its load time and memory
   (:mod:`benchmarks.memory`); a peer that does not load within 5 minutes is left out.
4. Load every system here; check each against the physical limit before it is timed.
5. Time the reads, then the writes, each operation with every system's rounds interleaved
   (:mod:`benchmarks.timing`), and check the answers again after the writes.
6. Write the figures to ``benchmarks/results/SCALE.json`` and print the tables.

``--quick`` (the smoke run inside ``make test``) gives every timing a tiny budget; the
checks are the same.
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

import tenancy
from benchmarks import cache, report
from benchmarks.systems import (
    ALL_SYSTEMS,
    LABELS,
    PEERS,
    LimitSystem,
    System,
    TenancySystem,
    WriteTargets,
    available,
    load,
    package_version,
)
from benchmarks.timing import (
    interleave,
    interleave_calls,
    percentile,
    rounds_for,
    timer_overhead,
)
from tenancy.testing.workload import (
    DEFAULT_SEED,
    SCALES,
    Pair,
    PhysicalLimit,
    Workload,
    plan,
    sample_pairs,
)

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
PAIRS = 1_000
"""Sampled (user, device) pairs: a round of verify asks them all (the fast systems)."""
AGREE = 300
"""Pairs every system must answer like the physical limit before it is timed."""
PAGE = 100
PEER_LOAD_LIMIT = 300.0
"""Seconds a peer may take to load; past that it is left out at this scale."""
BUDGET = {"S": 0.4, "M": 1.2, "L": 2.0}
"""Seconds of timed rounds per operation and system (a slow system still gets ``least``)."""
ROUND_TARGET = 0.5
"""Seconds one batched round of verify should take for a slow system."""


class Disagreement(AssertionError):
    """A system answered differently from the physical limit."""


@dataclass
class Probes:
    users: dict[str, str]
    """kind (root, middle, leaf) -> a user of tenant 0."""
    devices: dict[str, str]
    """typical, busiest -> a site device of tenant 0."""


@dataclass
class Run:
    scale: str
    w: Workload
    limit: PhysicalLimit
    pairs: list[Pair]
    probes: Probes
    quick: bool
    overhead_ns: float
    systems: dict[str, System] = field(default_factory=dict)
    ops: list[dict[str, Any]] = field(default_factory=list)
    verify_cost: dict[str, float] = field(default_factory=dict)

    @property
    def budget(self) -> float:
        return 0.02 if self.quick else BUDGET[self.scale]

    @property
    def least(self) -> int:
        return 1 if self.quick else 3

    def record(self, op: str, system: str, **fields: Any) -> None:
        self.ops.append({"op": op, "system": system, **fields})
        print(f"  {op:<26} {LABELS.get(system, system):<26} {_fmt_fields(fields)}", flush=True)


def _fmt_fields(fields: dict[str, Any]) -> str:
    parts = [f"{key} {report.fmt_time(fields[key])}" for key in ("median", "p99") if key in fields]
    if fields.get("estimated"):
        parts.append("(estimated)")
    if "rounds" in fields:
        parts.append(f"{fields['rounds']} x {fields.get('batch', 1)}")
    if "n" in fields:
        parts.append(f"n={fields['n']}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- set-up


def _probe_user(w: Workload, kind: str, level: int | None = None) -> str:
    """The first user of tenant 0 of this kind, preferring one with a single membership (at
    ``level`` if given)."""
    tenant = w.tenants[0]
    users = [
        u for u in sorted(w.user_groups) if w.user_tenant[u] == tenant and w.user_kind[u] == kind
    ]
    for uid in users:
        groups = w.user_groups[uid]
        if len(groups) == 1 and (level is None or w.group_level[groups[0]] == level):
            return uid
    if not users:
        raise LookupError(f"the workload has no {kind} user in tenant {tenant}")
    return users[0]


def _probes(w: Workload, lim: PhysicalLimit) -> Probes:
    tenant = w.tenants[0]
    users = {
        "root": _probe_user(w, "root"),
        "middle": _probe_user(w, "middle", w.spec.depth // 2),
        "leaf": _probe_user(w, "leaf"),
    }
    sites = [d for d, p in sorted(w.devices.items()) if p.tenant_id == tenant and p.kind == "site"]
    ranked = sorted(sites[:2000], key=lambda d: (len(lim.users(d)), d))
    devices = {"typical": ranked[len(ranked) // 2], "busiest": ranked[-1]}
    return Probes(
        {k: _fresh(u) for k, u in users.items()}, {k: _fresh(d) for k, d in devices.items()}
    )


def _fresh(text: str) -> str:
    """An equal string that is a new object."""
    return text.encode().decode()


def _children(w: Workload) -> dict[str, list[str]]:
    children: dict[str, list[str]] = defaultdict(list)
    for g, p in w.group_parent.items():
        if p is not None:
            children[p].append(g)
    return children


def subtree_to_move(w: Workload, tenant: str) -> tuple[str, str, str]:
    """``(moved, home, away)``: the group of ``tenant`` whose subtree is nearest 1,000
    groups, under a parent (``home``) that has a sibling (``away``) to move it to."""
    children = _children(w)
    size: dict[str, int] = {}
    for g in reversed(list(w.group_parent)):  # children before parents
        size[g] = 1 + sum(size[c] for c in children.get(g, ()))
    levels: dict[int, list[str]] = defaultdict(list)
    for g in sorted(w.group_parent):
        if w.group_tenant[g] == tenant:
            levels[w.group_level[g]].append(g)
    candidates = [
        g
        for g in levels.get(2, []) + [g for lv in sorted(levels) if lv > 2 for g in levels[lv]]
        if len(levels[w.group_level[g] - 1]) > 1
    ]
    moved = min(candidates, key=lambda g: (abs(size[g] - 1000), g))
    home = w.group_parent[moved]
    assert home is not None
    away = next(g for g in levels[w.group_level[home]] if g != home)
    return moved, home, away


def _write_targets(w: Workload, lim: PhysicalLimit, probes: Probes) -> WriteTargets:
    tenant = w.tenants[0]
    user = probes.users["leaf"]
    site = w.user_groups[user][0]
    device = next(
        d
        for d, p in sorted(w.devices.items())
        if p.tenant_id == tenant and p.kind == "site" and p.parent_id is None
        if not lim.verify(user, d)
    )
    device_site = next(g for g in w.associating(device) if w.group_rules[g])
    moved, home, away = subtree_to_move(w, tenant)
    return WriteTargets(
        tenant_id=tenant,
        user_id=user,
        site_id=site,
        site_tag=w.group_rules[site][0],
        device_id=device,
        device_site=device_site,
        moved=moved,
        home=home,
        away=away,
    )


def _environment() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        memory = f"{int(mem) / 1024 / 1024:.1f} GiB"
    except OSError:
        memory = ""
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "load_average": os.getloadavg(),
        "versions": {
            "tenancy": tenancy.__version__,
            "msgspec": package_version("msgspec"),
            "sortedcontainers": package_version("sortedcontainers"),
            "sqlite": sqlite3.sqlite_version,
            "casbin": package_version("casbin"),
            "oso": package_version("oso"),
        },
    }


def _measure_in_subprocess(
    key: str, scale: str, seed: int, db: Path, timeout: float
) -> dict[str, Any]:
    """Load one system in a fresh process: load seconds and memory (benchmarks.memory)."""
    command = [sys.executable, "-m", "benchmarks.memory", key, f"--scale={scale}"]
    command += [f"--seed={seed}", f"--db={db}"]
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"status": f"did not load within {PEER_LOAD_LIMIT / 60:.0f} minutes"}
    if done.returncode != 0:
        raise RuntimeError(f"measuring {key} failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if key in PEERS and result["seconds"] > PEER_LOAD_LIMIT:
        result["status"] = f"did not load within {PEER_LOAD_LIMIT / 60:.0f} minutes"
    else:
        result["status"] = "ok"
    return result


# --------------------------------------------------------------------------- checks


def _agree_verify(run: Run, key: str, pairs: Sequence[Pair]) -> float:
    """Every pair answered as the limit does; returns the mean seconds per call."""
    check = run.systems[key].verify
    start = time.perf_counter()
    wrong = [p for p in pairs if check(p.user_id, p.device_id) != p.allowed]
    took = (time.perf_counter() - start) / len(pairs)
    if wrong:
        raise Disagreement(
            f"{key}: {len(wrong)} of {len(pairs)} pairs disagree with the physical limit, "
            f"e.g. {wrong[:3]}"
        )
    return took


def _expect(key: str, what: str, got: list[str], expected: list[str]) -> None:
    if got != expected:
        raise Disagreement(
            f"{key}: {what} disagrees with the physical limit: {len(got)} ids "
            f"(first {got[:3]}), expected {len(expected)} (first {expected[:3]})"
        )


# --------------------------------------------------------------------------- reads


def _time_verify(run: Run) -> None:
    keys = list(run.systems)
    for key in keys:
        fast = key in ("tenancy", "tenancy-sqlite", "limit")
        run.verify_cost[key] = _agree_verify(run, key, run.pairs if fast else run.pairs[:AGREE])
    questions = [(p.user_id, p.device_id) for p in run.pairs]

    def nothing(u: str, d: str) -> bool:
        return False

    functions: dict[str, Callable[[str, str], object]] = {"call": nothing}
    functions.update({key: run.systems[key].verify for key in keys})
    asked = {
        key: max(5, min(len(questions), int(ROUND_TARGET / max(run.verify_cost.get(key, 0), 1e-9))))
        for key in functions
    }
    if run.quick:
        asked = {key: min(n, 50) for key, n in asked.items()}

    def batch_of(f: Callable[[str, str], object], qs: list[tuple[str, str]]) -> Callable[[], None]:
        def loop() -> None:
            for u, d in qs:
                f(u, d)

        return loop

    targets = {key: batch_of(f, questions[: asked[key]]) for key, f in functions.items()}
    per_round = {key: asked[key] * run.verify_cost.get(key, 1e-7) for key in functions}
    rounds = {
        key: rounds_for(per_round[key], budget=run.budget, least=run.least, most=300)
        for key in functions
    }
    batched = interleave(targets, rounds=rounds, batch=asked, overhead_ns=run.overhead_ns)
    # The tail: every call timed alone, over the same questions.
    repeat = 1 if run.quick else 5
    singles = interleave_calls(
        functions, questions, asked=asked, repeat=repeat, overhead_ns=run.overhead_ns
    )
    for key in functions:
        stats = batched[key]
        run.record(
            "verify",
            key,
            median=stats.median,
            p99=percentile(singles[key], 0.99),
            single_median=percentile(singles[key], 0.5),
            rounds=stats.rounds,
            batch=stats.batch,
            samples=len(singles[key]),
        )


def _filter_checks(run: Run, op: str, kind: str) -> int:
    """How many is_allowed calls a filtering system makes to answer this question."""
    lim = run.limit
    if op == "users_for":
        return len(run.w.user_groups)
    total = len(run.w.devices)
    if op == "all devices":
        return total
    answer = list(lim.devices(run.probes.users[kind]))
    if len(answer) < PAGE:
        return total
    ordered = sorted(run.w.devices)
    return bisect.bisect_left(ordered, answer[PAGE - 1]) + 1


def _time_reads(run: Run, op: str, kind: str) -> None:
    """One read operation for every system: check a first call, then interleave rounds."""
    lim_system = run.systems["limit"]
    if op == "users_for":
        device = run.probes.devices[kind]
        expected = lim_system.ids(lim_system.users_for(device))
        calls = {key: _bind_users_for(s, device) for key, s in run.systems.items()}
        label = f"users_for ({kind})"
    else:
        user = run.probes.users[kind]
        if op == "first page":
            expected = lim_system.ids(lim_system.first_page(user, PAGE))
            calls = {key: _bind_page(s, user) for key, s in run.systems.items()}
        else:
            expected = lim_system.ids(lim_system.all_devices(user))
            calls = {key: _bind_all(s, user) for key, s in run.systems.items()}
        label = f"{op} ({kind})"
    targets: dict[str, Callable[[], Sequence[Any]]] = {}
    rounds: dict[str, int] = {}
    for key, call in calls.items():
        system = run.systems[key]
        if system.listing == "filter":
            checks = _filter_checks(run, op, kind)
            estimate = checks * run.verify_cost[key]
            if estimate > 4 * run.budget:
                run.record(
                    label, key, median=estimate, estimated=True, n=len(expected), checks=checks
                )
                continue
        start = time.perf_counter()
        answer = call()
        took = time.perf_counter() - start
        _expect(key, label, system.ids(answer), expected)
        targets[key] = call
        rounds[key] = rounds_for(took, budget=run.budget, least=run.least, most=2000)
    stats = interleave(
        targets, rounds=rounds, batch=dict.fromkeys(targets, 1), overhead_ns=run.overhead_ns
    )
    for key, s in stats.items():
        run.record(label, key, median=s.median, p99=s.p99, rounds=s.rounds, n=len(expected))


def _bind_page(s: System, user: str) -> Callable[[], Sequence[Any]]:
    return lambda: s.first_page(user, PAGE)


def _bind_all(s: System, user: str) -> Callable[[], Sequence[Any]]:
    return lambda: s.all_devices(user)


def _bind_users_for(s: System, device: str) -> Callable[[], Sequence[Any]]:
    return lambda: s.users_for(device)


# --------------------------------------------------------------------------- writes


def _time_writes(run: Run, t: WriteTargets) -> None:
    writers = {key: s for key, s in run.systems.items() if s.writes}
    u, d = t.user_id, t.device_id
    lim = run.limit

    def pairs_of(
        make: Callable[[System], tuple[Callable[[], object], Callable[[], object]]],
        check: Callable[[System, bool], None],
    ) -> dict[str, Callable[[], None]]:
        out: dict[str, Callable[[], None]] = {}
        for key, system in writers.items():
            do, undo = make(system)
            do()
            check(system, True)
            undo()
            check(system, False)

            def both(do: Callable[[], object] = do, undo: Callable[[], object] = undo) -> None:
                do()
                undo()

            out[key] = both
        return out

    def reaches(system: System, expected: bool) -> None:
        if system.verify(u, d) != expected:
            raise Disagreement(f"{system.key}: after a write, verify({u}, {d}) != {expected}")

    def interleave_writes(op: str, targets: dict[str, Callable[[], None]], batch: int) -> None:
        rounds = {}
        for key, target in targets.items():
            start = time.perf_counter()
            target()
            rounds[key] = rounds_for(
                time.perf_counter() - start, budget=run.budget, least=run.least, most=500
            )
        stats = interleave(
            targets, rounds=rounds, batch=dict.fromkeys(targets, batch), overhead_ns=run.overhead_ns
        )
        for key, s in stats.items():
            run.record(op, key, median=s.median, p99=s.p99, rounds=s.rounds, batch=batch)

    interleave_writes("tag change", pairs_of(lambda s: s.tag_change(t), reaches), 2)
    interleave_writes("membership change", pairs_of(lambda s: s.membership_change(t), reaches), 2)

    creations: dict[str, Callable[[], None]] = {}
    serial = count()
    for key, system in writers.items():
        create = system.device_creation(t)
        first = f"bench-{next(serial):07d}"
        create(first)
        if not system.verify(u, first):
            raise Disagreement(f"{key}: a created device at the user's site is not reached")

        def one(create: Callable[[str], object] = create) -> None:
            create(f"bench-{next(serial):07d}")

        creations[key] = one
    interleave_writes("device creation", creations, 1)

    # The subtree move: whom to alert for a device below the moved group, before and after.
    up = _ancestors(run.w)
    subtree = set(_subtree(run.w, t.moved))
    probe = next(
        dev
        for dev in lim.covered[t.moved]
        if run.w.devices[dev].parent_id is None and set(run.w.associating(dev)) <= subtree
    )
    cover_after = (lim.device_cover[probe] - up[t.home]) | up[t.away]
    after = sorted({m for g in cover_after for m in lim.members.get(g, ())})
    before = lim.users(probe)
    if after == before:
        raise AssertionError("the move changes nobody's reach: pick another subtree")

    def alerts(system: System, moved: bool) -> None:
        _expect(
            system.key,
            f"users_for({probe}) after moving {t.moved}" if moved else "after moving it back",
            system.ids(system.users_for(probe)),
            after if moved else before,
        )

    moves = pairs_of(lambda s: s.subtree_move(t), alerts)
    interleave_writes("subtree move", moves, 2)
    for op in run.ops:
        if op["op"] == "subtree move":
            op["groups"] = len(subtree)
            op["devices"] = len(lim.covered[t.moved])


def _ancestors(w: Workload) -> dict[str, frozenset[str]]:
    up: dict[str, frozenset[str]] = {}
    for g, p in w.group_parent.items():  # parents first
        up[g] = frozenset({g}) | (up[p] if p is not None else frozenset())
    return up


def _subtree(w: Workload, group: str) -> list[str]:
    children = _children(w)
    out = [group]
    for g in out:
        out.extend(children.get(g, ()))
    return out


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="S")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--systems",
        default=",".join(ALL_SYSTEMS),
        help="comma-separated systems (default: all; peers need the bench extra)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny timing budgets (smoke run)")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-system processes")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".benchmarks" / "cache")
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default: results/)")
    args = parser.parse_args(argv)
    wall = time.perf_counter()
    scale: str = args.scale
    wanted = [k for k in args.systems.split(",") if k]
    unknown = set(wanted) - set(ALL_SYSTEMS)
    if unknown or "limit" not in wanted:
        parser.error(f"--systems: unknown {sorted(unknown)}; the limit is always measured")
    out: Path = args.out or ROOT / "benchmarks" / "results" / f"{scale}.json"
    results: dict[str, Any] = {
        "scale": scale,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seed": args.seed,
        "quick": args.quick,
        "environment": _environment(),
        "systems": {},
        "setup": {},
    }
    print(f"benchmark at scale {scale}, seed {args.seed}", flush=True)

    start = time.perf_counter()
    w = plan(SCALES[scale], seed=args.seed)
    results["setup"]["plan_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    lim = w.limit()
    results["setup"]["limit_seconds"] = time.perf_counter() - start
    results["workload"] = repr(w)
    results["spec"] = {
        k: getattr(w.spec, k) for k in ("devices", "groups", "users", "depth", "tenants")
    }
    print(f"  {w!r}: planned, physical limit computed", flush=True)
    cached = cache.ensure(w, args.cache_dir)
    results["setup"]["cache"] = {
        "build_seconds": cached.build_seconds,
        "write_seconds": cached.write_seconds,
        "made_now": cached.made_now,
    }
    print(f"  cached store {cached.path.name} ({'made now' if cached.made_now else 'found'})")

    # Load time and memory, each system alone in a fresh process.
    systems_info: dict[str, dict[str, Any]] = results["systems"]
    timeout = PEER_LOAD_LIMIT + 3 * results["setup"]["plan_seconds"] + 60
    for key in wanted:
        if not available(key):
            systems_info[key] = {"status": "not installed (pip install -e '.[bench]')"}
            print(f"  {LABELS[key]}: not installed", flush=True)
            continue
        if args.no_memory:
            systems_info[key] = {"status": "ok"}
            continue
        info = _measure_in_subprocess(
            key, scale, args.seed, cached.path, timeout if key in PEERS else 3600.0
        )
        systems_info[key] = info
        print(f"  {LABELS[key]}: {report.fmt_load(info)}", flush=True)

    # Every system in this process.
    loaded: dict[str, System] = {}
    work_db: Path | None = None
    main_load: dict[str, float] = {}
    for key in wanted:
        if systems_info[key].get("status") != "ok":
            continue
        start = time.perf_counter()
        if key == "tenancy":
            tn = w.tn if cached.made_now else cache.memory_handle(cached.path)
            loaded[key] = TenancySystem(key, tn)
        elif key == "tenancy-sqlite":
            work_db = cache.work_copy(cached.path, f"work-{os.getpid()}.db")
            loaded[key] = load(key, None, db=work_db)
        else:
            loaded[key] = load(key, w)
        main_load[key] = time.perf_counter() - start
    results["setup"]["main_load_seconds"] = main_load
    probes = _probes(w, lim)
    limit_system = loaded["limit"]
    assert isinstance(limit_system, LimitSystem)
    limit_system.prepare(list(probes.users.values()), list(probes.devices.values()))
    # Questions carry ids as a request would: new strings, equal to the stored ids but not
    # the same objects (a dict finds an identical key without comparing its characters).
    pairs = [
        p._replace(user_id=_fresh(p.user_id), device_id=_fresh(p.device_id))
        for p in sample_pairs(w, PAIRS)
    ]
    allowed = sum(p.allowed for p in pairs)
    assert 0 < allowed < len(pairs), "the sample must mix allowed and denied pairs"
    results["pairs"] = {"sampled": len(pairs), "allowed": allowed, "checked": AGREE}
    results["probes"] = {
        "users": {
            kind: {"id": u, "reaches": sum(1 for _ in lim.devices(u))}
            for kind, u in probes.users.items()
        },
        "devices": {
            kind: {"id": d, "users": len(lim.users(d))} for kind, d in probes.devices.items()
        },
    }
    gc.collect()
    gc.freeze()  # the loaded systems are permanent: no full collection rescans them mid-round
    run = Run(
        scale=scale,
        w=w,
        limit=lim,
        pairs=pairs,
        probes=probes,
        quick=args.quick,
        overhead_ns=timer_overhead(),
        systems=loaded,
    )
    results["timer_overhead_ns"] = run.overhead_ns
    try:
        print("reads", flush=True)
        _time_verify(run)
        for op in ("first page", "all devices"):
            for kind in ("root", "middle", "leaf"):
                _time_reads(run, op, kind)
        for kind in ("typical", "busiest"):
            _time_reads(run, "users_for", kind)
        print("writes", flush=True)
        targets = _write_targets(w, lim, probes)
        results["write_targets"] = targets.__dict__
        _time_writes(run, targets)
        for key in run.systems:  # the writes were undone: the sample still agrees
            _agree_verify(run, key, pairs[:50])
    finally:
        for system in loaded.values():
            system.close()
        if work_db is not None:
            for path in (work_db, Path(f"{work_db}-wal"), Path(f"{work_db}-shm")):
                path.unlink(missing_ok=True)
    results["ops"] = run.ops
    results["wall_seconds"] = time.perf_counter() - wall
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n")
    print()
    print(report.render(results))
    print(f"\nwrote {out} in {results['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
