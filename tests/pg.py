"""The PostgreSQL server the tests use, and a fresh place in it for each test run.

The server is ``TENANCY_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``:
trust authentication, the database ``test``). Each pytest process makes one database of its
own there on first use (``tenancy_t_<pid>_<random>``) and drops it when it exits; each store
a test opens gets a schema of its own in it (:func:`fresh_url`). Where no server answers,
the tests that need one skip, saying how to start one.
"""

from __future__ import annotations

import atexit
import itertools
import os
import secrets
import threading
from urllib.parse import urlsplit, urlunsplit

import pytest

SERVER = os.environ.get("TENANCY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
HOW_TO_START = (
    f"no PostgreSQL server answers at {SERVER}: start one with trust authentication and a "
    "database 'test' (Debian: apt-get install postgresql && pg_ctlcluster 15 main start, "
    "then createdb -U postgres test; or docker run -p 5432:5432 -e "
    "POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres:15), or point "
    "TENANCY_TEST_POSTGRES at one"
)

_lock = threading.Lock()
_database: list[str] = []  # the URL of this process's database, once made
_unreachable: list[str] = []
_names = itertools.count(1)


def _admin_url() -> str:
    return SERVER


def database_url() -> str:
    """The URL of this test run's own database (made on first call), or skip the test."""
    with _lock:
        if _database:
            return _database[0]
        if _unreachable:
            pytest.skip(_unreachable[0])
        try:
            import psycopg
        except ImportError:
            _unreachable.append("psycopg is not installed: pip install -e '.[postgres]'")
            pytest.skip(_unreachable[0])
        name = f"tenancy_t_{os.getpid()}_{secrets.token_hex(3)}"
        try:
            with psycopg.connect(_admin_url(), autocommit=True, connect_timeout=3) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.OperationalError as exc:
            _unreachable.append(f"{HOW_TO_START} ({str(exc).strip()[:200]})")
            pytest.skip(_unreachable[0])
        parts = urlsplit(SERVER)
        url = urlunsplit(parts._replace(path=f"/{name}"))
        _database.append(url)
        atexit.register(_drop, name, os.getpid())
        return url


_free: list[str] = []
"""Schemas a test gave back, emptied (every row deleted, the head at 0): as new, and much
cheaper to get than a new schema (each CREATE TABLE makes files: 0.3 s a schema here)."""
_TABLES = (
    "tenants", "groups", "devices", "users", "memberships", "group_devices", "group_rules",
    "usage", "access", "changes", "audit",
)  # fmt: skip


def fresh_schema() -> str:
    """A schema no store of this run uses: a new name, or one given back emptied."""
    with _lock:
        if _free:
            return _free.pop()
    return f"t{next(_names)}_{secrets.token_hex(2)}"


def give_back(url: str, schema: str) -> None:
    """Empty the store in ``schema`` (closed by now) for :func:`fresh_schema` to hand out
    again; a schema that is not a whole store is dropped instead."""
    import psycopg

    try:
        with psycopg.connect(url.partition("?")[0], autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            with conn.transaction():
                for table in _TABLES:
                    conn.execute(f"DELETE FROM {table}")
                conn.execute("UPDATE meta SET value = 0")
                conn.execute("UPDATE checksums SET rows = 0, total = 0")
    except psycopg.Error:
        drop_schema(url, schema)
        return
    with _lock:
        _free.append(schema)


def fresh_url() -> str:
    """A URL of this run's database naming a schema of its own (made on first open)."""
    return f"{database_url()}?schema={fresh_schema()}"


def drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url.partition("?")[0], autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def terminate_backends(url: str) -> int:
    """End every other session on the database of ``url`` (what a server restart does to
    its clients); returns how many were ended."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(url.partition("?")[0], autocommit=True, connect_timeout=3) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()
    return int(row[0]) if row else 0


def _drop(name: str, pid: int) -> None:
    if os.getpid() != pid:
        return  # a forked child: the database is its parent's
    try:
        import psycopg

        with psycopg.connect(_admin_url(), autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception:
        pass
