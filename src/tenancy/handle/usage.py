"""Usage statistics per tenant and UTC day (DOMAIN.md section 6).

What is counted, and how it reaches the store:

- **Counts** (devices, root devices, users, groups) and their daily **peaks** ride in the
  commit that changes them: before a write commits,
  :meth:`tenancy.handle.recorder.UsageRecorder.stamp` works out
  each touched tenant's counts before and after the write (from the index it was validated
  against, plus what the changes add and remove) and appends one
  :class:`~tenancy.records.changes.UsageRecorded` per tenant. So the counts are exact even with
  several writers (the write was validated at the head revision), they survive a crash with
  the write itself, and they cost no extra revision.
- **Shared devices** (devices of other tenants shared into the tenant, DOMAIN.md section
  7) are counted only after a commit that may change them (a share toggled, accepted or
  deleted; a source's devices or groups changed; a tenant suspended or activated:
  :func:`tenancy.rules.usage.shares_touched`), from the index the commit left, and ride
  with the next commit or flush, as pending requests do; :meth:`usage` includes them at
  once. Every other commit's rows keep the count they had.
- **Requests** are what the application records with ``record_request(tenant, kind)``: no
  I/O, a counter in memory under a tiny lock. Pending counters ride along with the next
  commit of this handle, and are flushed on their own by :meth:`flush_usage`, on
  ``close()``, and by a background thread every ``usage_flush_interval`` seconds or as soon
  as ``FLUSH_AFTER`` requests are pending. A clean close loses nothing; a crash loses what
  was not flushed yet.
- **Days** are UTC days of the handle's clock. A day that recorded nothing carries the
  previous day's closing counts forward, with no requests.

A row merges by :func:`~tenancy.records.state.merge_usage`: counts replaced, peaks by max,
requests summed. Suspended tenants record no requests (the source platform bills them none);
deleting a tenant deletes its statistics.
"""

from __future__ import annotations

from datetime import date, datetime

from tenancy.errors import InvalidValue, NotFound
from tenancy.handle.writer import Writer
from tenancy.index.index import Index
from tenancy.records.changes import Revision
from tenancy.records.model import Tenant, UsageDay
from tenancy.rules.access import Identity
from tenancy.rules.usage import usage_csv, usage_days, utc_day
from tenancy.rules.validate import MAX_INT, check_bool, check_line, lookup

__all__ = ["UsageReports"]


# ---------------------------------------------------------------- the part


class UsageReports:
    """The usage-statistics methods of a :class:`~tenancy.Tenancy` handle, a part it holds
    (the recorder itself is the writer's: :mod:`tenancy.handle.recorder`)."""

    def __init__(self, writer: Writer, identity: Identity) -> None:
        self._writer = writer
        self._identity = identity

    @property
    def _index(self) -> Index:
        return self._writer.index

    def record_request(self, tenant_id: str, kind: str = "api", count: int = 1) -> bool:
        """Count ``count`` requests of ``kind`` (``"api"``, ``"device"``, anything) for
        ``tenant_id`` on today's UTC day. No I/O: counted in memory, flushed in batches (with the
        next write, by :meth:`flush_usage`, by the background flusher, on close). Returns False,
        counting nothing, while the tenant is suspended. Runtime complexity: O(1).

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        >>> tn.record_request(acme.id, "api", 3), tn.record_request(acme.id, "device")
        (True, True)
        >>> today = tn.usage(acme.id)[-1]
        >>> today.requests, today.users, today.devices
        ((('api', 3), ('device', 1)), 1, 0)
        >>> tn.close()
        """
        try:
            known = tenant_id in self._index.tenants
        except TypeError:  # a list or a dict where the id goes
            known = False
        if not known:
            raise NotFound("tenant", tenant_id, field="tenant_id")
        if type(kind) is not str or not kind:
            raise InvalidValue(kind, "a request kind is a non-empty string", field="kind")
        check_line("kind", kind, what="a request kind")
        if type(count) is not int or not 1 <= count <= MAX_INT:
            raise InvalidValue(
                count, "a request count is an int from 1 to 2**63 - 1", field="count"
            )
        if self._index.blocker_of(tenant_id) is not None:
            return False
        self._writer.usage.count(
            tenant_id, utc_day(self._writer.clock()), kind, count, self._writer
        )
        return True

    def flush_usage(self) -> Revision:
        """Write the requests counted in memory now, as one commit (none when nothing is
        pending). Returns the handle's revision afterwards. Runtime complexity: O(counters pending),
        one commit."""
        return self._writer.flush_usage()

    def usage(
        self,
        tenant_id: str,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        *,
        subtenants: bool = False,
    ) -> list[UsageDay]:
        """The usage statistics of ``tenant_id``, one :class:`~tenancy.UsageDay` per UTC day from
        ``start`` to ``end`` (dates or datetimes, both included; default and bounds: from the
        tenant's creation to today), sorted by tenant id then day; with ``subtenants``, every tenant
        below it too. Requests counted in memory and not flushed yet are included. Runtime
        complexity: O(tenants x days)."""
        return self._usage_rows(tenant_id, start, end, subtenants)[0]

    def usage_csv(
        self,
        tenant_id: str,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
        *,
        subtenants: bool = False,
        sep: str = ",",
    ) -> str:
        """:meth:`usage` of ``tenant_id`` from ``start`` to ``end`` (with ``subtenants``) as CSV
        text, ``sep`` between fields (``";"`` for spreadsheets that use a decimal comma). Columns:
        :data:`tenancy.rules.usage.CSV_COLUMNS`, then one ``requests:<kind>`` column per request
        kind and one ``property:<key>`` column per custom property. Runtime complexity: O(tenants x
        days x columns)."""
        rows, tenants = self._usage_rows(tenant_id, start, end, subtenants)
        return usage_csv(rows, tenants, sep)

    def _usage_rows(
        self,
        tenant_id: str,
        start: date | datetime | None,
        end: date | datetime | None,
        subtenants: bool,
    ) -> tuple[list[UsageDay], dict[str, Tenant]]:
        index = self._index
        lookup(index.tenants, tenant_id, "tenant", "tenant_id")
        first = None if start is None else utc_day(start, "start")
        last = None if end is None else utc_day(end, "end")
        today = utc_day(self._writer.clock())
        subtree = check_bool("subtenants", subtenants)
        ids = sorted(index.tenant_subtree(tenant_id)) if subtree else [tenant_id]
        rows: list[UsageDay] = []
        for tid in ids:
            rows.extend(
                usage_days(
                    index,
                    tid,
                    first,
                    last,
                    today=today,
                    pending=self._writer.usage.pending,
                    shared=self._writer.usage.shared_pending,
                )
            )
        return rows, {tid: index.tenants[tid] for tid in ids}
