"""The asyncio recipe (examples/frameworks/asyncio_app.py): reads on the loop, writes in a
thread. While another connection holds the SQLite file's write lock, a write sent to a
thread leaves the loop free (a ticker task keeps ticking, reads keep answering), and the
same write called on the loop stops it for as long as it waits: the reason for the
recipe, measured."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import tenancy
from examples.frameworks.asyncio_app import DeviceService, main
from examples.frameworks.world import World, seed

HOLD = 0.6
"""Seconds the other connection holds the file's write lock."""


@contextmanager
def file_locked_for(path: Path, seconds: float) -> Iterator[None]:
    """Another connection takes the file's write lock now and releases it ``seconds``
    later, from a timer thread (as another process's long write would)."""
    other = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(seconds, lambda: other.execute("ROLLBACK"))
    timer.start()
    try:
        yield
    finally:
        timer.join(timeout=seconds + 10)
        other.close()


async def longest_pause(task: asyncio.Future[object], tick: float = 0.01) -> float:
    """Tick on the loop until ``task`` is done; the longest gap between two ticks."""
    longest, last = 0.0, time.monotonic()
    while not task.done():
        await asyncio.sleep(tick)
        now = time.monotonic()
        longest, last = max(longest, now - last), now
    return longest


@pytest.fixture
def world_file(tmp_path: Path) -> tuple[Path, World]:
    path = tmp_path / "app.db"
    with tenancy.open(str(path)) as tn:
        return path, seed(tn)


def test_the_recipe_runs(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(asyncio.wait_for(main(), timeout=60))
    out = capsys.readouterr().out
    assert "Ana sees the generator: True" in out
    assert "Ana's devices: ['Gen 7b']" in out


def test_a_write_in_a_thread_leaves_the_loop_free(world_file: tuple[Path, World]) -> None:
    path, w = world_file

    async def scenario() -> tuple[float, float, int]:
        service = await DeviceService.open(str(path))
        try:
            with file_locked_for(path, HOLD):
                began = last = time.monotonic()
                write = asyncio.ensure_future(
                    service.rename(w.operator_id, w.tenant_id, w.generator_id, "Gen 7b")
                )
                reads, pause = 0, 0.0
                while not write.done():  # the loop serves reads while the write waits
                    assert service.can_see(w.viewer_id, w.generator_id)
                    reads += 1
                    await asyncio.sleep(0.01)
                    now = time.monotonic()
                    pause, last = max(pause, now - last), now
                waited = time.monotonic() - began
                assert (await write).name == "Gen 7b"
            assert await service.can_see_now(w.viewer_id, w.generator_id)
            return waited, pause, reads
        finally:
            await service.close()

    waited, pause, reads = asyncio.run(asyncio.wait_for(scenario(), timeout=60))
    assert waited >= HOLD * 0.8, "the write really waited for the file's lock"
    assert reads >= 10
    assert pause < 0.3


def test_the_same_write_on_the_loop_stops_it(world_file: tuple[Path, World]) -> None:
    path, w = world_file

    async def scenario() -> float:
        tn = await asyncio.to_thread(tenancy.open, str(path))
        try:
            scope = tn.as_user(w.operator_id).tenant(w.tenant_id)

            async def write_on_the_loop() -> None:
                await asyncio.sleep(0.05)  # let the ticker start
                scope.update_device(w.generator_id, name="Gen 7b")  # waits, on the loop

            with file_locked_for(path, HOLD):
                return await longest_pause(asyncio.ensure_future(write_on_the_loop()))
        finally:
            await asyncio.to_thread(tn.close)

    stopped = asyncio.run(asyncio.wait_for(scenario(), timeout=60))
    assert stopped >= HOLD * 0.8
