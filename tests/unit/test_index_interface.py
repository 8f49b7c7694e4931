"""The index keeps its tables: nothing outside src/tenancy/index/ reads them.

Other modules ask the index questions through a small, documented interface (the public
names listed here, defined in tenancy/index/tables.py and index.py) and hand it changes
through ``apply``, so a change of representation is made by editing index/ alone. Two checks
hold that line: the public names of the index and of its access state are exactly the
interface below (a new public attribute is a decision, made here), and no module outside
index/ names a private attribute of an index class (parsed with ``ast``, nothing imported).
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

import tenancy
from tenancy.index.access_tables import AccessState
from tenancy.index.index import Index

ROOT = Path(__file__).resolve().parents[2]
INDEX = ROOT / "src" / "tenancy" / "index"
READERS = [ROOT / "src", ROOT / "tests", ROOT / "benchmarks", ROOT / "examples"]

INDEX_INTERFACE = frozenset({
    # where it stands, building, applying, checking
    "revision", "seq", "build", "apply", "apply_commit", "snapshot", "check_invariants",
    # the hot pair, the records, the access state
    "reach_tables", "tenants", "groups", "devices", "users", "access",
    # tenants
    "tenant_by_domain", "child_tenants", "tenant_subtree", "blocker_of", "groups_of_tenant",
    "users_of_tenant", "devices_of_tenant", "device_count", "root_device_count",
    "usage_on", "usage_before", "usage_between",
    # groups
    "group_record", "group_path", "group_parent", "has_child_groups", "groups_below",
    "would_cycle", "group_path_down", "lists_device", "tag_rules_of", "devices_covered_by",
    "devices_associated_by", "members_of", "is_member",
    # devices and users
    "child_devices", "cover_of", "groups_associating", "user_by_email", "groups_of_user",
    "reach_of", "without_muted",
    # time-bounded memberships (tenancy.index.terms)
    "held_members_of", "member_term", "terms_of_user", "terms_of_group", "timed", "view",
    "retime_due", "next_boundary", "retime", "timed_verify", "has_window",
    # cross-tenant shares (tenancy.index.shares)
    "shared_part_of", "own_cover_of", "live_share",
    # for tools and white-box tests only
    "tables",
})  # fmt: skip

ACCESS_INTERFACE = frozenset({
    "cache", "record", "role", "global_roles_of", "inventory_of", "delegation",
    "delegations_by", "delegators_of", "support_request", "sub_users_of", "of_tenant",
    "referring_to_user", "referring_to_group", "sorted_records",
    # time-bounded grants (DOMAIN.md section 9)
    "role_windows_of", "inventory_windows", "windowed",
    # connectors and subscriptions
    "connector", "connectors_from", "connectors_to", "connectors_naming", "all_connectors",
    "subscription", "subscription_of", "subscriptions_of", "all_subscriptions",
    "virtual_group",
})  # fmt: skip

TABLES_FOR_TOOLS = ("src/tenancy/testing/", "tests/", "benchmarks/")
"""Where ``Index.tables()`` (the representation itself, by name) may be read."""


def _public(names: Iterator[str]) -> set[str]:
    return {n for n in names if not n.startswith("_")}


def _instance() -> Index:
    tn = tenancy.open()
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
    t = tn.tenant(acme.id)
    site = t.create_group("site", device_tags=[("site", "x")])
    t.create_device("d", tags=[("site", "x")])
    t.add_member(site.id, t.create_user("ana@acme.example").id)
    return tn.index


def test_the_index_has_exactly_its_interface() -> None:
    index = _instance()
    assert _public(iter(dir(index))) == INDEX_INTERFACE
    assert not _public(iter(vars(index))), "every table is private"


def test_the_access_state_has_exactly_its_interface() -> None:
    access = _instance().access
    assert _public(iter(dir(access))) == ACCESS_INTERFACE
    assert _public(iter(vars(access))) == {"cache"}, "every table is private"


@pytest.mark.parametrize("name", sorted(INDEX_INTERFACE))
def test_every_call_of_the_interface_says_its_cost(name: str) -> None:
    doc = inspect.getdoc(getattr(Index, name)) or ""
    assert "O(" in doc, f"Index.{name} documents no runtime cost"


@pytest.mark.parametrize("name", sorted(ACCESS_INTERFACE - {"cache"}))
def test_every_read_of_the_access_state_says_its_cost(name: str) -> None:
    doc = inspect.getdoc(getattr(AccessState, name)) or ""
    assert "O(" in doc, f"AccessState.{name} documents no runtime cost"


def _names_of_classes(source: str) -> set[str]:
    """The ``_name`` attributes the classes of ``source`` define: set on ``self``, or
    methods."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(inner.name)
            elif (
                isinstance(inner, ast.Attribute)
                and isinstance(inner.value, ast.Name)
                and inner.value.id == "self"
            ):
                names.add(inner.attr)
    return {n for n in names if n.startswith("_") and not n.endswith("__")}


def _private_names() -> frozenset[str]:
    """Every private attribute or method an index class defines."""
    return frozenset(
        name for path in INDEX.glob("*.py") for name in _names_of_classes(path.read_text())
    )


def _reader_files() -> Iterator[Path]:
    for folder in READERS:
        for path in sorted(folder.rglob("*.py")):
            if INDEX not in path.parents:
                yield path


def _reads_of_private(
    source: str, private: frozenset[str], shared: frozenset[str] = frozenset()
) -> list[str]:
    """``x._name`` for an index class's private ``_name``, on anything but ``self``/``cls``.
    A name in ``shared`` (a class outside the index defines it too, say a store reader's
    ``_records``) counts only on an expression that names the index or its access state."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or node.attr not in private:
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        base = ast.unparse(node.value)
        if node.attr in shared and "index" not in base and "access" not in base:
            continue
        found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_outside_the_index_reads_its_private_attributes() -> None:
    private = _private_names()
    assert {"_covered", "_reach", "_cover", "_records", "_put"} <= private  # the finder works
    sources = {path: path.read_text(encoding="utf-8") for path in _reader_files()}
    elsewhere = set().union(*(_names_of_classes(source) for source in sources.values()))
    shared = private & elsewhere
    offenders = {
        str(path.relative_to(ROOT)): found
        for path, source in sources.items()
        if (found := _reads_of_private(source, private, shared))
    }
    assert offenders == {}


def test_the_checker_sees_a_private_read() -> None:
    private = _private_names()
    source = (
        "def f(tn, reader):\n"
        "    return tn.index._covered, tn.index.access._roles, self._cover, reader._records\n"
    )
    assert _reads_of_private(source, private, frozenset({"_records"})) == [
        "line 2: tn.index._covered",
        "line 2: tn.index.access._roles",
    ]
    assert _reads_of_private(source, private)[-1] == "line 2: reader._records"


def test_only_tools_and_tests_read_the_tables_by_name() -> None:
    offenders: list[str] = []
    for path in _reader_files():
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(TABLES_FOR_TOOLS):
            continue
        offenders.extend(
            f"{relative}:{node.lineno}"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Attribute) and node.attr == "tables"
        )
    assert offenders == []
