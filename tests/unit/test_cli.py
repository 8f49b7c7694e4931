"""The command line answers the read-side questions of a store file, as the API does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tenancy
from tenancy.cli import main


@pytest.fixture
def db(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A SQLite file with one site, one generator in it, one outside it, and two users."""
    path = str(tmp_path / "cli.db")
    with tenancy.open(path) as tn:
        acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        t = tn.tenant(acme.id)
        site = t.create_group("San Bruno", device_tags=[("site", "sb")])
        t.create_device("Generator 7", tags=[("site", "sb")], id="gen-7")
        t.create_device("Generator 9", tags=[("site", "la")], id="gen-9")
        ana = t.create_user("ana@acme.example", id="ana")
        t.add_member(site.id, ana.id)
    return path, {"site": site.id}


def test_verify_exit_status_says_allowed_or_denied(
    db: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """verify exits 0 and prints allowed for a reached device, 1 and denied otherwise."""
    path, _ = db
    assert main(["--db", path, "verify", "ana", "gen-7"]) == 0
    assert capsys.readouterr().out.strip() == "allowed"
    assert main(["--db", path, "verify", "ana", "gen-9"]) == 1
    assert capsys.readouterr().out.strip() == "denied"
    assert main(["--db", path, "verify", "nobody", "gen-7"]) == 1


def test_explain_prints_the_path_by_group_name(
    db: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """explain prints the reason and the group path by name; --json gives the same facts."""
    path, ids = db
    assert main(["--db", path, "explain", "ana", "gen-7"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("allowed: ")
    assert "path: San Bruno" in out
    assert main(["--db", path, "--json", "explain", "ana", "gen-9"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["allowed"] is False
    assert answer["code"] == "no-covering-group"
    assert main(["--db", path, "--json", "explain", "ana", "gen-7"]) == 0
    assert json.loads(capsys.readouterr().out)["path"] == [ids["site"]]


def test_devices_for_pages_with_the_printed_cursor(
    db: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """devices-for prints one device a line and the cursor of the next page."""
    path, _ = db
    with tenancy.open(path) as tn:
        acme = tn.find_tenant("acme")
        assert acme is not None
        t = tn.tenant(acme.id)
        t.create_device("Generator 8", tags=[("site", "sb")], id="gen-8")
    assert main(["--db", path, "devices-for", "ana", "--limit", "1"]) == 0
    first = capsys.readouterr().out.splitlines()
    assert first[0] == "gen-7\tGenerator 7"
    assert first[1].startswith("next: ")
    cursor = first[1].removeprefix("next: ")
    assert main(["--db", path, "devices-for", "ana", "--after", cursor]) == 0
    assert capsys.readouterr().out.splitlines() == ["gen-8\tGenerator 8"]
    assert main(["--db", path, "devices-for", "ana", "--after", "gen-7"]) != 0  # not a cursor
    assert "after" in capsys.readouterr().err


def test_users_for_and_tenants_list_records(
    db: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """users-for lists whom to alert; tenants lists every tenant with its status."""
    path, _ = db
    assert main(["--db", path, "users-for", "gen-7"]) == 0
    assert capsys.readouterr().out.strip() == "ana\tana@acme.example"
    assert main(["--db", path, "--json", "tenants"]) == 0
    domains = sorted(t["domain"] for t in json.loads(capsys.readouterr().out))
    assert domains == ["acme", "management"]


def test_a_bad_argument_is_a_clear_error_with_exit_status_2(
    db: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """A rejected value prints the TenancyError (value and rule) and exits 2."""
    path, _ = db
    assert main(["--db", path, "devices-for", "ana", "--limit", "0"]) == 2
    assert "page size" in capsys.readouterr().err
