"""The built workload, kept between runs in a tenancy SQLite file.

Building L through the public API takes minutes; its result is kept as a SQLite store file
under ``.benchmarks/cache`` (ignored by git), named after the scale, the seed and a hash of
everything that decides its content (the spec, the generator's source, the library version
and the store's schema version). The file is written by replaying the memory store's change
log into a :class:`~tenancy.store.sqlite.SQLiteStore` through :meth:`Store.commit`, grouped
into large commits: the same records, fewer revisions. A run opens it (the SQLite figures)
and replays it into a memory store (the memory-store figures); it never writes to it: the
writes of a run go to a copy.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import tenancy
from tenancy.records.changes import Change
from tenancy.store import MemoryStore
from tenancy.store.migrations import LATEST
from tenancy.store.protocol import Store
from tenancy.store.sqlite import SQLiteStore
from tenancy.testing import workload as workload_module
from tenancy.testing.workload import Workload, apply

__all__ = ["Cached", "ensure", "memory_handle", "replay", "work_copy"]

CHUNK = 50_000
"""Changes per commit when replaying a log."""


@dataclass(frozen=True)
class Cached:
    path: Path
    build_seconds: float
    """Building the workload through the public API (memory store), when the file was made."""
    write_seconds: float
    """Replaying the memory store's log into the SQLite file."""
    made_now: bool


def _key(w: Workload) -> str:
    digest = hashlib.sha256()
    for part in (
        repr(w.spec),
        str(w.seed),
        Path(workload_module.__file__).read_text(),
        tenancy.__version__,
        str(LATEST),
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def replay(source: Store, target: Store, chunk: int = CHUNK) -> int:
    """Commit every change of ``source``'s log to ``target`` in commits of about ``chunk``
    changes. Returns the number of changes."""
    pending: list[Change] = []
    total = 0

    def flush() -> None:
        nonlocal pending
        if pending:
            target.commit(pending, expected_revision=target.head())
            pending = []

    for commit in source.changes_since(0):
        pending.extend(commit.changes)
        total += len(commit.changes)
        if len(pending) >= chunk:
            flush()
    flush()
    return total


def ensure(w: Workload, cache_dir: Path) -> Cached:
    """The cached SQLite file of this workload, made now if missing (``w`` must then be a
    plan only: it is created through the public API, and keeps that handle)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = f"{w.spec.devices}-{w.seed}-{_key(w)}"
    path = cache_dir / f"{name}.db"
    meta = cache_dir / f"{name}.json"
    if path.exists() and meta.exists():
        info = json.loads(meta.read_text())
        return Cached(path, info["build_seconds"], info["write_seconds"], made_now=False)
    start = time.perf_counter()
    apply(w)
    built = time.perf_counter() - start
    partial = path.with_suffix(".partial")
    for stale in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        stale.unlink(missing_ok=True)
    start = time.perf_counter()
    store = SQLiteStore(partial, synchronous="OFF")
    try:
        replay(w.tn.store, store)
    finally:
        store.close()
    written = time.perf_counter() - start
    partial.rename(path)
    meta.write_text(json.dumps({"build_seconds": built, "write_seconds": written}))
    return Cached(path, built, written, made_now=True)


def memory_handle(path: Path) -> tenancy.Tenancy:
    """A handle on a memory store holding the cached file's records (its log replayed)."""
    source = SQLiteStore(path)
    try:
        store = MemoryStore()
        replay(source, store)
    finally:
        source.close()
    return tenancy.open(store)


def work_copy(path: Path, name: str) -> Path:
    """A copy of the cached file for a run to write to."""
    target = path.with_name(name)
    for stale in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        stale.unlink(missing_ok=True)
    shutil.copyfile(path, target)
    return target
