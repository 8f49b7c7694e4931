"""``tenancy review``, driven in a subprocess as a user drives it: the diff as text and as
one deterministic JSON document, and the exit codes of its refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TIMEOUT = 60


def _run(cwd: Path, *args: str, code: int = 0, seed: str = "0") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TENANCY_DB"}
    done = subprocess.run(
        [sys.executable, "-m", "tenancy.cli", *args],
        cwd=cwd, env={**env, "PYTHONHASHSEED": seed}, capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
    return done


def test_review_prints_the_diff_between_two_revisions(tmp_path: Path) -> None:
    def run(*args: str, code: int = 0, seed: str = "0") -> str:
        return _run(tmp_path, *args, code=code, seed=seed).stdout

    run("init")
    acme = run("tenant", "create", "acme", "--name", "Acme", "--admin-email", "it@acme.example")
    acme = acme.strip()
    site = run("group", "create", acme, "Site", "--tag", "site=*").strip()
    run("device", "create", acme, "Generator 7", "--id", "gen-7", "--tag", "site=sb")
    run("device", "create", acme, "Generator 9", "--id", "gen-9", "--tag", "site=la")
    run("user", "create", acme, "ana@acme.example", "--id", "ana")
    run("user", "create", acme, "bo@acme.example", "--id", "bo")
    run("member", "add", site, "bo")
    start = json.loads(run("--json", "init"))["revision"]
    run("member", "add", site, "ana")
    run("member", "remove", site, "bo")

    text = run("review", acme, "--from", str(start))
    assert text.splitlines() == [
        f"revision {start} to {start + 2}: 2 gained, 2 lost",
        "gained\tana\tgen-7",
        "gained\tana\tgen-9",
        "lost\tbo\tgen-7",
        "lost\tbo\tgen-9",
    ]
    out = run("review", acme, "--from", str(start), "--to", str(start + 1), "--json")
    doc = json.loads(out)
    assert doc["gained"] == [["ana", "gen-7"], ["ana", "gen-9"]]
    assert doc["lost"] == []
    assert doc["gained_by_user"] == {"ana": 2}
    assert doc["gained_by_device"] == {"gen-7": 1, "gen-9": 1}
    assert (doc["from_revision"], doc["to_revision"], doc["tenant_id"]) == (start, start + 1, acme)
    # One document, the same bytes whatever the hash seed.
    again = run("review", acme, "--from", str(start), "--to", str(start + 1), "--json", seed="7")
    assert again == out
    assert list(doc) == sorted(doc)

    # Refusals: past the head or out of order (4), an unknown tenant (3), a negative
    # revision (2, a usage error).
    past = _run(tmp_path, "review", acme, "--to", "999", code=4)
    assert "to_revision" in past.stderr
    assert (
        "from_revision" in _run(tmp_path, "review", acme, "--from", "5", "--to", "4", code=4).stderr
    )
    _run(tmp_path, "review", "no-such-tenant", code=3)
    _run(tmp_path, "review", acme, "--from", "-1", code=2)
