"""The store conformance suite: the executable form of the store contract.

Every adapter runs :class:`StoreContract` through one ``stores`` fixture, parametrised over
the adapters (memory, SQLite, PostgreSQL when configured). The memory store is the
reference: any answer that differs from it is a bug in the adapter. To run the suite on
an adapter of your own, subclass it in a test module and provide the fixture::

    import pytest
    from tenancy.testing.contract import StoreContract, StoreFactory

    class MyStoreFactory(StoreFactory):
        name = "mine"
        def _fresh(self) -> Store: ...             # a new, empty store
        def _reopen(self, store: Store) -> Store:  # a second connection to its data
            ...

    class TestMyStore(StoreContract):
        @pytest.fixture
        def stores(self, tmp_path):
            factory = MyStoreFactory(tmp_path)
            yield factory
            factory.close_all()

What the suite checks: records round-trip exactly; revisions strictly increase by one per
commit; ``changes_since(r)`` returns exactly the commits after ``r``, in order; a stale or
failed commit leaves nothing behind; a commit carrying an impossible value (an empty tag
rule, an int past 2**63 - 1, ...) is refused with InvalidValue before anything is written;
capabilities are declared and hold (a durable store gives the same answers after
reopening, a shared one shows one connection's writes to another at once and refuses a
commit validated against an older head); the audit log
(:mod:`tenancy.testing.audit_contract`); and a random sequence of operations through the
public API leaves the adapter's records, change log and index exactly where the reference
leaves them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec
import pytest

from tenancy.errors import InvalidValue, StaleRevision, StoreError, TenancyError
from tenancy.handle.tenancy import Tenancy
from tenancy.records import changes as ch
from tenancy.records.changes import Change, Commit
from tenancy.records.grants import SupportRequest
from tenancy.records.model import (
    AllOf,
    AuditRecord,
    Device,
    Group,
    TagMatcher,
    TagRule,
    Tenant,
    UsageCounts,
    User,
    all_of,
)
from tenancy.records.snapshot import Snapshot
from tenancy.store.memory import MemoryStore
from tenancy.store.protocol import Capabilities, Store
from tenancy.testing.audit_contract import AuditContract
from tenancy.testing.fixtures import (
    ADAPTERS,
    MemoryStoreFactory,
    SQLiteStoreFactory,
    StoreFactory,
    TeeStore,
    assert_index_matches_store,
    assert_records_match_log,
    reference_snapshot,
    sample_commits,
    seeded_random,
)
from tenancy.testing.fixtures import SAMPLE_TIME as _WHEN

__all__ = [
    "ADAPTERS",
    "MemoryStoreFactory",
    "SQLiteStoreFactory",
    "StoreContract",
    "StoreFactory",
    "TeeStore",
    "assert_index_matches_store",
    "assert_records_match_log",
    "random_operation",
    "reference_snapshot",
    "sample_commits",
    "seeded_random",
]

T = TypeVar("T")


# ---------------------------------------------------------------- random operations

_KEYS = ("site", "kind", "customer")
_VALUES = ("sb", "sf", "gold", "acme")
_NAMES = ("North", "Süd ✓", "Site 7", "Gateway", "Generator", "日本")


def _tags(rng: random.Random, most: int = 3) -> list[tuple[str, str]]:
    return [(rng.choice(_KEYS), rng.choice(_VALUES)) for _ in range(rng.randint(0, most))]


def _rule(rng: random.Random) -> tuple[str | None, str | None] | AllOf:
    shape = rng.randrange(4)
    if shape == 0:
        return (rng.choice(_KEYS), rng.choice(_VALUES))
    if shape == 1:
        return (rng.choice(_KEYS), None)
    if shape == 2:
        return (None, rng.choice(_VALUES))
    return all_of((rng.choice(_KEYS), rng.choice(_VALUES)), (rng.choice(_KEYS), None))


def _raw(rule: TagRule) -> tuple[str | None, str | None] | AllOf:
    """A stored rule as the API takes it: a (key, value) pair or an all_of."""
    return (rule[0].key, rule[0].value) if len(rule) == 1 else all_of(*rule)


def _some(rng: random.Random, items: Sequence[T], most: int = 3) -> list[T]:
    return rng.sample(list(items), min(len(items), rng.randint(0, most)))


def random_operation(tn: Tenancy, rng: random.Random) -> str:
    """Apply one random operation through the public API and describe it; operations that
    break a rule raise a TenancyError, which the caller expects now and then."""
    tenants = sorted(tn.index.tenants)
    mgmt = tn.management_tenant.id
    tid = rng.choice(tenants)
    t = tn.tenant(tid)
    groups = [g.id for g in t.groups()]
    devices = [d.id for d in t.devices(limit=10_000)]
    users = [u.id for u in t.users()]
    pick = rng.choices(
        [
            "create_tenant", "suspend", "activate", "delete_tenant", "create_group",
            "update_group", "move_group", "delete_group", "associate", "dissociate",
            "create_devices", "update_device", "tag", "untag", "delete_device",
            "create_user", "update_user", "delete_user", "add_member", "remove_member",
            "create_recipe", "devices_from_recipe", "delete_recipe",
        ],
        weights=[3, 1, 2, 1, 6, 1, 4, 1, 4, 2, 6, 2, 3, 2, 2, 4, 2, 1, 6, 2, 2, 2, 1],
    )[0]  # fmt: skip

    def group() -> str:
        # Now and then an id that is not a group of this tenant: the write must refuse.
        return rng.choice(groups) if groups and rng.random() < 0.95 else "g-missing"

    def device() -> str:
        return rng.choice(devices) if devices and rng.random() < 0.95 else "d-missing"

    def user() -> str:
        return rng.choice(users) if users and rng.random() < 0.95 else "u-missing"

    match pick:
        case "create_tenant":
            tn.create_tenant(
                domain=f"d{rng.randrange(10**6)}", name=rng.choice(_NAMES),
                admin_email=f"admin{rng.randrange(9)}@x.example",
                parent=rng.choice([mgmt, tid]), allow_subtenants=rng.random() < 0.5,
            )  # fmt: skip
        case "suspend":
            tn.suspend_tenant(tid)
        case "activate":
            tn.activate_tenant(tid)
        case "delete_tenant":
            tn.delete_tenant(tid, cascade=rng.random() < 0.5)
        case "create_group":
            t.create_group(
                rng.choice(_NAMES), parent=rng.choice([None, *groups]),
                device_ids=_some(rng, devices), device_tags=[_rule(rng) for _ in range(2)],
            )  # fmt: skip
        case "update_group":
            t.update_group(group(), name=rng.choice(_NAMES), description=rng.choice(_NAMES))
        case "move_group":
            t.move_group(group(), parent=rng.choice([None, *groups]))
        case "delete_group":
            t.delete_group(group(), cascade=rng.random() < 0.5)
        case "associate":
            t.associate(group(), device_ids=_some(rng, devices), device_tags=[_rule(rng)])
        case "dissociate":
            record = t.get_group(group())
            t.dissociate(
                record.id, device_ids=_some(rng, sorted(record.device_ids)),
                device_tags=[_raw(r) for r in _some(rng, sorted(record.device_tags, key=repr), 1)],
            )  # fmt: skip
        case "create_devices":
            specs: list[dict[str, object]] = []
            for _ in range(rng.randint(1, 4)):
                parents = devices + [str(s["id"]) for s in specs]
                specs.append({
                    "id": f"SN-{rng.randrange(10**6):06d}", "name": rng.choice(_NAMES),
                    "tags": _tags(rng), "parent": rng.choice([None, None, *parents]),
                })  # fmt: skip
            t.create_devices(specs)
        case "update_device":
            t.update_device(device(), name=rng.choice(_NAMES), parent=rng.choice([None, *devices]))
        case "tag":
            t.tag_device(device(), _tags(rng) or [("kind", "x")])
        case "untag":
            record_d = t.get_device(device())
            t.untag_device(record_d.id, _some(rng, sorted(record_d.tags)) or [("kind", "x")])
        case "delete_device":
            t.delete_device(device(), cascade=rng.random() < 0.5)
        case "create_user":
            t.create_user(
                f"user{rng.randrange(30)}@x.example", first_name=rng.choice(_NAMES),
                tags=_tags(rng, 2),
            )  # fmt: skip
        case "update_user":
            t.update_user(user(), enabled=rng.random() < 0.7, tags=_tags(rng, 2))
        case "delete_user":
            t.delete_user(user())
        case "add_member":
            t.add_member(group(), user())
        case "create_recipe":  # it names groups and a gateway: deleting them is then refused
            t.create_recipe(
                f"recipe {rng.randrange(10)}", name=f"{rng.choice(_NAMES)} {{n}}",
                tags=_tags(rng), parent=rng.choice([None, *devices]), groups=_some(rng, groups, 2),
            )  # fmt: skip
        case "devices_from_recipe" | "delete_recipe":
            recipes = [r.id for r in t.recipes()]
            recipe = rng.choice(recipes) if recipes and rng.random() < 0.95 else "r-missing"
            if pick == "delete_recipe":
                t.delete_recipe(recipe)
            else:
                t.create_devices_from_recipe(
                    recipe, count=rng.randint(1, 3), start=rng.randrange(9)
                )
        case _:
            t.remove_member(group(), user())
    return f"{pick} in {tid}"


# ---------------------------------------------------------------- the suite


def _forged_matcher(key: object, value: object) -> TagMatcher:
    """A TagMatcher built around its own check, as a bug or a careless caller might."""
    return tuple.__new__(TagMatcher, (key, value))


def _junk(value: object) -> Any:
    """``value`` typed as anything: the impossible values below defy their fields' types."""
    return value


def _impossible_changes() -> list[tuple[str, object]]:
    """One change per kind of impossible value, each against the records of the first
    eight sample commits, with a name for the test id."""
    acme = "t00000002"
    tenant = Tenant(id=acme, domain="acme", name="Acme", parent_id="t00000001")
    device = Device(id="d-bad", tenant_id=acme, name="Bad")
    group = Group(id="g-bad", tenant_id=acme, name="Bad")
    replace, day, long = msgspec.structs.replace, _WHEN.date(), "v" * 1025
    return [
        ("empty-rule", ch.GroupCreated(group=replace(group, device_tags=frozenset({()})))),
        ("int-matcher", ch.Associated(group_id="g-region",
                                   device_tags=frozenset({(_forged_matcher(5, 6),)}))),
        ("none-matcher", ch.Associated(group_id="g-region",
                                    device_tags=frozenset({(_forged_matcher(None, None),)}))),
        ("empty-matcher", ch.Associated(group_id="g-region",
                                     device_tags=frozenset({(_forged_matcher("", ""),)}))),
        ("pair-not-matcher", ch.Associated(group_id="g-region",
                                        device_tags=frozenset({_junk((("site", "sb"),))}))),
        ("long-matcher", ch.Dissociated(group_id="g-region",
                                     device_tags=frozenset({(_forged_matcher("k", long),)}))),
        ("empty-device-id", ch.Associated(group_id="g-region", device_ids=frozenset({""}))),
        ("limit-10e30", ch.TenantUpdated(tenant=replace(tenant, max_devices=10**30))),
        ("negative-limit", ch.TenantUpdated(tenant=replace(tenant, max_root_devices=-1))),
        ("bool-limit", ch.TenantUpdated(tenant=replace(tenant, max_devices=True))),
        ("unknown-status", ch.TenantUpdated(tenant=replace(tenant, status="gone"))),
        ("int-tag", ch.DeviceCreated(device=replace(device, tags=frozenset({(5, 6)})))),
        ("empty-tag-key", ch.DeviceCreated(device=replace(device, tags=frozenset({("", "v")})))),
        ("long-tag", ch.DeviceCreated(device=replace(device, tags=frozenset({("k", long)})))),
        ("empty-id", ch.DeviceCreated(device=replace(device, id=""))),
        ("none-tenant", ch.DeviceCreated(device=replace(device, tenant_id=None))),
        ("mutable-tags", ch.DeviceTagged(device_id="SN-0001", tags=_junk({("k", "v")}))),
        ("int-enabled", ch.UserCreated(user=User(id="u-bad", tenant_id=acme,
                                              email="b@acme.example", enabled=_junk(1)))),
        ("int-name", ch.GroupUpdated(group_id="g-region", name=_junk(5), description="")),
        ("count-2e64", ch.UsageRecorded(tenant_id=acme, day=day, peaks=UsageCounts(),
                                     counts=UsageCounts(2**64, 0, 0, 0))),
        ("datetime-day", ch.UsageRecorded(tenant_id=acme, day=_WHEN, counts=UsageCounts(),
                                       peaks=UsageCounts())),
        ("naive-until", ch.AccessSet(record=SupportRequest(tenant_id=acme, requested_by="u-acme",
                                                        until=_WHEN.replace(tzinfo=None)))),
        ("a-string", "GroupDeleted"),
        ("a-commit", Commit(revision=1, changes=())),
    ]  # fmt: skip


class StoreContract(AuditContract):
    """The tests every store adapter passes, the audit log's included
    (:class:`~tenancy.testing.audit_contract.AuditContract`). Needs a ``stores`` fixture
    giving a :class:`StoreFactory`; see the module docstring."""

    # ------------------------------------------------------------ basics

    def test_a_new_store_is_empty(self, stores: StoreFactory) -> None:
        """A new store is at revision 0 with no record and no change."""
        store = stores.fresh()
        assert store.head() == 0
        assert store.snapshot() == Snapshot()
        assert store.changes_since(0) == []

    def test_the_store_protocol_is_implemented(self, stores: StoreFactory) -> None:
        """The adapter has every method of the Store protocol."""
        assert isinstance(stores.fresh(), Store)

    # ------------------------------------------------------------ records

    def test_records_round_trip_exactly(self, stores: StoreFactory) -> None:
        """Every record written comes back equal, field for field, sets as sets."""
        store = stores.fresh()
        commits = sample_commits()[:8]
        for revision, changes in enumerate(commits, start=1):
            assert store.commit(changes, expected_revision=revision - 1) == revision
        snapshot = store.snapshot()
        assert snapshot == reference_snapshot(commits)
        written = {
            record.id: record
            for changes in commits
            for change in changes
            if isinstance(change, ch.TenantCreated | ch.DeviceCreated | ch.UserCreated)
            for record in [_created(change)]
        }
        records: list[Tenant | Device | User] = [
            *snapshot.tenants, *snapshot.devices, *snapshot.users
        ]  # fmt: skip
        for record in records:
            assert record == written[record.id]
            assert type(record) is type(written[record.id])
        for device in snapshot.devices:
            assert isinstance(device.tags, frozenset)
        region = next(g for g in snapshot.groups if g.id == "g-region")
        assert region.device_tags == next(
            c.group.device_tags for c in commits[4] if isinstance(c, ch.GroupCreated)
        )
        assert [g.id for g in snapshot.groups] == sorted(g.id for g in snapshot.groups)

    def test_every_change_means_what_the_reference_says(self, stores: StoreFactory) -> None:
        """After each commit of a history using every change type, the records equal the
        reference's, and they equal what the change log means."""
        store, reference = stores.fresh(), MemoryStore()
        for revision, changes in enumerate(sample_commits(), start=1):
            assert store.commit(changes, expected_revision=revision - 1) == revision
            reference.commit(changes, expected_revision=revision - 1)
            assert store.snapshot() == reference.snapshot(), f"after revision {revision}"
        assert_records_match_log(store)

    def test_records_survive_reopening(self, stores: StoreFactory) -> None:
        """A durable store gives the same records, head and log after close and reopen."""
        store = stores.fresh()
        if not store.capabilities.durable:
            return
        for revision, changes in enumerate(sample_commits(), start=1):
            store.commit(changes, expected_revision=revision - 1)
        before = (store.head(), store.snapshot(), store.changes_since(0))
        store.close()
        again = stores.reopen(store)
        assert again is not None, "a durable store can be reopened"
        assert (again.head(), again.snapshot(), again.changes_since(0)) == before

    # ------------------------------------------------------------ revisions and the log

    def test_revisions_strictly_increase(self, stores: StoreFactory) -> None:
        """Each commit returns the next revision (one more than the last), and head says so."""
        store = stores.fresh()
        seen = [0]
        for changes in sample_commits():
            revision = store.commit(changes, expected_revision=store.head())
            assert revision == seen[-1] + 1
            assert store.head() == revision
            seen.append(revision)
        log = [c.revision for c in store.changes_since(0)]
        assert log == seen[1:]

    def test_changes_since_returns_exactly_the_missing_changes(self, stores: StoreFactory) -> None:
        """changes_since(r) is every commit after r, in order, each with its changes as
        committed; nothing after the head."""
        store = stores.fresh()
        commits = sample_commits()
        for revision, changes in enumerate(commits, start=1):
            store.commit(changes, expected_revision=revision - 1)
        expected = [Commit(revision=r, changes=tuple(c)) for r, c in enumerate(commits, start=1)]
        for since in range(len(commits) + 1):
            assert store.changes_since(since) == expected[since:], f"since {since}"
        assert store.changes_since(len(commits) + 5) == []

    # ------------------------------------------------------------ failures leave nothing

    def test_a_stale_commit_writes_nothing(self, stores: StoreFactory) -> None:
        """A commit validated against an older (or a future) revision raises StaleRevision
        and writes nothing."""
        store = stores.fresh()
        commits = sample_commits()
        for revision, changes in enumerate(commits[:4], start=1):
            store.commit(changes, expected_revision=revision - 1)
        before = (store.head(), store.snapshot(), store.changes_since(0))
        for wrong in (0, 3, 5):
            with pytest.raises(StaleRevision) as caught:
                store.commit(commits[4], expected_revision=wrong)
            assert caught.value.expected == wrong
            assert caught.value.actual == 4
            assert (store.head(), store.snapshot(), store.changes_since(0)) == before
        assert store.commit(commits[4], expected_revision=4) == 5

    @pytest.mark.parametrize(
        "bad",
        [
            ch.GroupUpdated(group_id="g-missing", name="x", description=""),
            ch.GroupMoved(group_id="g-missing", parent_id=None),
            ch.GroupDeleted(group_id="g-missing"),
            ch.Associated(group_id="g-missing", device_ids=frozenset({"SN-0001"})),
            ch.Dissociated(group_id="g-missing"),
            ch.DeviceRenamed(device_id="d-missing", name="x"),
            ch.DeviceTagged(device_id="d-missing", tags=frozenset({("k", "v")})),
            ch.DeviceUntagged(device_id="d-missing", tags=frozenset({("k", "v")})),
            ch.DeviceMoved(device_id="d-missing", parent_id=None),
            ch.DeviceDeleted(device_id="d-missing"),
            ch.UserDeleted(user_id="u-missing"),
            ch.TenantSuspended(tenant_id="t-missing"),
            ch.TenantActivated(tenant_id="t-missing"),
            ch.TenantDeleted(tenant_id="t-missing"),
        ],
        ids=lambda change: type(change).__name__,
    )
    def test_a_failed_commit_leaves_nothing(self, stores: StoreFactory, bad: Change) -> None:
        """A commit whose last change cannot apply raises StoreError, and none of its
        earlier changes is visible: not in the records, the head or the log."""
        store = stores.fresh()
        commits = sample_commits()
        for revision, changes in enumerate(commits[:8], start=1):
            store.commit(changes, expected_revision=revision - 1)
        before = (store.head(), store.snapshot(), store.changes_since(0))
        doomed: list[Change] = [
            ch.DeviceCreated(device=Device(id="d-new", tenant_id="t00000002", name="New")),
            ch.MemberRemoved(group_id="g-region", user_id="u-ana"),
            ch.DeviceDeleted(device_id="SN-0002"),
            ch.GroupCreated(group=Group(id="g-new", tenant_id="t00000002", name="New")),
            bad,
        ]
        with pytest.raises(StoreError):
            store.commit(doomed, expected_revision=8)
        assert (store.head(), store.snapshot(), store.changes_since(0)) == before
        assert store.commit(commits[8], expected_revision=8) == 9

    @pytest.mark.parametrize(
        "bad", [change for _, change in _impossible_changes()],
        ids=[name for name, _ in _impossible_changes()],
    )  # fmt: skip
    def test_an_impossible_change_is_refused_before_anything_is_written(
        self, stores: StoreFactory, bad: object
    ) -> None:
        """A commit carrying a value the index could not apply, or the store could not
        encode and decode (an empty tag rule, a (None, None) or int matcher, an int past
        2**63 - 1, an unknown change type, ...), raises InvalidValue naming the field, and
        writes nothing: records, head, log and audit log are as they were, the next commit
        works, and a durable store reopens with the same answers."""
        store = stores.fresh()
        commits = sample_commits()
        for revision, changes in enumerate(commits[:8], start=1):
            store.commit(changes, expected_revision=revision - 1)

        def state(of: Store) -> tuple[object, ...]:
            return (of.head(), of.snapshot(), of.changes_since(0), of.audit_log(limit=1_000))

        before = state(store)
        doomed = [
            ch.DeviceCreated(device=Device(id="d-new", tenant_id="t00000002", name="New")),
            ch.MemberRemoved(group_id="g-region", user_id="u-ana"),
            bad,
        ]
        audit = [
            AuditRecord(revision=9, at=_WHEN, tenant_id="t00000002", actor="system",
                        action="DeviceCreated", target="d-new", after={"n": 10**30})
        ]  # fmt: skip
        with pytest.raises(InvalidValue) as caught:
            store.commit(_junk(doomed), expected_revision=8, audit=audit)
        assert caught.value.field, "the error names the field"
        assert state(store) == before
        assert store.commit(commits[8], expected_revision=8) == 9
        again = stores.reopen(store) if store.capabilities.durable else None
        if again is not None:
            assert again.snapshot() == store.snapshot()
            assert again.changes_since(0) == store.changes_since(0)

    def test_a_closed_store_accepts_no_write(self, stores: StoreFactory) -> None:
        """Committing to a closed store raises StoreError; closing twice is harmless."""
        store = stores.fresh()
        store.close()
        store.close()
        with pytest.raises(StoreError):
            store.commit(sample_commits()[0], expected_revision=0)

    # ------------------------------------------------------------ capabilities

    def test_capabilities_are_declared(self, stores: StoreFactory) -> None:
        """Capabilities are a Capabilities record of plain values, the same every time."""
        store = stores.fresh()
        caps = store.capabilities
        assert isinstance(caps, Capabilities)
        assert isinstance(caps.durable, bool)
        assert isinstance(caps.shared, bool)
        assert caps.retention is None or (
            isinstance(caps.retention, int) and not isinstance(caps.retention, bool)
        )
        assert caps.retention is None or caps.retention >= 1
        store.commit(sample_commits()[0], expected_revision=0)
        assert store.capabilities == caps

    def test_a_shared_store_shows_each_connection_the_others_writes(
        self, stores: StoreFactory
    ) -> None:
        """When ``shared``: a second connection sees a commit at once, and a commit it
        validated before that commit is refused as stale."""
        first = stores.fresh()
        if not first.capabilities.shared:
            return
        second = stores.reopen(first)
        assert second is not None, "a shared store can be opened twice"
        commits = sample_commits()
        first.commit(commits[0], expected_revision=0)
        assert second.head() == 1
        assert second.changes_since(0) == first.changes_since(0)
        second.commit(commits[1], expected_revision=1)
        with pytest.raises(StaleRevision):
            first.commit(commits[2], expected_revision=1)
        assert first.snapshot() == second.snapshot() == reference_snapshot(commits[:2])

    # ------------------------------------------------------------ against the reference

    def test_random_operations_agree_with_the_reference(self, stores: StoreFactory) -> None:
        """A random sequence of public API operations leaves the adapter's records, change
        log and index exactly where the memory reference leaves them; a refused operation
        changes nothing."""
        rng = seeded_random(f"random operations on {stores.name}")
        tee = TeeStore(stores.fresh())
        tn = Tenancy(tee, staleness=None)
        tee.assert_agrees()
        for step in range(250):
            head = tee.head()
            try:
                what = random_operation(tn, rng)
            except TenancyError as exc:
                what = f"refused: {exc}"
                assert tee.head() == head, f"step {step}: a refused write committed"
            tee.assert_agrees()
            assert tn.revision == tee.head(), f"step {step}: {what}"
        assert tee.store.changes_since(0) == tee.reference.changes_since(0)
        assert_index_matches_store(tn.index, tee.store)
        again = stores.reopen(tee.store) if tee.capabilities.durable else None
        if again is not None:
            reopened = Tenancy(again, staleness=None)
            assert reopened.index.snapshot() == tn.index.snapshot()


def _created(
    change: ch.TenantCreated | ch.DeviceCreated | ch.UserCreated,
) -> Tenant | Device | User:
    if isinstance(change, ch.TenantCreated):
        return change.tenant
    if isinstance(change, ch.DeviceCreated):
        return change.device
    return change.user
