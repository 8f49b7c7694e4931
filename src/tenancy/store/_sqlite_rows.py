"""The rows of the SQLite store: which table holds which record, its keys, its checksum and
its decoder, shared by the store (sqlite.py), its reads (_sqlite_read.py) and its writes
(_sqlite_apply.py)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import msgspec

from tenancy.errors import StoreError, shorten
from tenancy.records.model import (
    Device,
    Group,
    Tenant,
    UsageDay,
    User,
)
from tenancy.store import _codec

__all__ = []


_BATCH = 20_000
"""Rows fetched and decoded per call when loading a snapshot."""


_PAIR_TABLES = frozenset({"memberships", "group_devices", "group_rules"})


_RECORD_TABLE: dict[type[Any], str] = {
    Tenant: "tenants",
    Group: "groups",
    Device: "devices",
    User: "users",
    UsageDay: "usage",
}


_KEYS = {
    "tenants": "id, body",
    "groups": "id, body",
    "devices": "id, body",
    "users": "id, body",
    "usage": "tenant_id, day, body",
    "access": "kind, key, body",
    "memberships": "group_id, user_id",
    "group_devices": "group_id, device_id",
    "group_rules": "group_id, rule",
}
"""What names a row of each checked table in an error, then what its checksum covers."""


def _blob_crc(*keys: Any) -> int:
    return _codec.row_crc(keys[-1])


_ROW_CRC: dict[str, Callable[..., int]] = {
    table: _codec.key_crc if table in _PAIR_TABLES else _blob_crc for table in _KEYS
}


_ROW_DECODERS: dict[str, Callable[[bytes], Any]] = {
    **{table: _codec.record_decoder(kind).decode for kind, table in _RECORD_TABLE.items()},
    "access": _codec.decode_access,
    "group_rules": _codec.decode_rule,
}


_PUT = {
    "tenants": "INSERT INTO tenants (id, body, crc) VALUES (?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET body = excluded.body, crc = excluded.crc",
    **{
        table: f"INSERT INTO {table} (id, tenant_id, body, crc) VALUES (?, ?, ?, ?)"  # noqa: S608
        " ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id,"
        " body = excluded.body, crc = excluded.crc"
        for table in ("groups", "devices", "users")
    },
}
"""Insert or replace a record (an upsert: an update in place when the id is there)."""


def _decode_row(kind: type[Any], body: bytes, name: str) -> Any:
    """One row's record, for a write that reads it (a damaged blob: StoreError)."""
    try:
        return _codec.record_decoder(kind).decode(body)
    except _codec.DECODE_ERRORS as exc:
        raise StoreError(
            f"the stored {name} is damaged: {_cause(exc)}",
            value=name,
            rule="a store opens only if what it read matches its checksums",
        ) from None


def _in_a_cycle(parents: dict[str, str | None]) -> str | None:
    """A node whose chain of parents comes back to itself, or None. Nodes that are no
    node's parent are dropped until none is left (no cycle) or none drops (each one left
    is on a cycle): a few passes at C speed, one per level of the tree."""
    while parents:
        named = set(parents.values())
        kept = {node: parent for node, parent in parents.items() if node in named}
        if len(kept) == len(parents):
            return min(kept)
        parents = kept
    return None


def _row_name(table: str, keys: list[Any]) -> str:
    shown = keys if table in _PAIR_TABLES else keys[:-1]
    return ", ".join(shorten(k) for k in shown)


def _cause(exc: BaseException) -> str:
    return f"it does not decode ({type(exc).__name__}: {shorten(str(exc))[1:-1]})"


_Record = Tenant | Group | Device | User


_by_id = operator.attrgetter("id")


_AUDIT_COLUMNS = "seq, revision, at, tenant_id, actor, action, target, before_value, after_value"


class _Missing(Exception):
    """A change names a record that is not there: the commit cannot apply."""


def _bare(group: Group) -> Group:
    """A group row's blob leaves the associations out: they live in their own tables."""
    if group.device_ids or group.device_tags:
        return msgspec.structs.replace(group, device_ids=frozenset(), device_tags=frozenset())
    return group
