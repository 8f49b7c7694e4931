"""The PostgreSQL store's statements: one psycopg connection seen through the few calls of
``sqlite3.Connection`` that the SQLite store's row writer (``_sqlite_apply``) and snapshot
reader (``_sqlite_read``) make, so both stores give each change the same meaning on the
same rows and check a snapshot the same way, from one source.

The SQL those modules write is the common subset of the two dialects but for a few
spellings, translated here once per statement text (and cached): ``?`` placeholders become
``%s``, ``INSERT OR IGNORE`` becomes ``INSERT ... ON CONFLICT DO NOTHING``, ``max(a, b)``
of two values ``greatest``, SQLite's ``NOT INDEXED`` hint goes, a sum of checksums stays an
integer (PostgreSQL sums ``bigint`` as ``numeric``), and the devices, which SQLite stores
in id order, are read ``ORDER BY id`` (every text column is ``COLLATE "C"``: the order of
code points, as Python sorts).

While a snapshot is read (``streaming``), each SELECT runs on a server-side cursor in
binary form, so a read of a million devices holds one batch of rows at a time, never a
second copy of the table.

Below them, the statements of the store's own part of a commit (the head's lock, the log
row, the audit rows), shared by nothing else.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tenancy.errors import InvalidValue, StoreError
from tenancy.records.model import AuditRecord
from tenancy.store import _audit
from tenancy.store import migrations as sqlite_migrations

if TYPE_CHECKING:
    import psycopg

__all__ = ["COPY_ROWS", "PgCursor", "PgShim", "copy_new_rows", "translate"]

_STREAM_ROWS = 20_000
"""Rows a server-side cursor fetches per round trip (the snapshot reader's batch)."""
_names = itertools.count(1)
_LARGE = re.compile(r"SELECT [a-z_, ]+ FROM (devices|users|memberships|group_devices|usage)\b")
"""The reads of whole tables that grow with the store: on a server-side cursor (the
others are a few rows, and a cursor costs two more round trips)."""


@functools.lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """The PostgreSQL spelling of one statement of the SQLite store's row writer or reader."""
    text = sql
    ignore = text.lstrip().upper().startswith("INSERT OR IGNORE")
    if ignore:
        text = re.sub(r"(?i)INSERT OR IGNORE", "INSERT", text, count=1)
        text = f"{text} ON CONFLICT DO NOTHING"
    text = text.replace(" NOT INDEXED", "")
    text = re.sub(r"\bmax\(value, \?\)", "greatest(value, ?)", text)
    text = text.replace("sum(crc)", "sum(crc)::bigint")
    if re.fullmatch(r"SELECT body FROM devices", text.strip()):
        text = "SELECT body FROM devices ORDER BY id"
    return text.replace("%", "%%").replace("?", "%s")


class PgCursor:
    """What a statement gave back: its rows and how many it changed."""

    __slots__ = ("_cursor", "rowcount")

    def __init__(self, cursor: psycopg.Cursor[Any], rowcount: int) -> None:
        self._cursor = cursor
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def fetchmany(self, size: int) -> list[Any]:
        return self._cursor.fetchmany(size)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)


class PgShim:
    """One psycopg connection inside a transaction, as the SQLite row code calls it."""

    def __init__(
        self, conn: psycopg.Connection[Any], *, streaming: bool = False, defer_sums: bool = False
    ) -> None:
        self._conn = conn
        self._streaming = streaming
        self._defer_sums = defer_sums
        self.sums: list[tuple[int, int, str]] = []
        """With ``defer_sums``: the row writer's additions to the checksum totals, kept for
        the commit to send with its last statements (one round trip less per write)."""
        self._cursors: list[psycopg.Cursor[Any]] = []
        self.total_changes = 0
        """Rows changed by this shim's statements so far (as sqlite3's, for the writer's
        check that a batch of inserts inserted every row)."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        text = translate(sql)
        if self._streaming and _LARGE.match(text):
            cursor: Any = self._conn.cursor(name=f"tenancy_read_{next(_names)}", binary=True)
            cursor.itersize = _STREAM_ROWS
            self._cursors.append(cursor)
            cursor.execute(text, params or None)
            return PgCursor(cursor, -1)
        cursor = self._conn.execute(text, params or None, binary=True)
        count = max(cursor.rowcount, 0)
        self.total_changes += count
        return PgCursor(cursor, count)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PgCursor:
        rows = list(rows)
        if self._defer_sums and sql.startswith("UPDATE checksums SET rows = rows + ?"):
            self.sums.extend((int(n), int(total), str(table)) for n, total, table in rows)
            return PgCursor(self._conn.cursor(), len(rows))
        if len(rows) >= COPY_ROWS:
            insert = _NEW_ROWS.fullmatch(sql)
            if insert is not None and copy_new_rows(
                self._conn, insert[1], insert[2].split(", "), rows
            ):
                self.total_changes += len(rows)
                return PgCursor(self._conn.cursor(), len(rows))
        cursor = self._conn.cursor(binary=True)
        if rows:
            cursor.executemany(translate(sql), rows)
        count = max(cursor.rowcount, 0) if rows else 0
        self.total_changes += count
        return PgCursor(cursor, count)

    def close(self) -> None:
        """Close the server-side cursors this read opened (the transaction's end would)."""
        for cursor in self._cursors:
            if not cursor.closed:
                cursor.close()
        self._cursors.clear()


# ---------------------------------------------------------------- COPY

COPY_ROWS = 1_000
"""The fewest rows of one batch of inserts that go to the server by ``COPY`` rather than
as one ``INSERT`` a row (psycopg pipelines those, but each is still a statement the server
parses, plans and runs): an import's devices, users, memberships and audit records."""
_NEW_ROWS = re.compile(r"INSERT OR IGNORE INTO ([a-z_]+) \(([a-z_, ]+)\) VALUES \((?:\?, )*\?\)")
"""A batch of the row writer's that inserts rows expected to be new (``_insert_new``)."""
_COLUMN_TYPES = {
    "id": "text", "tenant_id": "text", "group_id": "text", "user_id": "text",
    "device_id": "text", "kind": "text", "key": "text", "day": "text", "actor": "text",
    "action": "text", "target": "text", "body": "bytea", "rule": "bytea",
    "before_value": "bytea", "after_value": "bytea", "crc": "bigint", "seq": "bigint",
    "revision": "bigint", "at": "bigint",
}  # fmt: skip
"""The PostgreSQL type of each column a COPY names (binary COPY sends typed values; the
schema, _postgres_migrations, gives every column of one name one type)."""
_COPY_TABLES = frozenset((*sqlite_migrations.CHECKED, "audit"))


def copy_new_rows(
    conn: psycopg.Connection[Any], table: str, columns: Sequence[str], rows: Iterable[Any]
) -> bool:
    """Send ``rows`` (values of ``columns``) into ``table`` by one binary ``COPY`` on
    ``conn``, inside the caller's transaction. True if every row went in. False if one of
    them was there already (or came twice): then nothing of the COPY stays (a savepoint
    around it is rolled back) and the caller inserts them its usual way, which ignores or
    replaces the rows that are there; any other error is raised, as the inserts would
    raise it.
    Runtime complexity: O(rows), in three round trips."""
    from psycopg import errors, sql  # noqa: PLC0415  (the optional postgres extra)

    if table not in _COPY_TABLES:
        raise StoreError(f"no COPY into {table!r}", value=table)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    types = [_COLUMN_TYPES[c] for c in columns]
    conn.execute("SAVEPOINT tenancy_copy")
    try:
        with conn.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(types)
            write = copy.write_row
            for row in rows:
                write(row)
    except errors.UniqueViolation:
        conn.execute("ROLLBACK TO SAVEPOINT tenancy_copy")
        conn.execute("RELEASE SAVEPOINT tenancy_copy")
        return False
    conn.execute("RELEASE SAVEPOINT tenancy_copy")
    return True


# ---------------------------------------------------------------- the commit's own

_HEAD_FOR_UPDATE = (
    "SELECT m.value, pg_current_xact_id()::text, a.seq, a.at FROM meta AS m LEFT JOIN LATERAL"
    " (SELECT seq, at FROM audit ORDER BY seq DESC LIMIT 1) AS a ON true"
    " WHERE m.key = 'head' FOR UPDATE OF m"
)
_HEAD_FOR_UPDATE_NO_XID = _HEAD_FOR_UPDATE.replace("pg_current_xact_id()::text", "''")
"""An engine without notifications (notify=False) may lack transaction ids too."""
_INSERT_AUDIT_INTO = (
    "INSERT INTO audit (seq, revision, at, tenant_id, actor, action, target, before_value,"
    " after_value)"
)
_ONE_AUDIT_ROW = "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
_AUDIT_COPY_COLUMNS = (
    "seq", "revision", "at", "tenant_id", "actor", "action", "target", "before_value",
    "after_value",
)  # fmt: skip
_INSERT_LOG = "INSERT INTO changes (revision, body, crc, at, actor) VALUES (%s, %s, %s, %s, %s)"
_MAX_PARAMS = 60_000
"""Parameters one statement may carry (PostgreSQL's limit is 65,535)."""


def _checked(table: str) -> str:
    """A table name the checksum totals keep (it goes into a statement as a literal)."""
    if table not in sqlite_migrations.CHECKED:
        raise StoreError(f"no checksum total is kept for {table!r}", value=table)
    return table


def _audit_rows(
    audit: Sequence[AuditRecord], encoded: dict[int, bytes], seq: int, stamps: Sequence[int]
) -> Iterator[tuple[Any, ...]]:
    """The audit log rows of a commit, made as they are sent (an import's million are
    never held as rows), numbered after ``seq`` (the last record's; the head's row lock is
    held, so no other writer appends meanwhile), stored with ``stamps`` (``_audit.times``).
    ``encoded``: blobs already made for this commit's records, by id()."""
    encode, known = _audit.encode_value, encoded.get
    for r, at in zip(audit, stamps, strict=True):
        seq += 1
        after, before = r.after, r.before
        blob = None if after is None else (known(id(after)) or encode(after))
        yield (seq, r.revision, at, r.tenant_id, r.actor, r.action, r.target,
               None if before is None else encode(before), blob)  # fmt: skip


# ---------------------------------------------------------------- connection strings


def _shown(conninfo: str) -> str:
    """The connection string without its password (it goes into messages)."""
    shown = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", conninfo)
    return re.sub(r"(?i)(password\s*=\s*)\S+", r"\1***", shown)


_URL_OPTIONS = ("schema", "pool_size", "retention", "busy_timeout", "notify")


def _url_option(url: str, key: str, value: str) -> Any:
    try:
        if key == "pool_size":
            return int(value)
        if key == "busy_timeout":
            return float(value)
        if key == "retention":
            return None if value.lower() in ("", "none", "all") else int(value)
    except ValueError:
        raise InvalidValue(_shown(url), f"the URL option {key} takes a number") from None
    if key == "notify":
        flags = {"true": True, "1": True, "false": False, "0": False}
        if value.lower() not in flags:
            raise InvalidValue(_shown(url), "the URL option notify is true or false")
        return flags[value.lower()]
    return value
