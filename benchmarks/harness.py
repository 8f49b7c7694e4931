"""Measuring helpers shared by the benchmark modules.

:func:`measure` runs a target with ``benchmark.pedantic`` (fixed rounds, no calibration) and
records the median per call, so the session can print the ratio table at the end; with
``--benchmark-disable`` (the smoke test) the target runs once and nothing is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pytest_benchmark.fixture import BenchmarkFixture

from benchmarks.ratios import Row

__all__ = ["BUILD", "RESULTS", "measure", "rounds_for"]

RESULTS: list[Row] = []
"""Every measurement of this session, in run order."""

BUILD: dict[str, Any] = {}
"""What the session built: workload, seed, build seconds."""


def rounds_for(target: Callable[[], object], *, budget: float, most: int, least: int = 5) -> int:
    """How many rounds fit in ``budget`` seconds, from one timed call of ``target``
    (which therefore runs once more, as a warm-up)."""
    start = time.perf_counter()
    target()
    took = max(time.perf_counter() - start, 1e-9)
    return max(least, min(most, int(budget / took)))


def measure(
    benchmark: BenchmarkFixture,
    target: Callable[[], object],
    *,
    op: str,
    system: str,
    batch: int = 1,
    rounds: int,
    **info: Any,
) -> None:
    """Time ``target`` (which makes ``batch`` calls of the measured operation) for
    ``rounds`` rounds and record the median per call."""
    benchmark.group = op
    benchmark.extra_info.update(op=op, system=system, batch=batch, scale=BUILD.get("scale"))
    benchmark.extra_info.update(info)
    benchmark.pedantic(  # type: ignore[no-untyped-call]
        target, rounds=rounds, warmup_rounds=1 if rounds > 1 else 0
    )
    stats = benchmark.stats
    if stats is None:  # --benchmark-disable: the target ran once, as a smoke test
        return
    RESULTS.append(
        Row(
            op=op,
            system=system,
            per_call=stats.stats.median / batch,
            batch=batch,
            rounds=rounds,
            info=dict(benchmark.extra_info),
        )
    )
