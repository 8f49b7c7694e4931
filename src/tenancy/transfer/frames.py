"""Writing and reading a document as a stream, in JSON or MessagePack.

Neither side holds the document: the writer encodes a chunk of records at a time, and the
reader decodes one record (JSON) or one chunk (MessagePack) at a time.

**JSON** is one JSON value, ``{"header": {...}, "records": [...]}``, that any JSON tool
reads, written with one record per line::

    {"header":{...},"records":[
    {"kind":"tenant",...},
    {"kind":"device",...}
    ]}

msgspec never writes a raw newline inside a value, so each line is exactly one record and
the reader decodes it alone. A JSON document laid out otherwise (reformatted by hand) is
still read, whole, in one decode.

**MessagePack** is a sequence of frames, each a 4-byte big-endian length and that many
bytes of one MessagePack value: the header first, then lists of at most
:data:`CHUNK` records. msgspec decodes only whole values and has no incremental
MessagePack reader; a length in front of each chunk lets the reader take exactly one
chunk's bytes and decode it at full speed, and a single MessagePack array of a million
records would have to be read whole. The header's ``counts`` tell a document cut off at a
frame boundary from a whole one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal, Protocol, TypeAlias

import msgspec

from tenancy.errors import InvalidValue
from tenancy.transfer.schema import DOCUMENT_VERSION, Document, Header, Record

__all__ = [
    "CHUNK",
    "MAX_FRAME",
    "BadRecord",
    "Format",
    "Readable",
    "Writable",
    "read_document",
    "write_document",
]

Format: TypeAlias = Literal["json", "msgpack"]
CHUNK = 2_048
"""Records encoded (and, in MessagePack, framed) together."""
MAX_FRAME = 1 << 28
"""The largest MessagePack frame read (256 MiB): a damaged length never allocates more."""

_JSON_OPEN = b'{"header":'
_JSON_RECORDS = b',"records":['


class Writable(Protocol):
    def write(self, data: bytes, /) -> Any: ...


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...


def write_document(
    out: Writable, header: Header, chunks: Iterable[list[Record]], format: Format
) -> int:
    """Write ``header`` then every record of ``chunks``; returns the records written."""
    written = 0
    if format == "json":
        encoder = msgspec.json.Encoder()
        out.write(_JSON_OPEN + encoder.encode(header) + _JSON_RECORDS)
        separator = b"\n"
        for chunk in chunks:
            if chunk:
                # One record a line; msgspec writes no raw newline inside a value, so the
                # line breaks of encode_lines are exactly the places for the commas.
                lines = encoder.encode_lines(chunk)[:-1].replace(b"\n", b",\n")
                out.write(separator + lines)
                separator = b",\n"
                written += len(chunk)
        out.write(b"\n]}\n")
        return written
    packer = msgspec.msgpack.Encoder()
    _frame(out, packer.encode(header))
    for chunk in chunks:
        if chunk:
            _frame(out, packer.encode(chunk))
            written += len(chunk)
    return written


def _frame(out: Writable, payload: bytes) -> None:
    out.write(len(payload).to_bytes(4, "big") + payload)


class BadRecord(InvalidValue):
    """A record that does not decode as its kind (a value of the wrong type, a missing
    field, an unknown kind): where it is, for the import to name it. ``before``: the
    records of its kind before it in the part of the document decoded with it."""

    def __init__(
        self, position: int, kind: str, before: int, record_id: str | None, error: Exception
    ) -> None:
        super().__init__(
            f"record {position}", f"a {kind} record is as document_schema() says: {error}",
            field="document",
        )  # fmt: skip
        self.position, self.kind, self.record_id = position, kind, record_id
        self.before = before


def _locate(items: object, start: int, error: Exception) -> InvalidValue:
    """The BadRecord among ``items`` (records decoded without their schema) that the
    schema refuses, or a plain error when the list itself is malformed."""
    if not isinstance(items, list):
        return _bad(start, error)
    kinds = [str(item.get("kind")) if isinstance(item, dict) else "unknown" for item in items]
    for offset, item in enumerate(items):
        try:
            msgspec.convert(item, Record)
        except msgspec.ValidationError as found:
            kind = kinds[offset]
            record_id = item.get("id") if isinstance(item, dict) else None
            return BadRecord(
                start + offset, kind, kinds[:offset].count(kind),
                record_id if isinstance(record_id, str) else None, found,
            )  # fmt: skip
    return _bad(start, error)


def read_document(source: Readable) -> tuple[Header, Iterator[Record]]:
    """The header, and an iterator over the records in document order. Either raises
    InvalidValue (field ``document``) for what cannot be decoded, naming where."""
    first = source.read(1)
    if first[:1] == b"\x00":  # a MessagePack frame length: headers are far below 16 MiB
        header = _decode_frame(source, first, Header, -1)
        _check_version(header)
        return header, _msgpack_records(source)
    line = first + source.readline()
    if line.startswith(_JSON_OPEN) and line.endswith(_JSON_RECORDS + b"\n"):
        document = _decode_json(line[:-1] + b"]}", Document, -1)
        _check_version(document.header)
        return document.header, _json_records(source)
    data = line + source.read()  # laid out otherwise: read whole
    try:
        whole = msgspec.json.decode(data, type=Document)
    except msgspec.ValidationError as error:
        raw = _decode_json(data, Any, -2)
        records = raw.get("records") if isinstance(raw, dict) else None
        raise _locate(records, 0, error) from None
    except msgspec.DecodeError as error:
        raise _bad(-2, error) from None
    _check_version(whole.header)
    return whole.header, iter(whole.records)


def _check_version(header: Header) -> None:
    if header.version > DOCUMENT_VERSION or header.version < 1:
        raise InvalidValue(
            header.version,
            f"this library reads document versions 1 to {DOCUMENT_VERSION}",
            field="version",
        )


def _decode_json(data: bytes, type_: Any, position: int) -> Any:
    try:
        return msgspec.json.decode(data, type=type_)
    except msgspec.DecodeError as error:
        raise _bad(position, error) from None


def _bad(position: int, error: Exception) -> InvalidValue:
    where = {-1: "the header", -2: "the document"}.get(position, f"record {position}")
    return InvalidValue(
        where, f"a document is a tenancy document (see document_schema()): {error}",
        field="document",
    )  # fmt: skip


def _json_records(source: Readable) -> Iterator[Record]:
    decoder = msgspec.json.Decoder(Record)
    position = 0
    while True:
        line = source.readline()
        if not line:
            raise _bad(position, ValueError("the document ends before its closing ']}'"))
        body = line.rstrip(b"\r\n")
        if body.endswith(b","):
            body = body[:-1]
        elif body == b"]}":
            if source.read().strip():
                raise _bad(position, ValueError("there is more after the closing ']}'"))
            return
        elif not body.strip():
            continue
        try:
            record = decoder.decode(body)
        except msgspec.ValidationError as error:
            raise _locate([_decode_json(body, Any, position)], position, error) from None
        except msgspec.DecodeError as error:
            raise _bad(position, error) from None
        yield record
        position += 1


def _decode_frame(source: Readable, first: bytes, type_: Any, position: int) -> Any:
    """One frame's value; a list of records the schema refuses is searched for the one at
    fault (a chunk holds at most CHUNK records)."""
    size_bytes = first + source.read(4 - len(first))
    if len(size_bytes) != 4:
        raise _bad(position, ValueError("the document ends inside a frame's length"))
    size = int.from_bytes(size_bytes, "big")
    if size > MAX_FRAME:
        raise _bad(position, ValueError(f"a frame holds at most {MAX_FRAME} bytes, not {size}"))
    payload = source.read(size)
    if len(payload) != size:
        raise _bad(position, ValueError("the document ends inside a frame"))
    try:
        return msgspec.msgpack.decode(payload, type=type_)
    except msgspec.ValidationError as error:
        if position < 0:
            raise _bad(position, error) from None
        raise _locate(_decode_msgpack(payload, position), position, error) from None
    except msgspec.DecodeError as error:
        raise _bad(position, error) from None


def _decode_msgpack(payload: bytes, position: int) -> Any:
    try:
        return msgspec.msgpack.decode(payload)
    except msgspec.DecodeError as error:
        raise _bad(position, error) from None


def _msgpack_records(source: Readable) -> Iterator[Record]:
    position = 0
    while True:
        first = source.read(1)
        if not first:
            return
        chunk = _decode_frame(source, first, list[Record], position)
        yield from chunk
        position += len(chunk)
