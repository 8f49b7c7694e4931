"""Session fixtures for the benchmarks: one workload per run, built once.

``--scale`` picks the size (S, M or L, see :data:`tenancy.testing.workload.SCALES`);
``--seed`` the generator's seed (default: the fixed one, so runs compare). At the end the
session prints the table of per-call medians and ratios to the physical limit.
"""

from __future__ import annotations

import platform
import time

import pytest

import tenancy
from benchmarks.harness import BUILD, RESULTS
from benchmarks.naive_sql import NaiveSQL
from benchmarks.ratios import format_table
from tenancy.testing.workload import (
    DEFAULT_SEED,
    SCALES,
    Pair,
    PhysicalLimit,
    Workload,
    build,
    sample_pairs,
)

PAIRS = 1_000
"""Sampled (user, device) pairs: every system must agree on all of them before it is timed,
and one timed round of verify asks all of them."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tenancy benchmarks")
    group.addoption(
        "--scale", choices=sorted(SCALES), default="S", help="workload size (default S)"
    )
    group.addoption(
        "--seed", type=int, default=DEFAULT_SEED, help="workload seed (default: the fixed one)"
    )


@pytest.fixture(scope="session")
def scale(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--scale"))


@pytest.fixture(scope="session")
def workload(request: pytest.FixtureRequest, scale: str) -> Workload:
    seed = int(request.config.getoption("--seed"))
    start = time.perf_counter()
    w = build(SCALES[scale], seed=seed)
    BUILD.update(
        scale=scale, seed=w.seed, workload=repr(w), build_seconds=time.perf_counter() - start
    )
    return w


@pytest.fixture(scope="session")
def limit(workload: Workload) -> PhysicalLimit:
    start = time.perf_counter()
    lim = workload.limit()
    BUILD["limit_seconds"] = time.perf_counter() - start
    return lim


@pytest.fixture(scope="session")
def pairs(workload: Workload, limit: PhysicalLimit) -> list[Pair]:
    sample = sample_pairs(workload, PAIRS)
    allowed = sum(p.allowed for p in sample)
    assert 0 < allowed < len(sample), "the sample must mix allowed and denied pairs"
    BUILD["pairs"] = f"{len(sample)} sampled pairs, {allowed} allowed"
    return sample


@pytest.fixture(scope="session")
def sql(workload: Workload) -> NaiveSQL:
    start = time.perf_counter()
    db = NaiveSQL(workload)
    BUILD["sql_load_seconds"] = time.perf_counter() - start
    return db


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


@pytest.fixture(scope="session")
def probe_users(workload: Workload) -> dict[str, str]:
    """One root, one middle (half-way down) and one leaf user, whose listings are timed."""
    return {
        "root": _probe_user(workload, "root"),
        "middle": _probe_user(workload, "middle", workload.spec.depth // 2),
        "leaf": _probe_user(workload, "leaf"),
    }


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not BUILD:
        return
    write = terminalreporter.write_line
    terminalreporter.section("tenancy benchmark summary")
    write(
        f"{BUILD.get('workload')}: built in {BUILD.get('build_seconds', 0):.1f} s, "
        f"physical limit in {BUILD.get('limit_seconds', 0):.1f} s, "
        f"naive SQL loaded in {BUILD.get('sql_load_seconds', 0):.1f} s; "
        f"{BUILD.get('pairs', '')}; replay with --scale={BUILD.get('scale')} "
        f"--seed={BUILD.get('seed')}"
    )
    write(
        f"Python {platform.python_version()}, tenancy {tenancy.__version__}, "
        f"SQLite {__import__('sqlite3').sqlite_version}"
    )
    if RESULTS:
        write(format_table(RESULTS))
    else:
        write("no timings recorded (benchmarks disabled: a smoke run)")
