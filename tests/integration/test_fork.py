"""A handle opened before ``os.fork()`` (``gunicorn --preload``) keeps working in the child:
its own follower keeps it fresh within the staleness window, its own connection writes, and
a write in progress in another thread of the parent at the moment of the fork neither hangs
the child nor leaves it a half-written index.

Every child runs a function and ``os._exit``s; the parent reads its result from a pipe and
kills it if it takes longer than a bound, so a hang fails the test instead of blocking it.

Forking a process that runs threads (the handle's follower, the test's writer) is the very
case under test. Python 3.12 and later warn about it with a DeprecationWarning, which
``filterwarnings = error`` would turn into an error: :func:`fork` expects that one warning
around its own ``os.fork()`` call, and nowhere else.
"""

from __future__ import annotations

import functools
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tenancy
from tenancy import StoreError, Tenancy
from tenancy.handle import writer as service_module
from tenancy.store import _codec
from tenancy.store import sqlite as sqlite_module

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only"),
]

WINDOW = 0.3
"""The staleness window of the handles in these tests, in seconds."""
SLACK = 2.0
"""What a loaded two-core machine may add to the window before the test calls it late."""
TIMEOUT = 30.0
"""The most any child may take."""


def fork(body: Callable[[], Any]) -> tuple[int, int]:
    """Fork a child that runs ``body`` and sends back its result (or its traceback)."""
    read, write = os.pipe()
    with warnings.catch_warnings():
        if sys.version_info >= (3, 12):
            warnings.filterwarnings(
                "ignore",
                message=r".*use of fork\(\) may lead to deadlocks in the child",
                category=DeprecationWarning,
            )
        pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.close(read)
            try:
                payload = pickle.dumps(("ok", body()))
                code = 0
            except BaseException:
                payload = pickle.dumps(("error", traceback.format_exc()))
            view = memoryview(payload)
            while view:
                view = view[os.write(write, view) :]
        finally:
            os._exit(code)
    os.close(write)
    return pid, read


def result_of(child: tuple[int, int], timeout: float = TIMEOUT) -> Any:
    """The child's result; fails (after killing it) if it hangs past ``timeout``."""
    pid, read = child
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"child {pid} hung for more than {timeout} s")
            ready, _, _ = select.select([read], [], [], left)
            if ready:
                chunk = os.read(read, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read)
    _, status = os.waitpid(pid, 0)
    assert chunks, f"child {pid} sent nothing (wait status {status})"
    kind, value = pickle.loads(b"".join(chunks))
    assert kind == "ok", f"child {pid} failed:\n{value}"
    assert os.waitstatus_to_exitcode(status) == 0
    return value


def wait_until(check: Callable[[], bool], timeout: float = TIMEOUT) -> float:
    """Poll ``check`` until it holds; the monotonic time it first held (system-wide on
    Linux, so comparable between processes)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.002)
    return time.monotonic()


def world(tn: Tenancy) -> tuple[str, str, str]:
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="admin@acme.example")
    t = tn.tenant(acme.id)
    site = t.create_group("Site", device_tags=[("site", "sb")])
    user = t.create_user("ana@acme.example")
    t.add_member(site.id, user.id)
    return acme.id, site.id, user.id


def test_preloaded_handle_follows_and_writes_in_every_child(tmp_path: Path) -> None:
    """The preload pattern: open, fork 3 children, write in the parent. Each child sees the
    write within its staleness window without asking, from a follower of its own; each
    child then writes, and the parent sees every child's write within its window."""
    tn = tenancy.open(str(tmp_path / "app.db"), staleness=WINDOW)
    tenant, _, user = world(tn)
    device_of_parent = "d-0000000000000001"

    def child(i: int) -> tuple[float, str, int, bool, float | None]:
        follower = tn._writer.follower
        assert follower is not None
        assert follower._thread.is_alive()
        seen_at = wait_until(lambda: tn.verify(user, device_of_parent))  # no catch_up
        device = tn.tenant(tenant).create_device(f"child {i}", tags=[("site", "sb")])
        assert tn.verify(user, device.id)
        written_at = time.monotonic()
        revision, staleness = tn.revision, tn.staleness
        tn.close()
        return seen_at, device.id, revision, follower._thread.is_alive(), staleness or written_at

    children = [fork(functools.partial(child, i)) for i in range(3)]
    tn.tenant(tenant).create_device("parent", tags=[("site", "sb")], id=device_of_parent)
    written_at = time.monotonic()
    results = [result_of(c) for c in children]
    for seen_at, _, _, follower_alive, staleness in results:
        assert seen_at - written_at <= WINDOW + SLACK, "a child saw the write late"
        assert follower_alive is False  # the child's close() stopped its own follower
        assert staleness == WINDOW
    devices = [r[1] for r in results]
    assert len(set(devices)) == 3
    seen = wait_until(lambda: all(tn.verify(user, d) for d in devices), WINDOW + SLACK)
    assert seen - time.monotonic() <= WINDOW + SLACK
    assert tn.revision == max(r[2] for r in results)
    with tenancy.open(str(tmp_path / "app.db"), staleness=None) as fresh:
        assert fresh.index.snapshot() == tn.index.snapshot()
    tn.close()


def test_a_child_does_not_flush_the_parents_counted_requests(tmp_path: Path) -> None:
    """Requests counted before the fork are the parent's to flush: billed once, not twice."""
    path = str(tmp_path / "app.db")
    tn = tenancy.open(path, staleness=None)
    tenant, _, _ = world(tn)
    tn.record_request(tenant, "api", 5)

    def child() -> int:
        tn.record_request(tenant, "api", 2)  # the child's own
        tn.close()  # flushes what the child counted, only
        return 0

    result_of(fork(child))
    tn.close()
    with tenancy.open(path, staleness=None) as fresh:
        assert dict(fresh.usage(tenant)[-1].requests) == {"api": 7}


class FileLock:
    """Another process holds the file's write lock until :meth:`release`, so writers here
    wait on it. (Another process, not a connection of this one: SQLite keeps one lock
    table per process, which a forked child inherits.)"""

    def __init__(self, path: str) -> None:
        script = (
            "import sqlite3, sys\n"
            f"db = sqlite3.connect({path!r}, isolation_level=None)\n"
            "db.execute('BEGIN IMMEDIATE')\n"
            "print('held', flush=True)\n"
            "sys.stdin.readline()\n"
            "db.execute('COMMIT')\n"
        )
        self._process = subprocess.Popen(
            [sys.executable, "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        assert self._process.stdout.readline().strip() == "held"

    def release(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write("\n")
        self._process.stdin.close()
        assert self._process.wait(TIMEOUT) == 0
        assert self._process.stdout is not None
        self._process.stdout.close()


def _write_in_thread(tn: Tenancy, tenant: str, name: str) -> tuple[threading.Thread, list[Any]]:
    """Start a thread writing one device; return once it holds the writer lock."""
    done: list[Any] = []

    def write() -> None:
        try:
            done.append(tn.tenant(tenant).create_device(name))
        except BaseException as exc:
            done.append(exc)

    thread = threading.Thread(target=write, name="writer", daemon=True)
    thread.start()

    def writer_holds_lock() -> bool:
        if tn._writer.lock.acquire(blocking=False):
            tn._writer.lock.release()
            return bool(done)  # free again only once the write has finished
        return True

    wait_until(writer_holds_lock, 5.0)
    time.sleep(0.1)  # now inside the commit, waiting for the file lock
    assert not done, "the write did not wait for the file lock"
    return thread, done


def test_fork_during_a_write_waits_for_it_and_the_child_writes(tmp_path: Path) -> None:
    """A fork while another thread is inside a write (waiting on the file lock) waits for
    that write to end, so the child's copy of the index has it; the child's first write
    completes."""
    path = str(tmp_path / "app.db")
    tn = tenancy.open(path, staleness=WINDOW)
    tenant, _, _ = world(tn)
    blocker = FileLock(path)
    thread, done = _write_in_thread(tn, tenant, "from the parent's thread")
    timer = threading.Timer(0.5, blocker.release)
    timer.start()

    def child() -> tuple[list[str], str]:
        names = sorted(d.name for d in tn.index.devices.values())
        device = tn.tenant(tenant).create_device("from the child")
        return names, device.id

    started = time.monotonic()
    names, child_device = result_of(fork(child))
    assert time.monotonic() - started >= 0.3, "the fork did not wait for the write"
    thread.join(TIMEOUT)
    assert len(done) == 1, done
    assert not isinstance(done[0], BaseException), done
    assert names == ["from the parent's thread"]  # the whole write, in the child too
    tn.catch_up()
    assert child_device in tn.index.devices
    timer.join(TIMEOUT)
    tn.close()


def test_fork_during_a_long_write_does_not_hang_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that outlasts FORK_WAIT: the fork goes ahead while another thread holds the
    writer lock. The child gets locks of its own (its first write completes, it does not
    hang on a lock held by a thread it does not have), rebuilds its index from the file,
    and the parent's write completes too."""
    monkeypatch.setattr(service_module, "FORK_WAIT", 0.2)
    monkeypatch.setattr(sqlite_module, "FORK_WAIT", 0.2)
    path = str(tmp_path / "app.db")
    tn = tenancy.open(path, staleness=WINDOW)
    tenant, _, _ = world(tn)
    blocker = FileLock(path)
    thread, done = _write_in_thread(tn, tenant, "from the parent's thread")

    def child() -> tuple[bool, list[str]]:
        rebuild = tn._writer.rebuild_needed
        tn.tenant(tenant).create_device("from the child")  # waits for the file lock
        names = sorted(d.name for d in tn.index.devices.values())
        tn.close()
        return rebuild, names

    forked = fork(child)
    time.sleep(0.5)
    assert not done, "the parent's write ended before the file lock was released"
    blocker.release()
    rebuild, names = result_of(forked)
    assert rebuild is True
    assert "from the child" in names
    thread.join(TIMEOUT)
    assert len(done) == 1, done
    assert not isinstance(done[0], BaseException), done
    tn.catch_up()
    assert sorted(d.name for d in tn.index.devices.values()) == [
        "from the child",
        "from the parent's thread",
    ]
    with tenancy.open(path, staleness=None) as fresh:
        assert fresh.index.snapshot() == tn.index.snapshot()
    tn.close()


def test_fork_inside_another_threads_write_transaction_refuses_the_childs_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork that cannot wait for a write transaction to end (it outlasts FORK_WAIT): the
    child inherits SQLite's lock table saying this process holds the file's write lock, so
    no connection of the child can ever write the file. Its first write says so at once
    (StoreError naming the fork), instead of waiting busy_timeout or hanging; it still
    reads, and the parent's write completes."""
    monkeypatch.setattr(service_module, "FORK_WAIT", 0.2)
    monkeypatch.setattr(sqlite_module, "FORK_WAIT", 0.2)
    path = str(tmp_path / "app.db")
    tn = tenancy.open(path, staleness=WINDOW)
    tenant, _, user = world(tn)
    inside = threading.Event()
    real_encode = _codec.encode_changes

    def slow_encode(changes: Any, encoded: Any = None) -> bytes:
        if threading.current_thread().name == "writer":
            inside.set()
            time.sleep(1.0)  # inside the write transaction, holding the file's write lock
        return real_encode(changes, encoded)

    monkeypatch.setattr(_codec, "encode_changes", slow_encode)
    thread, done = _write_in_thread(tn, tenant, "from the parent's thread")
    assert inside.wait(5.0)

    def child() -> tuple[float, str, str, bool]:
        started = time.monotonic()
        try:
            tn.tenant(tenant).create_device("from the child")
        except StoreError as exc:
            return time.monotonic() - started, str(exc), exc.rule, tn.verify(user, "d-x")
        raise AssertionError("the child wrote a file its lock table says it holds")

    took, message, rule, answered = result_of(fork(child))
    assert took < 2.0
    assert "forked while another thread wrote" in message
    assert "FORK_WAIT" in rule
    assert answered is False  # queries still answer
    thread.join(TIMEOUT)
    assert len(done) == 1, done
    assert not isinstance(done[0], BaseException), done
    tn.catch_up()
    assert sorted(d.name for d in tn.index.devices.values()) == ["from the parent's thread"]
    tn.close()


def test_a_memory_store_locked_by_another_thread_at_the_fork_works_in_the_child() -> None:
    """The in-memory store's lock, held by a thread of the parent at the fork, is new in
    the child: the child's handle catches up, reads the audit log and writes."""
    tn = tenancy.open()
    tenant, _, _ = world(tn)
    store_lock = tn.store._lock  # type: ignore[attr-defined]
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store_lock:
            held.set()
            release.wait(TIMEOUT)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(5.0)

    def child() -> tuple[int, int]:
        device = tn.tenant(tenant).create_device("from the child")
        assert device.id in tn.index.devices
        return tn.catch_up(), len(tn.audit_log(limit=1000))

    try:
        revision, audited = result_of(fork(child))
    finally:
        release.set()
        thread.join(TIMEOUT)
    assert revision == tn.revision + 1  # the child's write is the child's own
    assert audited > 0
    tn.close()
