"""Reads: verify, the first page of devices_for, users_for, against the physical limit and
the naive recursive SQL, all measured in the same run on the same workload.

Each system is checked against the physical limit on the sampled pairs before it is timed.
verify is timed over the whole batch of sampled pairs per round, so the timer's own cost
does not dominate; the figure is the median per call.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from benchmarks.harness import measure, rounds_for
from benchmarks.naive_sql import NaiveSQL
from tenancy.testing.workload import Pair, PhysicalLimit, Workload

KINDS = ("root", "middle", "leaf")
PAGE = 100


def _verify_batch(check: Callable[[str, str], bool], pairs: list[Pair]) -> Callable[[], None]:
    questions = [(p.user_id, p.device_id) for p in pairs]

    def run() -> None:
        for u, d in questions:
            check(u, d)

    return run


def _agree(check: Callable[[str, str], bool], pairs: list[Pair]) -> None:
    wrong = [p for p in pairs if check(p.user_id, p.device_id) != p.allowed]
    assert not wrong, f"{len(wrong)} of {len(pairs)} disagree with the physical limit: {wrong[:3]}"


def test_verify_physical_limit(
    benchmark: BenchmarkFixture, limit: PhysicalLimit, pairs: list[Pair]
) -> None:
    """The floor: two dict lookups and one isdisjoint in a plain function."""
    users, cover = limit.user_groups, limit.device_cover

    def physical(u: str, d: str) -> bool:
        return not users[u].isdisjoint(cover[d])

    _agree(physical, pairs)
    measure(
        benchmark, _verify_batch(physical, pairs), op="verify", system="limit",
        batch=len(pairs), rounds=300,
    )  # fmt: skip


def test_verify_empty_call(benchmark: BenchmarkFixture, pairs: list[Pair]) -> None:
    """The cost of the loop and a two-argument call alone, for scale."""

    def nothing(u: str, d: str) -> bool:
        return False

    measure(
        benchmark, _verify_batch(nothing, pairs), op="verify", system="call",
        batch=len(pairs), rounds=300,
    )  # fmt: skip


def test_verify_tenancy(benchmark: BenchmarkFixture, workload: Workload, pairs: list[Pair]) -> None:
    verify = workload.tn.verify
    _agree(verify, pairs)
    measure(
        benchmark, _verify_batch(verify, pairs), op="verify", system="tenancy",
        batch=len(pairs), rounds=300,
    )  # fmt: skip


def test_check_tenancy(benchmark: BenchmarkFixture, workload: Workload, pairs: list[Pair]) -> None:
    """check(u, "device:READ", d): a plain member holds the default member role (viewer),
    so it must agree with the physical limit, and issue 5 asks for <= 3x it."""
    check = workload.tn.check

    def read(u: str, d: str) -> bool:
        return check(u, "device:READ", d)

    _agree(read, pairs)
    measure(
        benchmark, _verify_batch(read, pairs), op="verify", system="check",
        batch=len(pairs), rounds=300,
    )  # fmt: skip


def test_verify_naive_sql(benchmark: BenchmarkFixture, sql: NaiveSQL, pairs: list[Pair]) -> None:
    _agree(sql.verify, pairs)
    batch = pairs[:200]
    run = _verify_batch(sql.verify, batch)
    measure(
        benchmark, run, op="verify", system="sql", batch=len(batch),
        rounds=rounds_for(run, budget=3.0, most=100),
    )  # fmt: skip


# --------------------------------------------------------------------------- listing


def _listing_users(workload: Workload, probe_users: dict[str, str]) -> list[str]:
    """The probe users and a spread of others: the listings checked before timing."""
    others = sorted(workload.user_groups)[:: max(1, len(workload.user_groups) // 40)]
    return list(probe_users.values()) + others


@pytest.mark.parametrize("kind", KINDS)
def test_devices_for_physical_limit(
    benchmark: BenchmarkFixture, limit: PhysicalLimit, probe_users: dict[str, str], kind: str
) -> None:
    """The floor for a listing: the whole answer precomputed, sorted, sliced."""
    user = probe_users[kind]
    answer = list(limit.devices(user))
    records = {d: d for d in answer}  # an id -> record lookup, as a listing returns records

    def page() -> list[str]:
        return [records[d] for d in answer[:PAGE]]

    assert page() == limit.first_page(user, PAGE)
    measure(
        benchmark, page, op=f"devices_for {kind}", system="limit", rounds=500,
        note=f"user reaches {len(answer)} devices",
    )  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_devices_for_tenancy(
    benchmark: BenchmarkFixture,
    workload: Workload,
    limit: PhysicalLimit,
    probe_users: dict[str, str],
    kind: str,
) -> None:
    tn = workload.tn
    for user in _listing_users(workload, probe_users):
        first = tn.devices_for(user, limit=PAGE)
        assert [d.id for d in first] == limit.first_page(user, PAGE), user
        if first.next is not None:
            second = tn.devices_for(user, limit=PAGE, after=first.next)
            assert [d.id for d in second] == limit.first_page(user, PAGE, first.items[-1].id), user
    user = probe_users[kind]
    measure(
        benchmark, lambda: tn.devices_for(user, limit=PAGE), op=f"devices_for {kind}",
        system="tenancy", rounds=500,
    )  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_devices_for_naive_sql(
    benchmark: BenchmarkFixture,
    workload: Workload,
    limit: PhysicalLimit,
    sql: NaiveSQL,
    probe_users: dict[str, str],
    kind: str,
) -> None:
    user = probe_users[kind]
    checked = [user] + [u for u in _listing_users(workload, probe_users) if limit.user_groups[u]]
    for u in checked if kind == "leaf" else [user]:  # the spread once; root pages are slow
        assert sql.first_page(u, PAGE) == limit.first_page(u, PAGE), u

    def run() -> list[str]:
        return sql.first_page(user, PAGE)

    measure(
        benchmark, run, op=f"devices_for {kind}", system="sql",
        rounds=rounds_for(run, budget=3.0, most=200, least=3),
    )  # fmt: skip


# --------------------------------------------------------------------------- users_for


def _alert_devices(workload: Workload, limit: PhysicalLimit) -> dict[str, str]:
    """Two site devices of tenant 0: one reached by the median number of users (a typical
    alert) and one reached by the most (the busiest), among the first 2,000."""
    tenant = workload.tenants[0]
    candidates = [
        d for d, p in sorted(workload.devices.items()) if p.tenant_id == tenant and p.kind == "site"
    ][:2000]
    ranked = sorted(candidates, key=lambda d: (len(limit.users(d)), d))
    return {"users_for": ranked[len(ranked) // 2], "users_for busiest": ranked[-1]}


@pytest.mark.parametrize("op", ["users_for", "users_for busiest"])
def test_users_for_physical_limit(
    benchmark: BenchmarkFixture, workload: Workload, limit: PhysicalLimit, op: str
) -> None:
    device = _alert_devices(workload, limit)[op]
    answer = limit.users(device)
    records = {u: u for u in answer}
    measure(
        benchmark, lambda: [records[u] for u in answer], op=op, system="limit",
        rounds=500, note=f"{len(answer)} users reach the device",
    )  # fmt: skip


@pytest.mark.parametrize("op", ["users_for", "users_for busiest"])
def test_users_for_tenancy(
    benchmark: BenchmarkFixture,
    workload: Workload,
    limit: PhysicalLimit,
    pairs: list[Pair],
    op: str,
) -> None:
    tn = workload.tn
    for device in sorted({p.device_id for p in pairs})[:300]:
        assert [u.id for u in tn.users_for(device)] == limit.users(device), device
    device = _alert_devices(workload, limit)[op]
    measure(benchmark, lambda: tn.users_for(device), op=op, system="tenancy", rounds=500)
