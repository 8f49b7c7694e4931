"""The how-to "onboard a reseller and its customers" runs as written, and shows what it says.

Its python blocks run in order, in one namespace, in a temporary directory (it writes a
SQLite file there). Each refusal the page demonstrates must really happen: the page prints
one line per refusal, and this test counts them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tenancy

PAGE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "onboard-reseller.md"
_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_the_onboarding_howto_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = _PYTHON_BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    namespace: dict[str, object] = {"__name__": "onboard_reseller"}
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"{PAGE.name}, python block {number}", "exec"), namespace)
    out = capsys.readouterr().out.splitlines()

    # Every refusal the page shows happened, with the rule it names.
    refusals = [line for line in out if line.startswith("refused:")]
    assert len(refusals) == 5, out
    assert any("its parent or the management tenant" in r for r in refusals)
    assert any("only the management tenant" in r for r in refusals)
    assert any("suspended" in r for r in refusals)
    assert "max_devices would be 5 - at most 4" in out  # the first device past it
    assert any(line.startswith("tenant_id;tenant;day;") for line in out)

    # The file holds what the page built.
    with tenancy.open(str(tmp_path / "onboarding.db"), staleness=None) as tn:
        reseller = tn.find_tenant("northwind")
        assert reseller is not None
        assert reseller.allow_subtenants
        assert [t.domain for t in tn.subtenants(reseller.id)] == ["acme-health"]
        assert tn.find_tenant("blue-water") is None
        acme = tn.find_tenant("acme-health")
        assert acme is not None
        assert (acme.status, acme.policy) == ("active", "standard-customer")
        assert [p.name for p in tn.policies(reseller.id, inherited=True)] == [
            "reseller",
            "standard-customer",
        ]
        tn.index.check_invariants()


def test_the_howto_covers_each_step_of_onboarding() -> None:
    """The page's code exercises every part of the issue it illustrates."""
    code = "".join(_PYTHON_BLOCK.findall(PAGE.read_text(encoding="utf-8")))
    for step in (
        "allow_subtenants=True",
        "define_policy(",
        'policy="standard-customer"',
        "default_subscriptions=",
        "properties=",
        "max_devices=",
        "by=reseller.id",
        "create_devices(",
        "record_request(",
        "usage_csv(",
        "suspend_tenant(",
        "activate_tenant(",
        "delete_tenant(",
    ):
        assert step in code, f"the how-to never runs {step}"
