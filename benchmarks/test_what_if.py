"""What-if of a subtree move (issue 17 item 4): ``tn.what_if`` moving the group whose subtree
is nearest 1,000 groups (the subtree move of benchmarks.run), against the real move in the
same run.

The real move's cost (validate, commit to the memory store, apply to the index) is the
baseline; each round times a what-if of the move, the real move there and the real move
back, interleaved, so the ratio compares like with like on a shared machine. The what-if
of nothing (catching up, building the overlay's wrappers, an empty diff) is timed too: the
fixed part of any what-if. Before timing, every pair of the diff is checked to flip with the
real move, and the sampled pairs outside it not to.

    PYTHONPATH=src python -m pytest benchmarks/test_what_if.py --scale=L -q -s -p no:cacheprovider
"""

from __future__ import annotations

import statistics
import time

from pytest_benchmark.fixture import BenchmarkFixture

from benchmarks.harness import measure
from benchmarks.run import subtree_to_move
from tenancy import Tenancy
from tenancy.testing.workload import Pair, PhysicalLimit, Workload


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def test_what_if_subtree_move(
    benchmark: BenchmarkFixture, workload: Workload, limit: PhysicalLimit, pairs: list[Pair]
) -> None:
    tn = workload.tn
    tenant = workload.tenants[0]
    moved, home, away = subtree_to_move(workload, tenant)
    t = tn.tenant(tenant)
    groups = len(workload.subtree(moved))
    devices = len(limit.covered.get(moved, ()))

    def rehearse(w: Tenancy) -> None:
        w.tenant(tenant).move_group(moved, away)

    # The diff is what the real move does, pair for pair.
    revision = tn.revision
    diff = tn.what_if(rehearse)
    assert tn.revision == revision
    assert tn.get_group(moved).parent_id == home
    changed = set(diff.gained) | set(diff.lost)
    assert all(tn.verify(u, d) for u, d in diff.lost)
    assert not any(tn.verify(u, d) for u, d in diff.gained)
    before = {(p.user_id, p.device_id): tn.verify(p.user_id, p.device_id) for p in pairs}
    t.move_group(moved, away)
    assert all(tn.verify(u, d) for u, d in diff.gained)
    assert not any(tn.verify(u, d) for u, d in diff.lost)
    assert all(tn.verify(u, d) == was for (u, d), was in before.items() if (u, d) not in changed)
    t.move_group(moved, home)

    what_if_s: list[float] = []
    move_s: list[float] = []
    empty_s: list[float] = []
    clock = time.perf_counter
    started = clock()
    while len(move_s) < 5 or (clock() - started < 20.0 and len(move_s) < 100):
        a = clock()
        tn.what_if(rehearse)
        b = clock()
        t.move_group(moved, away)
        c = clock()
        t.move_group(moved, home)
        d = clock()
        tn.what_if(lambda w: None)
        e = clock()
        what_if_s.append(b - a)
        move_s += [c - b, d - c]
        empty_s.append(e - d)
    ratio = statistics.median(what_if_s) / statistics.median(move_s)
    note = (
        f"subtree of {groups} groups covering {devices} devices; {len(diff.gained)} pairs "
        f"gained, {len(diff.lost)} lost; what-if {_median_ms(what_if_s):.1f} ms, real move "
        f"{_median_ms(move_s):.1f} ms (ratio {ratio:.2f}), what-if of nothing "
        f"{_median_ms(empty_s):.3f} ms; {len(what_if_s)} interleaved rounds"
    )
    print(f"\nwhat-if of a subtree move: {note}")
    measure(
        benchmark, lambda: tn.what_if(rehearse), op="what-if: subtree move", system="tenancy",
        rounds=max(3, min(len(what_if_s), 30)), groups=groups, devices=devices,
        real_move=statistics.median(move_s), ratio_to_real_move=ratio, note=note,
    )  # fmt: skip
    assert tn.revision == revision + 2 * len(what_if_s) + 2
