"""The admin page end to end, in a real browser: headless Chromium (Debian's, driven by
Playwright) on ``tenancy serve`` over the demo's store.

The demo (examples/hospital.py) builds its SQLite file, ``tenancy --db FILE serve`` starts on
a free port in a subprocess and prints its address with the token; the browser opens it,
expands the group tree, follows a group to a device, tests an allowed and a denied device
association and reads the answers. A request without the token is refused.

With ``TENANCY_SCREENSHOTS=1`` the test also rewrites the screenshots of the main pages in
docs/img/admin-*.png (not otherwise, so a test run leaves the checkout clean).

The browser is /usr/bin/chromium (``make test`` installs Debian's package when missing;
``TENANCY_CHROMIUM`` names another); without it, or without Playwright, the tests skip and
say why.
"""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "hospital.py"
IMAGES = ROOT / "docs" / "img"
CHROMIUM = os.environ.get("TENANCY_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = os.environ.get("TENANCY_SCREENSHOTS") == "1"
TIMEOUT_MS = 15_000

pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium with apt-get "
        "(set TENANCY_CHROMIUM to use another)",
        allow_module_level=True,
    )


@dataclass(frozen=True)
class Server:
    base: str
    """http://127.0.0.1:PORT"""
    entry: str
    """The address serve printed: base/?token=..."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first line the process prints, waited for at most ``timeout`` seconds."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"tenancy serve printed nothing in {timeout} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    where = tmp_path_factory.mktemp("web")
    db = where / "hospital.db"
    subprocess.run([sys.executable, str(DEMO), "--db", str(db)], cwd=where, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tenancy.cli", "--db", str(db), "serve", "--port", str(port)],
        cwd=where, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = first_line(process, 60)
        found = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=[\w-]+", line)
        assert found is not None, line
        deadline = time.monotonic() + 30
        while True:  # the line is printed just before uvicorn binds the port
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("tenancy serve did not start listening")
                time.sleep(0.05)
        yield Server(found.group(1), found.group(0))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"], timeout=TIMEOUT_MS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 760})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    try:
        yield opened
    finally:
        context.close()


def shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(IMAGES / f"admin-{name}.png"), full_page=True)


def test_a_request_without_the_token_is_refused(server: Server, page: Page) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server.base + "/", timeout=10)
    assert refused.value.code == 401
    refused.value.close()
    answer = page.goto(server.base + "/associations")
    assert answer is not None
    assert answer.status == 401
    assert "token needed" in page.inner_text("h1")


def test_tree_to_group_to_device(server: Server, page: Page) -> None:
    page.goto(server.entry)
    assert page.url == server.base + "/"  # the token became a cookie and left the URL
    expect(page.locator("h1")).to_have_text("Tenants")
    expect(page.locator("table.tree")).to_contain_text("Tekton Health")
    shot(page, "tenants")
    page.get_by_role("link", name="Tekton Health", exact=True).click()
    tree = page.locator("#group-tree")
    san_bruno = tree.get_by_role("link", name="San Bruno", exact=True)
    expect(san_bruno).to_be_hidden()  # collapsed below the first level
    for name in ("Tekton Health", "California Northern"):
        tree.locator("summary", has=page.get_by_role("link", name=name, exact=True)).click(
            position={"x": 4, "y": 8}  # the disclosure triangle, not the link
        )
    expect(san_bruno).to_be_visible()
    expect(tree).to_contain_text("4 devices · 1 member")
    shot(page, "tenant")
    san_bruno.click()
    expect(page.locator("h1")).to_have_text("San Bruno")
    expect(page.locator("main")).to_contain_text("site=san-bruno")
    shot(page, "group")
    page.get_by_role("link", name="San Bruno generator 2").click()
    expect(page.locator("h1")).to_have_text("San Bruno generator 2")
    expect(page.locator("#reach-count")).to_have_text("4 users.")
    page.fill("input[name=tag]", "notify=sms")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#reach-count")).to_have_text("2 users with notify=sms.")
    shot(page, "device")


def test_device_associations_allowed_and_denied(server: Server, page: Page) -> None:
    page.goto(server.entry)
    page.get_by_role("link", name="Test device associations").first.click()
    page.fill("input[name=user]", "raj.patel@tektonhealth.example")
    page.fill("input[name=device]", "KG-10002")
    page.get_by_role("button", name="Test").click()
    answer = page.locator("#answer")
    expect(answer).to_have_class(re.compile(r"\ballowed\b"))
    expect(answer.locator("h2")).to_have_text("Allowed: Raj Patel reaches San Bruno generator 2")
    chain = answer.locator("ol.chain > li")
    assert chain.all_inner_texts() == [
        "USER\nRaj Patel", "member of", "GROUP\nCalifornia Northern", "has child group",
        "GROUP\nSan Bruno", "associates by tag rule site=san-bruno",
        "DEVICE\nSan Bruno generator 2",
    ]  # fmt: skip
    shot(page, "associations-allowed")
    page.fill("input[name=user]", "Ana Silva")
    page.fill("input[name=device]", "Los Angeles generator 1")
    page.get_by_role("button", name="Test").click()
    expect(answer).to_have_class(re.compile(r"\bdenied\b"))
    expect(answer.locator(".denial")).to_have_text(
        "Ana Silva is a member of group (San Bruno), and no group at or below it associates "
        "Los Angeles generator 1, by id or by tag rule, directly or through a gateway."
    )
    expect(answer).to_contain_text("no-covering-group")
    shot(page, "associations-denied")
