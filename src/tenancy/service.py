"""The facade: validate a command against the index, commit it through the store, apply the
same changes to the index.

Every write goes through :meth:`Tenancy._write`: under the writer lock it catches up with
the store, lets the command validate itself against the index and produce its changes
(raising, with nothing written, when the input breaks a rule), commits them with the
revision it validated against, and applies them to the local index. If another writer got
there first the store answers StaleRevision and the command is validated again on the newer
state, so two writers can never combine into a cycle. A process always reads its own writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from types import TracebackType
from typing import TypeVar

from tenancy import ids as _ids
from tenancy.changes import Change, Commit, Revision, TenantCreated, UserCreated
from tenancy.errors import StaleRevision
from tenancy.index import Index
from tenancy.model import Tenant, User
from tenancy.query import Queries
from tenancy.scope import TenantScope
from tenancy.store.protocol import Store
from tenancy.tenants import MANAGEMENT_DOMAIN, TenantLifecycle

__all__ = ["Tenancy"]

MAX_WRITE_ATTEMPTS = 8
R = TypeVar("R")
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Tenancy(Queries, TenantLifecycle):
    """A handle on one store: the queries, tenant lifecycle, and :meth:`tenant` scopes.

    Open it with :func:`tenancy.open`. The bare handle is the trusted application.
    """

    def __init__(self, store: Store, *, clock: Clock = _utc_now) -> None:
        self._store = store
        self._clock = clock
        self._write_lock = threading.RLock()
        self._index = Index.build(store.snapshot())
        if self._index.revision == 0:
            self._initialise()

    # ------------------------------------------------------------ lifecycle

    def _initialise(self) -> None:
        """Create the management tenant, the root of the tenant tree, in revision 1."""

        def make() -> tuple[list[Change], None]:
            if self._index.tenants:
                return [], None  # another process initialised the store first
            tenant_id = _ids.new_tenant_id()
            admin = User(
                id=_ids.new_user_id(), tenant_id=tenant_id, email="admin@management.invalid",
                username="admin",
            )  # fmt: skip
            tenant = Tenant(
                id=tenant_id, domain=MANAGEMENT_DOMAIN, name="Management", parent_id=None,
                allow_subtenants=True, created_at=self._clock(), admin_email=admin.email,
                admin_username=admin.username, admin_user_id=admin.id,
            )  # fmt: skip
            return [TenantCreated(tenant=tenant), UserCreated(user=admin)], None

        self._write(make)

    @property
    def revision(self) -> Revision:
        """The last revision this handle has seen (after a write: that write's revision)."""
        return self._index.revision

    @property
    def store(self) -> Store:
        return self._store

    @property
    def index(self) -> Index:
        """The closure index (read-only use: tests and tools)."""
        return self._index

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Tenancy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------ consistency

    def _sync(self, at_least: int | None, fresh: bool) -> None:
        if fresh or (at_least is not None and at_least > self._index.revision):
            self.catch_up()

    def _writer_lock(self) -> AbstractContextManager[object]:
        return self._write_lock

    def catch_up(self) -> Revision:
        """Apply every commit other handles wrote since this one last looked."""
        with self._write_lock:
            try:
                commits = self._store.changes_since(self._index.revision)
            except StaleRevision:
                self._index = Index.build(self._store.snapshot())
                return self._index.revision
            for commit in commits:
                self._index.apply_commit(commit)
            return self._index.revision

    def _write(self, make: Callable[[], tuple[list[Change], R]]) -> R:
        """Validate, commit, apply: the one path every write takes."""
        with self._write_lock:
            for _ in range(MAX_WRITE_ATTEMPTS):
                self.catch_up()
                changes, result = make()
                if not changes:
                    return result
                expected = self._index.revision
                try:
                    revision = self._store.commit(changes, expected_revision=expected)
                except StaleRevision:
                    continue  # another writer got there first: validate again on its state
                self._index.apply_commit(Commit(revision=revision, changes=tuple(changes)))
                return result
            raise StaleRevision(self._index.revision, self._store.head())

    # ------------------------------------------------------------ tenants

    def tenant(self, tenant_id: str) -> TenantScope:
        """Everything inside one tenant: groups, devices, users, memberships."""
        self.get_tenant(tenant_id)
        return TenantScope(self, tenant_id)
