"""The SQLite store in one process: opening, migrations, transactions, busy files,
retention, bulk writes, and the freshness options of a handle on it."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import msgspec
import pytest

import tenancy
from tenancy import InvalidValue, StaleRevision, StoreError, Tenancy
from tenancy.records.changes import DeviceCreated, MemberAdded
from tenancy.records.model import Device, Group, TagMatcher, Tenant
from tenancy.store import _codec, migrations
from tenancy.store.memory import MemoryStore
from tenancy.store.sqlite import SQLiteStore
from tenancy.testing.contract import (
    assert_index_matches_store,
    assert_records_match_log,
    reference_snapshot,
    sample_commits,
)


def _fill(store: SQLiteStore, stop: int | None = None) -> None:
    """Commit the sample history from the store's head up to ``stop`` (default: all)."""
    for changes in sample_commits()[store.head() : stop]:
        store.commit(changes, expected_revision=store.head())


def _world(tn: Tenancy) -> tuple[str, str, str, str]:
    """A tenant with one group, one device it associates, one user: (tenant, group,
    device, user)."""
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="admin@acme.example")
    t = tn.tenant(acme.id)
    group = t.create_group("Site", device_tags=[("site", "sb")])
    device = t.create_device("Generator", tags=[("site", "sb")])
    user = t.create_user("ana@acme.example")
    return acme.id, group.id, device.id, user.id


# ---------------------------------------------------------------- opening


def test_open_takes_a_path_or_a_sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tenancy.open("app.db"), "sqlite:///app.db" (relative) and "sqlite:////abs" open
    the same file."""
    monkeypatch.chdir(tmp_path)
    with tenancy.open("app.db", staleness=None) as tn:  # a plain path
        tenant = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
        assert isinstance(tn.store, SQLiteStore)
    with tenancy.open("sqlite:///app.db", staleness=None) as tn:
        assert tn.get_tenant(tenant.id).name == "Acme"
    with tenancy.open(f"sqlite:///{tmp_path / 'app.db'}", staleness=None) as tn:
        assert tn.get_tenant(tenant.id).domain == "acme"


def test_url_options_reach_the_store(tmp_path: Path) -> None:
    """busy_timeout, synchronous and retention can be given in the URL."""
    url = f"sqlite:///{tmp_path / 'x.db'}?busy_timeout=0.5&synchronous=full&retention=10"
    store = SQLiteStore.from_url(url)
    try:
        assert store.capabilities.retention == 10
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 500
    finally:
        store.close()


@pytest.mark.parametrize(
    "url",
    [
        "postgres://localhost/x",
        "sqlite://x.db",
        "sqlite:///",
        "sqlite:///x.db?colour=blue",
        "sqlite:///x.db?busy_timeout=soon",
        "sqlite:///x.db?synchronous=sometimes",
        "sqlite:///x.db?busy_timeout=0",
        "sqlite:///x.db?retention=0",
    ],
)
def test_a_bad_url_is_refused_by_name(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An unknown scheme, a missing file name or a bad option raises InvalidValue."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidValue):
        SQLiteStore.from_url(url)


def test_the_file_is_in_wal_mode_with_synchronous_normal(tmp_path: Path) -> None:
    """WAL (readers never block the writer) and synchronous=NORMAL by default."""
    store = SQLiteStore(tmp_path / "x.db")
    try:
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert store.capabilities == tenancy.Capabilities(durable=True, shared=True, feed=True)
    finally:
        store.close()


def test_an_in_memory_sqlite_store_is_neither_durable_nor_shared() -> None:
    store = SQLiteStore(":memory:")
    try:
        assert not store.capabilities.durable
        assert not store.capabilities.shared
        _fill(store)
        assert store.snapshot() == reference_snapshot(sample_commits())
    finally:
        store.close()


def test_a_file_that_is_not_a_database_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are not the tables you are looking for" * 100)
    with pytest.raises(StoreError, match=r"notes\.txt"):
        SQLiteStore(path)


def test_a_closed_store_is_neither_read_nor_written(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "x.db")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.head()
    with pytest.raises(StoreError, match="closed"):
        store.snapshot()


# ---------------------------------------------------------------- migrations


def test_a_file_made_by_an_older_schema_is_migrated_on_open(tmp_path: Path) -> None:
    """A version-1 file (group associations inside the group blob) opens: its records read
    back unchanged, its associations move to their tables, the migrations are recorded."""
    path = tmp_path / "old.db"
    region = Group(
        id="g-1", tenant_id="t1", name="Region", device_ids=frozenset({"d-1", "d-2"}),
        device_tags=frozenset(
            {(TagMatcher("site", None),), (TagMatcher(None, "x"), TagMatcher("k", "v"))}
        ),
    )  # fmt: skip
    site = Group(id="g-2", tenant_id="t1", name="Site", parent_id="g-1")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    assert migrations.migrate(conn, target=1) == [1]
    _put_tenant(conn, "t1")  # the groups' tenant: an open checks that it exists
    for group in (region, site):
        conn.execute(
            "INSERT INTO groups (id, tenant_id, body) VALUES (?, ?, ?)",
            (group.id, group.tenant_id, msgspec.msgpack.encode(group)),
        )
    conn.execute("UPDATE meta SET value = 7 WHERE key = 'head'")
    conn.execute("COMMIT")
    conn.close()

    store = SQLiteStore(path)
    try:
        snapshot = store.snapshot()
        assert snapshot.revision == 7
        assert snapshot.groups == [region, site]
        versions = [v for (v,) in store._conn.execute("SELECT version FROM schema_migrations")]
        assert (
            versions
            == list(range(1, migrations.LATEST + 1))
            == [m[0] for m in migrations.MIGRATIONS]
        )
        pairs = store._conn.execute("SELECT device_id FROM group_devices ORDER BY 1").fetchall()
        assert pairs == [("d-1",), ("d-2",)]
        blob = store._conn.execute("SELECT body FROM groups WHERE id = 'g-1'").fetchone()[0]
        assert _codec.record_decoder(Group).decode(blob).device_ids == frozenset()
    finally:
        store.close()
    again = SQLiteStore(path)  # opening an up-to-date file applies nothing
    try:
        assert again.snapshot() == snapshot
    finally:
        again.close()


def test_a_version_5_file_keeps_its_devices_and_stores_them_in_id_order(tmp_path: Path) -> None:
    """Migration 6 clusters the devices table on its id: the same rows come back, now in id
    order when the table is read whole (how a snapshot reads it)."""
    path = tmp_path / "v5.db"
    devices = [
        Device(id=f"d-{n:03d}", tenant_id="t1", name=f"D{n}", tags=frozenset({("site", "a")}))
        for n in (7, 3, 9, 1, 5)  # inserted out of order, as a rowid table keeps them
    ]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    assert migrations.migrate(conn, target=5) == [1, 2, 3, 4, 5]
    _put_tenant(conn, "t1")
    conn.executemany(
        "INSERT INTO devices (id, tenant_id, body) VALUES (?, ?, ?)",
        [(d.id, d.tenant_id, _codec.encode_record(d)) for d in devices],
    )
    conn.execute("COMMIT")
    conn.close()

    store = SQLiteStore(path)
    try:
        stored = [row[0] for row in store._conn.execute("SELECT id FROM devices")]
        assert stored == sorted(d.id for d in devices)
        assert store.snapshot().devices == sorted(devices, key=lambda d: d.id)
        sql = store._conn.execute("SELECT sql FROM sqlite_master WHERE name = 'devices'")
        assert "WITHOUT ROWID" in sql.fetchone()[0]
        tenant_index = store._conn.execute("PRAGMA index_list(devices)").fetchall()
        assert "devices_by_tenant" in {row[1] for row in tenant_index}
    finally:
        store.close()


def _put_tenant(conn: sqlite3.Connection, tenant_id: str) -> None:
    """A tenant row as an older schema holds it (before row checksums)."""
    tenant = Tenant(id=tenant_id, domain="t", name="T")
    conn.execute(
        "INSERT INTO tenants (id, body) VALUES (?, ?)", (tenant.id, _codec.encode_record(tenant))
    )


def test_a_file_from_a_newer_tenancy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'later')")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        SQLiteStore(path)


# ---------------------------------------------------------------- transactions


def test_nested_atomic_blocks_are_savepoints(tmp_path: Path) -> None:
    """Inside atomic(), a failed commit rolls back to its savepoint only; the outer block
    commits the rest. An exception out of the outer block rolls back everything."""
    store = SQLiteStore(tmp_path / "x.db")
    commits = sample_commits()
    try:
        with store.atomic():
            store.commit(commits[0], expected_revision=0)
            with pytest.raises(StoreError):
                store.commit(
                    [MemberAdded(group_id="g", user_id="u"), *commits[21]], expected_revision=1
                )
            store.commit(commits[1], expected_revision=1)
        assert store.snapshot() == reference_snapshot(commits[:2])

        def change_of_mind() -> None:
            with store.atomic():
                store.commit(commits[2], expected_revision=2)
                raise RuntimeError("the caller changed its mind")

        with pytest.raises(RuntimeError):
            change_of_mind()
        assert store.head() == 2
        assert store.snapshot() == reference_snapshot(commits[:2])
        assert_records_match_log(store)
    finally:
        store.close()


def test_a_busy_file_raises_a_clear_error_after_the_timeout(tmp_path: Path) -> None:
    """While another connection holds the write lock, a commit waits busy_timeout seconds
    and then raises StoreError naming the file and the timeout; nothing is written."""
    path = tmp_path / "x.db"
    store = SQLiteStore(path, busy_timeout=0.3)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"busy_timeout=0\.3") as caught:
            store.commit(sample_commits()[0], expected_revision=0)
        assert 0.25 <= time.monotonic() - started < 5
        assert str(path) in str(caught.value)
        blocker.execute("ROLLBACK")
        assert store.head() == 0
        assert store.commit(sample_commits()[0], expected_revision=0) == 1
    finally:
        blocker.close()
        store.close()


# ---------------------------------------------------------------- retention


def test_a_handle_behind_the_retention_reloads_a_snapshot(tmp_path: Path) -> None:
    """With retention=3 the log keeps the last three revisions; changes_since further back
    raises StaleRevision, and a handle that far behind rebuilds from the records."""
    path = tmp_path / "x.db"
    writer = Tenancy(SQLiteStore(path, retention=3), staleness=None)
    reader = Tenancy(SQLiteStore(path, retention=3), staleness=None)
    try:
        tenant, group, device, user = _world(writer)
        t = writer.tenant(tenant)
        for i in range(6):
            t.create_device(f"extra {i}", tags=[("site", "sb")])
        t.add_member(group, user)
        head = writer.revision
        with pytest.raises(StaleRevision):
            writer.store.changes_since(head - 4)
        assert [c.revision for c in writer.store.changes_since(head - 3)] == [
            head - 2, head - 1, head
        ]  # fmt: skip
        assert reader.revision < head - 3
        assert reader.catch_up() == head
        assert reader.verify(user, device)
        assert_index_matches_store(reader.index, reader.store)
    finally:
        writer.close()
        reader.close()


# ---------------------------------------------------------------- bulk


def test_creating_many_devices_is_one_commit(tmp_path: Path) -> None:
    """create_devices of 5,000 devices is one revision, one change-log row, and reads
    back equal."""
    with tenancy.open(str(tmp_path / "x.db"), staleness=None) as tn:
        tenant, group, _, user = _world(tn)
        tn.tenant(tenant).add_member(group, user)
        before = tn.revision
        devices = tn.tenant(tenant).create_devices(
            {"name": f"Gen {i}", "id": f"SN-{i:05d}", "tags": [("site", "sb" if i % 2 else "sf")]}
            for i in range(5000)
        )
        assert tn.revision == before + 1
        store = tn.store
        assert isinstance(store, SQLiteStore)
        [commit] = store.changes_since(before)
        created = [c.device for c in commit.changes if isinstance(c, DeviceCreated)]
        assert len(created) == 5000
        assert created == devices
        assert store.snapshot().devices[: len(devices)] == sorted(devices, key=lambda d: d.id)
        assert tn.verify(user, "SN-00001")
        assert not tn.verify(user, "SN-00002")
        assert_index_matches_store(tn.index, store)


def test_a_snapshot_holds_one_copy_of_equal_tenant_ids_and_tags(tmp_path: Path) -> None:
    """Loading a snapshot shares equal values between records (memory at a million
    devices): devices with equal tags hold one frozenset, equal pairs are one tuple, and
    every record of a tenant holds the same tenant id string."""
    with tenancy.open(str(tmp_path / "x.db"), staleness=None) as tn:
        tenant, _, _, _ = _world(tn)
        t = tn.tenant(tenant)
        t.create_devices(
            {"name": f"Gen {i}", "tags": [("site", f"s{i % 2}"), ("type", "gen")]}
            for i in range(40_100)  # more than one batch of rows
        )
        for i in range(3):
            t.create_user(f"u{i}@acme.example")
    store = SQLiteStore(tmp_path / "x.db")
    try:
        snapshot = store.snapshot()
        # Shared values change nothing that compares: the records equal the log's.
        assert_records_match_log(store)
    finally:
        store.close()
    devices = [d for d in snapshot.devices if d.name.startswith("Gen ")]
    assert len({id(d.tags) for d in devices}) == 2
    assert len({id(pair) for d in devices for pair in d.tags}) == 3
    assert len({id(d.tenant_id) for d in devices}) == 1
    users = [u for u in snapshot.users if u.email.endswith("@acme.example")]
    assert len(users) == 5  # the admin, ana and the three made here
    assert all(u.tenant_id is devices[0].tenant_id for u in users)
    assert len({id(u.tags) for u in snapshot.users}) == 1


# ---------------------------------------------------------------- freshness


def test_a_handle_reads_its_own_writes_at_once(tmp_path: Path) -> None:
    with tenancy.open(str(tmp_path / "x.db"), staleness=60) as tn:
        tenant, group, device, user = _world(tn)
        tn.tenant(tenant).add_member(group, user)
        assert tn.verify(user, device)
        assert tn.revision == tn.store.head()


def test_the_follower_brings_other_handles_writes_within_the_window(tmp_path: Path) -> None:
    """Two handles on one file (as two processes would be): B sees A's write within its
    staleness window without asking, at once with at_least or fresh."""
    path = str(tmp_path / "x.db")
    with tenancy.open(path, staleness=None) as a, tenancy.open(path, staleness=0.1) as b:
        tenant, group, device, user = _world(a)
        assert b.staleness == 0.1
        a.tenant(tenant).add_member(group, user)
        deadline = time.monotonic() + 5
        while not b.verify(user, device):
            assert time.monotonic() < deadline, "the follower never caught up"
            time.sleep(0.01)
        assert b.revision == a.revision
        a.tenant(tenant).remove_member(group, user)
        assert not b.verify(user, device, at_least=a.revision)
        a.tenant(tenant).add_member(group, user)
        assert b.verify(user, device, fresh=True)


def test_at_least_beyond_the_head_is_refused(tmp_path: Path) -> None:
    with tenancy.open(str(tmp_path / "x.db"), staleness=None) as tn:
        with pytest.raises(InvalidValue, match="has not reached"):
            tn.verify("u", "d", at_least=tn.revision + 1)
        assert tn.verify("u", "d", at_least=tn.revision) is False


def test_only_a_shared_store_gets_a_follower_and_close_stops_it(tmp_path: Path) -> None:
    """The follower runs when capabilities say shared and staleness is set; close() ends
    the thread; the capabilities decide, nothing is probed."""

    def followers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("tenancy-follower")]

    before = len(followers())
    memory = Tenancy(MemoryStore())
    assert memory.staleness is None
    unfollowed = tenancy.open(str(tmp_path / "a.db"), staleness=None)
    assert unfollowed.staleness is None
    followed = tenancy.open(str(tmp_path / "b.db"), staleness=0.05)
    assert followed.staleness == 0.05
    assert len(followers()) == before + 1
    for tn in (memory, unfollowed, followed):
        tn.close()
        tn.close()
    assert len(followers()) == before


@pytest.mark.parametrize("staleness", [0, -1, "1", True])
def test_staleness_must_be_a_positive_number(tmp_path: Path, staleness: object) -> None:
    with pytest.raises(InvalidValue):
        Tenancy(MemoryStore(), staleness=staleness)  # type: ignore[arg-type]


def test_a_dropped_handle_is_collected_and_its_follower_ends(tmp_path: Path) -> None:
    """The follower holds its handle weakly: a handle dropped without close() is freed."""
    import gc
    import weakref

    tn = tenancy.open(str(tmp_path / "x.db"), staleness=0.02)
    ref = weakref.ref(tn)
    thread = next(t for t in threading.enumerate() if t.name.endswith(f"{id(tn):x}"))
    del tn
    gc.collect()
    assert ref() is None
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_device_ids_leave_every_group_when_a_device_is_deleted(tmp_path: Path) -> None:
    """DeviceDeleted removes the id from the association table without touching blobs."""
    store = SQLiteStore(tmp_path / "x.db")
    try:
        _fill(store, 8)
        assert store._conn.execute(
            "SELECT count(*) FROM group_devices WHERE device_id = 'd-plain'"
        ).fetchone() == (1,)
        _fill(store, None)
        assert store._conn.execute(
            "SELECT count(*) FROM group_devices WHERE device_id = 'd-plain'"
        ).fetchone() == (0,)
        assert_records_match_log(store)
    finally:
        store.close()


def test_records_are_encoded_deterministically() -> None:
    """Equal records give equal bytes whatever order their sets were built in."""
    one = Device(
        id="d", tenant_id="t", name="n", tags=frozenset([("a", "1"), ("b", "2"), ("a", "3")])
    )
    two = Device(
        id="d", tenant_id="t", name="n", tags=frozenset([("a", "3"), ("b", "2"), ("a", "1")])
    )
    assert _codec.encode_record(one) == _codec.encode_record(two)
    assert _codec.decode_many(Device, [_codec.encode_record(one)] * 20) == [one] * 20
