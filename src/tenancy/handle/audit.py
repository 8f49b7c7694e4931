"""The handle's audit-log query (:meth:`AuditLog.audit_log`): the store's log, a page at a
time, filtered and bound to its cursor. The records themselves are built by
:func:`tenancy.rules.audit.audit_records` (that module says what each one holds).
"""

from __future__ import annotations

from datetime import datetime

from tenancy.errors import InvalidValue
from tenancy.handle.acting import audit_tenant
from tenancy.handle.writer import Writer
from tenancy.records.model import (
    MAX_INT,
    AuditRecord,
    Page,
)
from tenancy.rules.access import Identity
from tenancy.rules.paging import AUDIT_LOG, DEFAULT_PAGE_SIZE, check_page_size, decode, encode

__all__ = [
    "AuditLog",
]


# ---------------------------------------------------------------- the part


class AuditLog:
    """The audit-log query of a :class:`~tenancy.Tenancy` handle, a part it holds."""

    def __init__(self, writer: Writer, identity: Identity) -> None:
        self._writer = writer
        self._identity = identity

    def audit_log(
        self,
        *,
        tenant: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        after_seq: int | None = None,
    ) -> Page[AuditRecord]:
        """One page of the audit log, oldest first: the records matching every filter given
        (``tenant``, ``actor``, ``target`` ids; ``start`` <= at < ``end``, a naive datetime taken
        as UTC). ``limit`` is 1 to 10,000. Pass the page's ``next`` as ``after`` for the next page,
        with the same filters. ``after_seq``, an :attr:`AuditRecord.seq` (not with ``after``),
        starts right after that record: how to follow the log from the last record seen. Reads the
        store, so every process's writes show at once; a handle acting as a user reads its tenant's
        log only, with ``audit:READ``. Runtime complexity: on SQLite O(log n + limit) with at most
        one id filter (each has an index; a time range is found by bisection); a second one is
        tested on the records the first selects. The memory store scans from the cursor.

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        >>> t = tn.tenant(acme.id)
        >>> site = t.create_group("San Bruno")
        >>> site = t.update_group(site.id, name="San Bruno Campus")
        >>> page = tn.audit_log(target=site.id)
        >>> [(r.actor, r.action, r.tenant_id == acme.id) for r in page], page.next
        ([('system', 'GroupCreated', True), ('system', 'GroupUpdated', True)], None)
        >>> page.items[-1].before, page.items[-1].after
        ({'description': '', 'name': 'San Bruno'}, {'description': '', 'name': 'San Bruno Campus'})
        """
        for name, value in (("tenant", tenant), ("actor", actor), ("target", target)):
            if value is not None and not isinstance(value, str):
                raise InvalidValue(
                    value, f"the {name} filter is an id (a string), or None", field=name
                )
        for bound, moment in (("start", start), ("end", end)):
            if moment is not None and not isinstance(moment, datetime):
                raise InvalidValue(moment, f"{bound} is a datetime, or None", field=bound)
        limit = check_page_size(limit)
        tenant = audit_tenant(self._writer.index, self._identity, tenant, self._writer.clock())
        # Cursors are bound to the query as the store runs it (the tenant an acting user
        # is restricted to included).
        bind = (AUDIT_LOG, (tenant, actor, target, start, end))
        position = _position(bind, after, after_seq)
        records = self._writer.store.audit_log(
            tenant=tenant, actor=actor, target=target, start=start, end=end,
            after=position, limit=limit + 1,
        )  # fmt: skip
        if len(records) > limit:
            return Page(tuple(records[:limit]), cursor=(encode, bind, str(records[limit - 1].seq)))
        return Page(items=tuple(records), next=None)


def _position(bind: tuple[int, object], after: object, after_seq: object) -> int | None:
    """The seq the page starts after: from the cursor, or ``after_seq``, or None."""
    if after_seq is not None:
        if type(after_seq) is not int or not 0 <= after_seq <= MAX_INT:
            raise InvalidValue(
                after_seq,
                "after_seq is the seq of an audit record (an int from 0 to 2**63 - 1), or None",
                field="after_seq",
            )  # fmt: skip
        if after is not None:
            raise InvalidValue(
                after_seq, "give after (a cursor) or after_seq, not both", field="after_seq"
            )
        return after_seq
    text = decode(bind, after)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()):  # only a forged cursor gets here
        raise InvalidValue(after, "an audit cursor stands for a position in the log", field="after")
    return int(text)
