"""docs/reference/errors.md lists every error class tenancy defines, with the attributes
each sets, and its table of HTTP statuses is the one the framework recipes use
(examples/frameworks/http_errors.py): a class added to tenancy, an attribute added to a
class, or a status changed on one side only fails here."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import tenancy
from examples.frameworks.http_errors import STATUS, http_status

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "errors.md"
TEXT = PAGE.read_text(encoding="utf-8")


def defined_errors() -> list[type[tenancy.TenancyError]]:
    """Every public TenancyError subclass: defined in tenancy.errors, or defined in any
    tenancy module (all of them imported) and exported by the package. An error a module
    raises and catches itself (the transfer's undecodable record, which the import turns
    into InvalidDocument) is not one an application meets."""
    for module in pkgutil.walk_packages(tenancy.__path__, prefix="tenancy."):
        importlib.import_module(module.name)
    found: list[type[tenancy.TenancyError]] = []
    todo: list[type[tenancy.TenancyError]] = [tenancy.TenancyError]
    while todo:
        cls = todo.pop()
        public = cls.__module__ == "tenancy.errors" or getattr(tenancy, cls.__name__, None) is cls
        if cls.__module__.startswith("tenancy.") and public and cls not in found:
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)


def sections() -> dict[str, str]:
    """The page's ``## `Name` `` sections, by class name."""
    parts = re.split(r"^## `(\w+)`\n", TEXT, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def attributes(cls: type) -> set[str]:
    """The attributes the class's own ``__init__`` sets, and the three of every error."""
    own = set()
    if "__init__" in vars(cls):
        own = set(re.findall(r"self\.(\w+) =", inspect.getsource(vars(cls)["__init__"])))
    return own | {"field", "value", "rule"}


def test_the_errors_are_found() -> None:
    names = {cls.__name__ for cls in defined_errors()}
    assert {"TenancyError", "NotFound", "InvalidValue", "CycleError", "StoreError"} <= names


@pytest.mark.parametrize("cls", defined_errors(), ids=lambda c: c.__name__)
def test_every_error_has_a_section_naming_its_attributes(cls: type) -> None:
    section = sections().get(cls.__name__)
    assert section is not None, f"add a section ## `{cls.__name__}` to {PAGE.name}"
    missing = sorted(a for a in attributes(cls) if f"`{a}`" not in section)
    assert missing == [], f"{cls.__name__}'s section does not name {missing}"
    assert "HTTP:" in section
    assert getattr(tenancy, cls.__name__) is cls, "every error is importable from tenancy"


def test_every_section_is_an_error() -> None:
    names = {cls.__name__ for cls in defined_errors()}
    assert sorted(set(sections()) - names) == []


def test_the_status_table_is_the_recipes() -> None:
    rows = re.findall(r"^\| `(\w+)` \| `\w+` \| (\d{3}) \|$", TEXT, flags=re.MULTILINE)
    table = {name: int(status) for name, status in rows}
    assert table == {cls.__name__: status for cls, status in STATUS.items()}
    assert set(table) == {cls.__name__ for cls in defined_errors()}


def test_the_table_bases_are_true() -> None:
    for name, base in re.findall(r"^\| `(\w+)` \| `(\w+)` \| \d{3} \|$", TEXT, re.MULTILINE):
        cls = getattr(tenancy, name)
        known = {c.__name__ for c in cls.__mro__[1:]}
        assert base in known, f"{name} is not a {base}"


def test_a_subclass_answers_as_its_nearest_listed_base() -> None:
    class Unlisted(tenancy.CycleError):
        pass

    error = Unlisted("group", "g-1", "g-2")
    assert http_status(error) == STATUS[tenancy.CycleError]
    assert http_status(tenancy.InvalidValue("x", "a rule")) == 422
