"""The SQLite store's snapshot reads, each checked: a table's rows against its row count
and checksum total, a record against its decoder, references between records, and the
devices' facts. A damaged file is refused with a StoreError naming the problem (the store's
``_damaged``), never half read.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_left
from collections.abc import Callable
from itertools import starmap
from operator import attrgetter, itemgetter
from typing import Any

import msgspec

from tenancy.errors import StoreError, shorten
from tenancy.records.changes import (
    Revision,
)
from tenancy.records.model import (
    Device,
    Group,
    Tenant,
    User,
)
from tenancy.store import _codec, migrations
from tenancy.store._sqlite_rows import (
    _BATCH,
    _KEYS,
    _RECORD_TABLE,
    _ROW_CRC,
    _ROW_DECODERS,
    _by_id,
    _cause,
    _in_a_cycle,
    _row_name,
)

__all__ = [
    "SnapshotReader",
]


class SnapshotReader:
    """The checked reads of one snapshot of a SQLite store."""

    def __init__(self, damaged: Callable[[str], StoreError]) -> None:
        self._damaged = damaged
        """The store's refusal of a damaged file: a StoreError naming the problem."""

    def _checksums(self, conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
        rows = conn.execute("SELECT name, rows, total FROM checksums").fetchall()
        sums = {str(name): (count, total) for name, count, total in rows}
        missing = set(migrations.CHECKED) - set(sums)
        if missing:
            raise self._damaged(f"the checksums of {', '.join(sorted(missing))} are missing")
        return sums

    def _tally(
        self,
        conn: sqlite3.Connection,
        table: str,
        sums: dict[str, tuple[int, int]],
        count: int,
        total: int,
    ) -> None:
        if sums[table] != (count, total):
            raise self._damaged(self._locate(conn, table, sums[table], count, total))

    def _locate(
        self,
        conn: sqlite3.Connection,
        table: str,
        expected: tuple[int, int],
        count: int,
        total: int,
    ) -> str:
        """What is wrong in ``table`` (its checksums did not add up): the first row whose
        checksum is wrong or whose value does not decode, else the count that differs."""
        key = _KEYS[table]
        decode = _ROW_DECODERS.get(table)
        try:
            for row in conn.execute(f"SELECT {key}, crc FROM {table}"):  # noqa: S608
                *keys, crc = row
                try:
                    good = _ROW_CRC[table](*keys) == crc
                    if good and decode is not None:
                        decode(keys[-1])
                except _codec.DECODE_ERRORS as exc:
                    return f"table {table}, row {_row_name(table, keys)}: {_cause(exc)}"
                if not good:
                    return f"table {table}, row {_row_name(table, keys)}: checksum mismatch"
        except sqlite3.Error as exc:
            return f"table {table}: {exc}"
        rows, sum_ = expected
        if rows != count:
            return f"table {table} holds {count} rows where its checksums say {rows}"
        return f"table {table}: the checksum total is {total} where it should be {sum_}"

    def _check_head(self, conn: sqlite3.Connection, head: Revision) -> None:
        top = conn.execute("SELECT max(revision) FROM changes").fetchone()[0]
        if top is not None and top != head:
            raise self._damaged(f"its head revision is {head} but its change log ends at {top}")

    def _records(
        self,
        conn: sqlite3.Connection,
        kind: type[Any],
        sums: dict[str, tuple[int, int]],
        *,
        shared: dict[Any, Any] | None = None,
        order: str | None = None,
        facts: _codec.DeviceFacts | None = None,
    ) -> list[Any]:
        # Read in storage order (sequential pages) and sort by id here: cheaper than
        # walking the id index and fetching each row from wherever it lies. Devices are
        # stored in id order (migration 6), so for them the sort only checks.
        table = _RECORD_TABLE[kind]
        sql = f"SELECT body FROM {table} NOT INDEXED"  # noqa: S608 - the table itself
        cursor = conn.execute(sql if order is None else f"{sql} ORDER BY {order}")
        records: list[Any] = []
        count = total = 0
        crc = _codec.row_crc
        while rows := cursor.fetchmany(_BATCH):
            blobs = [body for (body,) in rows]
            count += len(blobs)
            try:
                total += sum(map(crc, blobs))
                if shared is None:
                    records.extend(_codec.decode_many(kind, blobs))
                else:
                    records.extend(_codec.decode_sharing(kind, blobs, shared, facts))
            except _codec.DECODE_ERRORS:
                raise self._damaged(self._locate(conn, table, sums[table], -1, -1)) from None
        self._tally(conn, table, sums, count, total)
        if order is None and kind is not Device:  # devices: in id order, which is checked
            records.sort(key=_by_id)
        return records

    def _pairs(
        self,
        conn: sqlite3.Connection,
        table: str,
        columns: str,
        sums: dict[str, tuple[int, int]],
        order: str | None = None,
    ) -> list[Any]:
        """Every row of a table of two keys (memberships, a group's device ids or rules)."""
        sql = f"SELECT {columns} FROM {table} NOT INDEXED"  # noqa: S608 - not a covering index
        rows = conn.execute(sql if order is None else f"{sql} ORDER BY {order}").fetchall()
        try:
            total = sum(starmap(_codec.key_crc, rows))
        except _codec.DECODE_ERRORS:
            raise self._damaged(self._locate(conn, table, sums[table], -1, -1)) from None
        self._tally(conn, table, sums, len(rows), total)
        return rows

    def _access(self, conn: sqlite3.Connection, sums: dict[str, tuple[int, int]]) -> list[Any]:
        blobs = [b for (b,) in conn.execute("SELECT body FROM access ORDER BY kind, key")]
        try:
            total = sum(map(_codec.row_crc, blobs))
            records = [_codec.decode_access(body) for body in blobs]
        except _codec.DECODE_ERRORS:
            raise self._damaged(self._locate(conn, "access", sums["access"], -1, -1)) from None
        self._tally(conn, "access", sums, len(blobs), total)
        return records

    def _groups(self, conn: sqlite3.Connection, sums: dict[str, tuple[int, int]]) -> list[Group]:
        groups: list[Group] = self._records(conn, Group, sums)
        ids: dict[str, list[str]] = {}
        # Ordered by the key: the table itself is read, not a covering index of it.
        pairs = self._pairs(
            conn, "group_devices", "group_id, device_id", sums, "group_id, device_id"
        )
        for group_id, device_id in pairs:
            ids.setdefault(group_id, []).append(device_id)
        rules: dict[str, list[bytes]] = {}
        for group_id, rule in self._pairs(
            conn, "group_rules", "group_id, rule", sums, "group_id, rule"
        ):
            rules.setdefault(group_id, []).append(rule)
        if not ids and not rules:
            return groups
        known = {g.id for g in groups}
        for table, named in (("group_devices", ids), ("group_rules", rules)):
            strays = named.keys() - known
            if strays:
                raise self._damaged(
                    f"table {table} names the group {shorten(min(strays))}, which does not exist"
                )
        replace = msgspec.structs.replace
        try:
            return [
                replace(
                    g,
                    device_ids=frozenset(ids.get(g.id, ())),
                    device_tags=frozenset(_codec.decode_rule(r) for r in rules.get(g.id, ())),
                )
                if g.id in ids or g.id in rules
                else g
                for g in groups
            ]
        except _codec.DECODE_ERRORS as exc:
            raise self._damaged(f"table group_rules: {_cause(exc)}") from None

    def _check_references(
        self,
        tenants: list[Tenant],
        groups: list[Group],
        users: list[User],
        memberships: list[Any],
    ) -> None:
        """Every tenant, group and user a record names exists (checked on the sets of
        distinct values named), and no tenant or group is its own ancestor."""
        tenant_ids = {t.id for t in tenants}
        group_ids = {g.id for g in groups}
        user_ids = {u.id for u in users}
        tenant_of = attrgetter("tenant_id")
        parent_of = attrgetter("parent_id")
        checks: list[tuple[str, str, list[Any], Any, set[Any]]] = [
            ("tenant", "tenant", tenants, parent_of, tenant_ids),
            ("group", "tenant", groups, tenant_of, tenant_ids),
            ("group", "parent group", groups, parent_of, group_ids),
            ("user", "tenant", users, tenant_of, tenant_ids),
            ("membership", "group", memberships, itemgetter(0), group_ids),
            ("membership", "user", memberships, itemgetter(1), user_ids),
        ]
        for kind, what, records, field_of, known in checks:
            named = set(map(field_of, records))
            named.discard(None)
            strays = named - known
            if strays:
                stray = min(strays)
                record = next(r for r in records if field_of(r) == stray)
                name = record if kind == "membership" else record.id
                raise self._damaged(
                    f"the {kind} {shorten(name)} names the {what} {shorten(stray)}, "
                    "which does not exist"
                )
        for kind, records in (("tenant", tenants), ("group", groups)):
            looped = _in_a_cycle({r.id: r.parent_id for r in records})
            if looped is not None:
                raise self._damaged(
                    f"the {kind} {shorten(looped)} is its own ancestor (its parents form a cycle)"
                )

    def _check_devices(
        self, devices: list[Device], facts: _codec.DeviceFacts, tenant_ids: set[str]
    ) -> None:
        """Devices came in id order, each once (the table is clustered on the id: out of
        order means its pages are mixed up), of tenants that exist, and every gateway
        exists and is no device's own ancestor (found by bisection: gateways are few).
        What was noted while decoding them (``facts``) makes it cost no pass of its own."""
        if not facts.in_order:
            raise self._damaged("table devices is out of id order (its pages are mixed up)")
        strays = facts.tenants - tenant_ids
        if strays:
            device = next(d for d in devices if d.tenant_id in strays)
            raise self._damaged(
                f"the device {shorten(device.id)} names the tenant "
                f"{shorten(device.tenant_id)}, which does not exist"
            )
        parents: dict[str, str | None] = {}
        ids = facts.ids
        for gateway in facts.gateways:
            at = bisect_left(ids, gateway)
            if at == len(ids) or ids[at] != gateway:
                device = next(d for d in devices if d.parent_id == gateway)
                raise self._damaged(
                    f"the device {shorten(device.id)} names the gateway {shorten(gateway)}, "
                    "which does not exist"
                )
            parents[gateway] = devices[at].parent_id
        facts.ids = []
        looped = _in_a_cycle(parents)  # a device on a cycle is a gateway with a gateway
        if looped is not None:
            raise self._damaged(
                f"the device {shorten(looped)} is its own ancestor (its parents form a cycle)"
            )


def _audit_filters(
    *, tenant: str | None, actor: str | None, target: str | None, above: int, below: int
) -> tuple[str, list[object]]:
    """The WHERE clause of an audit query (every filter ANDed) and its parameters. Only
    fixed column names and placeholders go into the text; values are parameters."""
    clauses = ["seq > ?", "seq < ?"]
    params: list[object] = [above, below]
    for column, value in (("tenant_id", tenant), ("actor", actor), ("target", target)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(clauses), params
