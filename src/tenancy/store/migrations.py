"""The SQLite schema, as numbered migrations applied in order when a store is opened.

Each migration runs once, inside the transaction that opens the store, and is recorded in
``schema_migrations``; a file written by an older tenancy is brought up to date on open,
and a file written by a newer one is refused rather than misread. Never edit a migration
that has shipped: add the next one.

Records live in one table per kind as ``(id, tenant_id, body)``, where ``body`` is the
msgspec-encoded record (see :mod:`tenancy.store._codec`): a record field can be added
without a migration. Only what SQL itself must reach is a column or a table of its own:
tenant ids (deleting a tenant), memberships, since version 2 a group's device ids and tag
rules (deleting a device removes its id from every group without decoding any blob), and
since version 3 the key of a usage row (tenant, day). Since version 6 the devices table is
clustered on its id (``WITHOUT ROWID``), so reading it whole yields devices in id order.
Since version 7 every row a snapshot reads carries a checksum (``crc``), and the store
keeps each table's row count and checksum total in ``checksums``: an open compares them with the
rows it read (see :mod:`tenancy.store.sqlite`, integrity on open).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec

from tenancy.errors import StoreError
from tenancy.records.model import Group
from tenancy.store import _codec

__all__ = ["LATEST", "MIGRATIONS", "Migration", "applied_versions", "migrate"]

Migration = tuple[int, str, Callable[[sqlite3.Connection], None]]


def _statements(*sql: str) -> Callable[[sqlite3.Connection], None]:
    # One execute per statement: executescript() would commit the open transaction.
    def run(conn: sqlite3.Connection) -> None:
        for statement in sql:
            conn.execute(statement)

    return run


_v1 = _statements(
    """CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID""",
    # head: the latest committed revision; log_floor: changes at or below it were pruned.
    """INSERT INTO meta (key, value) VALUES ('head', 0), ('log_floor', 0)""",
    """CREATE TABLE tenants (id TEXT PRIMARY KEY, body BLOB NOT NULL)""",
    """CREATE TABLE groups (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, body BLOB NOT NULL)""",
    """CREATE INDEX groups_by_tenant ON groups (tenant_id)""",
    """CREATE TABLE devices (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, body BLOB NOT NULL)""",
    """CREATE INDEX devices_by_tenant ON devices (tenant_id)""",
    """CREATE TABLE users (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, body BLOB NOT NULL)""",
    """CREATE INDEX users_by_tenant ON users (tenant_id)""",
    """CREATE TABLE memberships (
        group_id TEXT NOT NULL, user_id TEXT NOT NULL,
        PRIMARY KEY (group_id, user_id)) WITHOUT ROWID""",
    """CREATE INDEX memberships_by_user ON memberships (user_id)""",
    """CREATE TABLE changes (revision INTEGER PRIMARY KEY, body BLOB NOT NULL)""",
)


def _v2(conn: sqlite3.Connection) -> None:
    """Move each group's device ids and tag rules out of its blob into two tables."""
    _statements(
        """CREATE TABLE group_devices (
            group_id TEXT NOT NULL, device_id TEXT NOT NULL,
            PRIMARY KEY (group_id, device_id)) WITHOUT ROWID""",
        """CREATE INDEX group_devices_by_device ON group_devices (device_id)""",
        """CREATE TABLE group_rules (
            group_id TEXT NOT NULL, rule BLOB NOT NULL,
            PRIMARY KEY (group_id, rule)) WITHOUT ROWID""",
    )(conn)
    decode = _codec.record_decoder(Group)
    rows = conn.execute("SELECT id, body FROM groups").fetchall()
    for group_id, body in rows:
        group = decode.decode(body)
        conn.executemany(
            "INSERT INTO group_devices (group_id, device_id) VALUES (?, ?)",
            [(group_id, d) for d in group.device_ids],
        )
        conn.executemany(
            "INSERT INTO group_rules (group_id, rule) VALUES (?, ?)",
            [(group_id, _codec.encode_rule(r)) for r in group.device_tags],
        )
        bare = msgspec.structs.replace(group, device_ids=frozenset(), device_tags=frozenset())
        conn.execute(
            "UPDATE groups SET body = ? WHERE id = ?", (_codec.encode_record(bare), group_id)
        )


_v3 = _statements(
    """CREATE TABLE usage (
        tenant_id TEXT NOT NULL, day TEXT NOT NULL, body BLOB NOT NULL,
        PRIMARY KEY (tenant_id, day)) WITHOUT ROWID""",
)
"""Usage statistics: one row per tenant and UTC day (``day`` in ISO form sorts by date)."""

_v4 = _statements(
    """CREATE TABLE access (
        kind TEXT NOT NULL, key TEXT NOT NULL, tenant_id TEXT NOT NULL, body BLOB NOT NULL,
        PRIMARY KEY (kind, key))""",
    "CREATE INDEX access_by_tenant ON access (tenant_id)",
)
"""Access-control records (roles, grants, delegations, support requests), one table for all
kinds: each is put and removed whole, by (kind, key)."""

_v5 = _statements(
    """CREATE TABLE audit (
        seq INTEGER PRIMARY KEY, revision INTEGER NOT NULL, at INTEGER NOT NULL,
        tenant_id TEXT, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT,
        before_value BLOB, after_value BLOB)""",
    # Each index also holds the rowid (seq), so "tenant_id = ? AND seq > ? ORDER BY seq"
    # walks one index range in order: a page costs its length, however long the log.
    "CREATE INDEX audit_by_tenant ON audit (tenant_id)",
    "CREATE INDEX audit_by_actor ON audit (actor)",
    "CREATE INDEX audit_by_target ON audit (target)",
)
"""The audit log, append-only: ``seq`` is the rowid (dense from 1: no row is ever deleted),
``at`` microseconds since the epoch in UTC, never decreasing with ``seq`` (so a time range
is a seq range, found by bisection, and needs no index of its own), ``before_value`` and
``after_value`` MessagePack (see :mod:`tenancy.store._audit`)."""

_v6 = _statements(
    """CREATE TABLE devices_by_id (
        id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, body BLOB NOT NULL) WITHOUT ROWID""",
    "INSERT INTO devices_by_id (id, tenant_id, body) SELECT id, tenant_id, body FROM devices",
    "DROP TABLE devices",
    "ALTER TABLE devices_by_id RENAME TO devices",
    "CREATE INDEX devices_by_tenant ON devices (tenant_id)",
)
"""Devices stored in id order (a table clustered on its key): a snapshot reads them in
the order the index wants them, sequentially, instead of sorting a million records it read
in insertion order (or walking the id index to rows scattered over the file)."""

CHECKED: dict[str, str] = {
    "tenants": "crc32(body)",
    "groups": "crc32(body)",
    "devices": "crc32(body)",
    "users": "crc32(body)",
    "usage": "crc32(body)",
    "access": "crc32(body)",
    "memberships": "crc32(group_id, user_id)",
    "group_devices": "crc32(group_id, device_id)",
    "group_rules": "crc32(group_id, rule)",
}
"""The tables a snapshot reads whole, and what each row's ``crc`` is the CRC-32 of (see
:func:`tenancy.store._codec.row_crc` and :func:`~tenancy.store._codec.key_crc`)."""
LOGGED = "changes"
"""The change log: a ``crc`` per row (checked when a stretch of it is read), no total (it
is pruned from below and read in stretches, never whole)."""


def _v7(conn: sqlite3.Connection) -> None:
    """Row checksums, and per table a row count and checksum total (kept by the store)."""
    conn.create_function("tenancy_crc32", -1, _codec.crc_of_columns, deterministic=True)
    conn.execute(
        """CREATE TABLE checksums (
            name TEXT PRIMARY KEY, rows INTEGER NOT NULL, total INTEGER NOT NULL) WITHOUT ROWID"""
    )
    for table, of in (*CHECKED.items(), (LOGGED, "crc32(body)")):
        conn.execute(f"ALTER TABLE {table} ADD COLUMN crc INTEGER NOT NULL DEFAULT 0")
        conn.execute(f"UPDATE {table} SET crc = tenancy_{of}")  # noqa: S608 - fixed names
    for table in CHECKED:
        conn.execute(
            f"INSERT INTO checksums (name, rows, total) "  # noqa: S608
            f"SELECT '{table}', count(*), coalesce(sum(crc), 0) FROM {table}"
        )
        # The store adds to a table's totals in the transaction of every write that
        # changes its rows; the sum of 32-bit checksums stays exact below 2**31 rows.


_v8 = _statements(
    "ALTER TABLE changes ADD COLUMN at INTEGER",
    "ALTER TABLE changes ADD COLUMN actor TEXT",
)
"""Each commit of the change log keeps its time (microseconds since the epoch in UTC, as the
audit log stores it) and its actor, for the change feed; NULL for a commit without audit
records and for the commits written before. When they are there the row's ``crc`` covers
them too (:func:`tenancy.store.sqlite.log_crc`)."""


MIGRATIONS: tuple[Migration, ...] = (
    (1, "records, memberships and the change log", _v1),
    (2, "group associations in their own tables", _v2),
    (3, "usage statistics per tenant and day", _v3),
    (4, "access-control records", _v4),
    (5, "the audit log", _v5),
    (6, "devices clustered by id", _v6),
    (7, "row checksums and per-table totals", _v7),
    (8, "the time and actor of each commit in the change log", _v8),
)
LATEST = MIGRATIONS[-1][0]


def applied_versions(conn: sqlite3.Connection) -> list[int]:
    """The migrations already applied to the file, in order."""
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"""
    )
    return [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def migrate(conn: sqlite3.Connection, *, target: int = LATEST) -> list[int]:
    """Apply every missing migration up to ``target``; return the versions applied.

    The caller holds a write transaction (the store opens one with BEGIN IMMEDIATE), so
    two processes opening a new file at once migrate it exactly once.
    """
    done = applied_versions(conn)
    if any(type(v) is not int for v in done):
        raise StoreError(
            f"the schema versions recorded are not numbers: {sorted(map(repr, done))[:5]}",
            value=done,
            rule="schema_migrations records the numbered migrations applied",
        )
    if done and done[-1] > LATEST:
        raise StoreError(
            f"the database has schema version {done[-1]}, newer than this tenancy's {LATEST}",
            value=done[-1],
            rule="a store is opened by a tenancy at least as new as the one that wrote it",
        )
    applied = []
    for version, name, run in MIGRATIONS:
        if version in done or version > target:
            continue
        run(conn)
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (version, name, datetime.now(UTC).isoformat()),
        )
        applied.append(version)
    return applied
