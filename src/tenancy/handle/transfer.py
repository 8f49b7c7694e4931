"""Export and import: the facade's side of :mod:`tenancy.transfer`.

:class:`Transfer` is a part of the handle, on (writer, identity) like the others. An export
takes a snapshot of the index under the writer lock (the records are immutable, so the
snapshot is a list of references, not a copy) and streams it out, encoding a chunk of
records at a time. An import holds the writer lock while it reads and validates the
document (writes of this handle wait; reads go on), then commits every change in one
:meth:`~tenancy.handle.writer.Writer.write`: one revision, the index, the audit log and the
other processes see it as any write.

Who may: the bare handle may do anything. A user (``as_user``, ``as_support``) needs
``tenant_management:ADMIN`` in its own tenant, and its tenant must be the management tenant
for the whole store (export, or import into an empty store), the exported tenant or one of
its ancestors for a tenant export, and the parent or the management tenant for an import
below a parent (as ``create_tenant``). The import is authorised once for the whole
document, then committed as the application would commit it, and audited as the user.

What an import leaves in the audit log: the document's own audit entries first, when it
carries them (``include_audit=True`` on export), as they were (the store numbers them
anew); then one record per change of the import (a ``TenantCreated``, a ``DeviceCreated``
per device, ...), with the acting identity as actor, as if the records had been written
one by one in this commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from tenancy.errors import InvalidDocument, InvalidValue, NotFound, PermissionDenied
from tenancy.handle.writer import Writer
from tenancy.handle.writer import _gc_paused as gc_paused
from tenancy.index.index import Index
from tenancy.records.changes import Change
from tenancy.records.grants import Permission
from tenancy.records.model import AuditRecord, TagRule, parse_rules
from tenancy.records.tags import RulesInput
from tenancy.rules.access import Identity, authorize, effective_global
from tenancy.store.files import is_path, open_document, path_name
from tenancy.transfer.export import select
from tenancy.transfer.frames import BadRecord, Format, read_document, write_document
from tenancy.transfer.plan import ImportReport, Plan, Planner

__all__ = ["Transfer"]

_ADMIN = Permission("tenant_management", "ADMIN")
_AUDIT_PAGE = 10_000
_SUFFIXES = {".json": "json", ".msgpack": "msgpack", ".mpk": "msgpack", ".msgp": "msgpack"}


@attrs.frozen
class _Authorised(Identity):
    """The acting identity of an import that was authorised as a whole: the writer's
    per-change check is skipped (it would refuse records of tenants the same commit
    creates), and the audit log names ``actor``."""

    actor: str = "system"

    @property
    def name(self) -> str:
        return self.actor


def _format(path_or_fileobj: object, format: str | None) -> Format:
    if format is None:
        name = path_name(path_or_fileobj)
        suffix = name[name.rfind(".") :].lower() if "." in name else ""
        return "msgpack" if _SUFFIXES.get(suffix) == "msgpack" else "json"
    if format not in ("json", "msgpack"):
        raise InvalidValue(format, 'format is "json", "msgpack" or None', field="format")
    return format  # type: ignore[return-value]


class Transfer:
    """export_to and import_from of one handle."""

    def __init__(self, writer: Writer, identity: Identity) -> None:
        self._writer = writer
        self._identity = identity

    # ------------------------------------------------------------ who may

    def _need_admin(self, index: Index, action: str) -> str | None:
        """The acting user's tenant, after PermissionDenied unless it may act and holds
        tenant_management:ADMIN there; None for the bare handle."""
        identity = self._identity
        if identity.user_id is None:
            return None
        now = self._writer.clock()
        authorize(index, identity, [], now)  # enabled, tenant active
        if _ADMIN not in effective_global(index, identity.user_id, now):
            self._deny(action, "it needs tenant_management:ADMIN in its tenant")
        return index.users[identity.user_id].tenant_id

    def _allow(self, index: Index, action: str, tenant_id: str | None, *, below: bool) -> None:
        """PermissionDenied unless the identity may export or import ``tenant_id`` (None:
        the whole store); ``below``: the tenant or any tenant above it (export), else the
        tenant itself or the management tenant (import below a parent)."""
        own = self._need_admin(index, action)
        if own is None:
            return
        management = next(t.id for t in index.tenants.values() if t.parent_id is None)
        if own == management:
            return
        field = "tenant" if below else "parent"  # the argument that chose the scope
        if tenant_id is None:
            self._deny(action, "the whole store is for the management tenant's admins", field)
        walk: str | None = tenant_id
        while walk is not None:
            if walk == own:
                return
            walk = index.tenants[walk].parent_id if below else None
        self._deny(
            action,
            "only its own tenant and the tenants below it" if below
            else "only below its own tenant (or by the management tenant)",
            field,
        )  # fmt: skip

    def _deny(self, action: str, rule: str, field: str = "") -> None:
        name = self._identity.name
        raise PermissionDenied(
            f"{name} may not {action}: {rule}", value=name, rule=rule, field=field
        )

    # ------------------------------------------------------------ export

    def export_to(
        self,
        path_or_fileobj: Any,
        *,
        tenant: str | None = None,
        format: str | None = None,
        device_tags: RulesInput | None = None,
        include_usage: bool = True,
        include_audit: bool = False,
        include_secrets: bool = False,
    ) -> int:
        writer = self._writer
        chosen = _format(path_or_fileobj, format)
        flags = (
            ("include_usage", include_usage), ("include_audit", include_audit),
            ("include_secrets", include_secrets),
        )  # fmt: skip
        for field, flag in flags:
            if type(flag) is not bool:
                raise InvalidValue(flag, f"{field} is True or False", field=field)
        rules: frozenset[TagRule] | None = None
        if device_tags is not None:
            if tenant is None:
                raise InvalidValue(
                    device_tags, "an export by tag is of one tenant: pass tenant= too",
                    field="device_tags",
                )  # fmt: skip
            rules = parse_rules(device_tags)
            if not rules:
                raise InvalidValue(
                    device_tags, "an export by tag names at least one tag rule",
                    field="device_tags",
                )  # fmt: skip
        if not is_path(path_or_fileobj) and not callable(getattr(path_or_fileobj, "write", None)):
            raise InvalidValue(
                path_or_fileobj, "a path, or a binary file open for writing",
                field="path_or_fileobj",
            )  # fmt: skip
        with writer.lock:
            writer.catch_up()
            index = writer.index
            try:
                known = tenant is None or tenant in index.tenants
            except TypeError:
                known = False
            if not known:
                raise NotFound("tenant", tenant, field="tenant")
            self._allow(index, "export", tenant, below=True)
            snapshot = index.snapshot()  # references to immutable records, under the lock
            # The log is append-only: its first records now stay its first records. They
            # are counted under the lock (no write of this handle lands in between), and
            # read again as the document is written.
            audit_count = sum(1 for _ in self._audit(None)) if include_audit else 0
        audit: Iterable[AuditRecord] | None = self._audit(audit_count) if include_audit else None
        selection = select(
            snapshot, tenant=tenant, device_tags=rules, usage=include_usage, audit=audit,
            audit_count=audit_count, secrets=include_secrets,
        )  # fmt: skip
        del snapshot
        chunks = selection.chunks()
        # Paused collector: the export makes a record and a line per record and keeps
        # none, and at a million devices each collection of the old generations would
        # walk the whole index for nothing (about half the export's time at L).
        with gc_paused():
            if not is_path(path_or_fileobj):
                return write_document(path_or_fileobj, selection.header, chunks, chosen)
            with open_document(path_or_fileobj, "wb") as out:
                return write_document(out, selection.header, chunks, chosen)

    def _audit(self, count: int | None) -> Iterator[AuditRecord]:
        """The first ``count`` records of the store's audit log (None: all), a page at a
        time. Not by revision: a restored store's log starts with the records it carried
        over, whose revisions are the source store's."""
        after: int | None = None
        store = self._writer.store
        left = count
        while left is None or left > 0:
            limit = _AUDIT_PAGE if left is None else min(_AUDIT_PAGE, left)
            page = store.audit_log(after=after, limit=limit)
            yield from page
            if left is not None:
                left -= len(page)
            if len(page) < limit:
                return
            after = page[-1].seq

    # ------------------------------------------------------------ import

    def import_from(self, path_or_fileobj: Any, *, parent: str | None = None) -> ImportReport:
        if parent is not None and not isinstance(parent, str):
            raise InvalidValue(parent, "parent is a tenant id, or None", field="parent")
        if is_path(path_or_fileobj):
            with open_document(path_or_fileobj, "rb") as source:
                return self._import(source, parent)
        if not callable(getattr(path_or_fileobj, "read", None)) or not callable(
            getattr(path_or_fileobj, "readline", None)
        ):
            raise InvalidValue(
                path_or_fileobj, "a path, or a binary file open for reading",
                field="path_or_fileobj",
            )  # fmt: skip
        return self._import(path_or_fileobj, parent)

    def _import(self, source: Any, parent: str | None) -> ImportReport:
        writer = self._writer
        # The collector is paused as for an open: an import makes a million objects and
        # frees none, and every collection on the way would walk all of them.
        with writer.lock, gc_paused():
            writer.catch_up()
            index = writer.index
            own = self._need_admin(index, "import")  # before reading; the placement later
            try:
                header, records = read_document(source)
            except BadRecord as bad:  # a document read whole: named as the planner would
                raise InvalidDocument(
                    bad.position, bad.kind, bad.before, bad.record_id, bad
                ) from bad
            by_management = own is None or index.tenants[own].parent_id is None
            planner = Planner(
                index, writer.limits, writer.clock(), header, parent, by_management=by_management
            )
            plan = planner.plan(records)
            if plan.replaces is not None:
                self._allow(index, "import a whole store", None, below=False)
            elif plan.placement is not None:
                self._allow(index, "import", plan.placement, below=False)
            base = index.revision

            def make() -> tuple[list[Change], None]:
                if writer.index.revision != base:  # another process committed meanwhile
                    plan.recheck(writer.index)
                return plan.changes, None

            actor = _Authorised(actor=self._identity.name)
            writer.write(make, actor, carried_audit=plan.audit)
            return _report(plan, writer.index.revision)


def _report(plan: Plan, revision: int) -> ImportReport:
    return ImportReport(
        counts=plan.counts, revision=revision, tenant_id=plan.tenant_id, refs=plan.refs
    )
