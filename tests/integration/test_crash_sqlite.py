"""Crash safety: a child process writing to a SQLite file is killed with SIGKILL at random
moments, again and again; after each kill the file holds every write the child reported,
no part of any other, and a handle's index equals a rebuild from it."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import tenancy
from tenancy import Tenancy, TenancyError
from tenancy.records.changes import Change, Commit, Revision
from tenancy.records.model import AuditRecord
from tenancy.records.snapshot import Snapshot
from tenancy.store import _codec
from tenancy.store.protocol import Capabilities
from tenancy.store.sqlite import SQLiteStore
from tenancy.testing.contract import (
    assert_index_matches_store,
    assert_records_match_log,
    seeded_random,
)

pytestmark = pytest.mark.slow

KILLS = 12
TIMEOUT = 30.0


class _ReportingStore:
    """Prints ``<revision> <hex of the committed changes>`` once a commit has returned:
    the child's word that the write is durable."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    @property
    def capabilities(self) -> Capabilities:
        return self.store.capabilities

    def head(self) -> Revision:
        return self.store.head()

    def snapshot(self) -> Snapshot:
        return self.store.snapshot()

    def commit(
        self,
        changes: Sequence[Change],
        *,
        expected_revision: Revision,
        audit: Sequence[AuditRecord] = (),
    ) -> Revision:
        revision = self.store.commit(changes, expected_revision=expected_revision, audit=audit)
        sys.stdout.write(f"{revision} {_codec.encode_changes(changes).hex()}\n")
        sys.stdout.flush()
        return revision

    def audit_log(self, **filters: Any) -> list[AuditRecord]:
        return self.store.audit_log(**filters)

    def changes_since(self, revision: Revision) -> list[Commit]:
        return self.store.changes_since(revision)

    def close(self) -> None:
        self.store.close()


def crash_child(path: str, seed: int) -> None:
    """Write a stream of changes until killed: bulk device batches (large commits, so a
    kill often lands inside one), moves, tags and memberships."""
    rng = random.Random(seed)
    tn = Tenancy(_ReportingStore(SQLiteStore(path, busy_timeout=20)), staleness=None)
    tenant = tn.find_tenant("crash")
    assert tenant is not None
    t = tn.tenant(tenant.id)
    groups = [g.id for g in t.groups()]
    users = [u.id for u in t.users()]
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    n = 0
    while True:
        n += 1
        pick = rng.random()
        try:
            if pick < 0.25:
                t.create_devices(
                    {"name": f"gen {seed} {n} {i}", "tags": [("site", rng.choice("abc"))]}
                    for i in range(rng.randint(1, 250))
                )
            elif pick < 0.45:
                t.move_group(rng.choice(groups), parent=rng.choice([None, *groups]))
            elif pick < 0.6:
                t.associate(rng.choice(groups), device_tags=[("site", rng.choice("abc"))])
            elif pick < 0.8:
                t.add_member(rng.choice(groups), rng.choice(users))
            else:
                t.remove_member(rng.choice(groups), rng.choice(users))
        except TenancyError:
            pass  # a move that would make a cycle: refused, nothing written


def _run_child(path: Path, seed: int, kill_after: float) -> list[tuple[int, bytes]]:
    """Run crash_child, SIGKILL it ``kill_after`` seconds after it is ready, and return
    the commits it reported (a line cut short by the kill is not a report)."""
    code = (
        "import sys; sys.path[:0] = sys.argv[3:]; "
        "from tests.integration.test_crash_sqlite import crash_child; "
        "crash_child(sys.argv[1], int(sys.argv[2]))"
    )
    root = str(Path(__file__).resolve().parents[2])
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(path), str(seed), root, *sys.path],
        stdout=subprocess.PIPE,
    )
    lines: list[bytes] = []
    ready = threading.Event()

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            if line == b"ready\n":
                ready.set()
            else:
                lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(TIMEOUT), "the child never got ready"
        time.sleep(kill_after)
    finally:
        child.kill()  # SIGKILL
        child.wait(TIMEOUT)
        reader.join(TIMEOUT)
        assert child.stdout is not None
        child.stdout.close()
    assert child.returncode == -9, f"the child ended on its own ({child.returncode})"
    reports = []
    for line in lines:
        if not line.endswith(b"\n"):
            continue  # cut short by the kill
        revision, blob = line.split()
        reports.append((int(revision), bytes.fromhex(blob.decode())))
    return reports


def test_a_writer_killed_at_random_moments_loses_nothing_it_reported(tmp_path: Path) -> None:
    """Kill a writing child with SIGKILL many times: after each kill every commit it
    reported is in the log with exactly its changes, at most one more commit (finished but
    not yet reported) follows, the records are exactly what the log means (no partial
    write), the file opens, and a long-lived handle that catches up over each crash equals
    a rebuild from the file."""
    rng = seeded_random("crash kills")
    path = tmp_path / "crash.db"
    with tenancy.open(str(path), staleness=None) as tn:
        t = tn.tenant(tn.create_tenant(domain="crash", name="Crash", admin_email="a@c.example").id)
        for i in range(6):
            t.create_group(f"group {i}", device_tags=[("site", "abc"[i % 3])])
            t.create_user(f"user{i}@c.example")
    watcher = Tenancy(SQLiteStore(path), staleness=None)  # lives through every crash
    reported_total = 0
    try:
        for kill in range(KILLS):
            head_before = watcher.store.head()
            reports = _run_child(path, rng.randrange(2**32), rng.uniform(0.0, 0.3))
            reported_total += len(reports)
            store = SQLiteStore(path)
            try:
                log = {c.revision: c.changes for c in store.changes_since(0)}
                head = store.head()
                for revision, blob in reports:
                    assert log[revision] == _codec.decode_changes(blob), f"kill {kill}"
                last_reported = max((r for r, _ in reports), default=head_before)
                assert last_reported <= head <= last_reported + 1, (kill, last_reported, head)
                assert_records_match_log(store)
                assert Tenancy(store, staleness=None).revision == head  # it opens
            finally:
                store.close()
            watcher.catch_up()
            assert_index_matches_store(watcher.index, watcher.store)
        assert reported_total >= KILLS, "the children hardly wrote anything"
    finally:
        watcher.close()
