"""The command line of shared/API.md, driven as a user drives it: in a subprocess.

Each test runs ``python -m tenancy.cli`` (what the installed ``tenancy`` script runs) in a
temporary directory and reads its exit status, standard output and standard error.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

TIMEOUT = 60


class Run:
    """``tenancy`` in ``cwd``, with ``TENANCY_DB`` unset unless a test sets it."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.env = {k: v for k, v in os.environ.items() if k != "TENANCY_DB"}

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
    return Run(tmp_path)


@pytest.fixture(scope="module")
def fleet_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A store made through the command line, once for the module: one tenant, one site
    with one generator in it and one outside, and two users."""
    where = tmp_path_factory.mktemp("fleet")
    run = Run(where)
    run("init")
    acme = run("tenant", "create", "acme", "--name", "Acme", "--admin-email", "it@acme.example")
    acme = acme.strip()
    run("device", "create", acme, "Generator 7", "--id", "gen-7", "--tag", "site=sb")
    run("device", "create", acme, "Generator 9", "--id", "gen-9", "--tag", "site=la",
        "--tag", "kind=gen")  # fmt: skip
    site = run("group", "create", acme, "San Bruno", "--tag", "site=sb").strip()
    run("group", "create", acme, "Pumps", "--parent", site, "--device", "gen-9", "--id", "pumps")
    run("user", "create", acme, "ana@acme.example", "--id", "ana", "--tag", "notify=sms")
    run("user", "create", acme, "bob@acme.example", "--id", "bob", "--tag", "notify=email")
    run("member", "add", site, "ana")
    run("member", "add", site, "bob")
    return where / "tenancy.db", {"acme": acme, "site": site}


@pytest.fixture
def fleet(run: Run, fleet_template: tuple[Path, dict[str, str]]) -> dict[str, str]:
    """A copy of the template store in this test's working directory (tenancy.db)."""
    path, ids = fleet_template
    shutil.copyfile(path, run.cwd / "tenancy.db")
    return ids


def test_a_read_never_creates_a_store(run: Run, tmp_path: Path) -> None:
    run("--db", "typo.db", "tenant", "list", code=3)
    assert "no store at 'typo.db'" in run.err
    assert "tenancy init" in run.err
    assert not (tmp_path / "typo.db").exists()
    run("init", "--db", "typo.db")
    assert (tmp_path / "typo.db").exists()
    assert [t["domain"] for t in run.json("--db", "typo.db", "tenant", "list")] == ["management"]
    run("init", "--db", "typo.db")  # an existing store is left as it is


def test_db_comes_from_the_option_then_the_environment_then_tenancy_db(
    run: Run, tmp_path: Path
) -> None:
    run("init")
    assert (tmp_path / "tenancy.db").exists()
    run.env["TENANCY_DB"] = str(tmp_path / "env.db")
    run("init")
    assert (tmp_path / "env.db").exists()
    run("tenant", "create", "envco", "--name", "E", "--admin-email", "a@envco.example")
    assert "envco" not in run("--db", "tenancy.db", "tenant", "list")
    assert "envco" in run("tenant", "list")


def test_global_options_may_follow_the_command(run: Run, fleet: dict[str, str]) -> None:
    before = run("--json", "--db", "tenancy.db", "verify", "ana", "gen-7")
    assert run("verify", "ana", "gen-7", "--json") == before
    assert run("verify", "--db=tenancy.db", "ana", "gen-7", "--json") == before
    assert json.loads(before) == {"allowed": True}


def test_version_and_help(run: Run) -> None:
    assert run("--version").startswith("tenancy, version ")
    text = run("--help")
    for command in ("init", "tenant", "group", "device", "user", "member", "verify", "check",
                    "explain", "devices-for", "users-for", "stats", "audit"):  # fmt: skip
        assert command in text
    assert "TENANCY_DB" in text


def test_verify_and_check_answer_with_the_exit_status(run: Run, fleet: dict[str, str]) -> None:
    assert run("verify", "ana", "gen-7").strip() == "allowed"
    assert run("verify", "ana", "nowhere", code=1).strip() == "denied"
    run("check", "ana", "device:READ", "gen-7")
    run("check", "ana", "device:ADMIN", "gen-7", code=1)
    run("check", "ana", "no-such-permission", "gen-7", code=4)
    assert "permission" in run.err


def test_explain_names_the_path_and_the_reason(run: Run, fleet: dict[str, str]) -> None:
    out = run("explain", "ana", "gen-9").splitlines()
    assert out[0].startswith("allowed: ")
    assert out[1] == "path: San Bruno > Pumps"
    why = run.json("explain", "ana", "gen-7")
    assert why["allowed"] is True
    assert why["path"] == [fleet["site"]]
    assert run.json("explain", "ana", "nowhere")["code"] == "unknown-device"


def test_listings_and_their_filters(run: Run, fleet: dict[str, str]) -> None:
    acme = fleet["acme"]
    assert run("device", "list", acme).splitlines() == [
        "gen-7\tGenerator 7\tsite=sb", "gen-9\tGenerator 9\tkind=gen,site=la",
    ]  # fmt: skip
    assert [d["id"] for d in run.json("device", "list", acme, "--tag", "kind=*")] == ["gen-9"]
    assert run("devices-for", "ana", "--all").splitlines() == [
        "gen-7\tGenerator 7",
        "gen-9\tGenerator 9",
    ]
    first = run("devices-for", "ana", "--limit", "1").splitlines()
    assert first[0] == "gen-7\tGenerator 7"
    assert first[1].startswith("next: ")
    rest = run("devices-for", "ana", "--after", first[1].removeprefix("next: "))
    assert rest.splitlines() == ["gen-9\tGenerator 9"]
    assert run("devices-for", "ana", "--tag", "site=la").splitlines() == ["gen-9\tGenerator 9"]
    assert run("users-for", "gen-7").splitlines() == [
        "ana\tana@acme.example",
        "bob\tbob@acme.example",
    ]
    assert run("users-for", "gen-7", "--tag", "notify=sms").splitlines() == [
        "ana\tana@acme.example"
    ]
    tree = run("group", "tree", acme).splitlines()
    assert tree == [f"San Bruno\t{fleet['site']}", "  Pumps\tpumps"]


def test_members_come_and_go(run: Run, fleet: dict[str, str]) -> None:
    run("member", "remove", fleet["site"], "ana")
    run("verify", "ana", "gen-7", code=1)
    run("member", "add", "pumps", "ana")
    run("verify", "ana", "gen-9")
    run("verify", "ana", "gen-7", code=1)


def test_a_membership_with_a_window(run: Run, fleet: dict[str, str]) -> None:
    """--until in the past ends the reach now; --from in the future has not started it;
    a malformed instant is a usage error, a reversed window a refused operation."""
    site = fleet["site"]
    added = run.json("member", "add", site, "ana", "--until", "2001-01-01T00:00+01:00")
    assert added["valid_until"] == "2001-01-01T00:00:00+01:00"
    run("verify", "ana", "gen-7", code=1)
    assert "expired at 2000-12-31T23:00:00+00:00" in run("explain", "ana", "gen-7")  # UTC
    run("member", "add", site, "ana", "--from", "2999-01-01")  # a day: UTC midnight
    assert "starts at 2999-01-01T00:00:00+00:00" in run("explain", "ana", "gen-7")
    run("member", "add", site, "ana")  # no window: it counts always
    run("verify", "ana", "gen-7")
    run("member", "add", site, "ana", "--until", "friday", code=2)
    run("member", "add", site, "ana", "--from", "2030-01-02", "--until", "2030-01-01", code=4)
    assert "valid_until" in run.err


def test_tenant_lifecycle(run: Run, fleet: dict[str, str]) -> None:
    acme = fleet["acme"]
    shown = run("tenant", "show", acme)
    assert f"id: {acme}" in shown
    assert "domain: acme" in shown
    assert run.json("tenant", "suspend", acme)["status"] == "suspended"
    run("verify", "ana", "gen-7", code=1)
    assert run.json("tenant", "activate", acme)["status"] == "active"
    run("verify", "ana", "gen-7")
    run("tenant", "delete", acme)
    run("tenant", "show", acme, code=3)
    assert [t["domain"] for t in run.json("tenant", "list")] == ["management"]


def test_json_is_the_same_bytes_for_the_same_state(run: Run, fleet: dict[str, str]) -> None:
    """Sorted keys and sorted lists: tags, rules and ids never come out in hash order."""
    acme = fleet["acme"]
    for args in (("device", "list", acme), ("tenant", "list"), ("group", "tree", acme),
                 ("users-for", "gen-7"), ("tenant", "show", acme)):  # fmt: skip
        outputs = {run("--json", *args, seed=seed) for seed in ("1", "2")}
        assert len(outputs) == 1, args
    tags = run.json("device", "list", fleet["acme"])[1]["tags"]
    assert tags == sorted(tags)


def test_exit_codes_of_refusals(run: Run, fleet: dict[str, str]) -> None:
    run("no-such-command", code=2)
    run("verify", "ana", code=2)  # a missing argument
    run("devices-for", "ana", "--limit", "0", code=2)
    run("device", "create", fleet["acme"], "x", "--tag", "novalue", code=2)
    assert "--tag" in run.err
    run("tenant", "show", "t-unknown", code=3)
    run("member", "add", "no-such-group", "ana", code=3)
    run("tenant", "create", "acme", "--name", "Again", "--admin-email", "x@acme.example", code=4)
    assert "acme" in run.err
    assert "already" in run.err


def test_reports(run: Run, fleet: dict[str, str]) -> None:
    today = datetime.now(UTC).date().isoformat()
    csv = run("stats", fleet["acme"], "--from", today, "--to", today).splitlines()
    assert csv[0].startswith("tenant_id,")
    assert len(csv) == 2  # the header and today
    assert csv[1].startswith(f"{fleet['acme']},Acme,{today},")
    log = run("audit", fleet["acme"], "--limit", "2").splitlines()
    assert len(log) == 3
    assert log[2].startswith("next: ")
    records = run.json("audit", fleet["acme"], "--limit", "10000")["items"]
    assert "GroupCreated" in {r["action"] for r in records}


def test_changes_lists_and_follows_the_feed(
    run: Run, fleet: dict[str, str], tmp_path: Path
) -> None:
    listed = run("changes").splitlines()
    revisions = [int(line.split("\t")[0]) for line in listed]
    assert revisions == sorted(revisions)
    assert revisions[-1] == len(revisions)
    assert any("DeviceCreated" in line for line in listed)
    commits = [json.loads(line) for line in run("--json", "changes", "--after", "3").splitlines()]
    assert [c["revision"] for c in commits] == revisions[3:]
    follower = subprocess.Popen(
        [sys.executable, "-m", "tenancy.cli", "--json", "changes", "--after", str(revisions[-1]),
         "--follow"],
        cwd=tmp_path, env=run.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        run("device", "create", fleet["acme"], "Generator 11", "--id", "gen-11")
        assert follower.stdout is not None
        ready, _, _ = select.select([follower.stdout], [], [], TIMEOUT)
        assert ready, "no commit followed within the timeout"
        line = follower.stdout.readline()
        commit = json.loads(line)
        assert commit["revision"] == revisions[-1] + 1
        assert commit["changes"][0]["device"]["id"] == "gen-11"
    finally:
        follower.terminate()
        follower.communicate(timeout=TIMEOUT)  # reaps it and closes its pipes


def test_export_then_import_moves_the_store(
    run: Run, fleet: dict[str, str], tmp_path: Path
) -> None:
    """A whole store out to a file and into a new one: the same answers, the same bytes."""
    out = run("export", "-o", "store.json")
    assert out.strip().endswith("records to store.json")
    assert run.err == ""  # no progress bar when standard error is not a terminal
    piped = run("export")
    assert piped.encode() == (tmp_path / "store.json").read_bytes()  # same state, same bytes
    run("--db", "copy.db", "init")
    report = run.json("--db", "copy.db", "import", "store.json")
    assert report["counts"]["device"] == 2
    run("--db", "copy.db", "verify", "ana", "gen-7")
    assert run("--db", "copy.db", "export") == piped
    run("--db", "copy.db", "import", "store.json", code=4)  # not an empty store any more
    assert "already" in run.err or "empty" in run.err
    run("export", "--tenant", fleet["acme"], "--tag", "site=la", "-o", "leaving.msgpack")
    assert (tmp_path / "leaving.msgpack").read_bytes()[:1] == b"\x00"  # MessagePack frames


def test_bulk_commands_draw_a_progress_bar_on_a_terminal(
    run: Run, fleet: dict[str, str], tmp_path: Path
) -> None:
    """On a terminal (a pseudo-terminal here) import draws rich's bar on standard error."""
    pytest.importorskip("rich")
    import pty

    run("export", "-o", "store.json")
    run("--db", "copy.db", "init")
    command = [sys.executable, "-m", "tenancy.cli", "--db", "copy.db", "import", "store.json"]
    leader, follower = pty.openpty()
    done = subprocess.run(
        command, cwd=tmp_path, env={**run.env, "COLUMNS": "100"}, stdin=follower,
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
    assert b"import" in drawn
    assert b"\x1b[" in drawn  # the bar's terminal control sequences
