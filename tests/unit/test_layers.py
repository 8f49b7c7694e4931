"""Imports point one way (STYLE.md), and only the store adapters (and the tools) do I/O.

Every module of src/tenancy is parsed with ``ast`` (nothing is imported), each of its
``import`` statements, including the ones under ``if TYPE_CHECKING:``, is resolved to a
tenancy module, and the import must go from a layer to one the table below allows. A new
module fails here until it is given a layer, which is the point: its place in the
architecture is a decision, made once, in this file.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PACKAGE = SRC / "tenancy"

# The layers, bottom first. The core (errors to query) is pure; access control sits on it;
# the service layer (the facade and its mixins) ties the core to a store; ``api`` is
# tenancy/__init__.py; ``tools`` are the command line and the test helpers, which use the
# public API like any application. The store adapters form a side layer: they know the
# records and the changes they persist, and nothing of the index, the queries or the facade.
#
#   errors <- records <- changes <- closure <- index <- query <- access <- service <- api <- tools
#                                  store (records and changes only) <- service
#
# A module belongs to the layer of its name in MODULE_LAYERS or, inside the packages
# tenancy.store and tenancy.testing, to the layer of its package.
MODULE_LAYERS: dict[str, str] = {
    "tenancy.errors": "errors",
    "tenancy.ids": "records",
    "tenancy.model": "records",
    "tenancy.grants": "records",  # access-control records: permissions, roles, grants
    "tenancy.changes": "changes",
    "tenancy.snapshot": "changes",
    "tenancy._closure": "closure",
    "tenancy.index": "index",
    "tenancy._index_load": "index",  # the index's bulk load of a snapshot's devices
    "tenancy._sorted_ids": "records",  # a container of ids, used by the index
    "tenancy._access_state": "index",  # the index's access records, data only
    "tenancy.query": "query",
    "tenancy._paging": "query",  # page sizes and cursors of every listing
    "tenancy.access": "access",
    "tenancy.access_queries": "access",  # check, and devices_for/explain with a permission
    "tenancy.service": "service",
    "tenancy.scope": "service",
    "tenancy.roles": "service",  # role administration of a TenantScope
    "tenancy.tenants": "service",
    "tenancy._validate": "service",
    "tenancy.limits": "service",  # checks a command runs while it validates, as _validate
    "tenancy.usage": "service",  # usage statistics stamped on the facade's commits
    "tenancy.audit": "service",  # the audit records of the facade's commits, and its query
    "tenancy.store": "store",
    "tenancy": "api",
    "tenancy.cli": "tools",
    "tenancy.testing": "tools",
}

PACKAGES = ("tenancy.store", "tenancy.testing")

_CORE = ("errors", "records", "changes", "closure", "index", "query", "access")

# Which layers each layer may import (itself included).
ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset({"errors"}),
    "records": frozenset({"errors", "records"}),
    "changes": frozenset({"errors", "records", "changes"}),
    "closure": frozenset({"errors", "records", "changes", "closure"}),
    "index": frozenset({"errors", "records", "changes", "closure", "index"}),
    "query": frozenset({"errors", "records", "changes", "closure", "index", "query"}),
    "access": frozenset(_CORE),
    "store": frozenset({"errors", "records", "changes", "store"}),
    "service": frozenset({*_CORE, "store", "service"}),
    "api": frozenset({*_CORE, "store", "service", "api"}),
    "tools": frozenset({*_CORE, "store", "service", "api", "tools"}),
}

# Modules that reach files, databases or the network. Only the store adapters may import
# them, and the tools around the library (the command line opens files, the store contract
# suite creates and reopens database files); the core and the facade must not be able to.
IO_MODULES = frozenset(
    {
        "asyncio", "asyncpg", "fcntl", "ftplib", "http", "io", "mmap", "os", "pathlib",
        "psycopg", "psycopg2", "psycopg_pool", "requests", "selectors", "shutil", "socket",
        "sqlite3", "ssl", "subprocess", "tempfile", "urllib",
    }
)  # fmt: skip
IO_LAYERS = frozenset({"store", "tools"})

# Third-party packages that only the test helpers may use (they are the ``test`` extra).
TEST_ONLY = frozenset({"hypothesis", "pytest", "pytest_benchmark"})


@dataclass(frozen=True)
class Import:
    importer: str
    line: int
    target: str
    """The absolute name imported: a module, or ``package.name`` for ``from package import
    name`` (resolved later to a module when such a module exists)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = source_modules()


def imports_of(name: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            # ``from package import x`` depends on the submodule x when there is one (the
            # package's __init__ runs for any submodule import: not a layering choice).
            for alias in node.names:
                yield Import(name, node.lineno, f"{origin}.{alias.name}")


def resolve(target: str) -> str | None:
    """The tenancy module an import names (``tenancy.store.Store`` is ``tenancy.store``),
    or None for a module outside tenancy."""
    if target != "tenancy" and not target.startswith("tenancy."):
        return None
    while target not in MODULES:
        target = target.rpartition(".")[0]
    return target


def layer_of(module: str) -> str | None:
    if module in MODULE_LAYERS:
        return MODULE_LAYERS[module]
    package = next((p for p in PACKAGES if module.startswith(p + ".")), None)
    return None if package is None else MODULE_LAYERS[package]


def test_every_module_has_a_layer() -> None:
    """A new module must be placed in MODULE_LAYERS before it can be imported anywhere."""
    assert "tenancy.index" in MODULES, "the test must find the sources"
    unplaced = sorted(m for m in MODULES if layer_of(m) is None)
    assert not unplaced, f"give these modules a layer in {__file__}: {unplaced}"


def test_layer_table_is_closed() -> None:
    """Every layer named in the tables is defined, and each may import itself."""
    assert set(MODULE_LAYERS.values()) <= set(ALLOWED)
    for layer, allowed in ALLOWED.items():
        assert layer in allowed
        assert allowed <= set(ALLOWED)


def arrow_violations(module: str, path: Path) -> list[str]:
    """The imports of ``module`` (its source at ``path``) that point against the arrows."""
    layer = layer_of(module)
    if layer is None:
        return [f"{module} has no layer; see test_every_module_has_a_layer"]
    wrong = []
    for imp in imports_of(module, path):
        target = resolve(imp.target)
        if target is None or target == module:
            continue
        target_layer = layer_of(target)
        if target_layer not in ALLOWED[layer]:
            wrong.append(f"line {imp.line}: {target} (layer {target_layer}) from layer {layer}")
    return wrong


# Names inside I/O modules that do no I/O: the path protocol, used to accept pathlib.Path,
# and the fork hooks, which reset a handle's locks and threads in a forked child.
NOT_IO = frozenset({"os.PathLike", "os.fspath", "os.register_at_fork"})


def io_violations(module: str, path: Path) -> list[str]:
    """The I/O imports and builtin ``open`` calls of a module that may do no I/O."""
    if layer_of(module) in IO_LAYERS:
        return []
    found = [
        f"line {imp.line}: import {imp.target}"
        for imp in imports_of(module, path)
        if imp.target.split(".")[0] in IO_MODULES and imp.target not in NOT_IO
    ]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defines_open = any(
        isinstance(node, ast.FunctionDef) and node.name == "open" for node in tree.body
    )
    if not defines_open:  # tenancy.open is the public API, not the builtin
        found += [
            f"line {node.lineno}: open(...)"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "open"
        ]
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_layers(module: str) -> None:
    """Each import of ``module`` goes to its own layer or one the table allows: the pure
    core never imports a store, the facade or the public API above it."""
    wrong = arrow_violations(module, MODULES[module])
    assert not wrong, f"{module} imports against the arrow:\n" + "\n".join(wrong)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_store_does_io(module: str) -> None:
    """Outside tenancy.store and the tools (cli, testing), no module imports a file,
    database or network module, or calls the builtin ``open``."""
    found = io_violations(module, MODULES[module])
    assert not found, f"{module} does I/O outside tenancy.store:\n" + "\n".join(found)


def runtime_dependencies() -> frozenset[str]:
    """The import names of the runtime dependencies declared in pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = (re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0] for spec in project["dependencies"])
    return frozenset(n.lower().replace("-", "_") for n in names)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) != "tools"))
def test_library_imports_only_runtime_dependencies(module: str) -> None:
    """The library proper imports the standard library, tenancy and its declared runtime
    dependencies; test-only packages (hypothesis, pytest) stay in tenancy.testing."""
    allowed = runtime_dependencies() | set(sys.stdlib_module_names) | {"tenancy"}
    found = sorted(
        {
            f"line {imp.line}: {imp.target}"
            for imp in imports_of(module, MODULES[module])
            if imp.target.split(".")[0] not in allowed or imp.target.split(".")[0] in TEST_ONLY
        }
    )
    assert not found, f"{module} imports packages it does not declare:\n" + "\n".join(found)


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The checks catch an import against the arrow and an I/O import (a guard against a
    checker that silently passes everything)."""
    bad = tmp_path / "index.py"
    bad.write_text(
        "from tenancy.store.memory import MemoryStore\n"
        "from tenancy import service\n"
        "from tenancy.model import Device\n"
        "import sqlite3\n"
        "def load(path: str) -> bytes:\n"
        "    with open(path, 'rb') as f:\n"
        "        return f.read()\n",
        encoding="utf-8",
    )
    assert arrow_violations("tenancy.index", bad) == [
        "line 1: tenancy.store.memory (layer store) from layer index",
        "line 2: tenancy.service (layer service) from layer index",
    ]
    assert io_violations("tenancy.index", bad) == ["line 4: import sqlite3", "line 6: open(...)"]
    assert io_violations("tenancy.store.memory", bad) == []
    assert arrow_violations("tenancy.not_placed_yet", bad) != []
    assert resolve("tenancy.Tenancy") == "tenancy"
    assert resolve("msgspec.Struct") is None
    assert layer_of("tenancy.store.sqlite") == "store"
    assert layer_of("tenancy.testing.oracle") == "tools"
