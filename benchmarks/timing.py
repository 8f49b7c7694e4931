"""Interleaved timing: every system's rounds of one operation alternate, so a burst of noise
on this shared machine lands on all of them alike and the ratios measured in one run hold.

A *target* is a callable that makes ``batch`` calls of the measured operation. Each round
times one call of every target (in an order that rotates from round to round); a system
whose own budget of rounds is spent drops out while the others go on, so a slow peer gets
its few rounds interleaved with the first rounds of the fast systems.

Figures are per call: the median and the 99th percentile of the rounds, each round's time
divided by its batch, after subtracting the timer's own cost (two ``perf_counter_ns`` calls
back to back, measured at the start of the run).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "Stats",
    "interleave",
    "interleave_calls",
    "percentile",
    "rounds_for",
    "timer_overhead",
]

_clock = time.perf_counter_ns


def timer_overhead(samples: int = 20_000) -> float:
    """Median nanoseconds between two back-to-back ``perf_counter_ns`` calls."""
    deltas = []
    for _ in range(samples):
        start = _clock()
        deltas.append(_clock() - start)
    return float(statistics.median(deltas))


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class Stats:
    """Seconds per call over the timed rounds of one system."""

    median: float
    p99: float
    rounds: int
    batch: int

    def to_json(self) -> dict[str, float | int]:
        return {"median": self.median, "p99": self.p99, "rounds": self.rounds, "batch": self.batch}


def rounds_for(seconds_per_round: float, *, budget: float, least: int, most: int) -> int:
    """How many rounds fit in ``budget`` seconds, between ``least`` and ``most``."""
    return max(least, min(most, int(budget / max(seconds_per_round, 1e-9))))


def interleave(
    targets: Mapping[str, Callable[[], object]],
    *,
    rounds: Mapping[str, int],
    batch: Mapping[str, int],
    overhead_ns: float,
) -> dict[str, Stats]:
    """Time every target for its number of rounds, interleaved; see the module docstring.

    The garbage collector is left as it is (on, as in an application); a collection is
    run before the first round so that none is pending from the set-up.
    """
    names = list(targets)
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    most = max(rounds[name] for name in names)
    for r in range(most):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            if r >= rounds[name]:
                continue
            call = targets[name]
            start = _clock()
            call()
            took = _clock() - start - overhead_ns
            samples[name].append(max(took, 0.0) / batch[name] / 1e9)
    return {
        name: Stats(
            median=statistics.median(values),
            p99=percentile(values, 0.99),
            rounds=len(values),
            batch=batch[name],
        )
        for name, values in samples.items()
    }


def interleave_calls(
    functions: Mapping[str, Callable[[str, str], object]],
    questions: list[tuple[str, str]],
    *,
    asked: Mapping[str, int],
    repeat: int,
    overhead_ns: float,
) -> dict[str, list[float]]:
    """Time single calls ``f(a, b)``, one by one: for every question, every function in
    turn (rotating), ``repeat`` passes over the questions; a function answers only the
    first ``asked[name]`` questions (slow peers answer fewer). Returns seconds per call.

    Timing one call of ~100 ns has the timer's cost in it, subtracted here; use
    :func:`interleave` over a batch for the median, this for the tail (p99).
    """
    names = list(functions)
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    for _ in range(repeat):
        for i, (a, b) in enumerate(questions):
            shift = i % len(names)
            for name in names[shift:] + names[:shift]:
                if i >= asked[name]:
                    continue
                f = functions[name]
                start = _clock()
                f(a, b)
                took = _clock() - start - overhead_ns
                samples[name].append(max(took, 0.0) / 1e9)
    return samples
