"""A store adapter of one's own: :class:`MeteredStore` wraps any store and counts its
commits and the time they take (what a metrics exporter would read), and passes the
store contract of :mod:`tenancy.testing.contract` (tests/contract/test_custom_store.py).

A store is anything with the methods of :class:`tenancy.store.protocol.Store`:
``capabilities``, ``head``, ``snapshot``, ``commit``, ``audit_log``, ``changes_since`` and
``close``. Hand one to ``tenancy.open(store)``. docs/how-to/test-your-own-store-adapter.md
walks through running the contract on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime

import tenancy
from tenancy.records.changes import Change, Commit, Revision
from tenancy.records.model import AuditRecord
from tenancy.records.snapshot import Snapshot
from tenancy.store.protocol import Capabilities, Store

__all__ = ["MeteredStore"]


class MeteredStore:
    """Delegates every call to ``inner``; counts the commits it accepted and the seconds
    spent committing. It keeps nothing itself, so it is as durable and as shared as the
    inner store."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.commits = 0
        self.commit_seconds = 0.0
        self._lock = threading.Lock()  # the follower thread and the application commit

    @property
    def capabilities(self) -> Capabilities:
        # Field by field, never the inner store's record as it is: an optional capability
        # the inner store declares is one this wrapper would have to implement too.
        inner = self.inner.capabilities
        return Capabilities(durable=inner.durable, shared=inner.shared, retention=inner.retention)

    def head(self) -> Revision:
        return self.inner.head()

    def snapshot(self) -> Snapshot:
        return self.inner.snapshot()

    def commit(
        self,
        changes: Sequence[Change],
        *,
        expected_revision: Revision,
        audit: Sequence[AuditRecord] = (),
    ) -> Revision:
        began = time.perf_counter()
        revision = self.inner.commit(changes, expected_revision=expected_revision, audit=audit)
        with self._lock:  # counted only once the inner store accepted it
            self.commits += 1
            self.commit_seconds += time.perf_counter() - began
        return revision

    def audit_log(
        self,
        *,
        tenant: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        return self.inner.audit_log(
            tenant=tenant, actor=actor, target=target, start=start, end=end, after=after,
            limit=limit,
        )  # fmt: skip

    def changes_since(self, revision: Revision) -> list[Commit]:
        return self.inner.changes_since(revision)

    def close(self) -> None:
        self.inner.close()


if __name__ == "__main__":
    from tenancy.store.memory import MemoryStore

    store = MeteredStore(MemoryStore())
    with tenancy.open(store) as tn:
        tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
    took = store.commit_seconds * 1e3
    print(f"{store.commits} commits (the management tenant, then acme) in {took:.3f} ms")
