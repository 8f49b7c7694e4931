"""The change feed (DOMAIN.md section 8; issue 13 item 4): ``changes`` gives the commits
after a revision, in order, with revision, time, actor and typed changes; ``watch`` blocks
for new ones and ends after ``timeout`` seconds without one; on the memory store, on
SQLite, and on a store without the feed hooks (polled). Bad arguments raise InvalidValue
naming the field; ``after`` past the log's retention says so; only the application and a
management-tenant user with audit:READ read it.

Every wait is bounded: watches have short timeouts and threads are joined with one.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import tenancy
from tenancy import (
    Capabilities,
    Commit,
    InvalidValue,
    MemoryStore,
    PermissionDenied,
    StoreError,
    Tenancy,
)
from tenancy.records import changes as ch
from tenancy.records.model import AuditRecord
from tenancy.records.snapshot import Snapshot
from tenancy.store.protocol import FeedStore

JOIN = 10.0
"""Seconds a test waits for a thread at most (they end in well under a second)."""
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class PlainStore:
    """A store with only the required methods (no feed hooks): the feed reads its
    changes_since and polls its head."""

    def __init__(self) -> None:
        self.store = MemoryStore()

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(durable=False, shared=False)

    def head(self) -> int:
        return self.store.head()

    def snapshot(self) -> Snapshot:
        return self.store.snapshot()

    def commit(
        self, changes: Sequence[ch.Change], *, expected_revision: int,
        audit: Sequence[AuditRecord] = (),
    ) -> int:  # fmt: skip
        return self.store.commit(changes, expected_revision=expected_revision, audit=audit)

    def audit_log(self, **filters: Any) -> list[AuditRecord]:
        return self.store.audit_log(**filters)

    def changes_since(self, revision: int) -> list[Commit]:
        return self.store.changes_since(revision)

    def close(self) -> None:
        self.store.close()


Opener = Callable[..., Tenancy]


@pytest.fixture(params=["memory", "sqlite", "plain"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens handles on one store of the kind: each call a new handle on the same store
    (for SQLite, a new store object on the same file, as another process would)."""
    opened: list[Tenancy] = []
    shared = {"memory": MemoryStore(), "plain": PlainStore()}.get(request.param)

    def open_(**options: Any) -> Tenancy:
        target: Any = shared if shared is not None else str(tmp_path / "feed.db")
        tn = tenancy.open(target, **options)
        opened.append(tn)
        return tn

    yield open_
    for tn in reversed(opened):
        tn.close()


def _kinds(commit: Commit) -> list[str]:
    return [type(c).__name__ for c in commit.changes]


def _admin(tenant: tenancy.Tenant) -> str:
    assert tenant.admin_user_id is not None
    return tenant.admin_user_id


def _world(tn: Tenancy) -> tuple[tenancy.Tenant, tenancy.TenantScope]:
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
    return acme, tn.tenant(acme.id)


# ---------------------------------------------------------------- changes


def test_changes_are_every_commit_in_order_with_time_actor_and_changes(opener: Opener) -> None:
    clock = Clock()
    tn = opener(clock=clock)
    acme, t = _world(tn)
    clock.now = START + timedelta(minutes=5)
    before = tn.revision
    t.create_device("Gateway 1", id="gw-1", tags={"kind": "gateway"})
    admin = tn.as_user(_admin(acme)).tenant(acme.id)
    admin.create_group("Sites", id="sites")
    commits = tn.changes()
    assert [c.revision for c in commits] == list(range(1, tn.revision + 1))
    device, group = tn.changes(after=before)
    assert _kinds(device)[0] == "DeviceCreated"
    assert device.changes[0] == ch.DeviceCreated(device=tn.get_device("gw-1"))
    assert (device.at, device.actor) == (START + timedelta(minutes=5), "system")
    assert _kinds(group)[0] == "GroupCreated"
    assert group.actor == _admin(acme)
    assert commits[0].at == START
    assert commits[0].actor == "system"


def test_limit_after_the_head_and_beyond(opener: Opener) -> None:
    tn = opener()
    _world(tn)
    head = tn.revision
    assert [c.revision for c in tn.changes(after=0, limit=2)] == [1, 2]
    assert [c.revision for c in tn.changes(after=head - 1, limit=10_000)] == [head]
    assert tn.changes(after=head) == []
    assert tn.changes(after=head + 1_000) == []


def test_a_commit_nobody_made_has_no_time_nor_actor(opener: Opener) -> None:
    """Usage statistics flushed on their own are bookkeeping, not audited: no actor."""
    tn = opener(usage_flush_interval=None)
    acme, _ = _world(tn)
    tn.record_request(acme.id)
    before = tn.revision
    tn.flush_usage()
    [commit] = tn.changes(after=before)
    assert _kinds(commit) == ["UsageRecorded"]
    assert (commit.at, commit.actor) == (None, None)


def test_memory_and_sqlite_give_the_same_feed(tmp_path: Path) -> None:
    """The memory store is the reference: the same writes at the same times give equal
    commits on SQLite, times included (both keep the audit log's stored time)."""
    feeds = []
    for target in (None, str(tmp_path / "same.db")):
        clock = Clock()
        with tenancy.open(target, clock=clock, usage_flush_interval=None) as tn:
            _, t = _world(tn)
            clock.now += timedelta(seconds=1.5)
            t.create_device("Gen", id="gen", tags=[("site", "sb")])
            clock.now -= timedelta(hours=1)  # a clock that steps back: the log's time holds
            t.tag_device("gen", [("tier", "gold")])
            feeds.append(tn.changes())
    memory, sqlite_feed = feeds
    assert [(c.revision, c.at, c.actor) for c in memory] == [
        (c.revision, c.at, c.actor) for c in sqlite_feed
    ]
    assert memory[-1].at == START + timedelta(seconds=1.5)
    assert [_kinds(c) for c in memory] == [_kinds(c) for c in sqlite_feed]  # ids differ


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"after": -1}, "after"),
        ({"after": True}, "after"),
        ({"after": 1.0}, "after"),
        ({"after": "1"}, "after"),
        ({"after": None}, "after"),
        ({"after": 2**63}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 10_001}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": 5.0}, "limit"),
        ({"limit": None}, "limit"),
    ],
)
def test_bad_arguments_of_changes_name_their_field(arguments: dict[str, Any], field: str) -> None:
    tn = tenancy.open()
    before = tn.revision
    with pytest.raises(InvalidValue) as caught:
        tn.changes(**arguments)
    assert caught.value.field == field
    assert caught.value.rule
    assert tn.revision == before


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"after": -1}, "after"),
        ({"after": "0"}, "after"),
        ({"timeout": -0.1}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": 86_401}, "timeout"),
        ({"timeout": "1"}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"timeout": None}, "timeout"),
    ],
)
def test_bad_arguments_of_watch_raise_when_it_is_called(
    arguments: dict[str, Any], field: str
) -> None:
    tn = tenancy.open()
    with pytest.raises(InvalidValue) as caught:
        tn.watch(**arguments)  # not iterated: the check is eager
    assert caught.value.field == field
    assert caught.value.rule


# ---------------------------------------------------------------- retention


def test_after_older_than_the_retention_says_the_commits_are_gone(tmp_path: Path) -> None:
    with tenancy.open(f"sqlite:///{tmp_path / 'short.db'}?retention=3") as tn:
        _, t = _world(tn)
        for n in range(4):
            t.create_device(f"Gen {n}", id=f"gen-{n}")
        head = tn.revision
        assert [c.revision for c in tn.changes(after=head - 3)] == [head - 2, head - 1, head]
        for call in (lambda: tn.changes(after=1), lambda: tn.watch(after=1, timeout=0)):
            with pytest.raises(InvalidValue, match="keeps the last 3 revisions") as caught:
                call()
            assert caught.value.field == "after"
            assert caught.value.value == 1
            assert "gone" in caught.value.rule


# ---------------------------------------------------------------- watch


def _watch_in_thread(
    tn: Tenancy, **options: Any
) -> tuple[threading.Thread, list[Commit], list[BaseException]]:
    seen: list[Commit] = []
    errors: list[BaseException] = []
    iterator = tn.watch(**options)

    def run() -> None:
        try:
            seen.extend(iterator)
        except BaseException as error:  # reported by the test
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, seen, errors


def test_watch_gives_new_commits_as_they_come_and_ends_after_the_timeout(opener: Opener) -> None:
    tn = opener()
    _, t = _world(tn)
    start = tn.revision
    thread, seen, errors = _watch_in_thread(tn, after=start, timeout=0.5)
    for n in range(3):
        time.sleep(0.05)
        t.create_group(f"Site {n}", id=f"site-{n}")
    began = time.monotonic()
    thread.join(JOIN)
    assert not thread.is_alive()
    assert not errors
    assert time.monotonic() - began < 5
    assert [c.revision for c in seen] == list(range(start + 1, tn.revision + 1))
    created = [c.changes[0] for c in seen if isinstance(c.changes[0], ch.GroupCreated)]
    assert [c.group.id for c in created] == ["site-0", "site-1", "site-2"]


def test_watch_from_another_handle_on_the_same_store(opener: Opener) -> None:
    """Two handles on one store (two processes, for SQLite): the watcher sees the other
    handle's commits at once, whatever its own staleness window."""
    watcher = opener(staleness=60.0)
    writer = opener()
    _, t = _world(writer)
    thread, seen, errors = _watch_in_thread(watcher, after=writer.revision, timeout=1.0)
    time.sleep(0.05)
    t.create_device("Gen", id="gen")
    thread.join(JOIN)
    assert not thread.is_alive()
    assert not errors
    assert [c.revision for c in seen] == [writer.revision]


def test_a_commit_is_given_once_the_handle_has_seen_it(opener: Opener) -> None:
    """Another handle's commits: the watcher catches up before it gives one, so the code
    reacting to it finds what it created."""
    watcher = opener(staleness=None)
    writer = opener()
    _, t = _world(writer)
    t.create_device("Gen", id="gen")
    for commit in watcher.watch(after=0, timeout=0):
        assert watcher.revision >= commit.revision
    assert watcher.get_device("gen").name == "Gen"
    assert watcher.changes(after=watcher.revision) == []


def test_watch_without_commits_ends_after_the_timeout(opener: Opener) -> None:
    tn = opener()
    began = time.monotonic()
    assert list(tn.watch(timeout=0.2)) == []
    assert 0.2 <= time.monotonic() - began < 5
    assert list(tn.watch(timeout=0)) == []  # zero: what is there, then the end


def test_watch_gives_what_is_there_first_and_its_default_start_is_the_revision(
    opener: Opener,
) -> None:
    tn = opener()
    _, t = _world(tn)
    assert [c.revision for c in tn.watch(after=0, timeout=0)] == list(range(1, tn.revision + 1))
    feed = tn.watch(timeout=0)  # from tn.revision, taken now
    t.create_group("Later")
    assert [_kinds(c)[0] for c in feed] == ["GroupCreated"]


def test_the_time_spent_on_a_commit_does_not_count_against_the_timeout(opener: Opener) -> None:
    tn = opener()
    _, t = _world(tn)
    t.create_group("A")
    t.create_group("B")
    seen = []
    for commit in tn.watch(after=tn.revision - 2, timeout=0.1):
        time.sleep(0.15)  # longer than the timeout: the next commit still comes
        seen.append(commit.revision)
    assert seen == [tn.revision - 1, tn.revision]


def test_a_handle_closed_during_a_watch_ends_it_with_store_error() -> None:
    tn = tenancy.open()
    thread, _, errors = _watch_in_thread(tn, timeout=30.0)
    time.sleep(0.05)
    tn.close()
    thread.join(JOIN)
    assert not thread.is_alive()
    [error] = errors
    assert isinstance(error, StoreError)


def test_the_feed_hooks_of_the_stores() -> None:
    """Memory and SQLite declare the hooks; a store that lacks them is served by polling."""
    store = MemoryStore()
    assert store.capabilities.feed
    assert isinstance(store, FeedStore)
    assert not PlainStore().capabilities.feed
    began = time.monotonic()
    assert store.wait_for_commit(0, 0.05) == 0
    assert time.monotonic() - began >= 0.05
    with tenancy.open(store) as tn:
        _world(tn)
        assert store.wait_for_commit(0, 5.0) == tn.revision  # at once: the head is past 0
        assert [c.revision for c in store.commits_after(0, 2)] == [1, 2]


def test_sqlite_wakes_a_wait_on_a_commit_of_the_same_store_at_once(tmp_path: Path) -> None:
    with tenancy.open(str(tmp_path / "wake.db")) as tn:
        _, t = _world(tn)
        store = tn.store
        assert isinstance(store, FeedStore)
        head = tn.revision
        woke: list[float] = []

        def wait() -> None:
            began = time.monotonic()
            store.wait_for_commit(head, 5.0)
            woke.append(time.monotonic() - began)

        thread = threading.Thread(target=wait, daemon=True)
        thread.start()
        time.sleep(0.05)
        t.create_group("Now")
        thread.join(JOIN)
        assert woke
        assert woke[0] < 2.0


# ---------------------------------------------------------------- who may read it


def test_who_may_read_the_feed() -> None:
    tn = tenancy.open()
    acme, t = _world(tn)
    mgmt = tn.management_tenant
    ops = tn.tenant(mgmt.id)
    auditor = ops.create_user("auditor@ops.example")
    plain = ops.create_user("plain@ops.example")
    ops.grant_role(auditor.id, "readonly")  # READ of everything: audit:READ included
    ops.grant_role(plain.id, "readonly")
    ops.revoke_role(plain.id, "readonly")
    assert tn.as_user(_admin(mgmt)).changes() == tn.changes()
    assert tn.as_user(auditor.id).changes(after=1) == tn.changes(after=1)
    assert list(tn.as_user(auditor.id).watch(after=tn.revision - 1, timeout=0))
    support = ops.create_user("support@ops.example")
    ops.define_role("support", ["support:READ"])
    ops.grant_role(support.id, "support")
    t.request_support(_admin(acme))
    for handle in (
        tn.as_user(_admin(acme)),  # a customer's admin: the feed holds every tenant's
        tn.as_user(plain.id),  # a management-tenant user without audit:READ
        tn.as_support(support.id, _admin(acme)),
    ):
        before = tn.revision
        for call in (handle.changes, handle.watch):
            with pytest.raises(PermissionDenied, match="change feed") as denied:
                call()
            assert denied.value.rule
        assert tn.revision == before


def test_a_revoked_role_ends_a_watch() -> None:
    tn = tenancy.open()
    _, _t = _world(tn)
    ops = tn.tenant(tn.management_tenant.id)
    auditor = ops.create_user("auditor@ops.example")
    ops.grant_role(auditor.id, "readonly")
    feed = tn.as_user(auditor.id).watch(after=tn.revision - 1, timeout=0.5)
    next(feed)
    ops.revoke_role(auditor.id, "readonly")
    with pytest.raises(PermissionDenied):
        next(feed)


# ---------------------------------------------------------------- the store's checks


def test_the_change_log_checksum_covers_the_time_and_actor(tmp_path: Path) -> None:
    path = tmp_path / "crc.db"
    with tenancy.open(str(path)) as tn:
        _world(tn)
        head = tn.revision
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE changes SET actor = 'mallory' WHERE revision = ?", (head,))
    conn.close()
    with tenancy.open(str(path)) as tn, pytest.raises(StoreError, match="checksum mismatch"):
        tn.changes(after=head - 1)


# ---------------------------------------------------------------- the how-to's automation


def _provision(tn: Tenancy, commit: Commit) -> None:
    """The automation of docs/how-to/automate-with-the-change-feed.md."""
    for change in commit.changes:
        if isinstance(change, ch.DeviceCreated) and ("kind", "gateway") in change.device.tags:
            device = change.device
            with contextlib.suppress(tenancy.AlreadyExists, tenancy.NotFound):
                tn.tenant(device.tenant_id).create_group(
                    f"Dashboard {device.name}", id=f"dashboard-{device.id}",
                    device_ids=[device.id],
                )  # fmt: skip


def test_a_gateway_gets_a_dashboard_group_from_a_watcher_on_another_handle(
    opener: Opener,
) -> None:
    """A watcher loop in a thread on one handle, a writer on another (another process,
    on SQLite): every gateway gets its dashboard group in its own tenant, once."""
    watcher = opener()
    writer = opener()
    acme, t = _world(writer)
    beta = writer.create_tenant(domain="beta", name="Beta", admin_email="it@beta.example")
    b = writer.tenant(beta.id)
    start = writer.revision
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            for commit in watcher.watch(after=start, timeout=0.5):
                _provision(watcher, commit)
        except BaseException as error:  # reported below
            errors.append(error)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    t.create_device("Gateway A", id="gw-a", tags={"kind": "gateway"})
    t.create_device("Sensor A", id="sensor-a", tags={"kind": "sensor"}, parent="gw-a")
    b.create_devices([{"name": f"Gateway B{n}", "id": f"gw-b{n}", "tags": {"kind": "gateway"}}
                      for n in range(2)])  # fmt: skip
    thread.join(JOIN)
    assert not thread.is_alive()
    assert not errors
    writer.catch_up()
    assert [g.id for g in t.groups()] == ["dashboard-gw-a"]
    assert [g.id for g in b.groups()] == ["dashboard-gw-b0", "dashboard-gw-b1"]
    assert t.get_group("dashboard-gw-a").device_ids == {"gw-a"}
    ana = t.create_user("ana@acme.example")
    t.add_member("dashboard-gw-a", ana.id)
    assert [d.id for d in writer.devices_for(ana.id)] == ["gw-a", "sensor-a"]
    assert acme.id != beta.id
