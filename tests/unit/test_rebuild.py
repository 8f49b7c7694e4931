"""The second wall: a handle that fails to apply a commit to its index (one it just wrote,
or one it reads while catching up) rebuilds the index from the store, logs it once, and
keeps answering and writing as a freshly opened handle would."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import tenancy
from tenancy import StoreError, Tenancy
from tenancy.index.index import Index
from tenancy.records.changes import Commit

REAL_APPLY = Index.apply_commit


class Boom(ValueError):
    pass


def fail_once(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the next Index.apply_commit apply half its changes, then raise (a torn index);
    later calls apply normally. Returns the revisions it failed."""
    failed: list[int] = []

    def apply_commit(index: Index, commit: Commit) -> None:
        if failed:
            REAL_APPLY(index, commit)
            return
        failed.append(commit.revision)
        index.apply(commit.changes[: max(1, len(commit.changes) // 2)])
        raise Boom(f"injected failure applying revision {commit.revision}")

    monkeypatch.setattr(Index, "apply_commit", apply_commit)
    return failed


def world(tn: Tenancy) -> tuple[str, str, str, str]:
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="admin@acme.example")
    t = tn.tenant(acme.id)
    region = t.create_group("Region")
    user = t.create_user("ana@acme.example")
    t.add_member(region.id, user.id)
    device = t.create_device("Generator", tags=[("site", "sb")])
    return acme.id, region.id, user.id, device.id


def assert_same_as_fresh(tn: Tenancy, user: str) -> None:
    fresh = Tenancy(tn.store, staleness=None)
    assert tn.revision == fresh.revision
    assert tn.index.snapshot() == fresh.index.snapshot()
    tn.index.check_invariants()
    assert [d.id for d in tn.devices_for(user)] == [d.id for d in fresh.devices_for(user)]
    assert [g.id for g in tn.groups_for(user)] == [g.id for g in fresh.groups_for(user)]


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "tenancy" and r.levelno >= logging.ERROR]


def test_a_write_whose_apply_fails_is_kept_and_the_index_rebuilt(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tn = tenancy.open()
    tenant, region, user, device = world(tn)
    t = tn.tenant(tenant)
    failed = fail_once(monkeypatch)
    site = t.create_group("Site", parent=region, device_tags=[("site", "sb")])
    assert failed == [tn.revision]  # the write itself was committed, then failed to apply
    assert site.id in tn.index.groups
    assert tn.verify(user, device)
    assert_same_as_fresh(tn, user)
    (logged,) = errors(caplog)
    assert f"applying revision {failed[0]}" in logged.getMessage()
    assert "rebuilding" in logged.getMessage()
    assert logged.exc_info is not None
    assert isinstance(logged.exc_info[1], Boom)
    # Writes keep working, and apply normally again.
    t.remove_member(region, user)
    assert not tn.verify(user, device)
    t.add_member(site.id, user)
    assert tn.verify(user, device)
    assert_same_as_fresh(tn, user)
    assert len(errors(caplog)) == 1
    tn.close()


def test_a_commit_read_while_catching_up_that_fails_rebuilds_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "shared.db")
    writer = tenancy.open(path, staleness=None)
    reader = tenancy.open(path, staleness=None)
    tenant, region, user, device = world(writer)
    t = writer.tenant(tenant)
    t.create_group("Site", parent=region, device_tags=[("site", "sb")])
    t.create_device("Pump", tags=[("site", "sb")])
    failed = fail_once(monkeypatch)
    assert reader.catch_up() == writer.revision
    assert failed  # the first commit the reader read failed, and it rebuilt from a snapshot
    assert reader.verify(user, device)
    assert_same_as_fresh(reader, user)
    assert len(errors(caplog)) == 1
    # The reader writes, the writer sees it.
    reader.tenant(tenant).create_device("Fan", tags=[("site", "sb")])
    assert len(writer.devices_for(user, fresh=True)) == 3
    assert_same_as_fresh(writer, user)
    reader.close()
    writer.close()


def test_a_failed_rebuild_raises_a_store_error_and_is_tried_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tn = tenancy.open()
    tenant, region, user, device = world(tn)
    fail_once(monkeypatch)
    real_build = Index.build

    def no_build(snapshot: object) -> Index:
        raise Boom("injected failure building the index")

    monkeypatch.setattr(Index, "build", staticmethod(no_build))
    with pytest.raises(StoreError) as raised:
        tn.tenant(tenant).create_group("Site", parent=region, device_tags=[("site", "sb")])
    assert "could not be rebuilt" in str(raised.value)
    assert raised.value.rule
    with pytest.raises(StoreError):  # the next use tries again before anything else
        tn.catch_up()
    monkeypatch.setattr(Index, "build", real_build)
    assert tn.catch_up() == tn.store.head()
    assert tn.verify(user, device)
    assert_same_as_fresh(tn, user)
    tn.tenant(tenant).create_group("Another")
    assert_same_as_fresh(tn, user)
    tn.close()


def test_an_acting_handle_rebuilds_its_base(monkeypatch: pytest.MonkeyPatch) -> None:
    tn = tenancy.open()
    tenant, _, user, _ = world(tn)
    admin_id = tn.get_tenant(tenant).admin_user_id
    assert admin_id is not None
    admin = tn.as_user(admin_id)
    fail_once(monkeypatch)
    site = admin.tenant(tenant).create_group("Site", device_tags=[("site", "sb")])
    assert site.id in tn.index.groups
    assert admin.index is tn.index
    assert_same_as_fresh(tn, user)
    tn.close()
