"""The store adapter of examples/custom_store.py passes the store contract, as
docs/how-to/test-your-own-store-adapter.md shows: once around the in-memory store, once
around a SQLite file (durable and shared, so the reopening tests run too). And the
contract is not a formality: an adapter with one bug fails it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import tenancy
from examples.custom_store import MeteredStore
from tenancy.records.changes import Commit, Revision
from tenancy.store.memory import MemoryStore
from tenancy.store.protocol import Store
from tenancy.store.sqlite import SQLiteStore
from tenancy.testing.contract import StoreContract, StoreFactory


class MeteredMemory(StoreFactory):
    """Fresh stores for the suite; no ``_reopen``: a memory store has no way back."""

    name = "metered-memory"

    def _fresh(self) -> Store:
        return MeteredStore(MemoryStore())


class MeteredSQLite(StoreFactory):
    """Fresh stores in files of the test's directory, and a second connection to one."""

    name = "metered-sqlite"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self._count = 0

    def _fresh(self) -> Store:
        self._count += 1
        return MeteredStore(SQLiteStore(self.directory / f"metered-{self._count}.db"))

    def _reopen(self, store: Store) -> Store | None:
        assert isinstance(store, MeteredStore)
        assert isinstance(store.inner, SQLiteStore)
        return MeteredStore(SQLiteStore(store.inner.path))


class TestMeteredStore(StoreContract):
    """Every test of the contract, once per factory."""

    @pytest.fixture(params=[MeteredMemory, MeteredSQLite], ids=lambda f: f.name)
    def stores(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
        factory: StoreFactory = request.param(tmp_path)
        yield factory
        factory.close_all()


def test_the_metered_store_counts_what_it_commits() -> None:
    store = MeteredStore(MemoryStore())
    with tenancy.open(store) as tn:
        acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        tn.tenant(acme.id).create_device("Generator 7")
        assert store.commits == tn.revision == 3  # the management tenant, then 2 writes
        assert store.commit_seconds > 0


class ForgetsTheLastCommit(MeteredStore):
    """A bug: ``changes_since`` drops the latest commit (an off-by-one in a query)."""

    def changes_since(self, revision: Revision) -> list[Commit]:
        return self.inner.changes_since(revision)[:-1]


class Forgetful(StoreFactory):
    name = "forgetful"

    def _fresh(self) -> Store:
        return ForgetsTheLastCommit(MemoryStore())


def test_the_contract_catches_a_buggy_adapter(tmp_path: Path) -> None:
    factory = Forgetful(tmp_path)
    try:
        with pytest.raises(AssertionError):
            StoreContract().test_changes_since_returns_exactly_the_missing_changes(factory)
    finally:
        factory.close_all()
