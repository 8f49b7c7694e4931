"""Real processes (multiprocessing, spawn) sharing one SQLite file: freshness across
processes, concurrent random writers, and two moves racing towards a cycle.

Every wait is bounded; a worker that fails an assertion exits non-zero, and the parent
checks every exit code.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

import tenancy
from tenancy import CycleError, StaleRevision, Tenancy, TenancyError
from tenancy.index.index import Index
from tenancy.records.changes import Change, Commit, Revision
from tenancy.records.model import AuditRecord
from tenancy.records.snapshot import Snapshot
from tenancy.store.protocol import Capabilities, Store
from tenancy.store.sqlite import SQLiteStore
from tenancy.testing.contract import (
    assert_index_matches_store,
    assert_records_match_log,
    random_operation,
)

pytestmark = pytest.mark.slow

CTX = multiprocessing.get_context("spawn")  # no fork: a forked SQLite connection is unsafe
WINDOW = 0.3
"""The follower's staleness window in these tests, in seconds."""
SLACK = 2.0
"""What a loaded two-core machine may add to the window before the test calls it late."""
TIMEOUT = 45.0
"""The most any single wait may take."""


class RecordingStore:
    """A store that remembers every commit it made: (revision, changes)."""

    def __init__(self, store: Store, barrier: Barrier | None = None) -> None:
        self.store = store
        self.made: list[tuple[Revision, tuple[Change, ...]]] = []
        self.attempts = 0
        self.stale = 0
        self._barrier = barrier

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
        self.attempts += 1
        if self._barrier is not None and self.attempts == 1:
            self._barrier.wait(TIMEOUT)  # both racers have validated: now commit together
        try:
            revision = self.store.commit(changes, expected_revision=expected_revision, audit=audit)
        except StaleRevision:
            self.stale += 1
            raise
        self.made.append((revision, tuple(changes)))
        return revision

    def audit_log(self, **filters: Any) -> list[AuditRecord]:
        return self.store.audit_log(**filters)

    def changes_since(self, revision: Revision) -> list[Commit]:
        return self.store.changes_since(revision)

    def close(self) -> None:
        self.store.close()


def _world(tn: Tenancy) -> tuple[str, str, str, str]:
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="admin@acme.example")
    t = tn.tenant(acme.id)
    group = t.create_group("Site", device_tags=[("site", "sb")])
    device = t.create_device("Generator", tags=[("site", "sb")])
    user = t.create_user("ana@acme.example")
    return acme.id, group.id, device.id, user.id


@contextmanager
def _processes(*procs: BaseProcess) -> Iterator[None]:
    """Start the processes; on the way out join them (bounded) and kill any straggler."""
    for p in procs:
        p.start()
    try:
        yield
        for p in procs:
            p.join(TIMEOUT)
            assert p.exitcode == 0, f"{p.name} exited with {p.exitcode}"
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)


def _assert_no_cycle(snapshot: Snapshot) -> None:
    parents = {g.id: g.parent_id for g in snapshot.groups}
    for gid in parents:
        seen = {gid}
        walk = parents[gid]
        while walk is not None:
            assert walk not in seen, f"group cycle through {walk!r}"
            seen.add(walk)
            walk = parents[walk]


# ---------------------------------------------------------------- (a) freshness


def follower_worker(path: str, inbox: Queue[Any], outbox: Queue[Any]) -> None:
    """Process B: one handle that follows the file every WINDOW seconds, one that does not
    follow at all; answer the parent's questions with both."""
    with (
        tenancy.open(path, staleness=WINDOW) as follow,
        tenancy.open(path, staleness=None) as manual,
    ):
        outbox.put(("ready", follow.revision))
        while True:
            message = inbox.get(timeout=TIMEOUT)
            if message[0] == "stop":
                return
            _, user, device, revision = message
            deadline = time.monotonic() + TIMEOUT
            while not follow.verify(user, device) and time.monotonic() < deadline:
                time.sleep(0.002)
            seen_at = time.monotonic()
            stale = manual.verify(user, device)
            fresh = manual.verify(user, device, at_least=revision)
            outbox.put(("seen", seen_at, follow.revision, stale, fresh, manual.revision))


def test_a_write_in_one_process_is_seen_in_another_within_the_window(tmp_path: Path) -> None:
    """(a) Process B sees process A's write within its staleness window without asking;
    a handle that does not follow sees it only when asked, and then at once with at_least."""
    path = str(tmp_path / "shared.db")
    with tenancy.open(path, staleness=None) as a:
        tenant, group, device, user = _world(a)
        inbox: Queue[Any] = CTX.Queue()
        outbox: Queue[Any] = CTX.Queue()
        b = CTX.Process(target=follower_worker, args=(path, inbox, outbox), name="B")
        with _processes(b):
            assert outbox.get(timeout=TIMEOUT) == ("ready", a.revision)
            for i in range(3):
                if i:  # a user B has never heard of, so its stale answer is a clean False
                    user = a.tenant(tenant).create_user(f"user{i}@acme.example").id
                a.tenant(tenant).add_member(group, user)
                written_at = time.monotonic()
                inbox.put(("ask", user, device, a.revision))
                _, seen_at, follow_revision, stale, fresh, manual_revision = outbox.get(
                    timeout=TIMEOUT
                )
                assert seen_at - written_at <= WINDOW + SLACK
                assert follow_revision == a.revision
                assert stale is False, "the handle without a follower saw the write unasked"
                assert fresh is True
                assert manual_revision == a.revision
            inbox.put(("stop",))


# ---------------------------------------------------------------- (b) random writers


def random_writer(
    path: str, seed: int, seconds: float, barrier: Barrier, outbox: Queue[Any]
) -> None:
    """Open the (possibly new) file, write at random for ``seconds``, wait for the other
    writers, catch up, check the index against a rebuild, and report."""
    rng = random.Random(seed)
    recorder = RecordingStore(SQLiteStore(path, busy_timeout=20))
    tn = Tenancy(recorder, staleness=0.05)
    refused = 0
    try:
        barrier.wait(TIMEOUT)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            # The writer lock keeps the follower thread from moving the index while the
            # operation picks its ids from it (the follower skips that round).
            with tn._writer.lock:
                try:
                    random_operation(tn, rng)
                except TenancyError:
                    refused += 1
        barrier.wait(TIMEOUT)  # every writer has stopped
        tn.catch_up()
        assert_index_matches_store(tn.index, recorder)
        outbox.put((seed, recorder.made, refused, tn.index.snapshot()))
    finally:
        tn.close()


def test_four_processes_writing_at_random_agree_with_the_file(tmp_path: Path) -> None:
    """(b) Four processes open a new file at once and write at random for a few seconds:
    one management tenant, every write each reports is in the log at its revision, no
    two claim the same revision, nothing else is in the log, the records are what the
    log means, no group cycle, and every process's index equals a rebuild from the file."""
    path = str(tmp_path / "shared.db")
    barrier = CTX.Barrier(4)
    outbox: Queue[Any] = CTX.Queue()
    seeds = [random.SystemRandom().randrange(2**32) for _ in range(4)]
    print(f"writer seeds {seeds}")  # noqa: T201 - shown when the test fails
    writers = [
        CTX.Process(target=random_writer, args=(path, s, 3.0, barrier, outbox), name=f"writer-{s}")
        for s in seeds
    ]
    with _processes(*writers):
        reports = [outbox.get(timeout=TIMEOUT) for _ in writers]

    store = SQLiteStore(path)
    try:
        snapshot = store.snapshot()
        log = {c.revision: c.changes for c in store.changes_since(0)}
        assert sorted(log) == list(range(1, store.head() + 1))
        claimed: dict[int, int] = {}
        for seed, made, _, _ in reports:
            for revision, changes in made:
                assert revision not in claimed, f"revision {revision} claimed twice"
                claimed[revision] = seed
                assert log[revision] == changes, f"writer {seed}'s revision {revision} differs"
        assert sorted(claimed) == sorted(log), "the log holds a commit no writer made"
        assert sum(t.domain == "management" for t in snapshot.tenants) == 1
        assert len(claimed) >= 40, f"only {len(claimed)} writes in the whole run"
        assert_records_match_log(store)
        _assert_no_cycle(snapshot)
        Index.build(snapshot).check_invariants()
        for seed, _, _, index_snapshot in reports:
            assert index_snapshot == snapshot, f"writer {seed}'s index differs from the file"
    finally:
        store.close()


# ---------------------------------------------------------------- (c) racing moves


def mover(
    path: str, tenant: str, moves: list[tuple[str, str, bool]], barrier: Barrier, outbox: Queue[Any]
) -> None:
    """For each (group, new parent, forced) move it when the other racer moves the other
    way. ``forced``: both validate first and then commit together, so the loser's commit is
    refused as stale and must re-validate."""
    for group, parent, forced in moves:
        recorder = RecordingStore(SQLiteStore(path, busy_timeout=20), barrier if forced else None)
        with Tenancy(recorder, staleness=None) as tn:
            if not forced:
                barrier.wait(TIMEOUT)
            try:
                tn.tenant(tenant).move_group(group, parent=parent)
                outbox.put(("moved", group, recorder.attempts, recorder.stale))
            except CycleError as exc:
                outbox.put(("cycle", group, recorder.attempts, recorder.stale, str(exc)))
        barrier.wait(TIMEOUT)  # the round is over for both


def test_two_processes_moving_groups_under_each_other_make_no_cycle(tmp_path: Path) -> None:
    """(c) A moves x under y while B moves y under x, several times (half of them with
    both committing at the same instant): exactly one move wins each time, the other gets
    CycleError after re-validating, and the file holds no cycle."""
    path = str(tmp_path / "shared.db")
    rounds = 6
    with tenancy.open(path, staleness=None) as tn:
        tenant = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example").id
        t = tn.tenant(tenant)
        pairs = [(t.create_group(f"x{i}").id, t.create_group(f"y{i}").id) for i in range(rounds)]
    barrier = CTX.Barrier(2)
    outbox: Queue[Any] = CTX.Queue()
    forced = [i % 2 == 0 for i in range(rounds)]
    a_moves = [(x, y, f) for (x, y), f in zip(pairs, forced, strict=True)]
    b_moves = [(y, x, f) for (x, y), f in zip(pairs, forced, strict=True)]
    a = CTX.Process(target=mover, args=(path, tenant, a_moves, barrier, outbox), name="A")
    b = CTX.Process(target=mover, args=(path, tenant, b_moves, barrier, outbox), name="B")
    with _processes(a, b):
        results = [outbox.get(timeout=TIMEOUT) for _ in range(2 * rounds)]

    with tenancy.open(path, staleness=None) as tn:
        snapshot = tn.store.snapshot()
        _assert_no_cycle(snapshot)
        parents = {g.id: g.parent_id for g in snapshot.groups}
        for (x, y), was_forced in zip(pairs, forced, strict=True):
            mine = [r for r in results if r[1] in (x, y)]
            outcomes = sorted(r[0] for r in mine)
            assert outcomes == ["cycle", "moved"], mine
            (winner,) = [r for r in mine if r[0] == "moved"]
            (loser,) = [r for r in mine if r[0] == "cycle"]
            assert "cannot put group" in loser[4]
            if was_forced:
                assert winner[2:4] == (1, 0), "the winner committed at its first attempt"
                assert loser[2:4] == (1, 1), "the loser's commit was refused, then re-validated"
            if winner[1] == x:
                assert (parents[x], parents[y]) == (y, None)
            else:
                assert (parents[y], parents[x]) == (x, None)
        assert_index_matches_store(tn.index, tn.store)
