"""The wheel a user installs works with nothing but the runtime dependencies.

The wheel is built once from this checkout (hatchling, without build isolation, so no
download of the build backend), installed with pip into a fresh virtual environment that
has no pip, no test tools and none of the project venv's packages, with its dependencies
resolved from the package index as ``pip install tenancy-iot`` would; then a subprocess
opens a store in it. Every step has a time bound, so an unreachable index fails the test
instead of hanging it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
BUILD_TIMEOUT = 120.0
INSTALL_TIMEOUT = 300.0
"""Seconds for pip to fetch the runtime dependencies (cached after the first run)."""


def run(*command: str | Path, timeout: float, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(
        sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "--no-build-isolation",
        "--quiet", "--wheel-dir", out,
        timeout=BUILD_TIMEOUT,
    )  # fmt: skip
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python of a new venv holding the wheel and its runtime dependencies only."""
    home = tmp_path_factory.mktemp("fresh") / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(home)
    python = home / "bin" / "python"
    run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
        "--disable-pip-version-check", wheel,
        timeout=INSTALL_TIMEOUT,
    )  # fmt: skip
    return python


def test_the_wheel_is_named_and_carries_the_license_and_types(wheel: Path) -> None:
    distribution = PROJECT["name"].replace("-", "_")
    assert wheel.name.startswith(f"{distribution}-")
    names = zipfile.ZipFile(wheel).namelist()
    assert "tenancy/__init__.py" in names
    assert "tenancy/py.typed" in names, "mypy users need the PEP 561 marker"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    stray = [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".db"))]
    assert stray == []
    assert all(n.startswith(("tenancy/", f"{distribution}-")) for n in names), names


def test_the_installed_wheel_opens_a_store_with_only_its_dependencies(
    fresh_python: Path, tmp_path: Path
) -> None:
    script = """
import importlib.metadata, json, tenancy
tn = tenancy.open()
acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
t = tn.tenant(acme.id)
site = t.create_group("Site", device_tags=[("site", "sb")])
device = t.create_device("Generator", tags=[("site", "sb")])
user = t.create_user("ana@acme.example")
t.add_member(site.id, user.id)
with tenancy.open("app.db") as on_file:
    on_file.create_tenant(domain="beta", name="Beta", admin_email="it@beta.example")
print(json.dumps({
    "verify": tn.verify(user.id, device.id),
    "installed": sorted(d.metadata["Name"].lower() for d in importlib.metadata.distributions()),
    "from": tenancy.__file__,
}))
"""
    answer = json.loads(run(fresh_python, "-I", "-c", script, timeout=60.0, cwd=tmp_path))
    assert answer["verify"] is True
    assert str(fresh_python.parents[1]) in answer["from"], "imported from the fresh venv"
    runtime = sorted(r.split(">")[0].split("=")[0].lower() for r in PROJECT["dependencies"])
    assert answer["installed"] == sorted([PROJECT["name"], *runtime])


def test_tenancy_testing_names_the_extra_it_needs(fresh_python: Path) -> None:
    """Without the testing extra, importing the contract suite fails on pytest (the
    documented ``pip install "tenancy-iot[testing]"`` brings it); the library does not."""
    done = subprocess.run(
        [str(fresh_python), "-I", "-c", "import tenancy.testing.contract"],
        capture_output=True, text=True, timeout=60.0, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "No module named 'pytest'" in done.stderr
    extras = PROJECT["optional-dependencies"]["testing"]
    assert {r.split(">")[0] for r in extras} == {"pytest", "hypothesis"}
