"""The one ``stores`` fixture of the contract suite, parametrised over every adapter that
ships (tenancy.testing.contract.ADAPTERS). PostgreSQL joins here when it is written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tenancy.testing.contract import ADAPTERS, StoreFactory


@pytest.fixture(params=sorted(ADAPTERS))
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    factory = ADAPTERS[request.param](tmp_path)
    yield factory
    factory.close_all()
