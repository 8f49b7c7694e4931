"""The Flask recipe under gunicorn (examples/frameworks/gunicorn_app.py), 2 workers, with
and without ``--preload``: gunicorn runs in a subprocess on a free port of 127.0.0.1; the
test makes a few requests, checks which process opened the handle, writes through one
worker and sees the write from every worker within the staleness window, then stops
gunicorn. Every wait is bounded; gunicorn is killed if it does not stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import tenancy
from examples.frameworks.world import World, seed

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="gunicorn runs on POSIX only"),
]

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
"""Seconds gunicorn and its workers may take to answer (a loaded 2-core machine)."""
STOP_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def call(
    base: str, path: str, user: str | None = None, body: object = None, method: str = "GET"
) -> tuple[int, object]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if user is not None:
        headers["X-User-Id"] = user
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, None


@pytest.fixture
def world_file(tmp_path: Path) -> tuple[Path, World]:
    path = tmp_path / "app.db"
    with tenancy.open(str(path)) as tn:
        return path, seed(tn)


@pytest.fixture(params=[True, False], ids=["preload", "no-preload"])
def server(
    request: pytest.FixtureRequest, world_file: tuple[Path, World], tmp_path: Path
) -> Iterator[tuple[str, int, bool, World]]:
    path, world = world_file
    preload: bool = request.param
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
        "--graceful-timeout", "5", "--timeout", "30",
        *(["--preload"] if preload else []),
        "examples.frameworks.gunicorn_app:app",
    ]  # fmt: skip
    log = (tmp_path / "gunicorn.log").open("w+")
    proc = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, "TENANCY_DB": str(path)}, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert proc.poll() is None, (
                f"gunicorn exited: {(tmp_path / 'gunicorn.log').read_text()}"
            )
            try:
                if call(base, "/process")[0] == 200:
                    break
            except OSError:
                pass  # not listening yet
            assert time.monotonic() < deadline, "gunicorn did not answer in time"
            time.sleep(0.1)
        yield base, proc.pid, preload, world
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
        log.seek(0)
        output = log.read()
        log.close()
    assert "Traceback" not in output, output


def test_workers_serve_and_see_each_others_writes(
    server: tuple[str, int, bool, World],
) -> None:
    base, master, preload, w = server
    processes = [call(base, "/process")[1] for _ in range(6)]
    for answer in processes:
        assert isinstance(answer, dict)
        assert answer["pid"] != master  # a worker answers
        # --preload: the master opened the handle before forking; else each worker did
        assert answer["opened_in"] == (master if preload else answer["pid"])

    device = f"/tenants/{w.tenant_id}/devices/{w.generator_id}"
    assert call(base, device, w.viewer_id)[0] == 200
    assert call(base, f"/tenants/{w.tenant_id}/devices/{w.pump_id}", w.viewer_id)[0] == 404
    assert call(base, device, w.viewer_id, {"name": "Mine"}, "PATCH")[0] == 403
    status, renamed = call(base, device, w.operator_id, {"name": "Generator 7b"}, "PATCH")
    assert status == 200
    assert isinstance(renamed, dict)
    assert renamed["name"] == "Generator 7b"

    # whichever worker answers, it shows the write within its staleness window (1 s)
    deadline = time.monotonic() + 10.0
    in_a_row = 0
    while in_a_row < 8:
        status, answer = call(base, device, w.viewer_id)
        assert status == 200
        assert isinstance(answer, dict)
        in_a_row = in_a_row + 1 if answer["name"] == "Generator 7b" else 0
        assert time.monotonic() < deadline, "a worker did not see the write in time"
        time.sleep(0.05)
