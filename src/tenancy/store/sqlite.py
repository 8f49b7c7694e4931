"""The SQLite store: the durable embedded default, one file shared by many processes.

Layout (see :mod:`tenancy.store.migrations`): one table per record kind holding the
msgspec-encoded record, memberships and group associations as plain tables, the change log
as ``(revision, encoded commit)``, ``meta.head``, the latest revision, and the audit log
(one row per record, ``before`` and ``after`` as JSON text; never pruned nor deleted).

Rules this adapter keeps:

Rule 1. Every :meth:`SQLiteStore.commit` is one transaction (a savepoint when nested in
   :meth:`SQLiteStore.atomic`) that writes the records *and* appends the commit to the
   change log under the next revision, and appends the write's audit records: a reader
   sees all of them or none.

Rule 2. Optimistic concurrency: a commit starts with ``BEGIN IMMEDIATE`` (it takes the
   file's write lock at once, so two writers queue instead of deadlocking on a lock
   upgrade), then compares ``meta.head`` with the revision the caller validated against;
   if another process got there first it writes nothing and raises StaleRevision.

Rule 3. Every read that must be consistent (a snapshot, a stretch of the log) runs in one
   read transaction; in WAL mode it sees one committed state and never blocks a writer.

Rule 4. A writer waits at most ``busy_timeout`` seconds for the write lock, then raises
   StoreError naming the file and the timeout: never a silent hang, never a raw
   ``sqlite3.OperationalError``.

Durability: WAL with ``synchronous=NORMAL`` by default. A commit is in the WAL (the
operating system's file cache) when it returns, so it survives the process being killed
at any moment; only a power cut or kernel crash can lose the last commits before the next
checkpoint, and even then the file is never corrupt (the WAL is checksummed and replayed
up to its last complete commit). That trade makes a write cost a fraction of a millisecond
instead of an fsync. Pass ``synchronous="FULL"`` to fsync every commit.

Integrity on open: a damaged file refuses to open, with a StoreError naming the file and
the problem, rather than answer from what it misread. Every row a snapshot reads carries a
CRC-32 of its content, and every write keeps each table's row count and checksum total
(migration 7); the snapshot sums the checksums of the rows it decodes and compares both
with the table's, then checks that every tenant, group, user and gateway a record names
exists, and that the head revision is the change log's last. That rides on the reads the
open makes anyway (0 to 4% of the open at a million devices). ``integrity="quick"``
or ``"full"`` adds SQLite's own check of every page (``PRAGMA quick_check``) or of every
page and index (``PRAGMA integrity_check``), which reads the whole file once more. The
change log's rows carry checksums too, checked with the continuity of the revisions
whenever a stretch of it is read.

One connection per store object, guarded by a lock: the handle's follower thread and its
application threads share it (SQLite connections are not safe to use from two threads at
once). Open one store object per process; several processes share the file.

Fork: a SQLite connection must not be used, nor closed, on both sides of a ``fork()``. A
store object that crosses one (``gunicorn --preload``) is reset in the child by
:func:`os.register_at_fork` hooks and opens a connection of its own on first use; the
inherited one is left untouched for the life of the child. Before the fork the hook takes
the store's lock (waiting at most ``FORK_WAIT`` seconds for a transaction of another thread
to end), so the inherited connection is idle: SQLite keeps one lock table per process and
file, and a child whose copy of it says "a connection of this process holds the write lock"
could never write the file. A fork that could not wait leaves such a child unable to write
the file; it then refuses writes at once with a StoreError saying so.

This module holds the connection, the transactions and the open; the rows' tables and
decoders are in ``_sqlite_rows``, the checked snapshot reads in ``_sqlite_read``, and the
meaning of each change on the rows in ``_sqlite_apply``.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote

from tenancy.errors import InvalidValue, StaleRevision, StoreError, shorten
from tenancy.records.changes import (
    Change,
    Commit,
    Revision,
    check_changes,
)
from tenancy.records.model import (
    AuditRecord,
    Device,
    Tenant,
    UsageDay,
    User,
)
from tenancy.records.snapshot import Snapshot
from tenancy.store import _audit, _codec, migrations
from tenancy.store._sqlite_apply import ChangeWriter
from tenancy.store._sqlite_log import CommitSignal, decode_log, log_crc
from tenancy.store._sqlite_read import (
    SnapshotReader,
    _audit_filters,
)
from tenancy.store._sqlite_rows import (
    _AUDIT_COLUMNS,
    _Missing,
)
from tenancy.store.protocol import Beside, Capabilities, CommitsBeside

__all__ = [
    "SQLiteStore",
]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
Integrity = Literal["rows", "quick", "full"]
_INTEGRITY = ("rows", "quick", "full")
FORK_WAIT = 10.0
"""Seconds os.fork() waits for a transaction of another thread on a store to end."""


class SQLiteStore(CommitsBeside):
    """Records and change log in one SQLite file, shared by every process that opens it.

    >>> import tenancy, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "app.db")
    >>> with tenancy.open(path) as tn:
    ...     acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example")
    >>> with tenancy.open(f"sqlite:///{path}") as tn:
    ...     tn.get_tenant(acme.id).name
    'Acme'
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        synchronous: Synchronous = "NORMAL",
        retention: int | None = None,
        integrity: Integrity = "rows",
        create: bool | None = None,
    ) -> None:
        """Open (creating and migrating if needed) the store in the file at ``path``.

        ``busy_timeout``: seconds a writer waits for another process's write to finish
        before raising StoreError. ``synchronous``: SQLite's durability level (see the
        module docstring). ``retention``: how many revisions of change log to keep (None:
        all); a process that falls further behind reloads a snapshot instead.

        ``integrity``: what the open checks before it serves an answer (see "Integrity on
        open" in the module docstring): ``"rows"`` (the default) the checksum, count and
        references of every row a snapshot reads, at no cost but the checksums;
        ``"quick"`` also SQLite's ``PRAGMA quick_check`` of the whole file; ``"full"``
        ``PRAGMA integrity_check`` instead (it also compares every index with its table).

        ``create``: None (the default) makes a new store when no file is at ``path``;
        True also makes one in an existing empty file (0 bytes, or a SQLite file without
        tables); False never makes one (a missing file is refused).
        """
        self._path = os.fspath(path)
        self._busy_timeout = _check_positive("busy_timeout", busy_timeout)
        if synchronous not in _SYNCHRONOUS:
            raise InvalidValue(synchronous, f"synchronous is one of {', '.join(_SYNCHRONOUS)}")
        if retention is not None and (
            not isinstance(retention, int) or isinstance(retention, bool) or retention < 1
        ):
            raise InvalidValue(retention, "retention is a positive number of revisions or None")
        if integrity not in _INTEGRITY:
            raise InvalidValue(
                integrity, f"integrity is one of {', '.join(_INTEGRITY)}", field="integrity"
            )
        if create not in (None, True, False):
            raise InvalidValue(create, "create is True, False or None", field="create")
        self._retention = retention
        self._integrity = integrity
        self._memory = self._path in {":memory:", ""}
        self._synchronous: Synchronous = synchronous
        self._lock = threading.RLock()
        self._signal = CommitSignal()  # wakes wait_for_commit on our own commits
        self._depth = 0
        self._closed = False
        self._forked = False  # crossed a fork: open a connection of this process first
        self._forked_writing = False  # ... in the middle of another thread's write
        if not self._memory and not os.path.exists(self._path):
            if create is False:
                raise StoreError(
                    f"{self._path}: no such store (create=False)",
                    value=self._path,
                    rule="create=False opens an existing store only",
                )
            self._create_file()
        self._conn = self._connect()
        try:
            if not self._memory and not self._is_store() and not create:
                raise self._refused(
                    "is empty (no tables): not a tenancy store",
                    "a new store is made in a missing file, or with create=True",
                )
            self._configure(synchronous)
            with self.atomic():
                if not self._memory:
                    self._is_store()  # again, holding the write lock
                try:
                    migrations.migrate(self._conn)
                except StoreError as exc:
                    raise StoreError(
                        f"{self._path}: {exc}", value=exc.value, rule=exc.rule
                    ) from exc
            if integrity != "rows":
                self._check_file(integrity)
        except BaseException as exc:
            self._conn.close()
            self._closed = True
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc, "open") from exc  # e.g. not a database file
            if isinstance(exc, UnicodeDecodeError):  # the schema holds bytes that are not text
                raise self._damaged(f"a text value is not UTF-8 ({exc})") from exc
            raise
        _OPEN.add(self)

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(
                self._path if self._memory else _uri(self._path),
                timeout=self._busy_timeout,
                isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE, SAVEPOINT
                check_same_thread=False,  # shared by the follower thread, under self._lock
                cached_statements=256,
                uri=not self._memory,  # mode=rw: a file deleted meanwhile is not made anew
            )
        except sqlite3.Error as exc:
            raise self._error(exc, "open") from exc

    def _create_file(self) -> None:
        """Make a new, migrated store at the (missing) path in one step: it is built in a
        file of its own next to it, then linked in place, so no other process ever sees a
        file that is there but empty, and of two processes making it at once one wins."""
        directory = os.path.dirname(os.path.abspath(self._path))
        making = os.path.join(
            directory, f".{os.path.basename(self._path)}.{os.getpid()}.{threading.get_ident()}.new"
        )
        try:
            for stale in (making, f"{making}-wal", f"{making}-shm", f"{making}-journal"):
                if os.path.exists(stale):
                    os.unlink(stale)
            conn = sqlite3.connect(making, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("BEGIN IMMEDIATE")
                migrations.migrate(conn)
                conn.execute("COMMIT")
            finally:
                conn.close()  # the last connection checkpoints the WAL into the file
            try:
                os.link(making, self._path)
            except FileExistsError:
                pass  # another process made it first: open theirs
            except OSError:
                if not os.path.exists(self._path):  # a file system without hard links
                    os.replace(making, self._path)
        except sqlite3.Error as exc:
            raise self._error(exc, "create") from exc
        except OSError as exc:
            raise StoreError(
                f"{self._path}: could not create the store: {exc}", value=self._path
            ) from exc
        finally:
            for leftover in (making, f"{making}-wal", f"{making}-shm"):
                with suppress(OSError):
                    os.unlink(leftover)

    def _is_store(self) -> bool:
        """True for a tenancy store, False for a file without tables (empty); any other
        file is refused (another application's database, a file that is not SQLite)."""
        rows = self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        tables = {name for (name,) in rows}
        if not tables:
            return False
        if {"meta", "schema_migrations"} <= tables and self._columns("schema_migrations") == {
            "version",
            "name",
            "applied_at",
        }:
            return True
        shown = ", ".join(sorted(str(t) for t in tables)[:8])
        raise self._refused(
            f"is not a tenancy store (a SQLite database with the tables {shown})",
            "a tenancy store is a file made by tenancy",
        )

    def _columns(self, table: str) -> set[str]:
        return {str(row[1]) for row in self._conn.execute(f"PRAGMA table_info({table})")}

    def _check_file(self, integrity: Integrity) -> None:
        """SQLite's own check of every page of the file (and, when full, of every index
        against its table)."""
        pragma = "integrity_check" if integrity == "full" else "quick_check"
        with self._reading() as conn:
            rows = conn.execute(f"PRAGMA {pragma}(20)").fetchall()
        problems = [str(row[0]) for row in rows]
        if problems != ["ok"]:
            raise self._damaged(
                f"PRAGMA {pragma} found {len(problems)} problem(s): {'; '.join(problems[:3])}"
            )

    def _refused(self, what: str, rule: str) -> StoreError:
        return StoreError(f"{self._path} {what}", value=self._path, rule=rule)

    def _damaged(self, problem: str) -> StoreError:
        return StoreError(
            f"{self._path} is damaged: {problem}; restore a backup or rebuild the store "
            "(see the how-to on SQLite stores)",
            value=self._path,
            rule="a store opens only if what it read matches its checksums",
        )

    @classmethod
    def from_url(cls, url: str | os.PathLike[str], **options: Any) -> SQLiteStore:
        """Open ``app.db``, ``sqlite:///app.db`` (relative) or ``sqlite:////abs/app.db``.

        Options may also be given as a query string, as in
        ``sqlite:///app.db?busy_timeout=10&synchronous=FULL&retention=100000``
        (and ``integrity=full``, ``create=false``).
        """
        url = os.fspath(url)
        if "://" not in url:
            return cls(url, **options)
        scheme, _, rest = url.partition("://")
        if scheme != "sqlite":
            raise InvalidValue(url, "a store is a file path or a sqlite:/// URL")
        if not rest.startswith("/"):
            raise InvalidValue(url, "a SQLite URL has three slashes: sqlite:///relative.db")
        path, _, query = rest[1:].partition("?")
        if not path:
            raise InvalidValue(url, "a SQLite URL names a file: sqlite:///app.db")
        parsed: dict[str, Any] = {}
        for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
            parsed[key] = _url_option(url, key, value)
        return cls(unquote(path), **{**parsed, **options})

    # ------------------------------------------------------------ the Store protocol

    @property
    def capabilities(self) -> Capabilities:
        durable = not self._memory
        return Capabilities(durable=durable, shared=durable, retention=self._retention, feed=True)

    @property
    def path(self) -> str:
        return self._path

    def head(self) -> Revision:
        with self._reading() as conn:
            return self._head(conn)

    def snapshot(self) -> Snapshot:
        reader = SnapshotReader(self._damaged)
        with self._reading() as conn, _codec.gc_paused():
            revision = self._head(conn)
            reader._check_head(conn, revision)
            sums = reader._checksums(conn)
            tenants = reader._records(conn, Tenant, sums)
            groups = reader._groups(conn, sums)
            shared: dict[Any, Any] = {}  # equal values of all the records, decoded once
            facts = _codec.DeviceFacts()
            devices = reader._records(conn, Device, sums, shared=shared, facts=facts)
            users = reader._records(conn, User, sums, shared=shared)
            memberships = reader._pairs(
                conn, "memberships", "group_id, user_id", sums, order="group_id, user_id"
            )
            usage = reader._records(conn, UsageDay, sums, order="tenant_id, day")
            access = reader._access(conn, sums)
        reader._check_references(tenants, groups, users, memberships)
        reader._check_devices(devices, facts, {t.id for t in tenants})
        with self._lock:
            if not self._depth:
                # The read filled the page cache (32 MB) with pages a write rarely needs:
                # give them back; the cache grows again with what the writes touch.
                self._conn.execute("PRAGMA shrink_memory")
        return Snapshot(
            revision=revision,
            tenants=tenants,
            groups=groups,
            devices=devices,
            users=users,
            memberships=memberships,
            usage=usage,
            access=access,
        )

    def _commit(
        self,
        changes: Sequence[Change],
        expected_revision: Revision,
        audit: Sequence[AuditRecord],
        beside: Beside | None,
    ) -> Revision:
        """:meth:`commit`; ``beside`` runs from the end of the inserts to the end of the
        ``COMMIT``: the indexes made after the inserts, the change log's row and the
        commit itself are SQLite's work, each one call that releases the interpreter lock
        (at L about a sixth of an import). Before that, every row is a call that releases
        it and takes it back, which work in another thread would slow to a crawl."""
        changes = tuple(changes)
        check_changes(changes)  # an impossible value is refused before anything is written
        try:
            with self.atomic() as conn:
                head = self._head(conn)
                if head != expected_revision:
                    raise StaleRevision(expected_revision, head)
                revision = head + 1
                writer = ChangeWriter({} if audit else None, indexes_later=True)
                writer._apply(conn, changes)
                at, actor = None, None
                if audit:  # the commit keeps the time and actor of its audit records
                    at = writer._append_audit(conn, audit, writer._encoded or {})
                    actor = audit[0].actor
                body = _codec.encode_changes(changes, writer._encoded)
                crc = log_crc(body, at, actor)
                writer._encoded = None
                if beside is not None:  # what is left is SQLite's, a few calls
                    beside.start()
                writer.remake_indexes(conn)
                conn.execute(
                    "INSERT INTO changes (revision, body, crc, at, actor) VALUES (?, ?, ?, ?, ?)",
                    (revision, body, crc, at, actor),
                )
                del body
                conn.execute("UPDATE meta SET value = ? WHERE key = 'head'", (revision,))
                if self._retention is not None and revision - self._retention > 0:
                    writer._prune(conn, revision - self._retention)
        except _Missing as exc:
            raise StoreError(
                f"commit {expected_revision + 1} could not be applied: {exc}",
                value=changes,
                rule="every change of a commit must apply to the current records",
            ) from exc
        self._signal.committed()
        return revision

    def audit_log(
        self,
        *,
        tenant: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        with self._reading() as conn:
            top = conn.execute("SELECT max(seq) FROM audit").fetchone()[0] or 0

            def at_of(seq: int) -> int:
                row = conn.execute("SELECT at FROM audit WHERE seq = ?", (seq,)).fetchone()
                return int(row[0])

            above, below = _audit.seq_range(at_of, top, start=start, end=end, after=after)
            where, params = _audit_filters(
                tenant=tenant, actor=actor, target=target, above=above, below=below
            )
            rows = conn.execute(
                f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE {where} ORDER BY seq LIMIT ?",  # noqa: S608
                (*params, limit),
            ).fetchall()
        return _audit.from_rows(rows)

    def changes_since(self, revision: Revision) -> list[Commit]:
        return self._log(revision, None)

    def commits_after(self, revision: Revision, limit: int) -> list[Commit]:
        """The first ``limit`` commits after ``revision`` (the :class:`FeedStore
        <tenancy.store.protocol.FeedStore>` hook). Runtime complexity: O(log n + limit)."""
        return self._log(revision, limit)

    def wait_for_commit(self, revision: Revision, timeout: float) -> Revision:
        """Block until the head is past ``revision`` or ``timeout`` seconds have passed,
        and return the head: a commit through this store object wakes it at once, another
        process's within :data:`~tenancy.store._sqlite_log.POLL_INTERVAL` (the head is one
        small read)."""
        return self._signal.wait_past(revision, timeout, self.head)

    def _log(self, revision: Revision, limit: int | None) -> list[Commit]:
        with self._reading() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'log_floor'").fetchone()
            if row is None or type(row[0]) is not int:
                raise self._damaged(f"its log floor is {shorten(row)}, not a revision")
            if revision < row[0]:
                raise StaleRevision(revision, self._head(conn))
            rows = conn.execute(
                "SELECT revision, body, crc, at, actor FROM changes WHERE revision > ? "
                "ORDER BY revision LIMIT ?",
                (revision, -1 if limit is None else limit),
            ).fetchall()
            head = self._head(conn)
        end = head if limit is None else min(head, revision + limit)
        return decode_log(rows, revision, end, self._damaged)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                _OPEN.discard(self)
                if not self._forked:  # an inherited connection is the parent's to close
                    self._conn.close()

    # ------------------------------------------------------------ fork

    def _after_fork_in_child(self, idle: bool) -> None:
        """Run in a forked child, alone: the lock may have been held by a thread of the
        parent, which does not exist here, and the connection is the parent's. Reset both;
        the connection is replaced on first use. ``idle``: the hook held the lock, so no
        transaction was open on the inherited connection."""
        if not idle and self._depth and not self._memory:
            self._forked_writing = True
        self._lock = threading.RLock()
        self._signal = CommitSignal()
        self._depth = 0
        self._encoded = None
        if not self._memory and not self._forked:
            # Closing it here could checkpoint or unlock what the parent relies on; keep it
            # referenced, unused, so it is not closed when collected either.
            _INHERITED.append(self._conn)
            self._forked = True

    def _reconnect(self) -> None:
        """The first use in a forked child: a connection of this process, configured as
        the parent's was (the file's schema is already migrated)."""
        conn = self._connect()
        try:
            self._conn = conn
            self._configure(self._synchronous)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc, "reopen after fork") from exc
            raise
        self._forked = False

    # ------------------------------------------------------------ transactions

    @contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; nested blocks are savepoints inside it.

        The outermost block takes the file's write lock (``BEGIN IMMEDIATE``) and commits
        on exit; an exception rolls back the innermost block only, then propagates (an
        error of SQLite itself, such as a full disk, as StoreError).
        """
        with self._lock:
            self._check_open()
            conn = self._conn
            if self._depth == 0:
                if self._forked_writing:
                    raise StoreError(
                        f"{self._path}: this process was forked while another thread wrote "
                        "the file; SQLite's lock table of this process still says it holds "
                        "the write lock, so no connection of it can write the file",
                        value=self._path,
                        rule="fork when no write is in progress (os.fork waits at most "
                        "FORK_WAIT seconds for one), or open the file after forking",
                    )
                self._begin("BEGIN IMMEDIATE", "write")
                self._depth = 1
                try:
                    yield conn
                except sqlite3.Error as exc:
                    self._rollback()
                    raise self._error(exc, "write") from exc
                except BaseException:
                    self._rollback()
                    raise
                else:
                    self._finish()
                finally:
                    self._depth = 0
            else:
                name = f"tenancy_{self._depth}"
                conn.execute(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    yield conn
                except BaseException:
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
                    raise
                else:
                    conn.execute(f"RELEASE {name}")
                finally:
                    self._depth -= 1

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One consistent read (inside an open write transaction: that transaction)."""
        with self._lock:
            self._check_open()
            if self._depth:
                yield self._conn
                return
            self._begin("BEGIN", "read")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                self._end_read()
                raise self._error(exc, "read") from exc
            except UnicodeDecodeError as exc:  # a text column holding bytes that are not text
                self._end_read()
                raise self._damaged(f"a text value is not UTF-8 ({exc})") from exc
            except BaseException:
                self._end_read()
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._end_read()
                raise self._error(exc, "read") from exc

    def _end_read(self) -> None:
        """End a read that failed, keeping the error it failed with (a damaged file can
        fail the rollback too: the connection is then left to close)."""
        with suppress(sqlite3.Error):
            self._rollback()

    def _begin(self, statement: str, purpose: str) -> None:
        try:
            self._conn.execute(statement)
        except sqlite3.OperationalError as exc:
            raise self._error(exc, purpose) from exc

    def _finish(self) -> None:
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise self._error(exc, "commit") from exc

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _error(self, exc: sqlite3.Error, purpose: str) -> StoreError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StoreError(
                f"{self._path}: could not {purpose}: the file stayed locked by another "
                f"connection for more than busy_timeout={self._busy_timeout} s ({text})",
                value=self._path,
                rule="a connection waits at most busy_timeout seconds for another's write",
            )
        if isinstance(exc, sqlite3.DatabaseError) and (
            "malformed" in text or "not a database" in text or "corrupt" in text
        ):
            return StoreError(
                f"{self._path} is damaged: SQLite could not {purpose} it: {text}",
                value=self._path,
                rule="a damaged file is neither read nor written",
            )
        return StoreError(f"{self._path}: could not {purpose}: {text}", value=self._path)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(
                f"the store {self._path} is closed",
                value=self._path,
                rule="a closed store is neither read nor written",
            )
        if self._forked:
            self._reconnect()

    def _configure(self, synchronous: Synchronous) -> None:
        conn = self._conn
        if not self._memory:
            # WAL: readers never block the writer nor each other, and a commit appends to
            # one file. The mode is stored in the file; switching needs a moment alone
            # with it, so retry within the busy timeout while another process opens it.
            deadline = time.monotonic() + self._busy_timeout
            while True:
                try:
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    break
                except sqlite3.OperationalError as exc:
                    if time.monotonic() > deadline:
                        raise self._error(exc, "switch to WAL mode") from exc
                    time.sleep(0.01)
            if str(mode).lower() != "wal":
                raise StoreError(
                    f"{self._path}: SQLite refused WAL mode (journal_mode is {mode})",
                    value=self._path,
                    rule="a shared SQLite store needs WAL mode (a local file system)",
                )
        # NORMAL in WAL mode: durable across a process crash, see the module docstring.
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA cache_size = -32000")  # 32 MB: a bulk insert stays in memory
        conn.execute("PRAGMA temp_store = MEMORY")

    # ------------------------------------------------------------ reading records

    def _head(self, conn: sqlite3.Connection) -> Revision:
        row = conn.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
        if row is None or type(row[0]) is not int or row[0] < 0:
            raise self._damaged(f"its head revision is {shorten(row)}, not a revision")
        value: Revision = row[0]
        return value

    # Integrity on open: every table a snapshot reads carries a checksum per row, and
    # the writes keep each table's row count and checksum total (migration 7). The read sums
    # the checksums of the rows it decodes (one C call per batch of rows) and compares the
    # count and the total with the table's: a changed byte, a lost or an extra row refuses
    # the open. Then the records' references are checked (every tenant, group and user
    # they name exists), on sets of distinct values. Slow paths (naming the row that is
    # wrong) run only once a check has failed.

    # ------------------------------------------------------------ writing records

    # The checksum totals are kept here, in the transaction of the write (not by triggers,
    # which would cost a statement per row: they tripled a bulk insert of a million rows):
    # a row added adds its checksum, a row replaced or removed takes its old one away.

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"


_OPEN: weakref.WeakSet[SQLiteStore] = weakref.WeakSet()
"""The open stores of this process, reset in a forked child."""
_INHERITED: list[sqlite3.Connection] = []
"""Connections a forked child inherited: never used nor closed by it."""


_HELD: list[SQLiteStore] = []
"""The stores whose lock the before-fork hook took, until after the fork."""


def _before_fork() -> None:
    # Runs after the facade's hook (registered later, run first), which took the writer
    # locks: the same order as a write takes them, so the two never wait on each other.
    _HELD.extend(store for store in list(_OPEN) if store._lock.acquire(timeout=FORK_WAIT))


def _after_fork_in_parent() -> None:
    held = list(_HELD)
    _HELD.clear()
    for store in held:
        store._lock.release()


def _after_fork_in_child() -> None:
    held = {id(store) for store in _HELD}
    _HELD.clear()
    for store in list(_OPEN):
        store._after_fork_in_child(idle=id(store) in held)


if sys.platform != "win32":  # POSIX: os.fork exists
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


def _uri(path: str) -> str:
    """The SQLite URI of an existing file, opened for reading and writing, never made."""
    return f"file:{quote(os.path.abspath(path))}?mode=rw"


def _check_positive(name: str, value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise InvalidValue(value, f"{name} is a positive number of seconds")
    return float(value)


def _url_option(url: str, key: str, value: str) -> Any:
    try:
        if key == "busy_timeout":
            return float(value)
        if key == "retention":
            return None if value.lower() in ("", "none", "all") else int(value)
    except ValueError:
        raise InvalidValue(url, f"the URL option {key} takes a number") from None
    if key == "synchronous":
        return value.upper()
    if key == "integrity":
        return value.lower()
    if key == "create":
        flags = {"true": True, "1": True, "false": False, "0": False, "": None, "none": None}
        if value.lower() not in flags:
            raise InvalidValue(url, "the URL option create is true, false or none")
        return flags[value.lower()]
    raise InvalidValue(
        url,
        f"unknown SQLite URL option {key!r}: busy_timeout, synchronous, retention, "
        "integrity, create",
    )
