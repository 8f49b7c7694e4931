"""Real processes sharing one PostgreSQL store: four writers (spawned, each with its own
connections, as on separate machines) writing at random, moves that could form cycles
included; and a writer killed with SIGKILL again and again.

Afterwards every process's index, and a freshly opened handle's, equal the store's records,
no group cycle exists, and every commit a killed writer reported is in the store.
``TENANCY_PG_HEAVY=1`` runs longer and kills 20 times (make test: 6).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import subprocess
import sys
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

import pytest

import tenancy
from tenancy import TenancyError
from tenancy.index.index import Index
from tenancy.records.snapshot import Snapshot
from tenancy.store.postgres import PostgresStore
from tenancy.testing.contract import (
    assert_index_matches_store,
    assert_records_match_log,
    random_operation,
)
from tests import pg

pytestmark = pytest.mark.slow

CTX = multiprocessing.get_context("spawn")
TIMEOUT = 60.0
HEAVY = os.environ.get("TENANCY_PG_HEAVY") == "1"
SECONDS = 10.0 if HEAVY else 3.0
KILLS = 20 if HEAVY else 6


def _assert_no_cycle(snapshot: Snapshot) -> None:
    parents = {g.id: g.parent_id for g in snapshot.groups}
    for gid in parents:
        seen = {gid}
        walk = parents[gid]
        while walk is not None:
            assert walk not in seen, f"group cycle through {walk!r}"
            seen.add(walk)
            walk = parents[walk]


def random_writer(url: str, seed: int, seconds: float, barrier: Barrier, out: Queue[Any]) -> None:
    """Write at random for ``seconds`` (reading the index between writes), then wait for the
    others, catch up and report this process's index."""
    rng = random.Random(seed)
    tn = tenancy.open(url, staleness=0.1)
    writes = refused = 0
    try:
        barrier.wait(TIMEOUT)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with tn._writer.lock:  # the ids are picked from an index the follower leaves be
                before = tn.revision
                try:
                    random_operation(tn, rng)
                except TenancyError:
                    refused += 1
                writes += tn.revision > before
        barrier.wait(TIMEOUT)  # every writer has stopped
        tn.catch_up()
        assert_index_matches_store(tn.index, tn.store)
        out.put((seed, writes, refused, tn.index.snapshot()))
    finally:
        tn.close()


def test_four_processes_writing_at_random_agree(tmp_path: Any) -> None:
    url = pg.fresh_url()
    with tenancy.open(url) as first:  # the schema is made once, before the race
        first.create_tenant(domain="seed", name="Seed", admin_email="a@seed.example")
    barrier = CTX.Barrier(4)
    out: Queue[Any] = CTX.Queue()
    seeds = [random.SystemRandom().randrange(2**32) for _ in range(4)]
    print(f"writer seeds {seeds}")  # noqa: T201 - shown when the test fails
    procs = [
        CTX.Process(target=random_writer, args=(url, s, SECONDS, barrier, out), name=f"w{s}")
        for s in seeds
    ]
    for p in procs:
        p.start()
    try:
        reports = [out.get(timeout=TIMEOUT + SECONDS) for _ in procs]
        for p in procs:
            p.join(TIMEOUT)
            assert p.exitcode == 0, f"{p.name} exited with {p.exitcode}"
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)
    store = PostgresStore.from_url(url)
    try:
        snapshot = store.snapshot()
        assert [c.revision for c in store.changes_since(0)] == list(range(1, store.head() + 1))
        assert sum(w for _, w, _, _ in reports) >= 20, reports
        assert_records_match_log(store)
        _assert_no_cycle(snapshot)
        Index.build(snapshot).check_invariants()
        for seed, _, _, index_snapshot in reports:
            assert index_snapshot == snapshot, f"writer {seed}'s index differs from the store"
        with tenancy.open(url) as fresh:
            assert fresh.index.snapshot() == snapshot
    finally:
        store.close()
        pg.drop_schema(url, url.partition("=")[2])


CHILD = """
import sys, tenancy
url, seed = sys.argv[1], int(sys.argv[2])
tn = tenancy.open(url, staleness=60)
tid = [x for x in tn.index.tenants if x != tn.management_tenant.id][0]
t = tn.tenant(tid)
print("ready", flush=True)
i = 0
while True:
    i += 1
    name = f"d{seed}-{i}"
    if i % 3:
        device = t.create_device(name, tags=[("n", str(i))])
    else:
        device = t.create_devices([{"name": f"{name}-{k}"} for k in range(50)])[-1]
    print(tn.revision, device.id, flush=True)
"""


def test_a_writer_killed_at_random_moments_loses_no_acknowledged_commit() -> None:
    """SIGKILL a writing process KILLS times: every commit it reported (the write
    returned) is in the store, the log is gap-free, and the records are what it means."""
    url = pg.fresh_url()
    with tenancy.open(url) as tn:
        tn.create_tenant(domain="kill", name="Kill", admin_email="a@kill.example")
    rng = random.Random(13)
    reported: list[tuple[int, str]] = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        for kill in range(KILLS):
            with subprocess.Popen(
                [sys.executable, "-c", CHILD, url, str(kill)],
                stdout=subprocess.PIPE,
                env=env,
                text=True,
            ) as child:
                assert child.stdout is not None
                assert child.stdout.readline().strip() == "ready"
                time.sleep(rng.uniform(0.05, 0.6 if HEAVY else 0.3))
                child.kill()
                child.wait(TIMEOUT)
                for line in child.stdout.read().splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[0].isdigit():  # a line cut short is no report
                        reported.append((int(parts[0]), parts[1]))
        store = PostgresStore.from_url(url)
        try:
            devices = {d.id for d in store.snapshot().devices}
            missing = [(r, d) for r, d in reported if d not in devices]
            assert not missing, f"acknowledged but lost: {missing[:5]}"
            assert [c.revision for c in store.changes_since(0)] == list(range(1, store.head() + 1))
            assert max(r for r, _ in reported) <= store.head()
            assert len(reported) >= KILLS
            print(f"{KILLS} kills: {len(reported)} acknowledged commits, all there")  # noqa: T201
            assert_records_match_log(store)
        finally:
            store.close()
    finally:
        pg.drop_schema(url, url.partition("=")[2])
