"""The index of a large commit (an import) is built while the store finishes the commit
(``BesideStore.commit_beside``): on SQLite and PostgreSQL the writer adopts the index built
beside; work that fails there is done again after the commit; a commit that fails after the
work started leaves the store, the index and no thread behind; a store without the hook
(a wrapper) takes the same import the plain way.

``BULK_CHANGES`` is lowered so that a small document is a large commit.
"""

from __future__ import annotations

import io
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tenancy
from tenancy import Tenancy
from tenancy.errors import StoreError
from tenancy.handle import writer as writer_module  # its own name for rebuilt
from tenancy.index import bulk
from tenancy.store import _sqlite_apply
from tenancy.store.protocol import Beside, BesideStore
from tenancy.store.sqlite import SQLiteStore
from tests import pg
from tests.property.test_transfer_roundtrip import _answers, clock


def _source() -> tuple[Tenancy, bytes]:
    tn = tenancy.open(clock=clock)
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    scope = tn.tenant(acme.id)
    site = scope.create_group("Site", device_tags=[("site", "north")])
    scope.create_devices([{"name": f"Gen {n}", "tags": {"site": "north"}} for n in range(40)])
    user = scope.create_user("ops@acme.example")
    scope.add_member(site.id, user.id)
    out = io.BytesIO()
    tn.export_to(out)
    return tn, out.getvalue()


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Beside]:
    """Every Beside the stores started, in order."""
    seen: list[Beside] = []
    start = Beside.start

    def spy(self: Beside) -> None:
        seen.append(self)
        start(self)

    monkeypatch.setattr(Beside, "start", spy)
    monkeypatch.setattr(bulk, "BULK_CHANGES", 1)
    return seen


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "copy.db"


def test_an_import_into_sqlite_adopts_the_index_built_beside(
    sqlite_path: Path, started: list[Beside]
) -> None:
    source, document = _source()
    with tenancy.open(str(sqlite_path), clock=clock, staleness=None) as copy:
        opened = len(started)  # a new store's first commit (its management tenant) too
        copy.import_from(io.BytesIO(document))
        [beside] = started[opened:]
        assert beside.done
        assert copy.index is beside.result  # adopted, not built a second time
        copy.index.check_invariants()
        assert _answers(copy) == _answers(source)
    with tenancy.open(str(sqlite_path), clock=clock, staleness=None) as reopened:
        assert _answers(reopened) == _answers(source)  # the rows, indexes and log
        assert reopened.index.snapshot() == beside.result.snapshot()


def test_work_that_fails_beside_the_commit_is_done_again_after_it(
    sqlite_path: Path, started: list[Beside], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, document = _source()
    calls: list[str] = []
    real = bulk.rebuilt

    def fails_beside(index: Any, commit: Any) -> Any:
        calls.append(threading.current_thread().name)
        if threading.current_thread().name == "tenancy-beside":
            raise RuntimeError("a bug in the bulk build")
        return real(index, commit)

    monkeypatch.setattr(writer_module, "rebuilt", fails_beside)
    with tenancy.open(str(sqlite_path), clock=clock, staleness=None) as copy:
        opened, calls[:] = len(started), []
        report = copy.import_from(io.BytesIO(document))
        [beside] = started[opened:]
        assert isinstance(beside.error, RuntimeError)
        assert not beside.done
        assert calls == ["tenancy-beside", threading.current_thread().name]
        assert copy.revision == report.revision == copy.store.head()
        copy.index.check_invariants()
        assert _answers(copy) == _answers(source)


def test_a_commit_failing_after_the_work_started_leaves_everything_as_it_was(
    sqlite_path: Path, started: list[Beside], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, document = _source()

    def full_disk(self: Any, conn: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    with tenancy.open(str(sqlite_path), clock=clock, staleness=None) as copy:
        before, revision, head = copy.index, copy.revision, copy.store.head()
        snapshot, opened = copy.store.snapshot(), len(started)
        with monkeypatch.context() as patch:
            patch.setattr(_sqlite_apply.ChangeWriter, "remake_indexes", full_disk)
            with pytest.raises(StoreError, match="full"):
                copy.import_from(io.BytesIO(document))
        [beside] = started[opened:]
        assert beside._thread is not None
        assert not beside._thread.is_alive()
        assert copy.index is before
        assert copy.revision == revision
        assert copy.store.head() == head
        assert copy.store.snapshot() == snapshot
        copy.import_from(io.BytesIO(document))  # the store still takes it whole
        assert len(started) == opened + 2
        assert started[-1].done


class _Wrapper:
    """A store wrapper that forwards what the protocol requires, not commit_beside."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        if name == "commit_beside":
            raise AttributeError(name)
        return getattr(self.store, name)


def test_a_store_without_the_hook_takes_the_import_the_plain_way(
    sqlite_path: Path, started: list[Beside]
) -> None:
    source, document = _source()
    wrapper = _Wrapper(SQLiteStore(sqlite_path))
    assert not isinstance(wrapper, BesideStore)
    with tenancy.open(wrapper, clock=clock, staleness=None) as copy:
        copy.import_from(io.BytesIO(document))
        assert started == []  # neither the first commit nor the import
        copy.index.check_invariants()
        assert _answers(copy) == _answers(source)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL of a store of its own (a new schema, dropped afterwards)."""
    pytest.importorskip("psycopg", reason="the extra 'postgres': pip install -e '.[postgres]'")
    base, schema = pg.database_url(), pg.fresh_schema()
    yield f"{base}?schema={schema}"
    pg.drop_schema(base, schema)


def test_an_import_into_postgres_adopts_the_index_built_beside(
    postgres_url: str, started: list[Beside]
) -> None:
    source, document = _source()
    url = postgres_url
    with tenancy.open(url, clock=clock, staleness=None) as copy:
        opened = len(started)
        copy.import_from(io.BytesIO(document))
        [beside] = started[opened:]
        assert beside.done
        assert copy.index is beside.result
        copy.index.check_invariants()
        assert _answers(copy) == _answers(source)
    with tenancy.open(url, clock=clock, staleness=None) as reopened:
        assert reopened.index.snapshot() == beside.result.snapshot()
