"""Folders are the layers, imports point down them, no import cycle, no module too long.

Every module of src/tenancy is parsed with ``ast`` (nothing is imported), and each of its
``import`` statements, including the ones under ``if TYPE_CHECKING:``, is resolved to a
tenancy module. A module's layer is its folder (``tenancy/index/load.py`` is in ``index``);
the two base modules, the public API (tenancy/__init__.py) and the command line are named.
A new folder fails here until it is given a layer, which is the point: its place in the
architecture is a decision, made once, in this file.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PACKAGE = SRC / "tenancy"

# The layers, bottom first (RENOVATION.md, STYLE.md "A layout that shows the architecture"):
#
#   base (errors, ids) <- records <- index <- rules <- transfer <- handle <- api <- web <- tools
#                         records <- store <- handle
#
# records/ is data only; index/ the closure index over the records; rules/ the pure
# functions over the index (reach, access, limits, paging, validation); transfer/ the
# interchange document (schema, canonical order, streamed encoding, import planning: pure,
# the caller hands it a file); store/ a side layer
# that knows the records it persists and nothing of the index, the rules or the facade;
# handle/ the facade that ties them together; api is tenancy/__init__.py; the tools (the
# command line and tenancy.testing) use the public API like any application. web/, the admin
# page (an optional extra), imports the public package only; the command line starts it.
LAYERS = (
    "base", "records", "index", "rules", "transfer", "store", "handle", "api", "web", "tools",
)  # fmt: skip

# Which layers each layer may import (itself included): every layer below it, except the
# store, which sees the base and the records only, and web, which sees the public API only.
ALLOWED: dict[str, frozenset[str]] = {
    layer: frozenset(LAYERS[: i + 1]) for i, layer in enumerate(LAYERS)
}
ALLOWED["store"] = frozenset({"base", "records", "store"})
ALLOWED["web"] = frozenset({"api", "web"})

# The modules whose layer is their name; every other module is in the layer of its folder.
NAMED: dict[str, str] = {
    "tenancy": "api",
    "tenancy.errors": "base",
    "tenancy.ids": "base",
}
FOLDERS: dict[str, str] = {
    "records": "records",
    "index": "index",
    "rules": "rules",
    "transfer": "transfer",
    "store": "store",
    "handle": "handle",
    "testing": "tools",
    "cli": "tools",
    "web": "web",
}

MAX_LINES = 800
"""STYLE.md: keep modules under about 800 lines and one concept each."""


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
IO_LAYERS = frozenset({"store", "tools", "web"})  # web: an HTTP server, `tenancy serve`

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


def resolve(target: str, modules: Set[str] = MODULES.keys()) -> str | None:
    """The tenancy module an import names (``tenancy.store.Store`` is ``tenancy.store``),
    or None for a module outside tenancy."""
    if target != "tenancy" and not target.startswith("tenancy."):
        return None
    while target not in modules:
        target = target.rpartition(".")[0]
    return target


def layer_of(module: str) -> str | None:
    """The layer of a module: its name's in NAMED, else its folder's, else None."""
    if module in NAMED:
        return NAMED[module]
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "tenancy":
        return None
    return FOLDERS.get(parts[1])


def test_every_module_has_a_layer() -> None:
    """A module outside the layer folders (and not named in NAMED) fails: a new folder or a
    new top-level module is a decision about the architecture, made here."""
    assert "tenancy.index.index" in MODULES, "the test must find the sources"
    unplaced = sorted(m for m in MODULES if layer_of(m) is None)
    assert not unplaced, f"give these modules a layer in {__file__}: {unplaced}"


def test_layer_table_is_closed() -> None:
    """Every layer named in the tables is defined, and each may import itself and only
    layers below it in LAYERS."""
    assert set(NAMED.values()) | set(FOLDERS.values()) <= set(LAYERS)
    assert set(ALLOWED) == set(LAYERS)
    for layer, allowed in ALLOWED.items():
        assert layer in allowed
        assert all(LAYERS.index(a) <= LAYERS.index(layer) for a in allowed)


def test_folders_are_packages() -> None:
    """Every layer folder exists and is a package (with an __init__.py)."""
    for folder in FOLDERS:
        assert (PACKAGE / folder / "__init__.py").is_file(), folder


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


# ------------------------------------------------------------------ cycles


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """Module -> the tenancy modules it imports (TYPE_CHECKING and function-level imports
    included; the implicit import of a module's parent packages is not an edge)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for imp in imports_of(name, path):
            target = resolve(imp.target, modules.keys())
            if target is not None and target != name:
                graph[name].add(target)
    return graph


def cycles(graph: Mapping[str, Set[str]]) -> set[frozenset[str]]:
    """The import cycles of a graph: its strongly connected components of two modules or
    more (Tarjan's algorithm). Two modules are in one component when each reaches the
    other, so every cycle lies inside one component and one component counts once however
    many cycles run through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    """No two modules import each other, directly or through others, not even under
    TYPE_CHECKING, inside a folder too."""
    found = sorted(sorted(c) for c in cycles(import_graph(MODULES)))
    assert not found, f"import cycles: {found}"


def test_the_cycle_finder_finds_cycles() -> None:
    """A guard against a finder that silently finds nothing: a two-module cycle, a
    three-module cycle through a TYPE_CHECKING import, and a chain without a cycle."""
    graph = {
        "a": {"b"},
        "b": {"a", "c"},
        "c": {"d"},
        "d": {"e"},
        "e": {"c"},
        "f": {"a", "c"},
    }
    assert cycles(graph) == {frozenset({"a", "b"}), frozenset({"c", "d", "e"})}
    assert cycles({"x": {"y"}, "y": set()}) == set()


def test_the_graph_sees_type_checking_imports(tmp_path: Path) -> None:
    """An import under ``if TYPE_CHECKING:`` and one inside a function are edges."""
    one = tmp_path / "one.py"
    two = tmp_path / "two.py"
    one.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from tenancy.pkg.two import Two\n",
        encoding="utf-8",
    )
    two.write_text("def f() -> None:\n    from tenancy.pkg import one\n", encoding="utf-8")
    graph = import_graph({"tenancy.pkg.one": one, "tenancy.pkg.two": two, "tenancy.pkg": one})
    assert cycles(graph) == {frozenset({"tenancy.pkg.one", "tenancy.pkg.two"})}


# ------------------------------------------------------------------ size


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_not_too_long(module: str) -> None:
    """STYLE.md: no module over MAX_LINES lines."""
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (at most {MAX_LINES}): split it"


# ------------------------------------------------------------------ dependencies


def runtime_dependencies(extra: str | None = None) -> frozenset[str]:
    """The import names of the runtime dependencies declared in pyproject.toml (or, given
    ``extra``, of that optional extra)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    names = (re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0] for spec in specs)
    return frozenset(n.lower().replace("-", "_") for n in names)


OPTIONAL_EXTRAS = {
    "tenancy.store.postgres": "postgres",
    "tenancy.store._postgres": "postgres",
    "tenancy.web": "web",
}
"""Modules (by name prefix) that may import the packages of an optional extra, lazily."""


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) != "tools"))
def test_library_imports_only_runtime_dependencies(module: str) -> None:
    """The library proper imports the standard library, tenancy and its declared runtime
    dependencies (the modules of OPTIONAL_EXTRAS also their extra's packages); test-only
    packages (hypothesis, pytest) stay in tenancy.testing."""
    allowed = runtime_dependencies() | set(sys.stdlib_module_names) | {"tenancy"}
    for prefix, extra in OPTIONAL_EXTRAS.items():
        if module.startswith(prefix):
            allowed |= runtime_dependencies(extra)
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
        "from tenancy.handle import tenancy\n"
        "from tenancy.records.model import Device\n"
        "import sqlite3\n"
        "def load(path: str) -> bytes:\n"
        "    with open(path, 'rb') as f:\n"
        "        return f.read()\n",
        encoding="utf-8",
    )
    assert arrow_violations("tenancy.index.index", bad) == [
        "line 1: tenancy.store.memory (layer store) from layer index",
        "line 2: tenancy.handle.tenancy (layer handle) from layer index",
    ]
    assert io_violations("tenancy.index.index", bad) == [
        "line 4: import sqlite3",
        "line 6: open(...)",
    ]
    assert io_violations("tenancy.store.memory", bad) == []
    assert arrow_violations("tenancy.not_placed_yet", bad) != []
    assert arrow_violations("tenancy.store.sqlite", bad) == [
        "line 2: tenancy.handle.tenancy (layer handle) from layer store",
    ]
    assert resolve("tenancy.Tenancy") == "tenancy"
    assert resolve("msgspec.Struct") is None
    assert layer_of("tenancy.store.sqlite") == "store"
    assert layer_of("tenancy.testing.oracle") == "tools"
    assert layer_of("tenancy.errors") == "base"
    assert layer_of("tenancy.rules.reach") == "rules"
    assert layer_of("tenancy.web.pages") == "web"
    assert layer_of("tenancy.somewhere_new") is None


def test_the_package_only_reexports() -> None:
    """tenancy/__init__.py holds its docstring, imports, ``__version__`` and ``__all__``:
    no code of its own (``open`` lives in tenancy.handle.open)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    other = [
        f"line {node.lineno}: {type(node).__name__}"
        for node in tree.body
        if not isinstance(node, ast.Import | ast.ImportFrom)
        and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        and not (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] in (["__all__"], ["__version__"])
        )
    ]
    assert not other, "tenancy/__init__.py does more than re-export:\n" + "\n".join(other)
