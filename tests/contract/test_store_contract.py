"""Every store adapter passes the store contract (tenancy.testing.contract)."""

from __future__ import annotations

import re
from pathlib import Path

import tenancy
from tenancy.testing.contract import StoreContract


class TestStoreContract(StoreContract):
    """The conformance suite, once per adapter of the ``stores`` fixture."""


def test_the_library_never_probes_a_store() -> None:
    """Optional store features are read from Capabilities, never probed with hasattr or
    getattr (STYLE.md, core habit 2)."""
    source = Path(tenancy.__file__).parent
    probes = [
        f"{path.relative_to(source)}: {line.strip()}"
        for path in sorted(source.rglob("*.py"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.search(r"\bhasattr\(|getattr\([^,]*store", line)
    ]
    assert probes == []
