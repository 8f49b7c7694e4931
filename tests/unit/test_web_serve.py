"""``tenancy serve``'s access token: no page without it; given once in the query string it
becomes a cookie (and leaves the URL); a Bearer header works for scripts."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.testclient import TestClient

import tenancy
from tenancy import Tenancy
from tenancy.cli import main
from tenancy.web import serve as serve_module
from tenancy.web.serve import COOKIE, gated_app

TOKEN = "s3cret-token_value"


@pytest.fixture
def tn() -> Iterator[Tenancy]:
    with tenancy.open() as handle:
        handle.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        yield handle


def test_no_page_without_the_token(tn: Tenancy) -> None:
    c = TestClient(gated_app(tn, TOKEN))
    for url in ("/", "/associations", "/static/admin.css", f"/tenants/{tn.management_tenant.id}"):
        answer = c.get(url)
        assert answer.status_code == 401, url
        assert "Acme" not in answer.text
    assert c.get("/?token=wrong").status_code == 401
    assert c.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    c.cookies.set(COOKIE, TOKEN[:-1])
    assert c.get("/").status_code == 401


def test_the_token_in_the_query_sets_a_cookie_and_leaves_the_url(tn: Tenancy) -> None:
    c = TestClient(gated_app(tn, TOKEN))
    first = c.get(f"/associations?token={TOKEN}&user=x", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/associations?user=x"
    cookie = first.headers["set-cookie"]
    assert f"{COOKIE}={TOKEN}" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    c.cookies.set(COOKIE, TOKEN)
    page = c.get("/")
    assert page.status_code == 200
    assert "Acme" in page.text


def test_a_bearer_header_is_enough(tn: Tenancy) -> None:
    c = TestClient(gated_app(tn, TOKEN))
    page = c.get("/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200
    assert "read-only" in page.text


def test_behind_the_token_the_page_acts_as_the_management_admin(tn: Tenancy) -> None:
    acme = tn.find_tenant("acme")
    assert acme is not None
    c = TestClient(gated_app(tn, TOKEN, allow_writes=True))
    c.cookies.set(COOKIE, TOKEN)
    page = c.get(f"/tenants/{acme.id}").text
    assert "admin@management.invalid" in page
    assert "Suspend tenant" in page


def test_serve_prints_the_address_with_the_token_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve() opens the store, prints one line, and hands the gated app to uvicorn (here a
    stand-in that records what it was given, so no port is opened)."""
    db = tmp_path / "store.db"
    tenancy.open(str(db)).close()
    given: dict[str, object] = {}

    def fake_run(application: object, **options: object) -> None:
        given.update(options, application=application)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    out = io.StringIO()
    assert serve_module.serve(str(db), host="127.0.0.1", port=8123, out=out) == 0
    line = out.getvalue()
    assert line.count("\n") == 1
    assert line.startswith("tenancy admin page (read-only): http://127.0.0.1:8123/?token=")
    token = line.strip().rsplit("=", 1)[1]
    assert len(token) >= 40  # token_urlsafe(32): 256 bits
    assert given["host"] == "127.0.0.1"
    assert given["port"] == 8123
    assert isinstance(given["application"], serve_module.TokenGate)


def test_each_run_makes_a_new_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "store.db"
    tenancy.open(str(db)).close()
    monkeypatch.setattr(uvicorn, "run", lambda application, **options: None)
    lines = []
    for _ in range(2):
        out = io.StringIO()
        serve_module.serve(str(db), out=out)
        lines.append(out.getvalue())
    assert lines[0] != lines[1]


def test_the_cli_has_a_serve_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", "x.db", "serve", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--host" in text
    assert "--port" in text
    assert "--allow-writes" in text


def test_the_cli_serve_runs_with_its_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "store.db"
    tenancy.open(str(db)).close()
    seen: list[dict[str, object]] = []
    done = threading.Event()

    def fake_run(application: object, **options: object) -> None:
        seen.append(options)
        done.set()

    monkeypatch.setattr(uvicorn, "run", fake_run)
    assert main(["--db", str(db), "serve", "--port", "9001", "--allow-writes"]) == 0
    assert done.is_set()
    assert seen[0]["port"] == 9001
    assert seen[0]["host"] == "127.0.0.1"
    assert "(read and write)" in capsys.readouterr().out
