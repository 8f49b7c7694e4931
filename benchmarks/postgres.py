"""The PostgreSQL store's figures of issue 13, side by side with SQLite in the same run.

    python -m benchmarks.postgres                      # 100,000 devices (M)
    python -m benchmarks.postgres --devices 1000000    # L
    TENANCY_BENCH_POSTGRES=postgresql://user@host/db python -m benchmarks.postgres

Prints: the median and p99 of one durable write (tag change, membership, device creation)
on PostgreSQL and on SQLite; how long a write in this process takes to show in another
process's handle (NOTIFY, and polling with ``notify=False, staleness=0.1``), median and p99;
the cold open of a store of ``--devices`` devices to a ready index on both; verify on the
PostgreSQL-opened handle; and the naive recursive SQL of benchmarks/naive_sql.py on SQLite
and on PostgreSQL itself (verify of the same pairs). The store lives in a schema of its own,
dropped at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import secrets
import statistics
import tempfile
import time
import timeit
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psycopg

import tenancy
from benchmarks.naive_sql import FIRST_PAGE, INDEXES, SCHEMA, VERIFY, NaiveSQL
from tenancy.testing.workload import SCALES, plan

SERVER = os.environ.get("TENANCY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
CTX = multiprocessing.get_context("spawn")


def _pct(values: list[float]) -> str:
    values = sorted(values)
    return (
        f"median {statistics.median(values) * 1e3:.3f} ms, "
        f"p99 {values[min(len(values) - 1, int(len(values) * 0.99))] * 1e3:.3f} ms"
    )


def _fill(tn: tenancy.Tenancy, devices: int, sites: int = 100) -> str:
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
    t = tn.tenant(acme.id)
    t.create_group("root", id="root")
    for i in range(sites):
        t.create_group(f"site {i}", parent="root", id=f"s{i}", device_tags=[("site", f"s{i}")])
    for start in range(0, devices, 50_000):
        t.create_devices(
            [
                {"name": f"device {i}", "id": f"d{i:07d}", "tags": [("site", f"s{i % sites}")]}
                for i in range(start, min(devices, start + 50_000))
            ]
        )
    return acme.id


def _writes(tn: tenancy.Tenancy, tid: str, n: int) -> dict[str, list[float]]:
    t = tn.tenant(tid)
    users = [t.create_user(f"w{i}@acme.example").id for i in range(n)]
    out: dict[str, list[float]] = {"tag change": [], "membership": [], "device creation": []}
    for i in range(n):
        start = time.perf_counter()
        t.tag_device(f"d{i:07d}", [("bench", str(i))])
        out["tag change"].append(time.perf_counter() - start)
        start = time.perf_counter()
        t.add_member(f"s{i % 100}", users[i])
        out["membership"].append(time.perf_counter() - start)
        start = time.perf_counter()
        t.create_device(f"new {i}", tags=[("site", "s1")])
        out["device creation"].append(time.perf_counter() - start)
    return out


def watcher(url: str, options: dict[str, Any], pipe: Connection) -> None:
    """Another process: for each (revision, time acknowledged) received, spin until this
    handle has that revision and send back how long after the acknowledgement it showed."""
    with tenancy.open(url, **options) as tn:
        pipe.send("ready")
        while True:
            message = pipe.recv()
            if message is None:
                return
            revision, acked = message
            while tn.revision < revision:
                time.sleep(0.0002)
            pipe.send(time.time() - acked)


def _visibility(url: str, tid: str, options: dict[str, Any], n: int, run: str) -> list[float]:
    ours, theirs = CTX.Pipe()
    proc = CTX.Process(target=watcher, args=(url, options, theirs))
    proc.start()
    try:
        assert ours.recv() == "ready"
        with tenancy.open(url, staleness=60) as tn:
            t = tn.tenant(tid)
            seen = []
            for i in range(n):
                t.tag_device(f"d{i:07d}", [("seen", f"{run}{i}")])  # a new tag: a commit
                ours.send((tn.revision, time.time()))
                seen.append(ours.recv())
                time.sleep(random.uniform(0.005, 0.03))
        ours.send(None)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
    return seen


def _open_time(target: str) -> tuple[float, tenancy.Tenancy]:
    start = time.perf_counter()
    tn = tenancy.open(target)
    return time.perf_counter() - start, tn


def _per_call(fn: Callable[[], object], number: int = 2000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=3)) / number


def _raw_commit(url: str, n: int = 100) -> str:
    """The floor under any durable write: one INSERT and COMMIT (WAL flushed) on the server."""
    with psycopg.connect(url, autocommit=True) as conn:
        table = f"bench_floor_{os.getpid()}"
        conn.execute(f"CREATE TABLE {table} (i int)")  # WAL-logged, as the store's tables
        times = []
        for _ in range(n):
            start = time.perf_counter()
            conn.execute("BEGIN")
            conn.execute(f"INSERT INTO {table} VALUES (1)")
            conn.execute("COMMIT")
            times.append(time.perf_counter() - start)
        conn.execute(f"DROP TABLE {table}")
    return _pct(times)


class NaivePostgres:
    """benchmarks/naive_sql.py's tables and queries, in PostgreSQL."""

    def __init__(self, w: Any, url: str, schema: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(f"CREATE SCHEMA {schema}")
        self.conn.execute(f"SET search_path TO {schema}")
        for statement in _pg(SCHEMA).split(";"):
            if statement.strip():
                self.conn.execute(statement)
        sqlite = NaiveSQL(w)
        with self.conn.cursor() as cur:
            for table in ("groups", "devices", "users", "memberships", "group_devices",
                          "device_tags", "group_rules"):  # fmt: skip
                rows = sqlite.db.execute(f"SELECT * FROM {table}").fetchall()
                with cur.copy(f"COPY {table} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        for statement in INDEXES.split(";"):
            if statement.strip():
                self.conn.execute(statement)
        self.conn.execute("ANALYZE")
        self.verify_sql = _pg(VERIFY)
        self.page_sql = _pg(FIRST_PAGE)

    def verify(self, user: str, device: str) -> bool:
        row = self.conn.execute(self.verify_sql, {"user": user, "device": device}).fetchone()
        return bool(row and row[0])


def _pg(sql: str) -> str:
    sql = sql.replace(" WITHOUT ROWID", "").replace("enabled INTEGER", "enabled BOOLEAN")
    sql = sql.replace("INSERT INTO users VALUES (?, ?, 1)", "")
    return re.sub(r":([a-z]+)", r"%(\1)s", sql)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--visible", type=int, default=100)
    parser.add_argument("--naive-scale", default="M")
    args = parser.parse_args(argv)
    schema = f"bench_{secrets.token_hex(3)}"
    url = f"{SERVER}?schema={schema}"
    admin = psycopg.connect(SERVER, autocommit=True)
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / "bench.db")
            figures: dict[str, dict[str, list[float]]] = {}
            tids: dict[str, str] = {}
            for name, target in (("PostgreSQL", url), ("SQLite", path)):
                with tenancy.open(target, staleness=60) as tn:
                    tids[name] = _fill(tn, args.devices)
                    figures[name] = _writes(tn, tids[name], args.writes)
            tid = tids["PostgreSQL"]
            print(f"durable single writes ({args.writes} each, {args.devices:,} devices):")
            print(f"  (the server's own durable commit of one row: {_raw_commit(SERVER)})")
            for kind in figures["SQLite"]:
                for name in figures:
                    print(f"  {kind:16} {name:10} {_pct(figures[name][kind])}")
            notify = _visibility(url, tid, {"staleness": 60}, args.visible, "n")
            polling = _visibility(url, tid, {"staleness": 0.1, "notify": False}, args.visible, "p")
            print("a write visible in another process:")
            print(f"  NOTIFY (staleness=60)            {_pct(notify)}")
            print(f"  polling (notify=False, 0.1 s)    {_pct(polling)}")
            pg_open, pg_tn = _open_time(url)
            lite_open, lite_tn = _open_time(path)
            ratio = pg_open / lite_open
            print(
                f"cold open to a ready index ({args.devices:,} devices): PostgreSQL "
                f"{pg_open:.2f} s, SQLite {lite_open:.2f} s ({ratio:.2f}x)"
            )
            user = pg_tn.tenant(tid).users()[0].id
            pg_tn.tenant(tid).add_member("root", user)
            lite_user = lite_tn.tenant(tids["SQLite"]).users()[0].id
            lite_tn.tenant(tids["SQLite"]).add_member("root", lite_user)
            on_pg = _per_call(lambda: pg_tn.verify(user, "d0000007")) * 1e9
            on_lite = _per_call(lambda: lite_tn.verify(lite_user, "d0000007")) * 1e9
            print(
                f"verify on the handle: PostgreSQL-opened {on_pg:.0f} ns, "
                f"SQLite-opened {on_lite:.0f} ns"
            )
            pg_tn.close()
            lite_tn.close()
        w = plan(SCALES[args.naive_scale])
        naive_lite = NaiveSQL(w)
        naive_pg = NaivePostgres(w, SERVER, f"{schema}_naive")
        rng = random.Random(5)
        users, devices = sorted(w.user_tenant), sorted(w.devices)
        pairs = [(rng.choice(users), rng.choice(devices)) for _ in range(300)]
        for name, engine in (("SQLite", naive_lite), ("PostgreSQL", naive_pg)):
            times = []
            for u, d in pairs:
                start = time.perf_counter()
                engine.verify(u, d)
                times.append(time.perf_counter() - start)
            print(f"naive recursive SQL verify at {args.naive_scale}, {name:10}: {_pct(times)}")
        naive_pg.conn.close()
    finally:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.execute(f"DROP SCHEMA IF EXISTS {schema}_naive CASCADE")
        admin.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
