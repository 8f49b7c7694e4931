"""The documentation is true: its examples run, and every public name is documented.

- Every ``>>>`` example in README.md and docs/ runs as a doctest, one namespace per page,
  in page order; every fenced ``python`` block without ``>>>`` is executed, in order, in
  one namespace per page (illustrative code that must not run goes in a ``text`` block).
- Every doctest in the docstrings of src/tenancy passes.
- Every name of ``tenancy.__all__`` is documented in docs/reference/ and, when it is a
  class or a function, has a docstring of its own; every public method and property of the
  handle and the tenant scope is documented in docs/reference/ too.
- Relative links between the pages point to files that exist.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import io
import pkgutil
import re
import tomllib
from pathlib import Path

import pytest

import tenancy

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"
PAGES = sorted([ROOT / "README.md", *DOCS.rglob("*.md")])
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def run_doctests(tests: list[doctest.DocTest]) -> tuple[int, int, str]:
    """Run doctests; return (failed, attempted, the runner's report of the failures)."""
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    for test in tests:
        runner.run(test, out=report.write)
    return runner.failures, runner.tries, report.getvalue()


# ------------------------------------------------------------------ the pages


@pytest.fixture(autouse=True)
def _in_a_temporary_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Examples that open a store file create it here, never in the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_examples_run(page: Path) -> None:
    """The ``>>>`` examples of a page give the output the page shows."""
    text = page.read_text(encoding="utf-8")
    test = doctest.DocTestParser().get_doctest(
        text, {"__name__": page.stem}, page_id(page), str(page), 0
    )
    failed, _, report = run_doctests([test])
    assert failed == 0, report


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_code_blocks_run(page: Path) -> None:
    """The fenced python blocks of a page without ``>>>`` run, in order, without error."""
    blocks = _PYTHON_BLOCK.findall(page.read_text(encoding="utf-8"))
    namespace: dict[str, object] = {"__name__": page.stem}
    for number, block in enumerate(blocks, start=1):
        if ">>>" in block:
            continue  # a doctest: test_page_examples_run checks it with its output
        code = compile(block, f"{page_id(page)}, python block {number}", "exec")
        exec(code, namespace)


def test_the_tutorial_is_a_real_walk_through() -> None:
    """The tutorial exercises every step it promises, and its examples are all run."""
    tutorial = DOCS / "tutorial" / "first-steps.md"
    text = tutorial.read_text(encoding="utf-8")
    test = doctest.DocTestParser().get_doctest(text, {}, "tutorial", str(tutorial), 0)
    failed, attempted, report = run_doctests([test])
    assert failed == 0, report
    assert attempted >= 40
    sources = "".join(example.source for example in test.examples)
    for step in (
        "create_tenant(",
        "create_group(",
        "device_tags=",
        "device_ids=",
        "create_user(",
        "add_member(",
        "tn.verify(",
        "tn.devices_for(",
        "after=page.next",
        "tn.users_for(",
        "tn.explain(",
    ):
        assert step in sources, f"the tutorial's examples never run {step}"
    assert all(">>>" in block for block in _PYTHON_BLOCK.findall(text))


def test_readme_works_as_the_package_page() -> None:
    """README.md is the package index's page: it opens with ``pip install`` of the
    distribution that pyproject.toml names, then a quick start of at most 12 lines of code, then
    the two make targets for contributors."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    name = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert len(blocks) >= 3, "README.md has an install block, a quick start and make targets"
    (_, install), (language, quick_start), (_, contributing) = blocks[:3]
    assert install.startswith(f"pip install {name} "), "README.md opens with the install line"
    assert f'pip install "{name}[testing]"' in install
    assert language == "python"
    assert len([line for line in quick_start.splitlines() if line.strip()]) <= 12
    assert "make demo" in contributing
    assert "make test" in contributing


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_resolve(page: Path) -> None:
    """Every relative link of a page points to a file that exists."""
    broken = []
    for target in _LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # an external address or an anchor in the same page
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{page_id(page)} links to missing files: {broken}"


# ------------------------------------------------------------------ the docstrings


def tenancy_modules() -> list[str]:
    names = ["tenancy"]
    names += [m.name for m in pkgutil.walk_packages(tenancy.__path__, prefix="tenancy.")]
    return sorted(names)


@pytest.mark.parametrize("name", tenancy_modules())
def test_docstring_examples_pass(name: str) -> None:
    """The doctests in the module's docstrings pass (like ``doctest.testmod``)."""
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder().find(module, name)  # in the module's globals, as testmod
    failed, _, report = run_doctests(tests)
    assert failed == 0, report


def test_docstring_examples_are_found() -> None:
    """The modules that promise examples have some (a guard against a finder that finds
    nothing and passes)."""
    for name in ("tenancy", "tenancy.handle.queries"):
        tests = doctest.DocTestFinder().find(importlib.import_module(name), name)
        assert sum(len(t.examples) for t in tests) > 0, name


# ------------------------------------------------------------------ the reference


def reference_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(REFERENCE.rglob("*.md")))


def documented(name: str, text: str) -> bool:
    """``name`` appears in a code span of the reference: `name`, `name(...)`, `name=`."""
    return re.search(rf"`{re.escape(name)}[`(=\[]", text) is not None


def own_docstring(obj: object) -> str | None:
    """The docstring the object itself defines (a class's is not its base class's)."""
    if inspect.isclass(obj):
        doc = vars(obj).get("__doc__")
        return doc if isinstance(doc, str) else None
    return getattr(obj, "__doc__", None)


@pytest.mark.parametrize("name", sorted(tenancy.__all__))
def test_public_name_is_in_the_reference(name: str) -> None:
    assert documented(name, reference_text()), f"add {name} to docs/reference/"


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n in tenancy.__all__
        if inspect.isclass(getattr(tenancy, n)) or inspect.isroutine(getattr(tenancy, n))
    ),
)
def test_public_name_has_a_docstring(name: str) -> None:
    """Classes and functions carry their own docstring. (Aliases such as ``Revision`` and
    ``Change``, and ``__version__``, cannot: the reference documents them.)"""
    doc = own_docstring(getattr(tenancy, name))
    assert doc is not None, f"tenancy.{name} has no docstring"
    assert doc.strip(), f"tenancy.{name} has an empty docstring"


def public_members(cls: type) -> list[str]:
    return sorted(
        name
        for name, value in vars(cls).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    )


def handle_members() -> list[tuple[str, str]]:
    members = []
    for cls in (tenancy.Tenancy, tenancy.TenantScope):
        classes = [c for c in cls.__mro__ if c.__module__.startswith("tenancy.")]
        names = sorted({n for c in classes for n in public_members(c)})
        members += [(cls.__name__, n) for n in names]
    return members


@pytest.mark.parametrize(("owner", "name"), handle_members())
def test_handle_member_is_in_the_reference(owner: str, name: str) -> None:
    """Every public method and property of Tenancy and TenantScope (their mixins
    included) is documented in the reference."""
    assert documented(name, reference_text()), f"add {owner}.{name} to docs/reference/"


def test_handle_members_are_found() -> None:
    members = set(handle_members())
    assert ("Tenancy", "verify") in members
    assert ("Tenancy", "create_tenant") in members
    assert ("TenantScope", "create_group") in members
