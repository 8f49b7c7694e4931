"""The in-memory side of usage statistics: the pending request counters of a writer, the
stamping of counts onto its commits, and the background flusher (see tenancy.handle.usage
for what is counted and how it reaches the store)."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from datetime import date, datetime
from typing import Protocol

import msgspec

from tenancy.errors import InvalidValue
from tenancy.index.index import Index
from tenancy.records import changes as ch
from tenancy.records.changes import Change, Revision
from tenancy.records.model import UsageCounts
from tenancy.rules.usage import count_deltas, counts_on, shared_devices, shares_touched, utc_day

__all__ = ["FLUSH_AFTER", "Flushes", "UsageRecorder"]


_log = logging.getLogger("tenancy")


class Flushes(Protocol):
    """What the flusher flushes: the writer the recorder belongs to."""

    def flush_usage(self) -> Revision: ...


FLUSH_AFTER = 100_000
"""Pending requests that wake the background flusher before its interval is up."""


class _Flusher:
    """A daemon thread that flushes a writer's pending requests every ``interval`` seconds,
    or at once when woken. It holds the writer weakly (a writer dropped without close() is
    still collected, and the thread then ends); a failed flush is logged and retried."""

    def __init__(self, owner: Flushes, interval: float) -> None:
        self._owner = weakref.ref(owner)
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.flushed = threading.Event()
        """Set after every flush attempt (tests wait on it instead of sleeping)."""
        self._thread = threading.Thread(target=self._run, name="tenancy-usage", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            owner = self._owner()
            if owner is None or self._stop.is_set():
                return
            try:
                owner.flush_usage()
            except Exception:  # the thread must outlive a busy or briefly closed store
                _log.exception("tenancy: flushing usage statistics failed; retrying later")
            finally:
                del owner
            self.flushed.set()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


def _shared_count(
    index: Index, tenant_id: str, day: date, pending: dict[tuple[str, date], tuple[int, int]]
) -> tuple[int, int] | None:
    """The (count, peak) of shared devices a row of the tenant's day carries: the pending
    one; for the day's first row of a tenant with subscriptions, the count now (a row
    starts at 0, not at yesterday's count); else None (the row keeps its count). O(1) for
    a tenant without subscriptions."""
    counted = pending.pop((tenant_id, day), None)
    if (
        counted is None
        and index.access.subscriptions_of(tenant_id)
        and index.usage_on(tenant_id, day) is None
    ):
        n = len(shared_devices(index, tenant_id))
        counted = (n, n)
    return counted


class UsageRecorder:
    """The in-memory side of usage statistics for one handle: pending request counters,
    and the stamping of counts onto commits. See the module docstring."""

    def __init__(self, clock: Callable[[], datetime], flush_interval: float | None) -> None:
        if flush_interval is not None and (
            isinstance(flush_interval, bool)
            or not isinstance(flush_interval, int | float)
            or flush_interval <= 0
        ):
            raise InvalidValue(flush_interval, "usage_flush_interval is a positive number or None")
        self._clock = clock
        self._flush_interval = flush_interval
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, date], dict[str, int]] = {}
        self._pending_count = 0
        self._in_flight: dict[tuple[str, date], dict[str, int]] | None = None
        self._flusher: _Flusher | None = None
        self.flush_requested = False
        """Set by flush_usage: stamp even an empty write."""
        self.flush_after = FLUSH_AFTER
        self._shared: dict[tuple[str, date], tuple[int, int]] = {}
        """(tenant, day) -> (devices shared into it, the day's peak), counted after a
        commit that touched its shares and not written yet: they ride along with the next
        commit, as pending requests do."""
        self._shared_in_flight: dict[tuple[str, date], tuple[int, int]] = {}
        self._touched: dict[str, int] = {}
        """The tenants the stamped commit may change the shared count of -> that count
        before it."""

    # ------------------------------------------------------------ requests

    def count(self, tenant_id: str, day: date, kind: str, n: int, owner: Flushes) -> None:
        """Add ``n`` requests of ``kind``. No I/O: a dict update under a short lock."""
        with self._lock:
            kinds = self._pending.get((tenant_id, day))
            if kinds is None:
                kinds = self._pending[(tenant_id, day)] = {}
            kinds[kind] = kinds.get(kind, 0) + n
            self._pending_count += n
            due = self._pending_count >= self.flush_after
            if self._flusher is None and self._flush_interval is not None:
                self._flusher = _Flusher(owner, self._flush_interval)
        if due and self._flusher is not None:
            self._flusher.wake()

    def pending(self, tenant_id: str, day: date) -> dict[str, int]:
        """Requests counted here and not yet flushed."""
        with self._lock:
            return dict(self._pending.get((tenant_id, day), {}))

    @property
    def has_pending(self) -> bool:
        return bool(self._pending) or bool(self._shared)

    def shared_pending(self, tenant_id: str, day: date) -> tuple[int, int] | None:
        """The (count, peak) of shared devices counted here and not yet written."""
        return self._shared.get((tenant_id, day))

    def applied(self, index: Index, owner: Flushes) -> None:
        """After the stamped commit reached the index: count the shared devices of each
        tenant it may have changed (none for most commits), to be written with the next
        one. Runtime complexity: O(the devices shared into those tenants)."""
        touched, self._touched = self._touched, {}
        if not touched:
            return
        today = utc_day(self._clock())
        for tenant_id, before in touched.items():
            if tenant_id not in index.tenants:
                continue
            now = len(shared_devices(index, tenant_id))
            old = self._shared.get((tenant_id, today))
            peak = max(before, now, 0 if old is None else old[1])
            self._shared[(tenant_id, today)] = (now, peak)
        if self._flusher is None and self._flush_interval is not None:
            self._flusher = _Flusher(owner, self._flush_interval)

    @property
    def flusher(self) -> _Flusher | None:
        return self._flusher

    def after_fork(self) -> None:
        """In a forked child: the parent's flusher thread does not exist here and its lock
        may have been held by a thread that does not either; the pending requests are the
        parent's to flush (counting them here too would bill them twice). Start afresh; the
        flusher starts again with the next counted request."""
        self._lock = threading.Lock()
        self._flusher = None
        self._pending = {}
        self._pending_count = 0
        self._in_flight = None
        self.flush_requested = False
        self._shared, self._shared_in_flight, self._touched = {}, {}, {}

    def stop(self) -> None:
        """Stop the background flusher (close() flushes what is left itself)."""
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.stop()

    # ------------------------------------------------------------ commits

    def stamp(self, changes: list[Change], index: Index) -> list[Change]:
        """``changes`` plus one :class:`UsageRecorded` per tenant whose counts they change
        and per (tenant, day) with pending requests. Pure but for remembering which
        requests it took, which :meth:`committed` then subtracts.
        Runtime complexity: O(changes + pending)."""
        self._in_flight = None
        self._shared_in_flight = {}
        if not changes and not self.flush_requested:
            return changes
        deltas, deleted = count_deltas(changes, index) if changes else ({}, set())
        touched = shares_touched(changes, index) if changes else set()
        self._touched = {t: len(shared_devices(index, t)) for t in touched if t not in deleted}
        if not deltas and not self._pending and not self._shared:  # read without the lock:
            return changes  # a request counted at this very moment waits for the next flush
        today = utc_day(self._clock())
        shared = dict(self._shared)
        rows: dict[tuple[str, date], tuple[UsageCounts, UsageCounts, tuple[tuple[str, int], ...]]]
        rows = {}
        devices, roots = index.device_count, index.root_device_count
        users, groups = index.users_of_tenant, index.groups_of_tenant
        for tenant_id, (dd, dr, du, dg) in deltas.items():
            if tenant_id in deleted:
                continue
            bd, br = devices(tenant_id), roots(tenant_id)
            bu, bg = len(users(tenant_id)), len(groups(tenant_id))
            ad, ar, au, ag = bd + dd, br + dr, bu + du, bg + dg
            counted = _shared_count(index, tenant_id, today, shared)
            sc, sp = (None, None) if counted is None else counted
            rows[(tenant_id, today)] = (
                UsageCounts(ad, ar, au, ag, sc),
                UsageCounts(max(bd, ad), max(br, ar), max(bu, au), max(bg, ag), sp),
                (),
            )
        taken: dict[tuple[str, date], dict[str, int]] = {}
        if self._pending:
            with self._lock:
                taken = {key: dict(kinds) for key, kinds in self._pending.items()}
        for (tenant_id, day), kinds in taken.items():
            if tenant_id in deleted or tenant_id not in index.tenants:
                continue  # a deleted tenant's requests go with it
            requests = tuple(sorted(kinds.items()))
            row = rows.get((tenant_id, day))
            if row is not None:
                rows[(tenant_id, day)] = (row[0], row[1], requests)
            else:
                counts = counts_on(index, tenant_id, day, today)
                counted = _shared_count(index, tenant_id, day, shared)
                peaks = counts
                if counted is not None:
                    counts = msgspec.structs.replace(counts, shared_devices=counted[0])
                    peaks = msgspec.structs.replace(counts, shared_devices=counted[1])
                rows[(tenant_id, day)] = (counts, peaks, requests)
        for (tenant_id, day), (count, peak) in shared.items():
            if tenant_id in deleted or tenant_id not in index.tenants:
                continue
            counts = msgspec.structs.replace(
                counts_on(index, tenant_id, day, today), shared_devices=count
            )
            rows[(tenant_id, day)] = (
                counts,
                msgspec.structs.replace(counts, shared_devices=peak),
                (),
            )
        self._in_flight = taken
        self._shared_in_flight = dict(self._shared)
        if not rows:
            return changes
        return [
            *changes,
            *(
                ch.UsageRecorded(tenant_id=t, day=d, counts=c, peaks=p, requests=r)
                for (t, d), (c, p, r) in sorted(rows.items())
            ),
        ]

    def committed(self) -> None:
        """The stamped commit is durable: forget the requests and shared counts it
        carried."""
        for key, value in self._shared_in_flight.items():
            if self._shared.get(key) == value:
                del self._shared[key]
        self._shared_in_flight = {}
        taken, self._in_flight = self._in_flight, None
        if not taken:
            return
        with self._lock:
            for key, kinds in taken.items():
                pending = self._pending.get(key)
                if pending is None:
                    continue
                for kind, n in kinds.items():
                    left = pending.get(kind, 0) - n
                    self._pending_count -= n
                    if left > 0:
                        pending[kind] = left
                    else:
                        pending.pop(kind, None)
                if not pending:
                    del self._pending[key]
            self._pending_count = max(self._pending_count, 0)
