"""The SQLite store's bulk writes (an import's runs of creations) mean what the reference
says, row for row, and keep every table's row count and checksum total exact: a reopened
store reads its snapshot (which checks both) and equals the memory store's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tenancy.errors import StoreError
from tenancy.records import changes as ch
from tenancy.records.model import AuditRecord, Device, Group, Tenant, User, parse_rules
from tenancy.store import MemoryStore, _codec, _sqlite_apply
from tenancy.store.sqlite import SQLiteStore
from tests import pg

ACME = Tenant(id="t00000002", domain="acme", name="Acme", admin_email="a@acme.example")


def _group(gid: str, *, ids: frozenset[str] = frozenset(), rules: object = ()) -> Group:
    return Group(
        id=gid, tenant_id=ACME.id, name=gid.upper(), device_ids=ids,
        device_tags=parse_rules(rules),  # type: ignore[arg-type]
    )  # fmt: skip


def _both(tmp_path: Path, commits: list[list[ch.Change]]) -> SQLiteStore:
    """The commits through a SQLite and a memory store: the same records after each."""
    store, reference = SQLiteStore(tmp_path / "s.db"), MemoryStore()
    for revision, changes in enumerate(commits, start=1):
        store.commit(changes, expected_revision=revision - 1)
        reference.commit(changes, expected_revision=revision - 1)
        assert store.snapshot() == reference.snapshot(), f"after revision {revision}"
    store.close()
    again = SQLiteStore(tmp_path / "s.db")  # its snapshot checks each table's totals
    assert again.snapshot() == reference.snapshot()
    return again


def test_a_run_of_new_groups_is_written_whole(tmp_path: Path) -> None:
    devices = [ch.DeviceCreated(device=Device(id=f"d{n}", tenant_id=ACME.id, name=f"D{n}",
               tags=frozenset({("site", f"s{n % 3}")}))) for n in range(6)]  # fmt: skip
    groups = [
        ch.GroupCreated(group=_group("g-a", ids=frozenset({"d0", "d1"}))),
        ch.GroupCreated(group=_group("g-b", rules=[("site", "s1")])),
        ch.GroupCreated(
            group=_group("g-c", ids=frozenset({"d2"}), rules=[("site", "s2"), (None, "s0")])
        ),
        ch.GroupCreated(group=_group("g-d")),
    ]
    users = [ch.UserCreated(user=User(id=f"u{n}", tenant_id=ACME.id, email=f"u{n}@a.example"))
             for n in range(3)]  # fmt: skip
    members = [ch.MemberAdded(group_id="g-a", user_id=f"u{n}") for n in range(3)]
    store = _both(tmp_path, [[ch.TenantCreated(tenant=ACME), *groups, *devices, *users,
                              *members]])  # fmt: skip
    assert {g.id: g.device_ids for g in store.snapshot().groups}["g-c"] == {"d2"}
    store.close()


def test_a_run_that_names_a_group_already_there_replaces_it(tmp_path: Path) -> None:
    """One group of the run exists (with ids and rules of its own), another comes twice:
    each replaces what was there, as one GroupCreated at a time does."""
    first = _group("g-a", ids=frozenset({"d0", "d1"}), rules=[("site", "x")])
    again = _group("g-a", ids=frozenset({"d2"}))
    twice = _group("g-b", rules=[("site", "y")])
    twice_again = _group("g-b", ids=frozenset({"d0"}))
    store = _both(tmp_path, [
        [ch.TenantCreated(tenant=ACME), ch.GroupCreated(group=first)],
        [ch.GroupCreated(group=_group("g-new")), ch.GroupCreated(group=again)],
        [ch.GroupCreated(group=twice), ch.GroupCreated(group=twice_again),
         ch.GroupCreated(group=_group("g-c"))],
    ])  # fmt: skip
    groups = {g.id: g for g in store.snapshot().groups}
    assert groups["g-a"] == again
    assert groups["g-b"] == twice_again
    store.close()


def _schema(store: SQLiteStore) -> list[tuple[str, str, str]]:
    return store._conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
    ).fetchall()


def test_indexes_made_after_a_large_insert_leave_the_schema_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Devices and audit records inserted with their tables' indexes made afterwards: the
    same schema, a file SQLite finds whole, indexes that answer; a refused commit leaves
    the indexes there."""
    monkeypatch.setattr(_sqlite_apply, "DEFER_ROWS", 5)
    store = SQLiteStore(tmp_path / "s.db")
    schema = _schema(store)
    devices = [ch.DeviceCreated(device=Device(id=f"d{n:02}", tenant_id=ACME.id, name="D"))
               for n in range(30)]  # fmt: skip
    audit = [AuditRecord(revision=1, at=datetime(2026, 1, 1, tzinfo=UTC), tenant_id=ACME.id,
                         actor="system", action="DeviceCreated", target=c.device.id,
                         after=c.device) for c in devices]  # fmt: skip
    store.commit([ch.TenantCreated(tenant=ACME), *devices], expected_revision=0, audit=audit)
    assert _schema(store) == schema
    assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    plan = store._conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM devices WHERE tenant_id = ?", (ACME.id,)
    ).fetchall()
    assert "devices_by_tenant" in str(plan)
    assert len(store.audit_log(tenant=ACME.id, limit=100)) == 30
    assert [r.target for r in store.audit_log(target="d07")] == ["d07"]
    more = [ch.DeviceCreated(device=Device(id=f"e{n:02}", tenant_id=ACME.id, name="E"))
            for n in range(40)]  # fmt: skip
    with pytest.raises(StoreError):  # the run is written, then the commit fails: rolled back
        store.commit([*more, ch.DeviceDeleted(device_id="nobody")], expected_revision=1)
    assert _schema(store) == schema
    assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()
    again = SQLiteStore(tmp_path / "s.db")
    assert [d.id for d in again.snapshot().devices] == [c.device.id for c in devices]
    again.close()


def test_the_postgres_store_writing_rows_through_the_same_class_keeps_its_indexes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL writes its rows through the same ChangeWriter: a run past DEFER_ROWS
    keeps its indexes (there is no ``sqlite_master`` to make them from)."""
    pytest.importorskip("psycopg", reason="the extra 'postgres': pip install -e '.[postgres]'")
    from tenancy.store.postgres import PostgresStore

    monkeypatch.setattr(_sqlite_apply, "DEFER_ROWS", 5)
    base, schema = pg.database_url(), pg.fresh_schema()
    try:
        store = PostgresStore.from_url(f"{base}?schema={schema}")
        devices = [ch.DeviceCreated(device=Device(id=f"d{n:02}", tenant_id=ACME.id, name="D"))
                   for n in range(30)]  # fmt: skip
        store.commit([ch.TenantCreated(tenant=ACME), *devices], expected_revision=0)
        assert [d.id for d in store.snapshot().devices] == [c.device.id for c in devices]
        store.close()
    finally:
        pg.drop_schema(base, schema)


def test_the_log_body_made_from_the_row_blobs_is_the_encoding_of_the_changes() -> None:
    """A commit's log body splices the row blobs of its new devices and users in (each
    record encoded once): the bytes of the changes encoded whole, decoding to them."""
    devices = [Device(id=f"d{n}", tenant_id=ACME.id, name=f"D{n}", parent_id=None if n < 2
                      else "d0", tags=frozenset({("site", f"s{n}"), ("kind", "pump")}))
               for n in range(5)]  # fmt: skip
    users = [User(id=f"u{n}", tenant_id=ACME.id, email=f"u{n}@acme.example",
                  tags=frozenset({("team", "ops")})) for n in range(3)]  # fmt: skip
    changes: list[ch.Change] = [
        ch.TenantCreated(tenant=ACME),
        ch.GroupCreated(group=_group("g-a", rules=[("site", "s1"), (None, "s2")])),
        *(ch.DeviceCreated(device=d) for d in devices),
        *(ch.UserCreated(user=u) for u in users),
        ch.MemberAdded(group_id="g-a", user_id="u0"),
    ]
    made: list[Device | User] = [*devices, *users[:2]]  # u2 not made
    encoded = {id(r): _codec.encode_record(r) for r in made}
    plain = [c for c in changes if type(c) is not ch.GroupCreated]
    assert _codec.encode_changes(plain, encoded) == _codec.encode_changes(plain)
    # A wildcard rule's set does not sort: encoded whole, every set of the commit then
    # keeps its iteration order; spliced, that change alone. The same changes either way.
    spliced = _codec.encode_changes(changes, encoded)
    assert _codec.decode_changes(spliced) == tuple(changes)
    assert _codec.encode_changes([], encoded) == _codec.encode_changes([])
