"""Page sizes and cursors, shared by every listing that takes ``limit=`` and ``after=``.

**Page sizes** are ints from 1 to :data:`MAX_PAGE_SIZE`; anything else (a bool, a float, a
string, 0, a negative number, a billion) is refused with ``InvalidValue(field="limit")``.

**Cursors** are opaque strings: a page's ``next``, to be passed back as ``after=`` to the same
listing, with the same arguments, for the following page. A cursor is the URL-safe base64
(no padding) of a few bytes::

    version (1)  kind (1)  crc32 of the query and the position (4, big-endian)  position

``kind`` says which listing made it (:data:`DEVICES_FOR`, ...); the position is where the
next page starts after (a device id in UTF-8, or an audit seq in decimal); the checksum
covers the kind, the *identity* of the query (the user, group or tenant listed, and every
filter that changes what is listed) and the position. So a cursor given to another
listing, to another user's or group's listing, with other filters, or edited by hand,
fails the checksum and is refused with ``InvalidValue(field="after")``; the page size is
not part of the identity (a caller may change it from page to page).

A cursor is a convenience, not a secret or a signature: CRC-32 catches mistakes (the odds
that a wrong cursor passes are one in four billion), not forgery, and needs none; a
forged cursor can only start a listing at another position of the caller's own answer.
Cursors are not stored anywhere and carry nothing but the position, so one stays valid
across handles, processes and restarts, and whatever is written between two pages.

Costs: nothing on a page that is the only one, and nothing to check on a first page
(``after=None``); a page with a next page pays one ``repr`` of its identity, one CRC and one
base64 encoding (about a microsecond), and a following page the same again to check its
cursor.
"""

from __future__ import annotations

import binascii
import zlib
from collections.abc import Iterable

from tenancy.errors import InvalidValue
from tenancy.records.model import TagMatcher

__all__ = [
    "AUDIT_LOG",
    "DEFAULT_PAGE_SIZE",
    "DEVICES_FOR",
    "DEVICES_IN",
    "MAX_PAGE_SIZE",
    "TENANT_DEVICES",
    "TENANT_GROUPS",
    "TENANT_USERS",
    "Binding",
    "check_page_size",
    "decode",
    "encode",
    "tag_identity",
]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 10_000

_VERSION = 1
DEVICES_FOR = 0x64  # "d": Tenancy.devices_for
DEVICES_IN = 0x67  # "g": Tenancy.devices_in
TENANT_DEVICES = 0x74  # "t": TenantScope.devices
AUDIT_LOG = 0x61  # "a": Tenancy.audit_log
TENANT_USERS = 0x55  # "U": TenantScope.users
TENANT_GROUPS = 0x47  # "G": TenantScope.groups
_KIND_NAMES = {
    DEVICES_FOR: "devices_for",
    DEVICES_IN: "devices_in",
    TENANT_DEVICES: "TenantScope.devices",
    AUDIT_LOG: "audit_log",
    TENANT_USERS: "TenantScope.users",
    TENANT_GROUPS: "TenantScope.groups",
}
_HEADER = 6  # version, kind, four bytes of CRC
_PREFIX = {kind: bytes((_VERSION, kind)) for kind in _KIND_NAMES}

Binding = tuple[int, object]
"""What a cursor is bound to: ``(kind, identity)``, the identity any value whose ``repr``
is the same in every process (strings, ints, bools, None, tuples of them, and tag filters:
tuples of TagMatcher, which are put in canonical order)."""

_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def check_page_size(limit: object) -> int:
    """``limit`` when it is an int from 1 to MAX_PAGE_SIZE; else InvalidValue (a bool, a
    float, an int subclass: a page size is a plain int)."""
    if type(limit) is int and 0 < limit <= MAX_PAGE_SIZE:
        return limit
    raise InvalidValue(limit, f"a page size is an int from 1 to {MAX_PAGE_SIZE:,}", field="limit")


def tag_identity(matchers: Iterable[TagMatcher] | None) -> tuple[tuple[str | None, ...], ...]:
    """A tag filter as a cursor identity: the same whatever order or container the caller
    gave the matchers in (a set's order differs from process to process)."""
    if matchers is None:
        return ()
    unique = {tuple(m) for m in matchers}
    return tuple(sorted(unique, key=lambda m: (m[0] or "", m[1] or "", m[0] is None, m[1] is None)))


def _text(value: str) -> bytes:
    try:
        return value.encode()
    except UnicodeEncodeError:  # a lone surrogate: kept, not refused, so it only mismatches
        return value.encode("utf-8", "surrogatepass")


def _identity_text(identity: object) -> bytes:
    """The identity as bytes: a plain id as itself, anything else as its ``repr``, with a
    tag filter in it (a tuple of TagMatcher) put in canonical order here, when a cursor is
    made or checked, not on every call."""
    if type(identity) is str:
        return _text(identity)
    if type(identity) is tuple:
        identity = tuple(
            tag_identity(part)
            if type(part) is tuple and part and type(part[0]) is TagMatcher
            else part
            for part in identity
        )
    return _text(repr(identity))


def _checksum(kind: int, identity: object, position: bytes) -> bytes:
    return zlib.crc32(position, zlib.crc32(_identity_text(identity), kind)).to_bytes(4, "big")


def encode(bind: Binding, position: str) -> str:
    """The cursor of a page of the listing ``bind`` whose last item is at ``position``.
    Written for speed: a first page with a next page pays it."""
    kind, identity = bind
    raw = _text(position)
    seed = zlib.crc32(_text(identity) if type(identity) is str else _identity_text(identity), kind)
    data = _PREFIX[kind] + zlib.crc32(raw, seed).to_bytes(4, "big") + raw
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URLSAFE).decode()


def decode(bind: Binding, after: object) -> str | None:
    """The position a cursor given to the listing ``bind`` stands for (None for None); any
    other value, or a cursor of another listing, query or filter, raises InvalidValue."""
    if after is None:
        return None
    kind, identity = bind
    data = _unbase64(after)
    if data is None or len(data) <= _HEADER or data[0] != _VERSION:
        raise InvalidValue(
            after,
            "a cursor is the next of a page of the same listing, passed back unchanged, or None",
            field="after",
        )
    if data[1] != kind:
        other = _KIND_NAMES.get(data[1], "another listing")
        raise InvalidValue(
            after,
            f"this cursor is from {other}, not {_KIND_NAMES[kind]}: a cursor is valid only "
            "for the listing that gave it",
            field="after",
        )
    raw = data[_HEADER:]
    if data[2:_HEADER] != _checksum(kind, identity, raw):
        raise InvalidValue(
            after,
            "this cursor belongs to another query (another user, group or tenant, or other "
            "filters) or was altered: a cursor is valid only for the query that gave it",
            field="after",
        )
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:  # only a forged cursor with a matching checksum gets here
        raise InvalidValue(after, "a cursor's position is text", field="after") from None


def _base64(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URLSAFE)


def _unbase64(after: object) -> bytes | None:
    """The bytes of a URL-safe base64 text without padding, or None for anything else
    (re-encoding must give the very text back: no padding, no other alphabet, no spaces)."""
    if not isinstance(after, str) or not after.isascii():
        return None
    text = after.encode("ascii")
    try:
        data = binascii.a2b_base64(text.translate(_FROM_URLSAFE) + b"=" * (-len(text) % 4))
    except binascii.Error:
        return None
    return data if _base64(data) == text else None
