"""The PostgreSQL store's bulk rows by COPY (an import's devices, users, memberships and
audit records): the same rows, checksum totals and snapshot as the inserts they replace; a
batch that meets a row already there falls back to the inserts' meaning; a commit that
fails after its COPY leaves the store as it was, and so does an import refused or failing
in the store.

``COPY_ROWS`` is lowered so that a few dozen rows take the COPY path (and raised so that
they do not, for the reference); a counter around ``copy_new_rows`` shows which ran.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import tenancy
from tenancy import InvalidDocument
from tenancy.errors import StoreError
from tenancy.records import changes as ch
from tenancy.records.model import AuditRecord, Device, Group, Tenant, User, parse_rules
from tenancy.store import MemoryStore
from tests import pg

psycopg = pytest.importorskip(
    "psycopg", reason="the extra 'postgres': pip install -e '.[postgres]'"
)
from tenancy.store import _postgres_sql, postgres  # noqa: E402  (needs psycopg)
from tenancy.store.postgres import PostgresStore  # noqa: E402

ACME = Tenant(id="t00000002", domain="acme", name="Acme", admin_email="a@acme.example")
AT = datetime(2026, 1, 1, tzinfo=UTC)
TABLES = (
    "tenants", "groups", "devices", "users", "memberships", "group_devices", "group_rules",
    "usage", "access", "audit", "checksums", "meta",
)  # fmt: skip


@pytest.fixture
def urls() -> Iterator[Callable[[], str]]:
    """Make URLs of stores of their own (new schemas, dropped afterwards)."""
    base, made = pg.database_url(), []

    def make() -> str:
        made.append(pg.fresh_schema())
        return f"{base}?schema={made[-1]}"

    yield make
    for schema in made:
        pg.drop_schema(base, schema)


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables each COPY went to, in order (every call of copy_new_rows, the store's
    and the row writer's)."""
    seen: list[str] = []
    real = _postgres_sql.copy_new_rows

    def counted(conn: Any, table: str, columns: Any, rows: Any) -> bool:
        seen.append(table)
        return real(conn, table, columns, rows)

    monkeypatch.setattr(_postgres_sql, "copy_new_rows", counted)
    monkeypatch.setattr(postgres, "copy_new_rows", counted)
    return seen


def _copy_from(monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    monkeypatch.setattr(_postgres_sql, "COPY_ROWS", rows)


def _rows(store: PostgresStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a fixed order (bytes for bytea)."""
    with psycopg.connect(store.conninfo) as conn:
        conn.execute(f'SET search_path TO "{store.schema}"')
        return {
            table: [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            ]
            for table in TABLES
        }


def _bulk(n: int) -> list[ch.Change]:
    """An import's shape: the tenant, a group naming devices, the devices, users and
    memberships, ``n`` of each."""
    devices = [Device(id=f"d{i:03}", tenant_id=ACME.id, name=f"D{i}",
                      tags=frozenset({("site", f"s{i % 3}")})) for i in range(n)]  # fmt: skip
    users = [User(id=f"u{i:03}", tenant_id=ACME.id, email=f"u{i}@acme.example")
             for i in range(n)]  # fmt: skip
    group = Group(id="g-a", tenant_id=ACME.id, name="A",
                  device_ids=frozenset(d.id for d in devices[: n // 2]),
                  device_tags=parse_rules([("site", "s1")]))  # fmt: skip
    return [
        ch.TenantCreated(tenant=ACME),
        ch.GroupCreated(group=group),
        *(ch.DeviceCreated(device=d) for d in devices),
        *(ch.UserCreated(user=u) for u in users),
        *(ch.MemberAdded(group_id="g-a", user_id=u.id) for u in users),
    ]


def _audit(changes: list[ch.Change], revision: int) -> list[AuditRecord]:
    return [
        AuditRecord(revision=revision, at=AT, tenant_id=ACME.id, actor="system",
                    action=type(c).__name__, target=None if device is None else device.id,
                    after=device)
        for c in changes
        for device in [c.device if isinstance(c, ch.DeviceCreated) else None]
    ]  # fmt: skip


def _commit_both(
    monkeypatch: pytest.MonkeyPatch, urls: Callable[[], str], commits: list[list[ch.Change]]
) -> tuple[PostgresStore, PostgresStore]:
    """The commits into a store that COPYs (COPY_ROWS=5) and one that inserts (COPY_ROWS
    out of reach), both checked against the memory store after each commit."""
    stores, reference = [], MemoryStore()
    for revision, changes in enumerate(commits, start=1):
        reference.commit(changes, expected_revision=revision - 1)
    for rows in (5, 10**9):
        _copy_from(monkeypatch, rows)
        store = PostgresStore.from_url(urls())
        for revision, changes in enumerate(commits, start=1):
            store.commit(changes, expected_revision=revision - 1, audit=_audit(changes, revision))
        assert store.snapshot() == reference.snapshot()
        stores.append(store)
    return stores[0], stores[1]


def test_copy_writes_the_rows_the_inserts_write(
    monkeypatch: pytest.MonkeyPatch, urls: Callable[[], str], copies: list[str]
) -> None:
    copied, inserted = _commit_both(monkeypatch, urls, [_bulk(30)])
    assert sorted(set(copies)) == ["audit", "devices", "group_devices", "memberships", "users"]
    assert _rows(copied) == _rows(inserted)
    copied.close()
    inserted.close()
    again = PostgresStore.from_url(f"{pg.database_url()}?schema={copied.schema}")
    assert len(again.snapshot().devices) == 30  # a snapshot checks every table's totals
    again.close()


def test_a_copy_that_meets_a_row_already_there_falls_back_to_the_inserts(
    monkeypatch: pytest.MonkeyPatch, urls: Callable[[], str], copies: list[str]
) -> None:
    """A run of new devices one of which is there already: the COPY is undone and the
    run written as the inserts write it (that device replaced), totals exact."""
    first: list[ch.Change] = [
        ch.TenantCreated(tenant=ACME),
        ch.DeviceCreated(device=Device(id="d005", tenant_id=ACME.id, name="Old")),
    ]
    again: list[ch.Change] = [
        ch.DeviceCreated(device=Device(id=f"d{i:03}", tenant_id=ACME.id, name="New"))
        for i in range(30)
    ]
    copied, inserted = _commit_both(monkeypatch, urls, [first, again])
    assert "devices" in copies
    assert _rows(copied) == _rows(inserted)
    assert {d.name for d in copied.snapshot().devices} == {"New"}
    copied.close()
    inserted.close()


def test_a_commit_failing_after_its_copy_leaves_the_store_as_it_was(
    monkeypatch: pytest.MonkeyPatch, urls: Callable[[], str], copies: list[str]
) -> None:
    _copy_from(monkeypatch, 5)
    store = PostgresStore.from_url(urls())
    store.commit([ch.TenantCreated(tenant=ACME)], expected_revision=0)
    before = _rows(store)
    changes = _bulk(30)[1:]
    with pytest.raises(StoreError, match="does not exist"):  # after the runs: rolled back
        store.commit(
            [*changes, ch.DeviceDeleted(device_id="nobody")],
            expected_revision=1, audit=_audit(changes, 2),
        )  # fmt: skip
    assert "devices" in copies
    assert _rows(store) == before
    assert store.head() == 1
    store.close()


def _document(devices: int) -> bytes:
    """A whole store's document with ``devices`` devices, made in a memory store."""
    source = tenancy.open()
    acme = source.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
    t = source.tenant(acme.id)
    site = t.create_group("Site", device_tags=[("site", "sb")])
    for i in range(devices):
        t.create_device(f"Pump {i}", id=f"pump-{i:03}", tags={"site": "sb"})
        t.add_member(site.id, t.create_user(f"u{i}@acme.example").id)
    out = io.BytesIO()
    source.export_to(out, format="json", include_audit=True)
    source.close()
    return out.getvalue()


def test_an_import_by_copy_gives_the_answers_of_the_source(
    monkeypatch: pytest.MonkeyPatch, urls: Callable[[], str], copies: list[str]
) -> None:
    _copy_from(monkeypatch, 5)
    document = _document(20)
    tn = tenancy.open(urls())
    tn.import_from(io.BytesIO(document))
    assert {"devices", "users", "memberships", "audit"} <= set(copies)
    memory = tenancy.open()
    memory.import_from(io.BytesIO(document))
    assert sorted(tn.index.devices) == sorted(memory.index.devices)
    user = next(u for u in memory.index.users.values() if u.email == "u3@acme.example")
    assert tn.devices_for(user.id, limit=100) == memory.devices_for(user.id, limit=100)
    out = io.BytesIO()
    tn.export_to(out, format="json")
    again = io.BytesIO()
    memory.export_to(again, format="json")
    assert out.getvalue() == again.getvalue()
    tn.close()
    memory.close()


def test_an_import_refused_or_failing_in_the_store_leaves_postgres_unchanged(
    monkeypatch: pytest.MonkeyPatch, urls: Callable[[], str], copies: list[str]
) -> None:
    """A bad last record: refused before anything is sent. A failure in the store after
    the rows went by COPY: rolled back; the store and the handle are as before."""
    _copy_from(monkeypatch, 5)
    document = _document(20)
    url = urls()
    tn = tenancy.open(url)
    store = PostgresStore.from_url(url)
    before, revision = _rows(store), tn.index.revision
    bad = document.replace(b'"name":"Pump 19"', b'"name":""')  # the last device's
    assert bad != document
    with pytest.raises(InvalidDocument):
        tn.import_from(io.BytesIO(bad))
    assert copies == []

    def broken(*args: Any) -> Any:
        raise RuntimeError("the server went away")

    monkeypatch.setattr(postgres, "_audit_rows", broken)  # after the rows' COPY
    with pytest.raises(RuntimeError, match="went away"):
        tn.import_from(io.BytesIO(document))
    assert "devices" in copies
    assert _rows(store) == before
    assert store.head() == revision == tn.index.revision
    assert len(tn.index.devices) == 0
    store.close()
    tn.close()


def test_the_transfer_benchmark_imports_into_postgres_and_drops_its_schema(
    tmp_path: Path,
) -> None:
    """``python -m benchmarks.transfer --postgres``'s import step, on a small document."""
    from benchmarks import transfer

    document = tmp_path / "store.json"
    document.write_bytes(_document(3))
    base = pg.database_url()
    result = transfer._import(document, tmp_path / "unused.db", base)
    assert result["store"] == "postgresql"
    assert result["devices"] == 3
    assert not (tmp_path / "unused.db").exists()
    with psycopg.connect(base) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'bench_import_%'"
        ).fetchone()
    assert left == (0,)
