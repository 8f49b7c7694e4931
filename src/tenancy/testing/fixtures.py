"""What the store contract suites share: the store factories of the ``stores`` fixture,
the sample history, the seeded random source, the checks of a store against its log and of
an index against its store, and the reference alongside an adapter (:class:`TeeStore`).

:mod:`tenancy.testing.contract` (the store suite) and :mod:`tenancy.testing.audit_contract`
(its audit-log part) both import it; the store suite re-exports every name, so
``from tenancy.testing.contract import StoreFactory`` keeps working.
"""

from __future__ import annotations

import abc
import os
import random
import sys
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from tenancy.index.index import Index
from tenancy.records import changes as ch
from tenancy.records.grants import (
    Delegation,
    InventoryGrant,
    RoleDefinition,
    RoleGrant,
    SupportRequest,
)
from tenancy.records.model import (
    AuditRecord,
    Device,
    Group,
    TagMatcher,
    Tenant,
    UsageCounts,
    User,
    all_of,
)
from tenancy.records.sharing import Connector, Subscription
from tenancy.records.snapshot import Snapshot
from tenancy.records.state import RecordState
from tenancy.store.memory import MemoryStore
from tenancy.store.protocol import Beside, BesideStore, Capabilities, Store
from tenancy.store.sqlite import SQLiteStore

__all__ = [
    "ADAPTERS",
    "SAMPLE_TIME",
    "MemoryStoreFactory",
    "SQLiteStoreFactory",
    "StoreFactory",
    "TeeStore",
    "assert_index_matches_store",
    "assert_records_match_log",
    "reference_snapshot",
    "sample_commits",
    "seeded_random",
]


# ---------------------------------------------------------------- factories


class StoreFactory(abc.ABC):
    """Opens stores of one adapter for the suite, and closes them all afterwards."""

    name: ClassVar[str]

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._opened: list[Store] = []

    def fresh(self) -> Store:
        """A new, empty store."""
        return self._track(self._fresh())

    def reopen(self, store: Store) -> Store | None:
        """Another connection to ``store``'s data (the store may be closed), or None when
        the adapter has no way back to it (an in-memory store)."""
        other = self._reopen(store)
        return None if other is None else self._track(other)

    def close_all(self) -> None:
        for store in self._opened:
            store.close()
        self._opened.clear()

    @abc.abstractmethod
    def _fresh(self) -> Store: ...

    def _reopen(self, store: Store) -> Store | None:
        return None

    def _track(self, store: Store) -> Store:
        self._opened.append(store)
        return store


class MemoryStoreFactory(StoreFactory):
    name = "memory"

    def _fresh(self) -> Store:
        return MemoryStore()


class SQLiteStoreFactory(StoreFactory):
    name = "sqlite"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self._count = 0

    def _fresh(self) -> Store:
        self._count += 1
        return SQLiteStore(self.directory / f"contract-{self._count}.db")

    def _reopen(self, store: Store) -> Store | None:
        assert isinstance(store, SQLiteStore)
        return SQLiteStore(store.path)


ADAPTERS: dict[str, Callable[[Path], StoreFactory]] = {
    "memory": MemoryStoreFactory,
    "sqlite": SQLiteStoreFactory,
}
"""The adapters that ship, by name: what the ``stores`` fixture is parametrised over."""


# ---------------------------------------------------------------- sample data

SAMPLE_TIME = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def sample_commits() -> list[list[ch.Change]]:
    """A fixed history that uses every change type and every record field at least once:
    wildcard and all-of tag rules, multi-valued tag keys, gateways, owners, disabled users,
    non-ASCII text, suspension, usage rows (merged, and one of an unknown tenant, which is
    ignored), and every implied-cascade delete."""
    mgmt = Tenant(
        id="t00000001", domain="management", name="Management", allow_subtenants=True,
        created_at=SAMPLE_TIME, admin_email="admin@management.invalid", admin_username="admin",
        admin_user_id="u-root",
    )  # fmt: skip
    acme = Tenant(
        id="t00000002", domain="acme", name="Acme Health — Zürich ✓", parent_id=mgmt.id,
        allow_subtenants=True, created_at=SAMPLE_TIME, contact_name="Ana Ñúñez",
        contact_phone="+1 555 0100", admin_email="admin@acme.example",
        admin_username="admin", admin_user_id="u-acme",
    )  # fmt: skip
    other = Tenant(
        id="t00000003", domain="other", name="Other", parent_id=acme.id, created_at=None,
        admin_email="admin@other.example", admin_username="root", admin_user_id="u-other",
    )  # fmt: skip
    root = User(id="u-root", tenant_id=mgmt.id, email="admin@management.invalid", username="admin")
    acme_admin = User(id="u-acme", tenant_id=acme.id, email="admin@acme.example")
    other_admin = User(id="u-other", tenant_id=other.id, email="admin@other.example")
    ana = User(
        id="u-ana", tenant_id=acme.id, email="Ana@Acme.example", username="ana",
        first_name="Ana", last_name="Ñúñez",
        tags=frozenset({("notify", "sms"), ("notify", "mail")}),
    )  # fmt: skip
    bob = User(
        id="u-bob", tenant_id=acme.id, email="bob@acme.example", enabled=False, owner_id=ana.id
    )
    gateway = Device(
        id="SN-0001", tenant_id=acme.id, name="Gateway 1",
        tags=frozenset({("site", "sb"), ("site", "sf"), ("kind", "gateway")}),
    )  # fmt: skip
    child = Device(id="SN-0002", tenant_id=acme.id, name="Generator 7", parent_id=gateway.id)
    plain = Device(id="d-plain", tenant_id=acme.id, name="Plain ✓")
    far = Device(id="d-far", tenant_id=other.id, name="Far", tags=frozenset({("site", "sb")}))
    region = Group(
        id="g-region", tenant_id=acme.id, name="California Northern", description="NorCal",
        device_ids=frozenset({gateway.id}),
        device_tags=frozenset({
            (TagMatcher("site", "sb"),), (TagMatcher("kind", None),), (TagMatcher(None, "gold"),),
            all_of(("customer", "acme"), ("site", None)).matchers,
        }),
    )  # fmt: skip
    site = Group(id="g-site", tenant_id=acme.id, name="San Bruno", parent_id=region.id)
    connector = Connector(
        id="c-sample", source_tenant_id=acme.id, destination_tenant_id=mgmt.id, name="To ops",
        description="Generators ✓", group_ids=frozenset({region.id}),
        device_ids=frozenset({child.id}),
        tags=(TagMatcher(None, "sb"), TagMatcher("kind", None)), status="suspended",
        security_code="sample-code",
    )  # fmt: skip
    virtual = Group(id="g-virtual", tenant_id=mgmt.id, name="Acme shares")
    far_group = Group(id="g-far", tenant_id=other.id, name="Far", device_ids=frozenset({far.id}))
    gold: tuple[TagMatcher, ...] = (TagMatcher(None, "gold"),)
    return [
        [ch.TenantCreated(tenant=mgmt), ch.UserCreated(user=root)],
        [ch.TenantCreated(tenant=acme), ch.UserCreated(user=acme_admin)],
        [ch.TenantCreated(tenant=other), ch.UserCreated(user=other_admin)],
        [ch.DeviceCreated(device=d) for d in (gateway, child, plain, far)],
        [ch.GroupCreated(group=region), ch.GroupCreated(group=site),
         ch.GroupCreated(group=far_group)],
        [ch.UserCreated(user=ana), ch.UserCreated(user=bob)],
        [ch.MemberAdded(group_id=region.id, user_id=ana.id), ch.MemberAdded(group_id=site.id,
                                                                      user_id=bob.id)],
        [ch.Associated(group_id=site.id, device_ids=frozenset({plain.id, child.id}),
                    device_tags=frozenset({gold}))],
        [ch.GroupUpdated(group_id=site.id, name="San Bruno Campus", description="SB ✓")],
        [ch.GroupMoved(group_id=site.id, parent_id=None)],
        [ch.GroupMoved(group_id=site.id, parent_id=region.id)],
        [ch.DeviceRenamed(device_id=child.id, name="Generator 7b")],
        [ch.DeviceTagged(device_id=child.id, tags=frozenset({("site", "sb"), ("tier", "gold")}))],
        [ch.DeviceUntagged(device_id=gateway.id, tags=frozenset({("site", "sf")}))],
        [ch.DeviceMoved(device_id=child.id, parent_id=None)],
        [ch.UserUpdated(user=User(id=bob.id, tenant_id=acme.id, email="bob@acme.example"))],
        [ch.TenantUpdated(tenant=Tenant(id=acme.id, domain="acme", name="Acme", parent_id=mgmt.id,
                                     allow_subtenants=True, created_at=SAMPLE_TIME))],
        [ch.TenantSuspended(tenant_id=other.id)],
        [ch.TenantSuspended(tenant_id=acme.id), ch.TenantActivated(tenant_id=acme.id)],
        [ch.MemberRemoved(group_id=site.id, user_id=bob.id)],
        [ch.Dissociated(group_id=region.id, device_ids=frozenset({gateway.id}),
                     device_tags=frozenset({(TagMatcher("kind", None),)}))],
        [ch.DeviceDeleted(device_id=plain.id)],
        [ch.UsageRecorded(tenant_id=acme.id, day=SAMPLE_TIME.date(), counts=UsageCounts(3, 2, 3, 2),
                       peaks=UsageCounts(4, 2, 3, 2), requests=(("api", 5),))],
        [ch.UsageRecorded(tenant_id=acme.id, day=SAMPLE_TIME.date(), counts=UsageCounts(2, 1, 3, 2),
                       peaks=UsageCounts(2, 1, 3, 2), requests=(("api", 2), ("ui", 1))),
         ch.UsageRecorded(tenant_id=other.id, day=SAMPLE_TIME.date(),
                          counts=UsageCounts(1, 1, 1, 1), peaks=UsageCounts(1, 1, 1, 1)),
         ch.UsageRecorded(tenant_id="t-missing", day=SAMPLE_TIME.date(), counts=UsageCounts(),
                       peaks=UsageCounts())],
        [ch.MemberAdded(group_id=site.id, user_id=ana.id), ch.UserDeleted(user_id=ana.id)],
        [ch.GroupDeleted(group_id=site.id)],
        [ch.TenantDeleted(tenant_id=other.id)],
        [ch.AccessSet(record=RoleDefinition(tenant_id=acme.id, name="auditor", kind="global",
                                         permissions=frozenset({"device:READ"}))),
         ch.AccessSet(record=RoleGrant(tenant_id=acme.id, user_id=bob.id, role="auditor")),
         ch.AccessSet(record=InventoryGrant(tenant_id=acme.id, principal_kind="user",
                                         principal_id=bob.id, role="viewer",
                                         group_id=region.id)),
         ch.AccessSet(record=Delegation(tenant_id=acme.id, owner_id=acme_admin.id,
                                     delegate_id=bob.id)),
         ch.AccessSet(record=SupportRequest(tenant_id=acme.id, requested_by=acme_admin.id,
                                         until=SAMPLE_TIME))],
        [ch.AccessRemoved(record=RoleGrant(tenant_id=acme.id, user_id=bob.id, role="auditor")),
         ch.SupportSessionStarted(tenant_id=acme.id, support_user_id=root.id,
                               user_id=acme_admin.id)],
        [ch.AccessSet(record=connector),
         ch.ConnectorAcceptRefused(tenant_id=mgmt.id, connector_id=connector.id)],
        [ch.GroupCreated(group=virtual),
         ch.AccessSet(record=Subscription(id="s-sample", tenant_id=mgmt.id,
                                          connector_id=connector.id, name="Acme shares",
                                          group_id=virtual.id, status="paused"))],
    ]  # fmt: skip


def reference_snapshot(commits: Sequence[Sequence[ch.Change]]) -> Snapshot:
    """What the reference (memory) store holds after ``commits``."""
    state = RecordState()
    for revision, changes in enumerate(commits, start=1):
        state.apply_commit(revision, changes)
    return state.snapshot()


def seeded_random(what: str) -> random.Random:
    """A Random whose seed is printed (shown by pytest when the test fails) and can be
    replayed with ``TENANCY_SEED=<seed>``."""
    seed = int(os.environ.get("TENANCY_SEED", random.SystemRandom().randrange(2**32)))
    sys.stdout.write(f"{what}: seed {seed} (replay with TENANCY_SEED={seed})\n")
    return random.Random(seed)  # noqa: S311 - test data, not secrets


# ---------------------------------------------------------------- checks


def assert_records_match_log(store: Store) -> None:
    """The records a store holds are exactly what its change log means (needs the whole
    log: a store with retention may have pruned it)."""
    state = RecordState()
    for commit in store.changes_since(0):
        state.apply_commit(commit.revision, commit.changes)
    assert store.snapshot() == state.snapshot(), "the records differ from the change log"


def assert_index_matches_store(index: Index, store: Store) -> None:
    """An index moved forward change by change equals one rebuilt from the store's records
    at the same revision: the same records and the same answers."""
    rebuilt = Index.build(store.snapshot())
    assert index.revision == rebuilt.revision, (index.revision, rebuilt.revision)
    assert index.snapshot() == rebuilt.snapshot(), "the index holds other records"
    (reach, cover), (rebuilt_reach, rebuilt_cover) = index.reach_tables(), rebuilt.reach_tables()
    assert _nonempty(cover) == _nonempty(rebuilt_cover), "covers differ"
    assert _nonempty(reach) == _nonempty(rebuilt_reach), "reach differs"
    index.check_invariants()


def _nonempty(table: Mapping[str, AbstractSet[str]]) -> dict[str, AbstractSet[str]]:
    return {k: v for k, v in table.items() if v}


# ---------------------------------------------------------------- the reference, alongside


class TeeStore:
    """A store that commits every change list to the adapter under test *and* to the
    reference, and answers reads from the adapter: a :class:`~tenancy.Tenancy` on it runs
    the public API against both at once."""

    def __init__(self, store: Store, reference: MemoryStore | None = None) -> None:
        self.store = store
        self.reference = reference or MemoryStore()

    @property
    def capabilities(self) -> Capabilities:
        return self.store.capabilities

    def head(self) -> ch.Revision:
        return self.store.head()

    def snapshot(self) -> Snapshot:
        return self.store.snapshot()

    def commit(
        self,
        changes: Sequence[ch.Change],
        *,
        expected_revision: ch.Revision,
        audit: Sequence[AuditRecord] = (),
    ) -> ch.Revision:
        revision = self.store.commit(changes, expected_revision=expected_revision, audit=audit)
        return self._mirror(changes, expected_revision, audit, revision)

    def commit_beside(
        self,
        changes: Sequence[ch.Change],
        *,
        expected_revision: ch.Revision,
        audit: Sequence[AuditRecord] = (),
        beside: Beside,
    ) -> ch.Revision:
        """As :meth:`commit`, the adapter running ``beside`` when it can (the reference
        commits after it, as the adapter's commit is over)."""
        if not isinstance(self.store, BesideStore):
            return self.commit(changes, expected_revision=expected_revision, audit=audit)
        revision = self.store.commit_beside(
            changes, expected_revision=expected_revision, audit=audit, beside=beside
        )
        return self._mirror(changes, expected_revision, audit, revision)

    def _mirror(
        self,
        changes: Sequence[ch.Change],
        expected_revision: ch.Revision,
        audit: Sequence[AuditRecord],
        revision: ch.Revision,
    ) -> ch.Revision:
        """Commit to the reference what the adapter committed at ``revision``."""
        expected = self.reference.commit(changes, expected_revision=expected_revision, audit=audit)
        assert revision == expected, f"adapter wrote revision {revision}, reference {expected}"
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
        return self.store.audit_log(
            tenant=tenant, actor=actor, target=target, start=start, end=end, after=after,
            limit=limit,
        )  # fmt: skip

    def changes_since(self, revision: ch.Revision) -> list[ch.Commit]:
        return self.store.changes_since(revision)

    def close(self) -> None:
        self.store.close()

    def assert_agrees(self) -> None:
        """The adapter holds exactly what the reference holds."""
        assert self.store.head() == self.reference.head()
        assert self.store.snapshot() == self.reference.snapshot(), "records differ"
        everything = 1 << 62
        assert self.store.audit_log(limit=everything) == self.reference.audit_log(
            limit=everything
        ), "audit logs differ"
