"""Contention: a write that loses races to other writers retries, with jittered exponential
pauses, until ``write_timeout`` has passed, and only then fails, saying so.

Four real processes (spawn) write to one SQLite file as fast as they can; not one of their
valid writes is refused. A store that refuses every commit as stale shows the deadline.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

import tenancy
from tenancy import InvalidValue, MemoryStore, StaleRevision, Tenancy, TenancyError
from tenancy.handle.writer import BACKOFF_CAP, BACKOFF_FIRST, DEFAULT_WRITE_TIMEOUT, backoff
from tenancy.records.changes import Change, Revision
from tenancy.records.model import AuditRecord
from tenancy.store.sqlite import SQLiteStore

CTX = multiprocessing.get_context("spawn")  # no fork: these processes open the file anew
WRITERS = 4
WRITES = 300
"""Valid writes per process."""
TIMEOUT = 120.0
"""The most the whole four-process run may take (it takes a few seconds)."""


class CountingStore(SQLiteStore):
    """A SQLite store that counts the commits it refused as stale."""

    stale = 0

    def commit(
        self,
        changes: Sequence[Change],
        *,
        expected_revision: Revision,
        audit: Sequence[AuditRecord] = (),
    ) -> Revision:
        try:
            return super().commit(changes, expected_revision=expected_revision, audit=audit)
        except StaleRevision:
            self.stale += 1
            raise


def hammer(path: str, tenant_id: str, n: int, barrier: Barrier, outbox: Queue[Any]) -> None:
    """Write ``n`` valid writes as fast as possible; report (refused, stale, slowest)."""
    store = CountingStore(path, busy_timeout=30)
    refused: list[str] = []
    slowest = 0.0
    with Tenancy(store, staleness=0.05) as tn:
        t = tn.tenant(tenant_id)
        barrier.wait(TIMEOUT)
        for i in range(n):
            started = time.monotonic()
            try:
                if i % 3 == 0:
                    t.create_group(f"g{i}")
                else:
                    t.create_device(f"d{i}", tags=[("n", str(i))])
            except TenancyError as exc:
                refused.append(repr(exc))
            slowest = max(slowest, time.monotonic() - started)
    outbox.put((refused, store.stale, slowest))


@pytest.mark.slow
def test_four_processes_writing_as_hard_as_they_can_refuse_no_valid_write(
    tmp_path: Path,
) -> None:
    """4 x 300 valid writes at once on one file: every one is committed (0 refused), and
    the races were real (commits were refused as stale, and retried)."""
    path = str(tmp_path / "contended.db")
    with tenancy.open(path, staleness=None) as tn:
        tenants = [
            tn.create_tenant(domain=f"t{i}", name=f"T{i}", admin_email=f"a@t{i}.example").id
            for i in range(WRITERS)
        ]
        start = tn.revision
    barrier = CTX.Barrier(WRITERS)
    outbox: Queue[Any] = CTX.Queue()
    procs = [
        CTX.Process(target=hammer, args=(path, tid, WRITES, barrier, outbox), name=f"w{i}")
        for i, tid in enumerate(tenants)
    ]
    for p in procs:
        p.start()
    try:
        reports = [outbox.get(timeout=TIMEOUT) for _ in procs]
        for p in procs:
            p.join(TIMEOUT)
            assert p.exitcode == 0, f"{p.name} exited with {p.exitcode}"
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)
    refused = [r for report in reports for r in report[0]]
    stale = sum(report[1] for report in reports)
    slowest = max(report[2] for report in reports)
    print(f"stale commits retried: {stale}; slowest write {slowest:.3f} s")  # noqa: T201
    assert refused == [], f"{len(refused)} valid writes refused, e.g. {refused[:3]}"
    assert stale > 0, "no commit was ever refused as stale: the writers never raced"
    with tenancy.open(path, staleness=None) as tn:
        assert tn.revision == start + WRITERS * WRITES
        for tid in tenants:
            t = tn.tenant(tid)
            assert len(t.devices(limit=10_000)) == WRITES - WRITES // 3
            assert len(t.groups()) == WRITES // 3


class AlwaysStale:
    """A memory store whose commits, once ``stale`` is set, always lose the race."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.stale = False
        self.attempts = 0
        self.capabilities = self.store.capabilities
        self.head = self.store.head
        self.snapshot = self.store.snapshot
        self.audit_log = self.store.audit_log
        self.changes_since = self.store.changes_since
        self.close = self.store.close

    def commit(
        self,
        changes: Sequence[Change],
        *,
        expected_revision: Revision,
        audit: Sequence[AuditRecord] = (),
    ) -> Revision:
        if not self.stale:
            return self.store.commit(changes, expected_revision=expected_revision, audit=audit)
        self.attempts += 1
        raise StaleRevision(expected_revision, expected_revision + 1)


def test_a_write_that_always_loses_fails_at_the_deadline_saying_so() -> None:
    """With write_timeout=0.4 a write whose every commit is stale retries for 0.4 s (with
    pauses: not thousands of attempts), then raises StaleRevision naming the deadline; the
    handle is unchanged and writes again once the races stop."""
    store = AlwaysStale()
    tn = Tenancy(store, write_timeout=0.4)
    before = tn.revision
    store.stale = True
    started = time.monotonic()
    with pytest.raises(StaleRevision) as raised:
        tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 0.4 + 2.0
    assert "write_timeout=0.4 s" in raised.value.rule
    assert "write_timeout=0.4 s" in str(raised.value)
    assert 3 <= store.attempts <= 0.4 / (BACKOFF_CAP / 4) + 20, store.attempts
    assert tn.revision == before
    assert [t.domain for t in tn.index.tenants.values()] == ["management"]
    store.stale = False
    assert tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example").name
    tn.close()


def test_a_write_that_loses_a_few_races_then_wins_is_committed_once() -> None:
    """Losing some races is not a failure: the write commits, once, when it gets through."""
    store = AlwaysStale()
    tn = Tenancy(store)
    store.stale = True
    real = store.commit

    def flaky(changes: Sequence[Change], **kw: Any) -> Revision:
        if store.attempts >= 5:
            store.stale = False
        return real(changes, **kw)

    store.commit = flaky  # type: ignore[method-assign]
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    assert store.attempts == 5
    assert tn.get_tenant(acme.id).name == "Acme"
    assert sum(t.domain == "acme" for t in tn.index.tenants.values()) == 1
    tn.close()


def test_backoff_is_jittered_and_doubles_up_to_its_cap() -> None:
    for losses in range(1, 30):
        ceiling = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (losses - 1))
        pauses = [backoff(losses) for _ in range(200)]
        assert all(0 <= p <= ceiling for p in pauses)
        assert len(set(pauses)) > 100  # random, not one fixed pause
    assert max(backoff(12) for _ in range(500)) > BACKOFF_CAP / 2


@pytest.mark.parametrize("bad", [0, -1, 0.0, float("inf"), float("nan"), "5", True, None, [1]])
def test_write_timeout_is_a_positive_number_of_seconds(bad: object) -> None:
    with pytest.raises(InvalidValue) as raised:
        tenancy.open(write_timeout=bad)
    assert raised.value.field == "write_timeout"
    assert "write_timeout" in raised.value.rule


def test_write_timeout_has_a_default_and_is_taken_by_open(tmp_path: Path) -> None:
    with tenancy.open() as tn:
        assert tn._writer.write_timeout == DEFAULT_WRITE_TIMEOUT
    with tenancy.open(str(tmp_path / "a.db"), write_timeout=2) as tn:
        assert tn._writer.write_timeout == 2.0
