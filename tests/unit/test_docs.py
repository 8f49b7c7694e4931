"""The documentation is true: its examples run, and every public name is documented.

- Every ``>>>`` example in README.md and docs/ runs as a doctest, one namespace per page,
  in page order; every fenced ``python`` block without ``>>>`` is executed, in order, in
  one namespace per page (illustrative code that must not run goes in a ``text`` block).
- Every doctest in the docstrings of src/tenancy passes.
- The site builds with ``mkdocs build --strict`` (as `make docs` does), and its reference,
  generated from the docstrings, renders every name of ``tenancy.__all__`` and every public
  method and property of the handle and the tenant scope.
- Every public method of the handle and the tenant scope states its cost and names each of
  its parameters in its docstring, so the reference cannot drift from the signatures.
- Relative links between the pages point to files that exist.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect
import io
import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

import tenancy
from tenancy.handle.delegate import delegated

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
#
# docs/reference/ is generated from the docstrings: mkdocs.yml renders ``::: tenancy.X``
# directives with mkdocstrings, which leaves out a member without a docstring. So the
# build is the check that every public name is documented, and the docstrings are checked
# for what a reader needs: the cost of every call and the meaning of every parameter.

SITE_TIMEOUT = 300  # seconds; the build takes about two on this machine

PARAMETERS_DOCUMENTED_ELSEWHERE: dict[tuple[str, str], str] = {
    # (method, parameter): why its docstring need not name it. Keep this short: a parameter
    # listed here is one a reader must find in another docstring.
    ("Tenancy.__init__", "store"): "the handle's store, the only positional argument",
    ("TenantScope.__init__", "writer"): "scopes are made by Tenancy.tenant, not by hand",
    ("TenantScope.__init__", "identity"): "scopes are made by Tenancy.tenant, not by hand",
    ("TenantScope.__init__", "tenant_id"): "scopes are made by Tenancy.tenant, not by hand",
}


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The documentation built once, as `make docs` builds it: strict, so any warning
    (a broken link or anchor, a page left out of the nav, a directive that names nothing)
    fails the build and this fixture."""
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SITE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr}{done.stdout}"
    return out


@pytest.fixture(scope="session")
def rendered_ids(site: Path) -> set[str]:
    """The anchors of every object mkdocstrings rendered in the reference pages."""
    ids: set[str] = set()
    for page in (site / "reference").rglob("*.html"):
        ids.update(re.findall(r'id="(tenancy\.[^"]+)"', page.read_text(encoding="utf-8")))
    return ids


def test_the_docs_build_strictly(site: Path) -> None:
    """`mkdocs build --strict` passes and renders the reference from the docstrings."""
    api = (site / "reference" / "handle" / "index.html").read_text(encoding="utf-8")
    assert 'id="tenancy.Tenancy.verify"' in api
    assert "Runtime complexity" in api


def test_rendered_docstrings_are_markdown(site: Path) -> None:
    """The roles and doctests of the docstrings are turned into Markdown
    (docs/griffe_prose.py): no ``:meth:`` is left in a page, and examples are code."""
    for page in (site / "reference").rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        leftover = re.findall(r":(?:meth|func|class|attr|data|mod|exc):", text)
        assert not leftover, f"{page.relative_to(site)} shows reST roles: {leftover[:3]}"
        assert "<p>&gt;&gt;&gt;" not in text, f"{page.relative_to(site)}: an unfenced doctest"


def own_docstring(obj: object) -> str | None:
    """The docstring the object itself defines (a class's is not its base class's)."""
    if inspect.isclass(obj):
        doc = vars(obj).get("__doc__")
        return doc if isinstance(doc, str) else None
    return getattr(obj, "__doc__", None)


@pytest.mark.parametrize("name", sorted(tenancy.__all__))
def test_public_name_is_in_the_reference(name: str, rendered_ids: set[str]) -> None:
    """Every name of ``tenancy.__all__`` is rendered by a ``::: tenancy.NAME`` directive
    of docs/reference/."""
    assert f"tenancy.{name}" in rendered_ids, f"add ::: tenancy.{name} to docs/reference/"


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
    ``Change``, and ``__version__``, cannot: an attribute docstring after them does.)"""
    doc = own_docstring(getattr(tenancy, name))
    assert doc is not None, f"tenancy.{name} has no docstring"
    assert doc.strip(), f"tenancy.{name} has an empty docstring"


def public_members(cls: type) -> list[str]:
    return sorted(
        name
        for name, value in vars(cls).items()
        if not name.startswith("_")
        and (callable(value) or isinstance(value, property | delegated))  # a part's method
    )


def handle_members() -> list[tuple[type, str]]:
    """Every public method and property of Tenancy and TenantScope, their bases included."""
    members: list[tuple[type, str]] = []
    for cls in (tenancy.Tenancy, tenancy.TenantScope):
        classes = [c for c in cls.__mro__ if c.__module__.startswith("tenancy.")]
        names = sorted({n for c in classes for n in public_members(c)})
        members += [(cls, n) for n in names]
    return members


def handle_methods() -> list[tuple[type, str]]:
    """The methods among them, and the constructors (their parameters are the class's)."""
    methods = [(cls, n) for cls, n in handle_members() if inspect.isfunction(getattr(cls, n))]
    return [(tenancy.Tenancy, "__init__"), (tenancy.TenantScope, "__init__"), *methods]


def member_id(item: tuple[type, str]) -> str:
    return f"{item[0].__name__}.{item[1]}"


@pytest.mark.parametrize("member", handle_members(), ids=member_id)
def test_handle_member_is_in_the_reference(
    member: tuple[type, str], rendered_ids: set[str]
) -> None:
    """Every public method and property of Tenancy and TenantScope (their bases included)
    is rendered in the reference: it has a docstring, which mkdocstrings needs to show it."""
    cls, name = member
    assert f"tenancy.{cls.__name__}.{name}" in rendered_ids, (
        f"{cls.__name__}.{name} is not in the built reference: give it a docstring"
    )


@pytest.mark.parametrize(
    "member", [m for m in handle_methods() if m[1] != "__init__"], ids=member_id
)
def test_handle_method_states_its_cost(member: tuple[type, str]) -> None:
    """STYLE.md: every public call states its runtime cost in its own docstring."""
    cls, name = member
    doc = " ".join((own_docstring(getattr(cls, name)) or "").split())  # lines rewrapped
    assert "Runtime complexity:" in doc or "Cost:" in doc, (
        f"{cls.__name__}.{name}: add a line 'Runtime complexity: O(...)' to its docstring"
    )


def mentioned(parameter: str, doc: str) -> bool:
    """The docstring names the parameter at the start of a code span: ``name``,
    ``name=...``, ``start <= at``."""
    return re.search(rf"`{re.escape(parameter)}(?!\w)", doc) is not None


def undocumented_parameters(function: object, owner: str) -> list[str]:
    doc = own_docstring(function) or ""
    if owner.endswith(".__init__"):  # the class docstring and the constructor's read as one
        doc += own_docstring(vars(tenancy)[owner.split(".")[0]]) or ""
    return [
        p
        for p in inspect.signature(function).parameters  # type: ignore[arg-type]
        if p != "self"
        and (owner, p) not in PARAMETERS_DOCUMENTED_ELSEWHERE
        and not mentioned(p, doc)
    ]


@pytest.mark.parametrize("member", handle_methods(), ids=member_id)
def test_handle_method_documents_every_parameter(member: tuple[type, str]) -> None:
    """Every parameter of a public method of Tenancy and TenantScope is named in its
    docstring (``name``), so the generated reference cannot drift from the signatures: a
    parameter added without a word about it fails here."""
    cls, name = member
    owner = f"{cls.__name__}.{name}"
    missing = undocumented_parameters(getattr(cls, name), owner)
    assert not missing, f"{owner}: say what {missing} mean(s) in the docstring"


def test_open_documents_every_option() -> None:
    """``tenancy.open`` names its target and every option it passes on."""
    doc = own_docstring(tenancy.open) or ""
    options = [p for p in inspect.signature(tenancy.Tenancy).parameters if p != "store"]
    missing = [p for p in ["target", *options, "integrity", "create"] if not mentioned(p, doc)]
    assert not missing, f"tenancy.open: say what {missing} mean(s) in the docstring"


def test_handle_members_are_found() -> None:
    members = {member_id(m) for m in handle_members()}
    assert "Tenancy.verify" in members
    assert "Tenancy.create_tenant" in members
    assert "TenantScope.create_group" in members
    assert "TenantScope.get_user" in members  # a base class's method


def test_the_parameter_check_catches_a_missing_parameter() -> None:
    """The check above fails for a parameter the docstring does not name."""

    def documented(tenant_id: str, *, by: str | None = None) -> None:
        """Do it to ``tenant_id`` (``by``: the acting tenant)."""

    def drifted(tenant_id: str, *, by: str | None = None, cascade: bool = False) -> None:
        """Do it to ``tenant_id`` (``by``: the acting tenant)."""

    assert undocumented_parameters(documented, "x.documented") == []
    assert undocumented_parameters(drifted, "x.drifted") == ["cascade"]


def load_docs_module(name: str) -> ModuleType:
    """A helper of the docs build (docs/NAME.py, outside the package), loaded by path."""
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docstring_prose_becomes_markdown() -> None:
    """docs/griffe_prose.py turns roles into code spans and doctests into fenced blocks."""
    markdown = load_docs_module("griffe_prose").markdown
    text = (
        "See :meth:`Tenancy.tenant`, :class:`~tenancy.Page` and "
        ":meth:`devices <tenancy.TenantScope.devices>`.\n\n>>> 1 + 1\n2\n\nAfter."
    )
    assert markdown(text) == (
        "See `Tenancy.tenant`, `Page` and `devices`.\n\n\n```pycon\n>>> 1 + 1\n2\n```\n\nAfter."
    )
    assert markdown(">>> x = 1") == "\n```pycon\n>>> x = 1\n```"


def test_headings_get_githubs_anchors() -> None:
    """docs/mkdocs_hooks.py: the site's anchors are GitHub's, so links work in both."""
    slug = load_docs_module("mkdocs_hooks").github_slug
    assert slug("Forking servers (gunicorn --preload)", "-") == "forking-servers-gunicorn---preload"
    assert slug("Who may act: by=", "-") == "who-may-act-by"
