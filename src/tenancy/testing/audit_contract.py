"""The audit-log part of the store contract: :class:`AuditContract`, which
:class:`~tenancy.testing.contract.StoreContract` includes, so every adapter runs it.

What it checks: a commit appends its audit records in the same transaction (a stale or
failed commit appends none); records come back exactly, numbered by a ``seq`` that starts
at 1 and grows by one per record, with ``before`` and ``after`` as JSON values and times in
UTC that never decrease along the log; every filter (tenant, actor, target, time range) and
the ``after`` cursor select exactly what a naive filter over the whole log selects, in
order; the log survives reopening and is shared by every connection; deleting a tenant
keeps its records. The memory store is the reference: the suite also compares every
answer with it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from tenancy.errors import StaleRevision, StoreError
from tenancy.records import changes as ch
from tenancy.records.changes import Change
from tenancy.records.model import AuditRecord, Device, Group, TagMatcher, Tenant, User
from tenancy.store.memory import MemoryStore
from tenancy.store.protocol import Store

if TYPE_CHECKING:
    from tenancy.testing.fixtures import StoreFactory

__all__ = ["AuditContract", "audit_history", "naive_audit_query"]

_T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_ALL = 1 << 62
"""A limit above any log's length."""


def _record(
    revision: int,
    minutes: float,
    what: tuple[str | None, str, str, str | None],
    *,
    before: Any = None,
    after: Any = None,
) -> AuditRecord:
    """A record of ``revision`` made ``minutes`` after 9:00; ``what`` is (tenant, actor,
    action, target)."""
    tenant_id, actor, action, target = what
    return AuditRecord(
        revision=revision,
        at=_T0 + timedelta(minutes=minutes),
        tenant_id=tenant_id,
        actor=actor,
        action=action,
        target=target,
        before=before,
        after=after,
    )


def audit_history() -> list[tuple[list[Change], list[AuditRecord]]]:
    """A fixed history of commits with their audit records: two tenants, three actors,
    records and plain values as ``before`` and ``after`` (sets, wildcard tag rules, times,
    non-ASCII text, nesting), several records per commit, a commit without any, and a
    tenant deleted at the end."""
    mgmt = Tenant(
        id="t1", domain="management", name="Management", allow_subtenants=True, created_at=_T0
    )
    acme = Tenant(id="t2", domain="acme", name="Acme ✓ Zürich", parent_id="t1", created_at=_T0)
    beta = Tenant(id="t3", domain="beta", name="Beta", parent_id="t1", created_at=_T0)
    ana = User(
        id="u-ana",
        tenant_id="t2",
        email="ana@acme.example",
        tags=frozenset({("notify", "sms"), ("notify", "mail")}),
    )
    bob = User(id="u-bob", tenant_id="t3", email="bob@beta.example")
    gen = Device(
        id="SN-1",
        tenant_id="t2",
        name="Generator 7",
        tags=frozenset({("site", "sb"), ("kind", "gen")}),
    )
    far = Device(id="SN-2", tenant_id="t3", name="Far")
    wildcards = frozenset({(TagMatcher("site", None),), (TagMatcher(None, "gold"),)})
    site = Group(id="g-site", tenant_id="t2", name="San Bruno", device_tags=wildcards)
    plain_values = {
        "name": "Beta",
        "when": _T0,
        "tags": frozenset({("b", "2"), ("a", "1")}),
        "n": 3,
        "ok": True,
        "x": 1.5,
        "nested": [{"ü": None}, ("t", 1)],
    }
    ana_id, support = "u-ana", "u-root$u-ana"
    return [
        (
            [ch.TenantCreated(tenant=mgmt)],
            [_record(1, 0, ("t1", "system", "TenantCreated", "t1"), after=mgmt)],
        ),
        (
            [ch.TenantCreated(tenant=acme), ch.UserCreated(user=ana)],
            [
                _record(2, 1, ("t2", "system", "TenantCreated", "t2"), after=acme),
                _record(2, 1, ("t2", "system", "UserCreated", "u-ana"), after=ana),
            ],
        ),
        (
            [ch.TenantCreated(tenant=beta), ch.UserCreated(user=bob)],
            [
                _record(3, 2, ("t3", "system", "TenantCreated", "t3"), after=beta),
                _record(3, 2, ("t3", "system", "UserCreated", "u-bob"), after=bob),
            ],
        ),
        (
            [ch.DeviceCreated(device=gen), ch.DeviceCreated(device=far)],
            [
                _record(4, 3, ("t2", ana_id, "DeviceCreated", "SN-1"), after=gen),
                _record(4, 3, ("t3", ana_id, "DeviceCreated", "SN-2"), after=far),
            ],
        ),
        (
            [ch.GroupCreated(group=site)],
            [_record(5, 4.5, ("t2", support, "GroupCreated", "g-site"), after=site)],
        ),
        ([ch.TenantSuspended(tenant_id="t3")], []),
        (
            [ch.DeviceDeleted(device_id="SN-1")],
            [_record(7, 6, ("t2", ana_id, "DeviceDeleted", "SN-1"), before=gen)],
        ),
        (
            [ch.TenantDeleted(tenant_id="t3")],
            [_record(8, 7, ("t3", "system", "TenantDeleted", "t3"), before=plain_values)],
        ),
    ]


def naive_audit_query(
    log: Sequence[AuditRecord],
    *,
    tenant: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    after: int | None = None,
    limit: int = 100,
) -> list[AuditRecord]:
    """What an audit query means, over the whole log as a store gives it back."""
    return [
        r
        for r in log
        if (after is None or r.seq > after)
        and (tenant is None or r.tenant_id == tenant)
        and (actor is None or r.actor == actor)
        and (target is None or r.target == target)
        and (start is None or r.at >= _aware(start))
        and (end is None or r.at < _aware(end))
    ][:limit]


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _fill(store: Store, history: Sequence[tuple[list[Change], list[AuditRecord]]]) -> None:
    for revision, (changes, audit) in enumerate(history, start=1):
        assert store.commit(changes, expected_revision=revision - 1, audit=audit) == revision


class AuditContract:
    """The audit-log tests every store adapter passes (part of StoreContract)."""

    def test_audit_records_round_trip(self, stores: StoreFactory) -> None:
        """Records come back as committed, numbered from 1 in order, with ``before`` and
        ``after`` as JSON values (records as dicts, sets as sorted lists, times as ISO
        strings) and ``at`` in UTC; the same as the reference store's answer."""
        store, reference = stores.fresh(), MemoryStore()
        history = audit_history()
        _fill(store, history)
        _fill(reference, history)
        log = store.audit_log(limit=_ALL)
        committed = [r for _, audit in history for r in audit]
        assert [r.seq for r in log] == list(range(1, len(committed) + 1))
        for got, sent in zip(log, committed, strict=True):
            assert (got.revision, got.at, got.tenant_id, got.actor, got.action, got.target) == (
                sent.revision, sent.at, sent.tenant_id, sent.actor, sent.action, sent.target,
            )  # fmt: skip
            assert got.at.utcoffset() == timedelta(0)
        assert log == reference.audit_log(limit=_ALL)
        by_action = {r.action: r for r in log}  # the last record of each action
        ana = next(r for r in log if r.target == "u-ana")
        assert ana.after == {
            "id": "u-ana", "tenant_id": "t2", "email": "ana@acme.example", "username": "",
            "first_name": "", "last_name": "", "tags": [["notify", "mail"], ["notify", "sms"]],
            "enabled": True, "owner_id": None,
        }  # fmt: skip
        assert ana.before is None
        assert by_action["TenantCreated"].after["created_at"] == "2026-03-02T09:00:00Z"
        assert by_action["TenantCreated"].after["name"] == "Beta"
        rules = by_action["GroupCreated"].after["device_tags"]
        assert sorted(rules, key=repr) == sorted([[[None, "gold"]], [["site", None]]], key=repr)
        assert by_action["DeviceDeleted"].before["tags"] == [["kind", "gen"], ["site", "sb"]]
        assert by_action["TenantDeleted"].before == {
            "n": 3, "name": "Beta", "nested": [{"ü": None}, ["t", 1]], "ok": True,
            "tags": [["a", "1"], ["b", "2"]], "when": "2026-03-02T09:00:00Z", "x": 1.5,
        }  # fmt: skip

    def test_a_commit_without_audit_records_appends_none(self, stores: StoreFactory) -> None:
        """``audit`` defaults to nothing: the commit lands, the log stays as it was."""
        store = stores.fresh()
        history = audit_history()
        store.commit(history[0][0], expected_revision=0)
        assert store.head() == 1
        assert store.audit_log() == []

    def test_audit_seq_strictly_increases(self, stores: StoreFactory) -> None:
        """Each record's seq is one more than the last one's, across commits and within
        one; a record's revision is its commit's."""
        store = stores.fresh()
        history = audit_history()
        _fill(store, history)
        log = store.audit_log(limit=_ALL)
        assert [b.seq - a.seq for a, b in itertools.pairwise(log)] == [1] * (len(log) - 1)
        assert [r.revision for r in log] == [
            revision for revision, (_, audit) in enumerate(history, start=1) for _ in audit
        ]

    def test_a_stale_commit_appends_no_audit_record(self, stores: StoreFactory) -> None:
        """A commit refused as stale writes none of its audit records."""
        store = stores.fresh()
        history = audit_history()
        _fill(store, history[:3])
        before = store.audit_log(limit=_ALL)
        changes, audit = history[3]
        for wrong in (0, 2, 4):
            with pytest.raises(StaleRevision):
                store.commit(changes, expected_revision=wrong, audit=audit)
            assert store.audit_log(limit=_ALL) == before
        store.commit(changes, expected_revision=3, audit=audit)
        assert len(store.audit_log(limit=_ALL)) == len(before) + len(audit)

    def test_a_failed_commit_appends_no_audit_record(self, stores: StoreFactory) -> None:
        """A commit whose last change cannot apply raises StoreError and leaves neither its
        changes nor its audit records; the next commit's records follow on at once."""
        store = stores.fresh()
        history = audit_history()
        _fill(store, history[:4])
        before = store.audit_log(limit=_ALL)
        doomed: list[Change] = [
            ch.DeviceCreated(device=Device(id="d-new", tenant_id="t2", name="New")),
            ch.DeviceDeleted(device_id="d-missing"),
        ]
        audit = [
            _record(5, 10, ("t2", "system", "DeviceCreated", "d-new")),
            _record(5, 10, ("t2", "system", "DeviceDeleted", "d-missing")),
        ]
        with pytest.raises(StoreError):
            store.commit(doomed, expected_revision=4, audit=audit)
        assert store.audit_log(limit=_ALL) == before
        changes, audit = history[4]
        store.commit(changes, expected_revision=4, audit=audit)
        log = store.audit_log(limit=_ALL)
        assert [r.seq for r in log] == list(range(1, len(before) + 2))
        assert log[-1].action == "GroupCreated"

    def test_audit_filters_select_what_they_say(self, stores: StoreFactory) -> None:
        """Every combination of tenant, actor, target and time range, with and without a
        cursor, selects exactly the records a naive filter over the whole log selects."""
        store = stores.fresh()
        _fill(store, audit_history())
        log = store.audit_log(limit=_ALL)
        tenants = [None, "t2", "t3", "t-none"]
        actors = [None, "system", "u-ana", "u-root$u-ana"]
        targets = [None, "SN-1", "t3", "x-none"]
        times = [None, _T0, _T0 + timedelta(minutes=3), _T0 + timedelta(minutes=4, seconds=1)]
        for tenant, actor, target in itertools.product(tenants, actors, targets):
            for start, end in itertools.product(times, times):
                for after in (None, 0, 3, len(log)):
                    query: dict[str, Any] = {
                        "tenant": tenant, "actor": actor, "target": target, "start": start,
                        "end": end, "after": after, "limit": _ALL,
                    }  # fmt: skip
                    assert store.audit_log(**query) == naive_audit_query(log, **query), query

    def test_audit_time_bounds(self, stores: StoreFactory) -> None:
        """``start`` is inclusive and ``end`` exclusive, to the microsecond; a naive bound
        is UTC and an aware one in any zone means the same instant."""
        store = stores.fresh()
        _fill(store, audit_history())
        three = _T0 + timedelta(minutes=3)
        at_three = [r.target for r in store.audit_log(start=three, end=three + timedelta(0, 0, 1))]
        assert at_three == ["SN-1", "SN-2"]
        assert store.audit_log(start=three, end=three) == []
        assert [r.seq for r in store.audit_log(end=three)] == [1, 2, 3, 4, 5]
        naive = three.replace(tzinfo=None)
        paris = three.astimezone(timezone(timedelta(hours=1)))
        assert store.audit_log(start=naive) == store.audit_log(start=paris)
        assert store.audit_log(start=naive) == store.audit_log(start=three)

    def test_audit_times_never_decrease(self, stores: StoreFactory) -> None:
        """A record dated before the one ahead of it (a clock stepped back, another
        process's clock ahead) is stored at that record's time, so time ranges are ranges
        of the log; a naive time is UTC, an aware one converted to UTC."""
        store, reference = stores.fresh(), MemoryStore()
        mgmt = Tenant(id="t1", domain="management", name="Management")
        times = [
            _T0, _T0 - timedelta(hours=1), _T0.replace(tzinfo=None) + timedelta(seconds=1),
            (_T0 + timedelta(seconds=5)).astimezone(timezone(timedelta(hours=-7))),
        ]  # fmt: skip
        commits: list[tuple[list[Change], list[AuditRecord]]] = [
            (
                [ch.TenantCreated(tenant=mgmt)],
                [_record(1, 0, ("t1", "system", "TenantCreated", "t1"))],
            ),
        ]
        for n, moment in enumerate(times, start=2):
            record = AuditRecord(revision=n, at=moment, tenant_id="t1", actor="system",
                                 action="TenantSuspended", target="t1")  # fmt: skip
            commits.append(([ch.TenantSuspended(tenant_id="t1")], [record]))
        _fill(store, commits)
        _fill(reference, commits)
        log = store.audit_log(limit=_ALL)
        assert [r.at for r in log] == [
            _T0, _T0, _T0, _T0 + timedelta(seconds=1), _T0 + timedelta(seconds=5)
        ]  # fmt: skip
        assert log == reference.audit_log(limit=_ALL)

    def test_audit_pages_follow_the_cursor(self, stores: StoreFactory) -> None:
        """Pages of any size, each starting after the last seq of the one before, give the
        whole filtered log once, in order."""
        store = stores.fresh()
        _fill(store, audit_history())
        queries: list[dict[str, Any]] = [
            {},
            {"tenant": "t2"},
            {"actor": "system"},
            {"start": _T0 + timedelta(minutes=2)},
        ]
        for query in queries:
            whole = store.audit_log(limit=_ALL, **query)
            for size in (1, 2, 3, len(whole) + 1):
                seen: list[AuditRecord] = []
                after = None
                while page := store.audit_log(after=after, limit=size, **query):
                    assert len(page) <= size
                    seen.extend(page)
                    after = page[-1].seq
                assert seen == whole, (query, size)

    def test_deleting_a_tenant_keeps_its_audit_records(self, stores: StoreFactory) -> None:
        """The audit log is append-only: TenantDeleted removes the tenant's records, never
        its trail (the deletion is on record too)."""
        store = stores.fresh()
        history = audit_history()
        _fill(store, history[:-1])
        trail = store.audit_log(tenant="t3", limit=_ALL)
        assert trail
        _fill_from(store, history, 8)
        after = store.audit_log(tenant="t3", limit=_ALL)
        assert after[: len(trail)] == trail
        assert [r.action for r in after[len(trail) :]] == ["TenantDeleted"]

    def test_audit_log_survives_reopening(self, stores: StoreFactory) -> None:
        """A durable store gives the same audit log after close and reopen, and numbers
        the next record on from it."""
        store = stores.fresh()
        if not store.capabilities.durable:
            return
        history = audit_history()
        _fill(store, history[:-1])
        log = store.audit_log(limit=_ALL)
        store.close()
        again = stores.reopen(store)
        assert again is not None
        assert again.audit_log(limit=_ALL) == log
        _fill_from(again, history, 8)
        assert again.audit_log(limit=_ALL)[-1].seq == log[-1].seq + 1

    def test_a_shared_store_shows_each_connection_the_others_audit_records(
        self, stores: StoreFactory
    ) -> None:
        """When ``shared``: another connection reads a commit's audit records at once, and
        its own records follow on in one numbering."""
        first = stores.fresh()
        if not first.capabilities.shared:
            return
        second = stores.reopen(first)
        assert second is not None
        history = audit_history()
        _fill(first, history[:2])
        assert second.audit_log(limit=_ALL) == first.audit_log(limit=_ALL)
        changes, audit = history[2]
        second.commit(changes, expected_revision=2, audit=audit)
        assert [r.seq for r in first.audit_log(limit=_ALL)] == [1, 2, 3, 4, 5]


def _fill_from(
    store: Store, history: Sequence[tuple[list[Change], list[AuditRecord]]], revision: int
) -> None:
    """Commit ``history`` from ``revision`` on (1-based)."""
    for n, (changes, audit) in enumerate(history[revision - 1 :], start=revision):
        store.commit(changes, expected_revision=n - 1, audit=audit)
