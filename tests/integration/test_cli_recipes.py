"""``tenancy recipe ...`` and ``tenancy device create-many``, driven as a user drives them:
``python -m tenancy.cli`` in a subprocess, reading the exit status and both outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TIMEOUT = 60


class Run:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.env = {k: v for k, v in os.environ.items() if k != "TENANCY_DB"}
        self.err = ""

    def __call__(self, *args: str, code: int = 0, seed: str = "0") -> str:
        done = subprocess.run(
            [sys.executable, "-m", "tenancy.cli", *args],
            cwd=self.cwd, env={**self.env, "PYTHONHASHSEED": seed}, capture_output=True,
            text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
        self.err = done.stderr
        return done.stdout

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self("--json", *args, code=code))


@pytest.fixture
def run(tmp_path: Path) -> Run:
    r = Run(tmp_path)
    r("init")
    return r


@pytest.fixture
def acme(run: Run) -> str:
    return run(
        "tenant", "create", "acme", "--name", "Acme", "--admin-email", "a@acme.example"
    ).strip()


def test_a_recipe_then_devices_from_it(run: Run, acme: str) -> None:
    site = run("group", "create", acme, "Site", "--id", "site").strip()
    run("device", "create", acme, "Gateway", "--id", "gw")
    recipe = run.json(
        "recipe", "create", acme, "generator", "--name-pattern", "Generator {n}",
        "--tag", "kind=generator", "--tag", "fuel=diesel", "--parent", "gw", "--group", site,
        "--id", "r-gen",
    )  # fmt: skip
    assert recipe == {
        "type": "Recipe", "id": "r-gen", "tenant_id": acme, "name": "generator",
        "name_pattern": "Generator {n}", "tags": [["fuel", "diesel"], ["kind", "generator"]],
        "parent_id": "gw", "group_ids": [site],
    }  # fmt: skip
    made = run.json(
        "device", "create-many", acme, "--recipe", "r-gen", "--count", "3", "--start", "7"
    )
    assert [d["name"] for d in made] == ["Generator 7", "Generator 8", "Generator 9"]
    assert all(d["parent_id"] == "gw" and d["tags"] == recipe["tags"] for d in made)
    assert run.err == ""  # piped: no progress bar
    listed = run("device", "list", acme).splitlines()
    assert len(listed) == 4
    text = run("device", "create-many", acme, "--recipe", "r-gen", "--count", "2")
    assert [line.split("\t")[1] for line in text.splitlines()] == ["Generator 1", "Generator 2"]
    assert run("recipe", "list", acme).split("\t")[:3] == ["r-gen", "generator", "Generator {n}"]


def test_json_is_the_same_bytes_whatever_the_hash_seed(run: Run, acme: str) -> None:
    run("recipe", "create", acme, "gen", "--name-pattern", "G{n}", "--id", "r-1",
        *[f"--tag=k{i}=v{i}" for i in range(8)])  # fmt: skip
    once = run("--json", "recipe", "list", acme, seed="1")
    again = run("--json", "recipe", "list", acme, seed="2")
    assert once == again
    assert json.loads(once)[0]["tags"] == sorted([f"k{i}", f"v{i}"] for i in range(8))


def test_refusals_exit_with_the_contract_codes(run: Run, acme: str) -> None:
    run("recipe", "create", acme, "gen", "--name-pattern", "Gen", code=4)
    assert "{n}" in run.err
    assert "name_pattern" in run.err
    run("recipe", "create", acme, "gen", code=2)  # --name-pattern is required
    run("recipe", "create", acme, "gen", "--name-pattern", "G{n}", "--tag", "k=*", code=2)
    run("recipe", "create", acme, "gen", "--name-pattern", "G{n}", "--group", "nope", code=3)
    run("recipe", "create", "t-nope", "gen", "--name-pattern", "G{n}", code=3)
    run("device", "create-many", acme, "--recipe", "nope", "--count", "2", code=3)
    rid = run("recipe", "create", acme, "gen", "--name-pattern", "G{n}").strip()
    run("device", "create-many", acme, "--recipe", rid, "--count", "0", code=4)
    assert "count" in run.err
    run("device", "create-many", acme, "--recipe", rid, code=2)  # --count is required
    run("device", "create-many", acme, "--recipe", rid, "--count", "x", code=2)
    assert run("device", "list", acme) == ""  # nothing was created by any of them
    run("recipe", "delete", acme, rid)
    run("recipe", "delete", acme, rid, code=3)


def test_the_tenant_limit_refuses_the_whole_batch(run: Run) -> None:
    mgmt = run.json("tenant", "list")[0]["id"]
    tenant = run.json("tenant", "create", "small", "--name", "Small", "--admin-email",
                      "a@small.example", "--parent", mgmt)["id"]  # fmt: skip
    import tenancy

    with tenancy.open(str(run.cwd / "tenancy.db")) as tn:
        tn.update_tenant(tenant, max_devices=5)
    rid = run("recipe", "create", tenant, "gen", "--name-pattern", "G{n}").strip()
    run("device", "create-many", tenant, "--recipe", rid, "--count", "6", code=4)
    assert "max_devices" in run.err
    assert run("device", "list", tenant) == ""
    assert len(run.json("device", "create-many", tenant, "--recipe", rid, "--count", "5")) == 5


def test_create_many_draws_a_bar_on_a_terminal(run: Run, acme: str) -> None:
    """On a (pseudo-)terminal, standard error gets rich's bar while the transaction runs;
    standard output still gets the devices."""
    pytest.importorskip("rich")
    import pty
    import select

    rid = run("recipe", "create", acme, "gen", "--name-pattern", "G{n}").strip()
    command = [sys.executable, "-m", "tenancy.cli", "device", "create-many", acme,
               "--recipe", rid, "--count", "2000"]  # fmt: skip
    leader, follower = pty.openpty()
    done = subprocess.run(
        command, cwd=run.cwd, env={**run.env, "COLUMNS": "100"}, stdin=follower,
        stdout=subprocess.PIPE, stderr=follower, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    os.close(follower)
    drawn = b""
    while select.select([leader], [], [], 0.5)[0]:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 2000
    assert b"create-many" in drawn
    assert b"\x1b[" in drawn
