"""The SQLite store's bulk writes (an import's runs of creations) mean what the reference
says, row for row, and keep every table's row count and checksum total exact: a reopened
store reads its snapshot (which checks both) and equals the memory store's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tenancy.errors import StoreError
from tenancy.records import changes as ch
from tenancy.records.model import Device, Group, Tenant, User, parse_rules
from tenancy.store import MemoryStore, _sqlite_apply
from tenancy.store.sqlite import SQLiteStore

ACME = Tenant(id="t00000002", domain="acme", name="Acme", admin_email="a@acme.example")


def _group(gid: str, *, ids: frozenset[str] = frozenset(), rules: object = ()) -> Group:
    return Group(
        id=gid, tenant_id=ACME.id, name=gid.upper(), device_ids=ids,
        device_tags=parse_rules(rules),  # type: ignore[arg-type]
    )  # fmt: skip


def _both(tmp_path: Path, commits: list[list[ch.Change]]) -> SQLiteStore:
    """The commits through a SQLite and a memory store: the same records after each."""
    store, reference = SQLiteStore(tmp_path / "s.db"), MemoryStore()
    for revision, changes in enumerate(commits, start=1):
        store.commit(changes, expected_revision=revision - 1)
        reference.commit(changes, expected_revision=revision - 1)
        assert store.snapshot() == reference.snapshot(), f"after revision {revision}"
    store.close()
    again = SQLiteStore(tmp_path / "s.db")  # its snapshot checks each table's totals
    assert again.snapshot() == reference.snapshot()
    return again


def test_a_run_of_new_groups_is_written_whole(tmp_path: Path) -> None:
    devices = [ch.DeviceCreated(device=Device(id=f"d{n}", tenant_id=ACME.id, name=f"D{n}",
               tags=frozenset({("site", f"s{n % 3}")}))) for n in range(6)]  # fmt: skip
    groups = [
        ch.GroupCreated(group=_group("g-a", ids=frozenset({"d0", "d1"}))),
        ch.GroupCreated(group=_group("g-b", rules=[("site", "s1")])),
        ch.GroupCreated(
            group=_group("g-c", ids=frozenset({"d2"}), rules=[("site", "s2"), (None, "s0")])
        ),
        ch.GroupCreated(group=_group("g-d")),
    ]
    users = [ch.UserCreated(user=User(id=f"u{n}", tenant_id=ACME.id, email=f"u{n}@a.example"))
             for n in range(3)]  # fmt: skip
    members = [ch.MemberAdded(group_id="g-a", user_id=f"u{n}") for n in range(3)]
    store = _both(tmp_path, [[ch.TenantCreated(tenant=ACME), *groups, *devices, *users,
                              *members]])  # fmt: skip
    assert {g.id: g.device_ids for g in store.snapshot().groups}["g-c"] == {"d2"}
    store.close()


def test_a_run_that_names_a_group_already_there_replaces_it(tmp_path: Path) -> None:
    """One group of the run exists (with ids and rules of its own), another comes twice:
    each replaces what was there, as one GroupCreated at a time does."""
    first = _group("g-a", ids=frozenset({"d0", "d1"}), rules=[("site", "x")])
    again = _group("g-a", ids=frozenset({"d2"}))
    twice = _group("g-b", rules=[("site", "y")])
    twice_again = _group("g-b", ids=frozenset({"d0"}))
    store = _both(tmp_path, [
        [ch.TenantCreated(tenant=ACME), ch.GroupCreated(group=first)],
        [ch.GroupCreated(group=_group("g-new")), ch.GroupCreated(group=again)],
        [ch.GroupCreated(group=twice), ch.GroupCreated(group=twice_again),
         ch.GroupCreated(group=_group("g-c"))],
    ])  # fmt: skip
    groups = {g.id: g for g in store.snapshot().groups}
    assert groups["g-a"] == again
    assert groups["g-b"] == twice_again
    store.close()


def test_a_large_commit_takes_a_larger_page_cache_for_its_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache grows for a commit of many rows and is back to its size after it, when
    the commit succeeds and when it is refused."""
    monkeypatch.setattr(_sqlite_apply, "CACHE_KIB", 2)  # 8 rows or more: a large commit
    store = SQLiteStore(tmp_path / "s.db")
    seen: list[int] = []
    apply = _sqlite_apply.ChangeWriter._apply

    def spy(self: _sqlite_apply.ChangeWriter, conn: Any, changes: Any) -> None:
        seen.append(conn.execute("PRAGMA cache_size").fetchone()[0])
        apply(self, conn, changes)

    monkeypatch.setattr(_sqlite_apply.ChangeWriter, "_apply", spy)
    devices = [ch.DeviceCreated(device=Device(id=f"d{n}", tenant_id=ACME.id, name="D"))
               for n in range(40)]  # fmt: skip
    store.commit([ch.TenantCreated(tenant=ACME), *devices], expected_revision=0)
    store.commit(devices[:1], expected_revision=1)
    with pytest.raises(StoreError):  # d0 is there: the run goes one by one, then fails
        store.commit([ch.DeviceDeleted(device_id="nobody"), *devices], expected_revision=2)
    assert seen == [-10, -2, -10]  # 41 rows / 4 KiB, then the normal size
    assert store._conn.execute("PRAGMA cache_size").fetchone()[0] == -2
    assert len(store.snapshot().devices) == 40
    store.close()
