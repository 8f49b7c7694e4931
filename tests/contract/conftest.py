"""The one ``stores`` fixture of the contract suite, parametrised over every adapter that
ships (tenancy.testing.contract.ADAPTERS) and PostgreSQL (a schema of its own per store, in
this run's database: tests/pg.py; skipped, saying how to start one, where no server answers)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tenancy.store.protocol import Store
from tenancy.testing.contract import ADAPTERS, StoreFactory
from tests import pg


class PostgresStoreFactory(StoreFactory):
    name = "postgresql"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self._url = pg.database_url()
        self._schemas: list[str] = []

    def _fresh(self) -> Store:
        from tenancy.store.postgres import PostgresStore

        schema = pg.fresh_schema()
        self._schemas.append(schema)
        return PostgresStore(self._url, schema=schema, pool_size=2)

    def _reopen(self, store: Store) -> Store | None:
        from tenancy.store.postgres import PostgresStore

        assert isinstance(store, PostgresStore)
        return PostgresStore(store.conninfo, schema=store.schema, pool_size=2)

    def close_all(self) -> None:
        super().close_all()
        for schema in self._schemas:
            pg.give_back(self._url, schema)


_ALL: dict[str, Callable[[Path], StoreFactory]] = {
    **ADAPTERS,
    "postgresql": PostgresStoreFactory,
}


@pytest.fixture(params=sorted(_ALL))
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    factory = _ALL[request.param](tmp_path)
    yield factory
    factory.close_all()
