"""msgspec encoding of store rows and change-log entries: the only place that knows bytes.

Records are stored as MessagePack blobs next to the few columns SQL needs (id, tenant id),
so a record field can be added without a schema migration: a new field with a default
decodes from an old blob as its default. Sets (tags, device ids) are encoded in sorted
order, so equal records give equal bytes in every process whatever its hash seed.

The change log stores each commit as one blob: the encoded list of its changes (a msgspec
tagged union, so every change carries its own type).

Every row also carries a CRC-32 (:func:`row_crc` of a blob, :func:`key_crc` of the keys of a
row without one); a blob that does not decode raises one of :data:`DECODE_ERRORS`, which
the store turns into a StoreError naming the file, the table and the row.
"""

from __future__ import annotations

import gc
import struct
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import msgspec

from tenancy.records import changes as ch
from tenancy.records.changes import Change
from tenancy.records.grants import AccessRecord
from tenancy.records.model import Device, Group, Tag, TagRule, Tenant, UsageDay, User

__all__ = [
    "DECODE_ERRORS",
    "DeviceFacts",
    "crc_of_columns",
    "decode_access",
    "decode_changes",
    "decode_many",
    "decode_rule",
    "decode_sharing",
    "encode_access",
    "encode_changes",
    "encode_record",
    "encode_rule",
    "gc_paused",
    "key_crc",
    "record_decoder",
    "row_crc",
    "share_values",
]

T = TypeVar("T")

DECODE_ERRORS = (
    msgspec.MsgspecError,
    TypeError,
    ValueError,
    OverflowError,
    KeyError,
    AttributeError,
)
"""What decoding a damaged row can raise (msgspec's DecodeError and ValidationError, a
wrong type or value reaching a record's constructor, a key that is NULL or not text)."""

row_crc = zlib.crc32
"""The checksum of a row holding a blob: the CRC-32 of the blob."""


def key_crc(first: str, second: str | bytes) -> int:
    """The checksum of a row of two keys (a membership, a group's device id or rule)."""
    if isinstance(second, str):  # the CRC of the keys joined by a NUL, in one go
        return zlib.crc32((first + "\0" + second).encode())
    return zlib.crc32(second, zlib.crc32(first.encode() + b"\0"))


def crc_of_columns(*values: str | bytes) -> int:
    """:func:`row_crc` of one blob, :func:`key_crc` of two keys (an SQL function when a
    migration computes the checksums of rows already in a file)."""
    if len(values) == 1 and isinstance(values[0], bytes):
        return row_crc(values[0])
    first, second = values
    if not isinstance(first, str):
        raise TypeError(f"a key is text, not {type(first).__name__}")
    return key_crc(first, second)


_sorted = msgspec.msgpack.Encoder(order="deterministic")
_plain = msgspec.msgpack.Encoder()
_changes = msgspec.msgpack.Decoder(tuple[Change, ...])
_rule = msgspec.msgpack.Decoder(TagRule)

_decoders: dict[type[Any], msgspec.msgpack.Decoder[Any]] = {
    kind: msgspec.msgpack.Decoder(kind) for kind in (Tenant, Group, Device, User, UsageDay)
}
_list_decoders: dict[type[Any], msgspec.msgpack.Decoder[Any]] = {
    Tenant: msgspec.msgpack.Decoder(list[Tenant]),
    Group: msgspec.msgpack.Decoder(list[Group]),
    Device: msgspec.msgpack.Decoder(list[Device]),
    User: msgspec.msgpack.Decoder(list[User]),
    UsageDay: msgspec.msgpack.Decoder(list[UsageDay]),
}


def encode_record(record: Tenant | Group | Device | User | UsageDay) -> bytes:
    """One record as a row blob, sets in sorted order."""
    return _encode(record)


def record_decoder(kind: type[T]) -> msgspec.msgpack.Decoder[T]:
    """The decoder of one row blob of ``kind`` (Tenant, Group, Device, User, UsageDay)."""
    return _decoders[kind]


def decode_many(kind: type[T], blobs: Sequence[bytes]) -> list[T]:
    """Decode many row blobs in one call.

    The blobs are joined under one MessagePack array header and decoded as ``list[kind]``,
    which saves a Python call per row when a snapshot loads a hundred thousand of them.
    """
    result: list[T] = _list_decoders[kind].decode(_array_of(blobs))
    return result


def _array_of(blobs: Sequence[bytes]) -> bytes:
    """The blobs as the items of one MessagePack array."""
    return _array_header(len(blobs)) + b"".join(blobs)


def _array_header(count: int) -> bytes:
    """The header of a MessagePack array of ``count`` items."""
    if count < 16:
        return bytes((0x90 | count,))
    if count < 1 << 16:
        return b"\xdc" + struct.pack(">H", count)
    return b"\xdd" + struct.pack(">I", count)


class _DeviceRow(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A device blob as a snapshot first decodes it: the tags still encoded.

    The same fields as :class:`~tenancy.records.model.Device` (a test holds them equal)."""

    id: str
    tenant_id: str
    name: str
    tags: msgspec.Raw = msgspec.Raw(b"\x90")  # an empty array
    parent_id: str | None = None


_device_rows = msgspec.msgpack.Decoder(list[_DeviceRow])
_tags = msgspec.msgpack.Decoder(tuple[Tag, ...])


class DeviceFacts:
    """What :func:`decode_sharing` notes of the devices it decodes, for the store's checks
    (in the loop that builds them: a compare and two set additions a device)."""

    def __init__(self) -> None:
        self.last_id = ""
        self.in_order = True
        """Every id greater than the one before (strictly: no id twice)."""
        self.tenants: set[str] = set()
        self.gateways: set[str] = set()
        self.ids: list[str] = []
        """Every id, in the order read (dropped once the checks are done)."""


def decode_sharing(
    kind: type[T],
    blobs: Sequence[bytes],
    shared: dict[Any, Any],
    facts: DeviceFacts | None = None,
) -> list[T]:
    """Decode many row blobs (as :func:`decode_many`), sharing equal values between them
    and with earlier batches through ``shared`` (as :func:`share_values`).

    Devices take a shorter way, since a million of them hold only a few hundred thousand
    distinct sets of tags: their tags are left encoded at first, and each encoding is
    decoded once, the first time it is met; every later device with the same bytes takes
    that set. That skips building a set, its pairs and their strings only to drop them.
    """
    if kind is not Device:
        records = decode_many(kind, blobs)
        share_values(records, shared)
        return records
    devices: list[Any] = []
    append = devices.append
    facts = facts or DeviceFacts()
    last, in_order = facts.last_id, facts.in_order
    tenant_seen, gateway_seen, id_seen = facts.tenants.add, facts.gateways.add, facts.ids.append
    for row in _device_rows.decode(_array_of(blobs)):
        encoded = bytes(row.tags)
        tags = shared.get(encoded)
        if tags is None:
            tags = shared[encoded] = frozenset(
                [shared.setdefault(pair, pair) for pair in _tags.decode(encoded)]
            )
        device_id, tenant_id, parent_id = row.id, row.tenant_id, row.parent_id
        if device_id <= last:
            in_order = False
        last = device_id
        id_seen(device_id)
        tenant_seen(tenant_id)
        if parent_id is not None:
            gateway_seen(parent_id)
        append(
            Device(
                id=device_id,
                tenant_id=shared.setdefault(tenant_id, tenant_id),
                name=row.name,
                tags=tags,
                parent_id=parent_id,
            )
        )
    facts.last_id, facts.in_order = last, in_order
    return devices


def share_values(records: list[Any], shared: dict[Any, Any]) -> None:
    """Point equal field values of freshly decoded records at one copy, in place.

    A decoder makes every record its own copy of its tenant id and of its tags (the
    frozenset, each pair and each string): about 600 bytes a device that a million devices
    at a few thousand sites hold a thousand times over. ``shared`` maps a value to its one
    copy and is kept across the batches of one load; the copies a batch drops leave holes
    the next batch's decode fills. Only call it on records nobody else holds yet: it sets
    fields of frozen structs (``msgspec.structs.force_setattr``).
    """
    setattr_ = msgspec.structs.force_setattr
    for record in records:
        tenant_id = record.tenant_id
        one = shared.get(tenant_id)
        if one is None:
            one = shared[tenant_id] = tenant_id
        setattr_(record, "tenant_id", one)
        tags = record.tags
        one = shared.get(tags)
        if one is None:
            # A new set of pairs: the pairs (and so their strings) are shared one by one.
            one = frozenset([shared.setdefault(pair, pair) for pair in tags])
            shared[one] = one
        setattr_(record, "tags", one)


def encode_changes(changes: Sequence[Change], encoded: dict[int, bytes] | None = None) -> bytes:
    """The change-log blob of one commit's ``changes``. ``encoded``: row blobs the commit
    made already, by id() of their record (the row writer's): a DeviceCreated or
    UserCreated whose record is among them is its fixed head and that blob (the bytes
    ``_encode`` gives it), so an import's million devices are encoded once, not again for
    the log. The other changes are encoded one by one: a set that does not sort (a
    wildcard rule's) then leaves only its own change in iteration order, where the whole
    list would all fall back.
    Runtime complexity: O(size of the changes)."""
    if not encoded:
        return _encode(list(changes))
    known = encoded.get
    parts: list[bytes] = [_array_header(len(changes))]
    add = parts.append
    for change in changes:
        if isinstance(change, ch.DeviceCreated):
            blob, head = known(id(change.device)), _DEVICE_CREATED
        elif isinstance(change, ch.UserCreated):
            blob, head = known(id(change.user)), _USER_CREATED
        else:
            blob = None
        if blob is None:
            add(_encode(change))
        else:
            add(head)
            add(blob)
    return b"".join(parts)


def decode_changes(blob: bytes) -> tuple[Change, ...]:
    return _changes.decode(blob)


def encode_rule(rule: TagRule) -> bytes:
    """A tag rule as a key: rules are canonical (sorted matchers), so equal rules give
    equal bytes and a table keyed on them is a set of rules."""
    return _plain.encode(rule)


def decode_rule(blob: bytes) -> TagRule:
    return _rule.decode(blob)


def _encode(value: object) -> bytes:
    try:
        return _sorted.encode(value)
    except TypeError:
        # Tag rules with wildcards hold None next to strings, which do not sort against
        # each other. Those sets decode to the same value in any order, so fall back to
        # iteration order for them; every other set stays deterministic.
        return _plain.encode(value)


def _head_of(change: Change, record: object) -> bytes:
    """What the encoding of ``change`` holds before that of its one record (it ends with
    it: the record is the struct's last field)."""
    whole, tail = _encode(change), _encode(record)
    assert whole.endswith(tail), (whole, tail)
    return whole[: -len(tail)]


_SAMPLE_DEVICE = Device(id="d", tenant_id="t", name="n")
_SAMPLE_USER = User(id="u", tenant_id="t", email="e@example.com")
_DEVICE_CREATED = _head_of(ch.DeviceCreated(device=_SAMPLE_DEVICE), _SAMPLE_DEVICE)
_USER_CREATED = _head_of(ch.UserCreated(user=_SAMPLE_USER), _SAMPLE_USER)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects at once.

    Decoding a snapshot allocates millions of tuples and structs and none of them is
    garbage; the collector would walk them again and again (it doubles the load time).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_access_decoder: msgspec.msgpack.Decoder[AccessRecord] = msgspec.msgpack.Decoder(AccessRecord)


def encode_access(record: AccessRecord) -> bytes:
    """An access-control record as a row blob (tagged, so one column holds every kind)."""
    return _encode(record)


def decode_access(body: bytes) -> AccessRecord:
    return _access_decoder.decode(body)
