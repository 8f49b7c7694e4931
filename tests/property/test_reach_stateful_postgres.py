"""The reach state machine (test_reach_stateful.py) on a PostgreSQL store: the same rules
and invariants, every write through PostgreSQL, each example in a schema of its own.

``make test`` runs 10 examples of at most 20 steps; ``TENANCY_PG_HEAVY=1`` runs 100 of 50.
"""

from __future__ import annotations

import os
from unittest import mock

from hypothesis import settings

from tenancy.handle import writer as writer_module
from tenancy.store.postgres import PostgresStore
from tests import pg
from tests.property import test_reach_stateful as base

HEAVY = os.environ.get("TENANCY_PG_HEAVY") == "1"


class PostgresReachMachine(base.ReachMachine):
    def __init__(self) -> None:
        self._url = pg.database_url()
        self._schema = pg.fresh_schema()

        def store() -> PostgresStore:
            return PostgresStore(self._url, schema=self._schema, pool_size=2)

        with mock.patch.object(base, "MemoryStore", store):
            super().__init__()

    def teardown(self) -> None:
        # Every handle on this store, those the reopen rule replaced too: their followers
        # would otherwise go on waiting on a closed store.
        # They share one store object: each flushes what it holds (usage counts pending
        # since its last commit) before the first close closes that store under the others.
        writers = [w for w in list(writer_module._WRITERS) if w.store is self.store]
        for writer in writers:
            writer.flush_usage()
        for writer in writers:
            writer.close()
        self.store.close()
        pg.give_back(self._url, self._schema)


PostgresReachMachine.TestCase.settings = settings(
    deadline=None,
    max_examples=100 if HEAVY else 10,
    stateful_step_count=50 if HEAVY else 20,
)
TestReachOnPostgres = PostgresReachMachine.TestCase
