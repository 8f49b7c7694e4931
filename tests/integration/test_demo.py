"""The hospital demo (``make demo``) runs, prints what it promises, and keeps its data.

It runs as a user runs it: a separate Python process, twice on the same SQLite file. The
first run creates the example; the second finds it, writes nothing, and must print the
same answers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "examples" / "hospital.py"

SECTIONS = (
    "== Tenants ==",
    "== Groups of Tekton Health",
    "== What each user sees (devices_for",
    "== verify that passes, and why (explain) ==",
    "== verify that fails, and why (explain) ==",
    "== Whom to alert when a generator fails (users_for) ==",
)


def run_demo(db: Path, cwd: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(DEMO), "--db", str(db)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def answers(lines: list[str]) -> list[str]:
    """Everything but the line that says what this run wrote to the store."""
    return [line for line in lines if not line.startswith("store: ")]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[str], Path]:
    where = tmp_path_factory.mktemp("demo")
    db = where / "hospital.db"
    first = run_demo(db, where)
    second = run_demo(db, where)
    return first, second, db


def test_first_run_creates_the_file_and_second_reuses_it(
    two_runs: tuple[list[str], list[str], Path],
) -> None:
    first, second, db = two_runs
    assert db.exists()
    first_store = [line for line in first if line.startswith("store: ")]
    second_store = [line for line in second if line.startswith("store: ")]
    assert len(first_store) == 1
    assert "SQLite" in first_store[0]
    assert "wrote the example in revisions" in first_store[0]
    assert len(second_store) == 1
    assert "this run wrote nothing" in second_store[0]


def test_both_runs_print_the_same_answers(two_runs: tuple[list[str], list[str], Path]) -> None:
    first, second, _ = two_runs
    assert answers(first) == answers(second)


def test_prints_every_section_in_order(two_runs: tuple[list[str], list[str], Path]) -> None:
    first, _, _ = two_runs
    positions = [
        next((i for i, line in enumerate(first) if line.startswith(section)), -1)
        for section in SECTIONS
    ]
    assert -1 not in positions, [s for s, p in zip(SECTIONS, positions, strict=True) if p < 0]
    assert positions == sorted(positions)


def test_prints_each_view_and_both_verdicts(two_runs: tuple[list[str], list[str], Path]) -> None:
    text = "\n".join(two_runs[0])
    # Who sees how much: site < region < chain < every customer.
    assert "Ana Silva, facilities manager at San Bruno: 4 devices" in text
    assert "Raj Patel, regional facilities manager, California Northern: 8 devices" in text
    assert "Grace Liu, global facilities manager: 13 devices" in text
    assert "Sam Okafor, Kanarra support technician: 15 devices in 2 customers" in text
    # The allowed verify names its groups by name and its association.
    assert "verify(Raj Patel, KG-10002 'San Bruno generator 2') -> True" in text
    assert "path:        California Northern (g-" in text
    assert "association: San Bruno associates KG-10002 by the tag rule site=san-bruno" in text
    # The denied one says why.
    assert "verify(Ana Silva, KG-10009 'Los Angeles generator 1') -> False" in text
    assert "code:        no-covering-group" in text
