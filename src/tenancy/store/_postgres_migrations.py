"""The PostgreSQL schema, as numbered migrations applied in order when a store is opened.

The same rule as the SQLite store's (:mod:`tenancy.store.migrations`): each migration runs
once, in the transaction that opens the store, and is recorded in ``schema_migrations``; a
schema written by an older tenancy is brought up to date on open, one written by a newer one
is refused. Never edit a migration that has shipped: add the next one.

Version 1 is the layout SQLite reached at its version 7, in one step: one table per record
kind holding the msgspec-encoded record (``bytea``), the pairs (memberships, a group's
device ids and tag rules) in tables of their own, the change log, ``meta`` (head and log
floor), the audit log, and a checksum per row with each table's row count and checksum
total (``checksums``), so the snapshot reader of the SQLite store checks a PostgreSQL
snapshot the same way. Every text column is ``COLLATE "C"``: rows sort by code point, as
Python sorts ids, whatever the database's locale.

Two processes opening a new schema at once: the first takes a transaction-scoped advisory
lock named after the schema, the second waits for it and then finds the schema migrated.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tenancy.errors import StoreError
from tenancy.store import migrations as sqlite_migrations

if TYPE_CHECKING:
    import psycopg

__all__ = ["LATEST", "MIGRATIONS", "lock_key", "migrate"]

_T = 'text COLLATE "C" NOT NULL'

_V1 = (
    'CREATE TABLE meta (key text COLLATE "C" PRIMARY KEY, value bigint NOT NULL)',
    # head: the latest committed revision; log_floor: changes at or below it were pruned.
    "INSERT INTO meta (key, value) VALUES ('head', 0), ('log_floor', 0)",
    'CREATE TABLE tenants (id text COLLATE "C" PRIMARY KEY, body bytea NOT NULL,'
    " crc bigint NOT NULL)",
    *(
        f'CREATE TABLE {table} (id text COLLATE "C" PRIMARY KEY, tenant_id {_T},'
        " body bytea NOT NULL, crc bigint NOT NULL)"
        for table in ("groups", "devices", "users")
    ),
    "CREATE INDEX groups_by_tenant ON groups (tenant_id)",
    "CREATE INDEX devices_by_tenant ON devices (tenant_id)",
    "CREATE INDEX users_by_tenant ON users (tenant_id)",
    f"CREATE TABLE memberships (group_id {_T}, user_id {_T}, crc bigint NOT NULL,"
    " PRIMARY KEY (group_id, user_id))",
    "CREATE INDEX memberships_by_user ON memberships (user_id)",
    f"CREATE TABLE group_devices (group_id {_T}, device_id {_T}, crc bigint NOT NULL,"
    " PRIMARY KEY (group_id, device_id))",
    "CREATE INDEX group_devices_by_device ON group_devices (device_id)",
    f"CREATE TABLE group_rules (group_id {_T}, rule bytea NOT NULL, crc bigint NOT NULL,"
    " PRIMARY KEY (group_id, rule))",
    f"CREATE TABLE usage (tenant_id {_T}, day {_T}, body bytea NOT NULL,"
    " crc bigint NOT NULL, PRIMARY KEY (tenant_id, day))",
    f"CREATE TABLE access (kind {_T}, key {_T}, tenant_id {_T}, body bytea NOT NULL,"
    " crc bigint NOT NULL, PRIMARY KEY (kind, key))",
    "CREATE INDEX access_by_tenant ON access (tenant_id)",
    # at and actor: those of the commit's audit records (the change feed's Commit.at and
    # actor); null for a commit without any, as on SQLite (its version 8).
    "CREATE TABLE changes (revision bigint PRIMARY KEY, body bytea NOT NULL, crc bigint NOT NULL,"
    ' at bigint, actor text COLLATE "C")',
    # seq is numbered by the store (one above the last, under the head's row lock): a
    # sequence would leave gaps where a transaction rolls back.
    "CREATE TABLE audit (seq bigint PRIMARY KEY, revision bigint NOT NULL, at bigint NOT NULL,"
    ' tenant_id text COLLATE "C", actor text COLLATE "C" NOT NULL,'
    ' action text COLLATE "C" NOT NULL, target text COLLATE "C",'
    " before_value bytea, after_value bytea)",
    "CREATE INDEX audit_by_tenant ON audit (tenant_id, seq)",
    "CREATE INDEX audit_by_actor ON audit (actor, seq)",
    "CREATE INDEX audit_by_target ON audit (target, seq)",
    'CREATE TABLE checksums (name text COLLATE "C" PRIMARY KEY, rows bigint NOT NULL,'
    " total bigint NOT NULL)",
    "INSERT INTO checksums (name, rows, total) VALUES "  # noqa: S608 - fixed table names
    + ", ".join(f"('{table}', 0, 0)" for table in sqlite_migrations.CHECKED),
)

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "records, pairs, change log, audit log and checksums (SQLite's version 7)", _V1),
)
LATEST = MIGRATIONS[-1][0]


def lock_key(schema: str) -> int:
    """The advisory lock that serialises the opens (migrations) of one schema."""
    return zlib.crc32(f"tenancy:{schema}".encode()) - 2**31


def migrate(conn: psycopg.Connection[Any], schema: str) -> list[int]:
    """Create ``schema`` if needed and apply every missing migration; return the versions
    applied. The caller holds a transaction: all of it lands, or none."""
    from psycopg import sql  # noqa: PLC0415 - psycopg is imported only with the store

    conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(schema),))
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    tables = {
        str(name)
        for (name,) in conn.execute(
            "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
            (schema,),
        )
    }
    if tables and not {"meta", "schema_migrations"} <= tables:
        shown = ", ".join(sorted(tables)[:8])
        raise StoreError(
            f"the schema {schema!r} is not a tenancy store (it holds the tables {shown})",
            value=schema,
            rule="a tenancy store is a schema of its own, made by tenancy",
        )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
        " name text NOT NULL, applied_at text NOT NULL)"
    )
    done = [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    if done and done[-1] > LATEST:
        raise StoreError(
            f"the schema {schema!r} has schema version {done[-1]}, newer than this "
            f"tenancy's {LATEST}",
            value=done[-1],
            rule="a store is opened by a tenancy at least as new as the one that wrote it",
        )
    applied = []
    for version, name, statements in MIGRATIONS:
        if version in done:
            continue
        for statement in statements:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
            (version, name, datetime.now(UTC).isoformat()),
        )
        applied.append(version)
    return applied
