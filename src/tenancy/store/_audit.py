"""The audit log's storage form, shared by every adapter so they all give the same answers.

The facade hands a store :class:`~tenancy.records.model.AuditRecord` values whose ``before`` and
``after`` may hold records, sets and tuples as they are (building them costs nothing). A
store keeps them encoded (:func:`encode_value`: MessagePack, sets sorted, the same bytes as
a record row, so a created record's row blob serves as its ``after`` as it is) and gives
back JSON values (:func:`decode_value`): dicts, lists, strings, numbers, booleans and
None, times as ISO 8601 strings. :func:`plain` is that round trip, so a value reads back
the same from every adapter.

Times are kept in UTC as whole microseconds since the epoch (:func:`micros`), never
decreasing along the log (:func:`times`), so a time range is a range of ``seq``
(:func:`seq_range`); :func:`moment` turns them back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from tenancy.records.model import AuditRecord

__all__ = [
    "EPOCH",
    "decode_value",
    "encode_value",
    "filter_records",
    "first_at_or_after",
    "from_rows",
    "micros",
    "moment",
    "plain",
    "seq_range",
    "times",
    "utc",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_sorted = msgspec.msgpack.Encoder(order="deterministic")
_unsorted = msgspec.msgpack.Encoder()
_unpack = msgspec.msgpack.Decoder()
_to_json = msgspec.json.Encoder()
_from_json = msgspec.json.Decoder()


def encode_value(value: Any) -> bytes | None:
    """``before`` or ``after`` as stored; None stays None (SQL NULL)."""
    if value is None:
        return None
    try:
        return _sorted.encode(value)
    except TypeError:
        # Tag rules with wildcards hold None next to strings, which do not sort against
        # each other: keep those sets in iteration order (as the record codec does).
        return _unsorted.encode(value)


def decode_value(blob: bytes | None) -> Any:
    """A stored value as JSON values (MessagePack gives times as datetimes: JSON as text)."""
    if blob is None:
        return None
    return _from_json.decode(_to_json.encode(_unpack.decode(blob)))


def plain(value: Any) -> Any:
    """The JSON values ``value`` is stored and read back as."""
    return decode_value(encode_value(value))


def utc(moment_: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    if moment_.tzinfo is None:
        return moment_.replace(tzinfo=UTC)
    return moment_.astimezone(UTC)


def micros(moment_: datetime) -> int:
    """Whole microseconds since the epoch (a naive datetime is taken to be UTC)."""
    return (utc(moment_) - EPOCH) // _MICRO


def moment(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def times(records: Sequence[AuditRecord], last: int) -> list[int]:
    """The time each record is stored with, in microseconds: its ``at``, or the time of the
    record before it when that is later (``last``: the log's latest time, 0 when empty).

    So times never decrease along the log, even when a clock steps back or another
    process's clock runs a little ahead, and a time range is a range of ``seq``, found by
    bisection: no time index to maintain, and a time filter combines with any other.
    """
    out: list[int] = []
    append = out.append
    seen: datetime | None = None
    us = last
    for record in records:
        if record.at is not seen:  # the records of one write share their time
            seen = record.at
            us = max(micros(seen), last)
        last = us
        append(us)
    return out


def first_at_or_after(at_of: Callable[[int], int], top: int, bound: datetime) -> int:
    """The smallest seq in 1..top whose stored time is at or after ``bound`` (``top + 1``
    when none is), given ``at_of(seq)``: O(log top) probes, as times never decrease."""
    target = micros(bound)
    lo, hi = 1, top + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if at_of(mid) < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


def seq_range(
    at_of: Callable[[int], int],
    top: int,
    *,
    start: datetime | None,
    end: datetime | None,
    after: int | None,
) -> tuple[int, int]:
    """``(above, below)``: the seqs of the records after the cursor ``after`` and within
    ``start <= at < end`` are exactly those with ``above < seq < below``."""
    above = max(after or 0, 0)
    if start is not None:
        above = max(above, first_at_or_after(at_of, top, start) - 1)
    below = top + 1 if end is None else first_at_or_after(at_of, top, end)
    return above, below


def filter_records(
    records: Sequence[AuditRecord],
    stored_at: Sequence[int],
    count: int,
    *,
    tenant: str | None,
    actor: str | None,
    target: str | None,
    start: datetime | None,
    end: datetime | None,
    after: int | None,
    limit: int,
) -> list[AuditRecord]:
    """The reference query over the first ``count`` records and their stored times,
    numbered by position (seq = index + 1): seq above ``after``, ``start <= at < end``,
    every id filter given; at most ``limit`` of them, as a store gives them back."""
    above, below = seq_range(
        lambda seq: stored_at[seq - 1], count, start=start, end=end, after=after
    )
    found: list[AuditRecord] = []
    for index in range(above, below - 1):
        record = records[index]
        if (
            (tenant is None or record.tenant_id == tenant)
            and (actor is None or record.actor == actor)
            and (target is None or record.target == target)
        ):
            found.append(
                msgspec.structs.replace(
                    record,
                    seq=index + 1,
                    at=moment(stored_at[index]),
                    before=plain(record.before),
                    after=plain(record.after),
                )
            )
            if len(found) >= limit:
                break
    return found


def from_rows(rows: Sequence[Sequence[Any]]) -> list[AuditRecord]:
    """Audit records of the rows ``(seq, revision, at, tenant_id, actor, action, target,
    before, after)`` the SQL stores keep (times in microseconds, values encoded)."""
    return [
        AuditRecord(
            seq=seq,
            revision=revision,
            at=moment(at),
            tenant_id=tenant_id,
            actor=who,
            action=action,
            target=what,
            before=decode_value(before),
            after=decode_value(after_),
        )
        for seq, revision, at, tenant_id, who, action, what, before, after_ in rows
    ]
