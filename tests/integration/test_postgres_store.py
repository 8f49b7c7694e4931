"""The PostgreSQL store in one process: opening (URLs, options, the missing extra), the
follower (NOTIFY, polling, catching up after a lost connection), concurrent writers, faults
(terminated backends: what a server restart does to its clients), retention and fork.

Each test's store lives in a schema of its own in this run's database (tests/pg.py). Every
wait is bounded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tenancy
from tenancy import InvalidValue, StaleRevision, StoreError, Tenancy
from tenancy.records import changes as ch
from tenancy.records.model import Tenant
from tenancy.store.postgres import PostgresStore
from tenancy.testing.contract import assert_index_matches_store, assert_records_match_log
from tests import pg

psycopg = pytest.importorskip(
    "psycopg", reason="the extra 'postgres': pip install -e '.[postgres]'"
)
TIMEOUT = 20.0


@pytest.fixture
def url() -> Iterator[str]:
    """A URL of a store of its own (a new schema, dropped afterwards)."""
    base = pg.database_url()
    schema = pg.fresh_schema()
    yield f"{base}?schema={schema}"
    pg.drop_schema(base, schema)


def _until(check: object, timeout: float = TIMEOUT) -> float:
    """Seconds until ``check()`` is true (fails the test after ``timeout``)."""
    start = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(0.002)
    return time.monotonic() - start


def _tenant(tn: Tenancy, domain: str = "acme") -> str:
    return tn.create_tenant(domain=domain, name="Acme", admin_email=f"a@{domain}.example").id


# ---------------------------------------------------------------- opening


def test_open_takes_a_url_and_a_schema(url: str) -> None:
    base, _, query = url.partition("?")
    schema = query.partition("=")[2]
    with tenancy.open(base, schema=schema) as tn:
        tid = _tenant(tn)
        assert tn.store.capabilities == tenancy.Capabilities(
            durable=True, shared=True, retention=None, feed=True, notifies=True
        )
    with tenancy.open(url) as tn:  # the schema in the query string
        assert tn.get_tenant(tid).name == "Acme"
    with psycopg.connect(base) as conn:
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
            )
        }
        versions = conn.execute(f'SELECT version FROM "{schema}".schema_migrations').fetchall()
    assert {"meta", "devices", "changes", "audit", "checksums"} <= tables
    assert versions == [(1,)]


def test_bad_options_are_refused(url: str) -> None:
    base = url.partition("?")[0]
    with pytest.raises(InvalidValue, match="schema"):
        tenancy.open(base, schema="Bad-Name")
    with pytest.raises(InvalidValue, match="SQLite file"):
        tenancy.open(base, integrity="full")
    with pytest.raises(InvalidValue, match="postgresql"):
        tenancy.open(None, schema="x")
    with pytest.raises(InvalidValue, match="pool_size"):
        tenancy.open(f"{base}?pool_size=many")


def test_without_the_extra_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now fails
    with pytest.raises(StoreError, match=r"tenancy-iot\[postgres\]"):
        tenancy.open("postgresql://nobody@127.0.0.1:1/none")


def test_a_server_that_does_not_answer_is_a_store_error() -> None:
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"127\.0\.0\.1"):
        PostgresStore("postgresql://postgres@127.0.0.1:1/test?connect_timeout=1", busy_timeout=1)
    assert time.monotonic() - started < 10


def test_a_schema_of_another_application_is_refused(url: str) -> None:
    base, schema = url.partition("?")[0], url.partition("=")[2]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".orders (id int)')
    with pytest.raises(StoreError, match="not a tenancy store"):
        tenancy.open(url)


# ---------------------------------------------------------------- the follower


def test_notify_wakes_the_other_handle_at_once(url: str) -> None:
    """With a staleness of a minute, only the NOTIFY can explain a write showing at once."""
    with tenancy.open(url, staleness=60) as writer, tenancy.open(url, staleness=60) as reader:
        waits = []
        for i in range(5):
            tid = _tenant(writer, f"n{i}")
            waits.append(_until(lambda tid=tid: tid in reader.index.tenants, timeout=5))
        assert sorted(waits)[2] < 1.0, waits


def test_without_notify_the_follower_polls(url: str) -> None:
    with (
        tenancy.open(url, notify=False, staleness=0.2) as writer,
        tenancy.open(url, notify=False, staleness=0.2) as reader,
    ):
        assert not writer.store.capabilities.notifies
        tid = _tenant(writer)
        assert _until(lambda: tid in reader.index.tenants, timeout=10) < 5


def test_at_least_sees_a_write_at_once(url: str) -> None:
    with tenancy.open(url, staleness=60) as writer, tenancy.open(url, staleness=60) as reader:
        t = writer.tenant(_tenant(writer))
        device = t.create_device("Pump", tags=[("site", "sb")])
        user = t.create_user("ana@acme.example")
        group = t.create_group("Site", device_tags=[("site", "sb")])
        t.add_member(group.id, user.id)
        assert reader.verify(user.id, device.id, at_least=writer.revision)
        t.remove_member(group.id, user.id)
        assert not reader.verify(user.id, device.id, fresh=True)


def test_a_follower_that_lost_its_connection_catches_up_from_the_log(url: str) -> None:
    """Backends terminated (a restart): the reader's LISTEN connection is gone while the
    writer commits. It reconnects and catches up from the log, not from a snapshot."""
    with tenancy.open(url, staleness=0.5) as writer, tenancy.open(url, staleness=0.5) as reader:
        _tenant(writer, "before")
        _until(lambda: reader.revision == writer.revision)
        index = reader.index
        assert pg.terminate_backends(url) >= 2
        tids = [_tenant(writer, f"after{i}") for i in range(3)]  # the writer reconnects
        _until(lambda: all(t in reader.index.tenants for t in tids))
        assert reader.index is index, "caught up from the log, not reloaded"
        assert_index_matches_store(reader.index, reader.store)


def test_a_follower_past_retention_reloads(url: str) -> None:
    with (
        tenancy.open(f"{url}&retention=3", staleness=60, notify=False) as writer,
        tenancy.open(f"{url}&retention=3", staleness=60, notify=False) as reader,
    ):
        tids = [_tenant(writer, f"r{i}") for i in range(6)]
        with pytest.raises(StaleRevision):
            writer.store.changes_since(0)
        reader.catch_up()
        assert set(tids) <= set(reader.index.tenants)
        assert reader.index.snapshot() == writer.store.snapshot()


# ---------------------------------------------------------------- writers


def test_concurrent_writers_get_gap_free_revisions(url: str) -> None:
    """Four threads, each with a handle (store, pool) of its own, write at once: every
    revision from 1 to the head is in the log exactly once, and nothing is lost."""
    handles = [tenancy.open(url, staleness=60) for _ in range(4)]
    made: list[list[int]] = [[] for _ in handles]
    try:

        def write(i: int) -> None:
            tn = handles[i]
            for j in range(8):
                _tenant(tn, f"w{i}x{j}")
                made[i].append(tn.revision)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        store = handles[0].store
        revisions = [c.revision for c in store.changes_since(0)]
        assert revisions == list(range(1, store.head() + 1))
        mine = sorted(r for rs in made for r in rs)
        assert len(mine) == 32
        assert len(set(mine)) == 32
        assert len(store.snapshot().tenants) == 33
        assert_records_match_log(store)
    finally:
        for tn in handles:
            tn.close()


def test_a_stale_commit_is_refused_as_on_sqlite(url: str) -> None:
    first, second = PostgresStore.from_url(url), PostgresStore.from_url(url)
    try:
        tenant = Tenant(id="t1", domain="one", name="One")
        assert first.commit([ch.TenantCreated(tenant=tenant)], expected_revision=0) == 1
        other = Tenant(id="t2", domain="two", name="Two")
        with pytest.raises(StaleRevision):
            second.commit([ch.TenantCreated(tenant=other)], expected_revision=0)
        assert [t.id for t in second.snapshot().tenants] == ["t1"]
    finally:
        first.close()
        second.close()


# ---------------------------------------------------------------- faults


def test_a_write_in_flight_when_its_backend_ends_raises_and_writes_nothing(url: str) -> None:
    """The commit waits on the head lock (held by another session); its backend is
    terminated meanwhile: StoreError, nothing written, the next write succeeds."""
    store = PostgresStore.from_url(url)
    try:
        store.commit(
            [ch.TenantCreated(tenant=Tenant(id="t1", domain="a", name="A"))], expected_revision=0
        )
        base, schema = url.partition("?")[0], url.partition("=")[2]
        blocker = psycopg.connect(base)
        blocker.execute(f'SELECT value FROM "{schema}".meta WHERE key = %s FOR UPDATE', ("head",))
        outcome: list[BaseException | int] = []

        def write() -> None:
            try:
                tenant = Tenant(id="t2", domain="b", name="B")
                outcome.append(store.commit([ch.TenantCreated(tenant=tenant)], expected_revision=1))
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=write)
        thread.start()
        with psycopg.connect(base, autocommit=True) as admin:

            def waiting() -> list[int]:
                return [
                    pid
                    for (pid,) in admin.execute(
                        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND datname = current_database()"
                    )
                ]

            _until(waiting, timeout=10)
            for pid in waiting():
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        thread.join(TIMEOUT)
        blocker.rollback()
        blocker.close()
        assert len(outcome) == 1
        assert isinstance(outcome[0], StoreError), outcome
        assert store.head() == 1
        tenant = Tenant(id="t3", domain="c", name="C")
        assert store.commit([ch.TenantCreated(tenant=tenant)], expected_revision=1) == 2
        assert [c.revision for c in store.changes_since(0)] == [1, 2]
        assert [t.id for t in store.snapshot().tenants] == ["t1", "t3"]
    finally:
        store.close()


def test_handles_survive_terminated_backends_mid_run(url: str) -> None:
    """A writer thread writes on while every backend of the database is terminated again
    and again: each write returns its revision or raises StoreError; every acknowledged
    write is in the store, the log is gap-free, and later writes succeed."""
    with tenancy.open(url, staleness=0.2) as tn, tenancy.open(url, staleness=0.2) as reader:
        acked: list[tuple[int, str]] = []
        failed: list[BaseException] = []
        stop = threading.Event()

        def write() -> None:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    tid = _tenant(tn, f"f{i}")
                    acked.append((tn.revision, tid))
                except StoreError as exc:
                    failed.append(exc)

        thread = threading.Thread(target=write)
        thread.start()
        try:
            for _ in range(5):
                time.sleep(0.15)
                pg.terminate_backends(url)
        finally:
            stop.set()
            thread.join(TIMEOUT)
        assert acked, "no write went through"
        tid = _tenant(tn, "later")  # the handle works after the faults
        store = PostgresStore.from_url(url)
        try:
            snapshot = store.snapshot()
            tenants = {t.id for t in snapshot.tenants}
            assert {t for _, t in acked} | {tid} <= tenants
            assert [c.revision for c in store.changes_since(0)] == list(range(1, store.head() + 1))
            assert len({r for r, _ in acked}) == len(acked)
            _until(lambda: reader.revision == store.head())
            assert reader.index.snapshot() == snapshot
            tn.catch_up()
            assert tn.index.snapshot() == snapshot
        finally:
            store.close()


# ---------------------------------------------------------------- fork


@pytest.mark.skipif(sys.platform == "win32", reason="os.fork is POSIX")
def test_a_handle_crosses_a_fork_without_sharing_a_connection(url: str) -> None:
    with tenancy.open(url, staleness=0.2) as tn:
        tid = _tenant(tn)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: its own pool, its own listener
            code = 1
            try:
                t = tn.tenant(tid)
                t.create_device("Forked", tags=[("site", "x")])
                os.write(write, str(tn.revision).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        revision = int(os.read(read, 64) or b"0")
        os.close(read)
        assert os.waitstatus_to_exitcode(status) == 0
        assert revision > 0
        _until(lambda: tn.revision >= revision)  # the parent's follower still listens
        assert [d.name for d in tn.tenant(tid).devices()] == ["Forked"]
        _tenant(tn, "after-fork")  # and the parent's pool still writes


@pytest.mark.parametrize("landed", [True, False])
def test_a_commit_whose_connection_breaks_during_commit_is_settled_by_the_server(
    url: str, monkeypatch: pytest.MonkeyPatch, landed: bool
) -> None:
    """The connection breaks while COMMIT is on its way: the store asks the server
    (pg_xact_status). A commit that landed returns its revision; one that did not raises
    StoreError; either way the log holds it exactly when it landed."""
    store = PostgresStore.from_url(url)
    try:
        real = psycopg.Connection.execute

        def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(query, str) and query.endswith("; COMMIT"):
                if landed:
                    real(self, query, *args, **kwargs)
                self.close()  # the server ends an uncommitted transaction with its session
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return real(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Connection, "execute", execute)
        tenant = Tenant(id="t1", domain="a", name="A")
        if landed:
            assert store.commit([ch.TenantCreated(tenant=tenant)], expected_revision=0) == 1
        else:
            with pytest.raises(StoreError, match=r"rolled back"):
                store.commit([ch.TenantCreated(tenant=tenant)], expected_revision=0)
        monkeypatch.undo()
        assert store.head() == (1 if landed else 0)
        assert [c.revision for c in store.changes_since(0)] == ([1] if landed else [])
    finally:
        store.close()


def test_the_postgres_benchmark_runs_at_a_tiny_scale() -> None:
    """benchmarks/postgres.py end to end on a few hundred devices, so it never rots."""
    env = {**os.environ, "TENANCY_BENCH_POSTGRES": pg.database_url()}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.postgres", "--devices", "300", "--writes", "5",
         "--visible", "5", "--naive-scale", "S"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    for figure in ("tag change", "NOTIFY", "polling", "cold open", "verify", "naive"):
        assert figure in done.stdout, done.stdout


def test_commits_after_reads_a_bounded_stretch_of_the_log(url: str) -> None:
    """The change feed's bounded read: the first ``limit`` commits after a revision, the
    same commits as changes_since; StaleRevision past retention."""
    store = PostgresStore.from_url(f"{url}&retention=4")
    try:
        for i in range(6):
            tenant = Tenant(id=f"t{i}", domain=f"d{i}", name="T")
            store.commit([ch.TenantCreated(tenant=tenant)], expected_revision=i)
        assert store.commits_after(2, 2) == store.changes_since(2)[:2]
        assert [c.revision for c in store.commits_after(3, 10)] == [4, 5, 6]
        assert store.commits_after(6, 5) == []
        with pytest.raises(StaleRevision):
            store.commits_after(0, 1)
        with pytest.raises(InvalidValue):
            store.commits_after(2, 0)
    finally:
        store.close()
