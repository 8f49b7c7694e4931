"""Model test files (issue 14): a document and assertions, run by ``tenancy test`` and by
``tenancy.testing.assert_model``; the example under examples/models/ passes and a
deliberately wrong copy of it fails, naming each failure with its explanation."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tenancy.testing.model import assert_model, run_model

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "models" / "fleet.tenancy.toml"


def test_the_example_model_passes() -> None:
    report = run_model(EXAMPLE)
    assert report.failures == ()
    assert report.ran >= 10
    assert_model(EXAMPLE)


def wrong_copy(tmp_path: Path) -> Path:
    """The example as JSON with two assertions turned wrong: a denied pair said to be
    allowed, and a whom-to-alert list missing a user."""
    model = tomllib.loads(EXAMPLE.read_text())
    model["document"] = str(EXAMPLE.parent / model["document"])
    denied = next(i for i, v in enumerate(model["verify"]) if v["expect"] is False)
    model["verify"][denied]["expect"] = True
    model["users_for"][0]["expect"] = model["users_for"][0]["expect"][:-1]
    copy = tmp_path / "wrong.tenancy.json"
    copy.write_text(json.dumps(model))
    return copy


def test_a_wrong_copy_fails_with_each_failure_explained(tmp_path: Path) -> None:
    report = run_model(wrong_copy(tmp_path))
    assert len(report.failures) == 2
    verify = next(f for f in report.failures if f.startswith("verify["))
    assert "expected true, got false" in verify
    assert "(" in verify  # the explanation's code and reason
    with pytest.raises(AssertionError, match="2 failed"):
        assert_model(tmp_path / "wrong.tenancy.json")


def test_the_command_exits_1_on_a_failure_and_0_when_all_pass(tmp_path: Path) -> None:
    def run(*files: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tenancy.cli", "test", *map(str, files)],
            capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
        )  # fmt: skip

    good = run(EXAMPLE)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "0 failed" in good.stdout
    bad = run(EXAMPLE, wrong_copy(tmp_path))
    assert bad.returncode == 1
    assert "2 failed" in bad.stdout
    assert "expected true, got false" in bad.stdout
    assert not (tmp_path / "tenancy.db").exists()  # a model runs in memory


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("document = 1\n", "document is a path"),
        ('document = "missing.json"\n', "cannot read the document"),
        ('document = "fleet.json"\n[[nonsense]]\nx = 1\n', "unknown section 'nonsense'"),
        ('document = "fleet.json"\n[[verify]]\nuser = "ana"\nexpect = true\n', "lacks 'device'"),
        ('document = "fleet.json"\n[[verify]]\nuser = "a"\ndevice = "d"\nexpect = true\nx = 1\n',
         "unknown key 'x'"),
        ("document = [\n", "not valid TOML"),
    ],
)  # fmt: skip
def test_a_malformed_model_is_a_failure_that_says_where(
    tmp_path: Path, text: str, says: str
) -> None:
    (tmp_path / "fleet.json").write_bytes((EXAMPLE.parent / "fleet.json").read_bytes())
    path = tmp_path / "m.toml"
    path.write_text(text)
    report = run_model(path)
    assert not report.passed
    assert says in report.failures[0]


def test_an_inline_document(tmp_path: Path) -> None:
    document = json.loads((EXAMPLE.parent / "fleet.json").read_bytes())
    model = {"document": document, "verify": [{"user": "ana", "device": "gen-7", "expect": True}]}
    path = tmp_path / "inline.json"
    path.write_text(json.dumps(model))
    assert run_model(path).failures == ()
