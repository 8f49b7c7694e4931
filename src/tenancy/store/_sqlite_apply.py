"""The SQLite store's writes: the meaning of each change on the rows, the same as
:class:`~tenancy.records.state.RecordState` gives it on records. One :class:`ChangeWriter`
per commit writes its changes in the store's transaction and keeps, in that transaction,
each table's row count and checksum total (not by triggers, which would cost a statement
per row: they tripled a bulk insert of a million rows).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from operator import itemgetter
from typing import Any

import msgspec

from tenancy.records import changes as ch
from tenancy.records.model import (
    ACTIVE,
    SUSPENDED,
    AuditRecord,
    Device,
    Group,
    Tenant,
    UsageDay,
)
from tenancy.records.state import access_key, merge_usage
from tenancy.store import _audit, _codec
from tenancy.store._sqlite_rows import (
    _PUT,
    _RECORD_TABLE,
    _bare,
    _decode_row,
    _Missing,
    _Record,
)

__all__ = ["DEFER_ROWS", "ChangeWriter", "drop_indexes"]

DEFER_ROWS = 50_000
"""The fewest rows a commit inserts into a table for :func:`drop_indexes` to make the
table's secondary indexes after the inserts."""


def drop_indexes(conn: sqlite3.Connection, table: str, held: int, rows: int) -> list[str]:
    """Before ``rows`` rows are inserted into ``table``, which holds ``held``: when they are
    many (:data:`DEFER_ROWS`) and more than the table holds, drop the table's secondary
    indexes and return the statements that made them (``sqlite_master`` holds them), to be
    run in the same transaction after the inserts, so the schema after the commit is the
    schema before; else drop nothing and return []. Building an index is one sort of its
    keys, where keeping it up is an insert into a B-tree per row. A transaction that ends
    in an error before the statements run rolls the drops back with everything else."""
    if rows < DEFER_ROWS or rows <= held:
        return []
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
        " AND sql IS NOT NULL ORDER BY name",  # not the primary key's (sql is NULL)
        (table,),
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in indexes]


class ChangeWriter:
    """Writes one commit's changes to the rows of a SQLite store, in the caller's
    transaction, and adds up what they do to each table's row count and checksum total."""

    def __init__(self, encoded: dict[int, bytes] | None, *, indexes_later: bool = False) -> None:
        self._indexes_later = indexes_later
        """SQLite: a large run of new devices may have its table's indexes made after it
        (:func:`drop_indexes`, which reads ``sqlite_master``); PostgreSQL, which writes
        its rows through this class too, never."""
        self.remake: list[str] = []
        """The statements that make again the indexes :func:`drop_indexes` dropped, for the
        caller to run after the commit's inserts (:meth:`remake_indexes`)."""
        self._encoded = encoded
        """The blobs of the records written, by id(), when the commit carries audit records
        (an audit record whose ``after`` is that record reuses them), else None."""
        self._sums: dict[str, tuple[int, int]] = {}
        """What the writes add to each table's (row count, checksum total)."""

    @staticmethod
    def _record(conn: sqlite3.Connection, kind: type[Any], record_id: str) -> Any:
        row = conn.execute(
            f"SELECT body FROM {_RECORD_TABLE[kind]} WHERE id = ?",  # noqa: S608
            (record_id,),
        ).fetchone()
        if row is None:
            raise _Missing(f"{kind.__name__.lower()} {record_id!r} does not exist")
        return _decode_row(kind, row[0], f"{kind.__name__.lower()} {record_id!r}")

    def _apply(self, conn: sqlite3.Connection, changes: tuple[ch.Change, ...]) -> None:
        """Write each change's meaning on the records: the same as RecordState.apply.
        Then add what the writes did to each table's row count and checksum total."""
        self._sums = {}
        i, n = 0, len(changes)
        while i < n:
            change = changes[i]
            # Runs of creations (bulk import, create_devices) go in one executemany.
            if isinstance(
                change,
                ch.DeviceCreated
                | ch.UserCreated
                | ch.UserUpdated
                | ch.MemberAdded
                | ch.GroupCreated,
            ):
                j = i + 1
                kind = type(change)
                while j < n and type(changes[j]) is kind:
                    j += 1
                self._apply_run(conn, changes[i:j])
                i = j
            else:
                self._apply_one(conn, change)
                i += 1
        conn.executemany(
            "UPDATE checksums SET rows = rows + ?, total = total + ? WHERE name = ?",
            [(rows, total, table) for table, (rows, total) in self._sums.items()],
        )

    def _count(self, table: str, rows: int, total: int) -> None:
        was = self._sums.get(table, (0, 0))
        self._sums[table] = (was[0] + rows, was[1] + total)

    def _put_row(
        self,
        conn: sqlite3.Connection,
        table: str,
        where: str,
        key: tuple[Any, ...],
        *,
        sql: str,
        params: tuple[Any, ...],
    ) -> None:
        """Insert or replace one row (``params`` ends with its checksum)."""
        old = conn.execute(f"SELECT crc FROM {table} WHERE {where}", key).fetchone()  # noqa: S608
        conn.execute(sql, params)
        self._count(table, 0 if old else 1, params[-1] - (old[0] if old else 0))

    def _insert_new(
        self,
        conn: sqlite3.Connection,
        table: str,
        sql: str,
        rows: list[tuple[Any, ...]],
        one_by_one: Callable[[tuple[Any, ...]], None],
    ) -> None:
        """Insert rows that should all be new (``sql`` ignores a row already there; each
        row ends with its checksum) in one executemany; if one was there already (or came
        twice), undo and write them one by one."""
        if not rows:
            return
        conn.execute("SAVEPOINT tenancy_rows")
        before = conn.total_changes
        conn.executemany(sql, rows)
        if conn.total_changes - before == len(rows):
            conn.execute("RELEASE tenancy_rows")
            self._count(table, len(rows), sum(map(itemgetter(-1), rows)))
            return
        conn.execute("ROLLBACK TO tenancy_rows")
        conn.execute("RELEASE tenancy_rows")
        for row in rows:
            one_by_one(row)

    def _put_record_row(self, table: str, conn: sqlite3.Connection) -> Callable[..., None]:
        def put(row: tuple[Any, ...]) -> None:
            self._put_row(conn, table, "id = ?", (row[0],), sql=_PUT[table], params=row)

        return put

    def _add_pair(self, conn: sqlite3.Connection, table: str, columns: str) -> Callable[..., None]:
        sql = f"INSERT OR IGNORE INTO {table} ({columns}, crc) VALUES (?, ?, ?)"  # noqa: S608

        def add(row: tuple[Any, ...]) -> None:
            if conn.execute(sql, row).rowcount == 1:
                self._count(table, 1, row[-1])

        return add

    def _delete_where(
        self, conn: sqlite3.Connection, table: str, where: str, params: tuple[Any, ...]
    ) -> int:
        """Delete the rows ``where`` selects; returns how many there were."""
        rows, total = conn.execute(
            f"SELECT count(*), coalesce(sum(crc), 0) FROM {table} WHERE {where}",  # noqa: S608
            params,
        ).fetchone()
        if rows:
            conn.execute(f"DELETE FROM {table} WHERE {where}", params)  # noqa: S608
            self._count(table, -rows, -total)
        return int(rows)

    def _apply_run(self, conn: sqlite3.Connection, run: Sequence[ch.Change]) -> None:
        encode, crc = _codec.encode_record, _codec.row_crc
        first = run[0]
        if isinstance(first, ch.DeviceCreated):
            rows = []  # one tuple a row, made once: at L an import writes a million
            for c in run:
                device = c.device  # type: ignore[union-attr]
                body = encode(device)
                rows.append((device.id, device.tenant_id, body, crc(body)))
            held = len(rows)  # as if the table held as many: its indexes kept up
            if self._indexes_later and len(rows) >= DEFER_ROWS:
                row = conn.execute("SELECT rows FROM checksums WHERE name = 'devices'").fetchone()
                held = held if row is None else row[0]
            self.remake += drop_indexes(conn, "devices", held, len(rows))
            self._insert_new(
                conn,
                "devices",
                "INSERT OR IGNORE INTO devices (id, tenant_id, body, crc) VALUES (?, ?, ?, ?)",
                rows,
                self._put_record_row("devices", conn),
            )
            if self._encoded is not None:
                # The audit records of these creations carry the same devices as ``after``.
                encoded = self._encoded
                for change, row in zip(run, rows, strict=True):
                    encoded[id(change.device)] = row[2]  # type: ignore[union-attr]
        elif isinstance(first, ch.UserCreated):
            rows = []
            for c in run:
                user = c.user  # type: ignore[union-attr]
                body = encode(user)
                rows.append((user.id, user.tenant_id, body, crc(body)))
            self._insert_new(
                conn,
                "users",
                "INSERT OR IGNORE INTO users (id, tenant_id, body, crc) VALUES (?, ?, ?, ?)",
                rows,
                self._put_record_row("users", conn),
            )
            if self._encoded is not None:  # as for devices: their audit records, the log
                encoded = self._encoded
                for change, row in zip(run, rows, strict=True):
                    encoded[id(change.user)] = row[2]  # type: ignore[union-attr]
        elif isinstance(first, ch.UserUpdated):
            put = self._put_record_row("users", conn)
            for change in run:
                user = change.user  # type: ignore[union-attr]
                body = encode(user)
                put((user.id, user.tenant_id, body, crc(body)))
        elif isinstance(first, ch.GroupCreated):
            self._create_groups(conn, [c.group for c in run])  # type: ignore[union-attr]
        else:
            key_crc = _codec.key_crc
            self._insert_new(
                conn,
                "memberships",
                "INSERT OR IGNORE INTO memberships (group_id, user_id, crc) VALUES (?, ?, ?)",
                [(c.group_id, c.user_id, key_crc(c.group_id, c.user_id)) for c in run],  # type: ignore[union-attr]
                self._add_pair(conn, "memberships", "group_id, user_id"),
            )

    def _create_groups(self, conn: sqlite3.Connection, groups: list[Group]) -> None:
        """Groups created one after the other (an import): when none of them is there yet,
        their rows in one executemany and their ids and rules in one each; else one by
        one, each replacing the group it names (GroupCreated of :meth:`_apply_one`). A
        group that is not there has no id or rule rows: they are deleted with it."""
        if len(groups) == 1:
            self._apply_one(conn, ch.GroupCreated(group=groups[0]))
            return
        encode, crc, key_crc = _codec.encode_record, _codec.row_crc, _codec.key_crc
        rows = []
        for group in groups:
            body = encode(_bare(group))
            rows.append((group.id, group.tenant_id, body, crc(body)))
        conn.execute("SAVEPOINT tenancy_groups")
        before = conn.total_changes
        conn.executemany(
            "INSERT OR IGNORE INTO groups (id, tenant_id, body, crc) VALUES (?, ?, ?, ?)", rows
        )
        if conn.total_changes - before != len(rows):  # one was there (or came twice)
            conn.execute("ROLLBACK TO tenancy_groups")
            conn.execute("RELEASE tenancy_groups")
            for group in groups:
                self._apply_one(conn, ch.GroupCreated(group=group))
            return
        conn.execute("RELEASE tenancy_groups")
        self._count("groups", len(rows), sum(map(itemgetter(-1), rows)))
        self._insert_new(
            conn,
            "group_devices",
            "INSERT OR IGNORE INTO group_devices (group_id, device_id, crc) VALUES (?, ?, ?)",
            [(g.id, d, key_crc(g.id, d)) for g in groups for d in g.device_ids],
            self._add_pair(conn, "group_devices", "group_id, device_id"),
        )
        rules = [(g.id, _codec.encode_rule(r)) for g in groups for r in g.device_tags]
        self._insert_new(
            conn,
            "group_rules",
            "INSERT OR IGNORE INTO group_rules (group_id, rule, crc) VALUES (?, ?, ?)",
            [(gid, blob, key_crc(gid, blob)) for gid, blob in rules],
            self._add_pair(conn, "group_rules", "group_id, rule"),
        )

    def _apply_one(self, conn: sqlite3.Connection, change: ch.Change) -> None:
        match change:
            case ch.TenantCreated(tenant=t) | ch.TenantUpdated(tenant=t):
                self._put(conn, t)
            case ch.TenantSuspended(tenant_id=tid):
                tenant = self._record(conn, Tenant, tid)
                self._put(conn, msgspec.structs.replace(tenant, status=SUSPENDED))
            case ch.TenantActivated(tenant_id=tid):
                tenant = self._record(conn, Tenant, tid)
                self._put(conn, msgspec.structs.replace(tenant, status=ACTIVE))
            case ch.TenantDeleted(tenant_id=tid):
                self._delete_tenant(conn, tid)
            case ch.GroupCreated(group=g):
                self._put(conn, g)
                self._delete_where(conn, "group_devices", "group_id = ?", (g.id,))
                self._delete_where(conn, "group_rules", "group_id = ?", (g.id,))
                self._associate(conn, g.id, g.device_ids, g.device_tags)
            case ch.GroupUpdated(group_id=gid, name=name, description=description):
                group = self._record(conn, Group, gid)
                self._put(conn, msgspec.structs.replace(group, name=name, description=description))
            case ch.GroupMoved(group_id=gid, parent_id=parent_id):
                group = self._record(conn, Group, gid)
                self._put(conn, msgspec.structs.replace(group, parent_id=parent_id))
            case ch.GroupDeleted(group_id=gid):
                self._delete(conn, "groups", gid)
                for table in ("group_devices", "group_rules", "memberships"):
                    self._delete_where(conn, table, "group_id = ?", (gid,))
            case ch.Associated(group_id=gid, device_ids=ids, device_tags=rules):
                self._record(conn, Group, gid)
                self._associate(conn, gid, ids, rules)
            case ch.Dissociated(group_id=gid, device_ids=ids, device_tags=rules):
                self._record(conn, Group, gid)
                for d in ids:
                    self._delete_where(
                        conn, "group_devices", "group_id = ? AND device_id = ?", (gid, d)
                    )
                for r in rules:
                    rule = _codec.encode_rule(r)
                    self._delete_where(
                        conn, "group_rules", "group_id = ? AND rule = ?", (gid, rule)
                    )
            case ch.DeviceRenamed(device_id=did, name=name):
                self._put(conn, msgspec.structs.replace(self._record(conn, Device, did), name=name))
            case ch.DeviceTagged(device_id=did, tags=tags):
                device = self._record(conn, Device, did)
                self._put(conn, msgspec.structs.replace(device, tags=device.tags | tags))
            case ch.DeviceUntagged(device_id=did, tags=tags):
                device = self._record(conn, Device, did)
                self._put(conn, msgspec.structs.replace(device, tags=device.tags - tags))
            case ch.DeviceMoved(device_id=did, parent_id=parent_id):
                device = self._record(conn, Device, did)
                self._put(conn, msgspec.structs.replace(device, parent_id=parent_id))
            case ch.DeviceDeleted(device_id=did):
                self._delete(conn, "devices", did)
                self._delete_where(conn, "group_devices", "device_id = ?", (did,))
            case ch.UserDeleted(user_id=uid):
                self._delete(conn, "users", uid)
                self._delete_where(conn, "memberships", "user_id = ?", (uid,))
            case ch.MemberRemoved(group_id=gid, user_id=uid):
                self._delete_where(conn, "memberships", "group_id = ? AND user_id = ?", (gid, uid))
            case ch.UsageRecorded(tenant_id=tid, day=day):
                self._record_usage(conn, change, tid, day.isoformat())
            case ch.AccessSet(record=r):
                kind, key = access_key(r)
                body = _codec.encode_access(r)
                self._put_row(
                    conn,
                    "access",
                    "kind = ? AND key = ?",
                    (kind, key),
                    sql="INSERT INTO access (kind, key, tenant_id, body, crc)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET"
                    " tenant_id = excluded.tenant_id, body = excluded.body, crc = excluded.crc",
                    params=(kind, key, r.tenant_id, body, _codec.row_crc(body)),
                )
            case ch.AccessRemoved(record=r):
                self._delete_where(conn, "access", "kind = ? AND key = ?", access_key(r))
            case ch.SupportSessionStarted() | ch.ConnectorAcceptRefused():
                pass  # on record in the log (and the audit log); no row changes
            case ch.DeviceCreated() | ch.UserCreated() | ch.UserUpdated() | ch.MemberAdded():
                self._apply_run(conn, [change])
            case _:
                # A change type this adapter does not know: refuse the commit rather than
                # drop its meaning (check_changes refused it already, in commit).
                raise ch.unknown_change(change)

    def _record_usage(
        self, conn: sqlite3.Connection, change: ch.UsageRecorded, tid: str, day: str
    ) -> None:
        """Merge into the tenant's row of that day; a row of an unknown tenant is dropped."""
        if conn.execute("SELECT 1 FROM tenants WHERE id = ?", (tid,)).fetchone() is None:
            return
        row = conn.execute(
            "SELECT body FROM usage WHERE tenant_id = ? AND day = ?", (tid, day)
        ).fetchone()
        old = None if row is None else _decode_row(UsageDay, row[0], f"usage {tid} {day}")
        body = _codec.encode_record(merge_usage(old, change))
        self._put_row(
            conn,
            "usage",
            "tenant_id = ? AND day = ?",
            (tid, day),
            sql="INSERT INTO usage (tenant_id, day, body, crc) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (tenant_id, day) DO UPDATE SET body = excluded.body, crc = excluded.crc",
            params=(tid, day, body, _codec.row_crc(body)),
        )

    def _put(self, conn: sqlite3.Connection, record: _Record) -> None:
        if isinstance(record, Tenant):
            body = _codec.encode_record(record)
            params: tuple[Any, ...] = (record.id, body, _codec.row_crc(body))
            self._put_row(
                conn, "tenants", "id = ?", (record.id,), sql=_PUT["tenants"], params=params
            )
            return
        if isinstance(record, Group):
            record = _bare(record)
        body = _codec.encode_record(record)
        table = _RECORD_TABLE[type(record)]
        params = (record.id, record.tenant_id, body, _codec.row_crc(body))
        self._put_row(conn, table, "id = ?", (record.id,), sql=_PUT[table], params=params)

    def _delete(self, conn: sqlite3.Connection, table: str, record_id: str) -> None:
        if self._delete_where(conn, table, "id = ?", (record_id,)) != 1:
            raise _Missing(f"{table[:-1]} {record_id!r} does not exist")

    def _associate(
        self,
        conn: sqlite3.Connection,
        group_id: str,
        device_ids: frozenset[str],
        rules: frozenset[tuple[Any, ...]],
    ) -> None:
        key_crc = _codec.key_crc
        self._insert_new(
            conn,
            "group_devices",
            "INSERT OR IGNORE INTO group_devices (group_id, device_id, crc) VALUES (?, ?, ?)",
            [(group_id, d, key_crc(group_id, d)) for d in device_ids],
            self._add_pair(conn, "group_devices", "group_id, device_id"),
        )
        blobs = [_codec.encode_rule(r) for r in rules]
        self._insert_new(
            conn,
            "group_rules",
            "INSERT OR IGNORE INTO group_rules (group_id, rule, crc) VALUES (?, ?, ?)",
            [(group_id, b, key_crc(group_id, b)) for b in blobs],
            self._add_pair(conn, "group_rules", "group_id, rule"),
        )

    def _delete_tenant(self, conn: sqlite3.Connection, tenant_id: str) -> None:
        self._delete(conn, "tenants", tenant_id)
        params = (tenant_id,)
        self._delete_where(
            conn,
            "memberships",
            "group_id IN (SELECT id FROM groups WHERE tenant_id = ?)"
            " OR user_id IN (SELECT id FROM users WHERE tenant_id = ?)",
            (tenant_id, tenant_id),
        )
        for table in ("group_devices", "group_rules"):
            self._delete_where(
                conn, table, "group_id IN (SELECT id FROM groups WHERE tenant_id = ?)", params
            )
        for table in ("groups", "users", "devices", "usage", "access"):
            self._delete_where(conn, table, "tenant_id = ?", params)

    def _append_audit(
        self, conn: sqlite3.Connection, audit: Sequence[AuditRecord], encoded: dict[int, bytes]
    ) -> int:
        """Append in order; SQLite numbers the rows (seq is the rowid: one above the last).
        ``encoded``: blobs already made for records of this commit, by id(). Returns the
        time the first record is stored with (the commit's, in the change log). A long
        run has the table's indexes made again later (:attr:`remake`)."""
        row = conn.execute("SELECT at, seq FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        stamps = _audit.times(audit, 0 if row is None else row[0])
        encode, known = _audit.encode_value, encoded.get

        def rows() -> Iterator[tuple[Any, ...]]:  # made as they are inserted, none kept
            for r, at in zip(audit, stamps, strict=True):
                after, before = r.after, r.before  # a creation's before is None
                blob = None if after is None else (known(id(after)) or encode(after))
                yield (r.revision, at, r.tenant_id, r.actor, r.action, r.target,
                       None if before is None else encode(before), blob)  # fmt: skip

        self.remake += drop_indexes(conn, "audit", 0 if row is None else row[1], len(audit))
        conn.executemany(  # seq is dense: the last one is how many rows the table holds
            "INSERT INTO audit (revision, at, tenant_id, actor, action, target, "
            "before_value, after_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows(),
        )
        return stamps[0]

    def remake_indexes(self, conn: sqlite3.Connection) -> None:
        """Make the indexes :func:`drop_indexes` dropped, in this transaction: one sort of
        each index's keys, run in SQLite (the interpreter lock released meanwhile)."""
        for sql in self.remake:
            conn.execute(sql)
        self.remake = []

    def _prune(self, conn: sqlite3.Connection, floor: ch.Revision) -> None:
        """Drop the change log at and below ``floor``: readers that far behind reload.
        The audit log is never pruned."""
        conn.execute("DELETE FROM changes WHERE revision <= ?", (floor,))
        conn.execute("UPDATE meta SET value = max(value, ?) WHERE key = 'log_floor'", (floor,))
