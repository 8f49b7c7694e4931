"""The PostgreSQL store: one schema of a PostgreSQL database shared by every process on
every machine that opens it.

Needs the extra ``postgres`` (psycopg 3 and psycopg_pool): ``pip install 'tenancy-iot[postgres]'``.
psycopg is imported when a store is opened, never by ``import tenancy``.

Layout: the SQLite store's (see :mod:`tenancy.store._postgres_migrations`), and the same
row writer and snapshot reader (``_sqlite_apply``, ``_sqlite_read``, through
:mod:`tenancy.store._postgres_sql`), so a change means the same on both stores and a
snapshot is checked the same way (row checksums, counts, references, cycles).

Rules this adapter keeps:

Rule 1. Every :meth:`PostgresStore.commit` is one transaction: the records, the change log
   row of the next revision, the audit records, ``meta.head`` and a ``NOTIFY`` carrying
   the revision. A reader sees all of it or none; the notification is delivered only if
   the transaction commits. A batch of many new rows (an import's: ``COPY_ROWS`` and more)
   goes by one binary ``COPY`` in that transaction, behind a savepoint: a batch that meets
   a row already there is undone to it and written by the inserts, which mean the same.

Rule 2. The revision comes from one row, ``meta.head``, locked ``FOR UPDATE`` by the
   transaction's first statement: concurrent writers on any machine queue on it, each
   reads the head its predecessor committed, and a writer whose caller validated against
   an older head writes nothing and raises StaleRevision. Revisions are therefore gap-free
   and strictly increasing, and two machines can never combine into a cycle or a broken
   limit. A writer waits at most ``busy_timeout`` seconds for that lock (StoreError).

Rule 3. A snapshot is read in one ``REPEATABLE READ`` transaction (one consistent
   revision), through server-side cursors: an open of a million devices holds one batch of
   rows at a time, not a second copy of the table. ``changes_since`` is one statement (one
   consistent view, one round trip).

Rule 4. Faults are typed. A connection that broke while idle in the pool (a server
   restart, a terminated backend) is replaced and the call retried when nothing had been
   sent on it; a write whose transaction was in flight raises StoreError, never a silent
   loss: if the connection broke during ``COMMIT`` itself, the store asks the server
   (``pg_xact_status``) whether that transaction committed and returns its revision if it
   did. A revision is the change log's primary key: it can never be written twice.

Connections: a pool (psycopg_pool) of at most ``pool_size`` connections for the threads of
the process, opened on demand, plus one connection that LISTENs for the follower
(:mod:`tenancy.store._postgres_listen`). Fork: no connection crosses a ``fork()``; a store
object that does forgets its pool and listener in the child (leaving the parent's sockets
untouched: closing them would end the parent's sessions) and opens new ones on first use.

On a PostgreSQL-compatible engine without LISTEN/NOTIFY (CockroachDB, YugabyteDB), open
with ``notify=False``: no NOTIFY is sent and followers poll the log every ``staleness``.
"""

from __future__ import annotations

import os
import re
import select
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tenancy.errors import InvalidValue, StaleRevision, StoreError, shorten
from tenancy.records.changes import Change, Commit, Revision, check_changes
from tenancy.records.model import AuditRecord, Device, Tenant, UsageDay, User
from tenancy.records.snapshot import Snapshot
from tenancy.store import _audit, _codec, _postgres_sql
from tenancy.store import _postgres_migrations as pg_migrations
from tenancy.store._postgres_listen import Listener, channel
from tenancy.store._postgres_sql import (
    _AUDIT_COPY_COLUMNS,
    _HEAD_FOR_UPDATE,
    _HEAD_FOR_UPDATE_NO_XID,
    _INSERT_AUDIT_INTO,
    _INSERT_LOG,
    _MAX_PARAMS,
    _ONE_AUDIT_ROW,
    _URL_OPTIONS,
    PgShim,
    _audit_rows,
    _checked,
    _shown,
    _url_option,
    copy_new_rows,
)
from tenancy.store._sqlite_apply import ChangeWriter
from tenancy.store._sqlite_log import decode_log, log_crc
from tenancy.store._sqlite_read import SnapshotReader, _audit_filters
from tenancy.store._sqlite_rows import _AUDIT_COLUMNS, _Missing
from tenancy.store.protocol import Beside, Capabilities, CommitsBeside

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["DEFAULT_POOL_SIZE", "PostgresStore"]

DEFAULT_POOL_SIZE = 4
"""Connections a store's pool opens at most, by default (its threads queue beyond that)."""
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_STATUS_WAIT = 2.0
"""Seconds a write whose COMMIT lost its connection waits for the server to say whether
that transaction committed."""
T = TypeVar("T")


def _drivers() -> tuple[Any, Any]:
    """psycopg and psycopg_pool, or a StoreError that says which extra to install."""
    try:
        import psycopg  # noqa: PLC0415 - an optional dependency, loaded when used
        import psycopg_pool  # noqa: PLC0415
    except ImportError as exc:
        raise StoreError(
            f"the PostgreSQL store needs psycopg 3 and psycopg_pool ({exc}): install the "
            "extra 'postgres' of tenancy, e.g. pip install 'tenancy-iot[postgres]'",
            value=exc.name,
            rule="postgresql:// URLs need the optional extra 'postgres'",
        ) from exc
    return psycopg, psycopg_pool


class PostgresStore(CommitsBeside):
    """Records and change log in one schema of a PostgreSQL database, shared by every
    process (on any machine) that opens it.

    ``conninfo``: a libpq connection string or URL (``postgresql://user@host:5432/db``).
    ``schema``: the schema that holds the store (made, and migrated, on first open).
    ``pool_size``: connections this store object opens at most (one per thread that reads
    or writes the store at the same moment; the follower listens on one more).
    ``retention``: revisions of change log kept (None: all). ``busy_timeout``: seconds a
    write waits for another's head lock, and a connection to be made or free, before
    StoreError. ``notify``: send and listen for a NOTIFY per commit (False on engines
    without LISTEN/NOTIFY: followers then poll).
    """

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = "public",
        pool_size: int = DEFAULT_POOL_SIZE,
        retention: int | None = None,
        busy_timeout: float = 5.0,
        notify: bool = True,
    ) -> None:
        if not isinstance(schema, str) or not _SCHEMA.fullmatch(schema):
            raise InvalidValue(
                schema,
                "a schema is 1 to 63 lower-case letters, digits and _, not starting with a digit",
                field="schema",
            )
        if not isinstance(pool_size, int) or isinstance(pool_size, bool) or pool_size < 1:
            raise InvalidValue(pool_size, "pool_size is a positive number", field="pool_size")
        if retention is not None and (
            not isinstance(retention, int) or isinstance(retention, bool) or retention < 1
        ):
            raise InvalidValue(
                retention, "retention is a positive number of revisions or None", field="retention"
            )
        if (
            not isinstance(busy_timeout, int | float)
            or isinstance(busy_timeout, bool)
            or not 0 < busy_timeout < float("inf")
        ):
            raise InvalidValue(
                busy_timeout, "busy_timeout is a positive number of seconds", field="busy_timeout"
            )
        if notify not in (True, False):
            raise InvalidValue(notify, "notify is True or False", field="notify")
        self._psycopg, self._psycopg_pool = _drivers()
        self._conninfo = conninfo
        self._schema = schema
        self._pool_size = pool_size
        self._retention = retention
        self._busy_timeout = float(busy_timeout)
        self._notify = bool(notify)
        self._channel = channel(schema)
        self._name = f"{_shown(conninfo)} (schema {schema})"
        self._lock = threading.RLock()  # guards the pool's creation and the fork state
        self._pid = os.getpid()
        self._closed = False
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._listener = Listener(self._listen_connection, schema) if notify else None

        def migrate(conn: Any) -> None:
            conn.execute("BEGIN")
            try:
                pg_migrations.migrate(conn, schema)
            except BaseException:
                if not conn.closed:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        try:
            self._run("open", migrate, read=False)
        except BaseException as exc:
            self.close()
            if isinstance(exc, StoreError) and not str(exc).startswith(self._name):
                raise StoreError(f"{self._name}: {exc}", value=exc.value, rule=exc.rule) from exc
            raise
        _OPEN.add(self)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresStore:
        """Open ``postgresql://user:password@host:5432/dbname`` (or ``postgres://``).

        The store's own options may also be given in the query string:
        ``?schema=tenancy&pool_size=8&retention=100000&busy_timeout=10&notify=false``;
        every other parameter (``sslmode``, ``connect_timeout``, ``application_name``, ...)
        is libpq's and passed on.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise InvalidValue(url, "a PostgreSQL URL starts with postgresql://")
        ours: dict[str, Any] = {}
        theirs = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key in _URL_OPTIONS:
                ours[key] = _url_option(url, key, value)
            else:
                theirs.append((key, value))
        if not any(key == "connect_timeout" for key, _ in theirs):
            theirs.append(("connect_timeout", "10"))  # an unreachable server never hangs
        conninfo = urlunsplit(parts._replace(query=urlencode(theirs)))
        return cls(conninfo, **{**ours, **options})

    # ------------------------------------------------------------ the Store protocol

    @property
    def capabilities(self) -> Capabilities:
        # feed: the change feed's bounded read (commits_after) and its waits on NOTIFY; a
        # store without NOTIFY has no wait to offer, and the feed polls head() instead.
        return Capabilities(
            durable=True, shared=True, retention=self._retention, feed=self._notify,
            notifies=self._notify,
        )  # fmt: skip

    @property
    def schema(self) -> str:
        return self._schema

    @property
    def conninfo(self) -> str:
        return self._conninfo

    def head(self) -> Revision:
        """The latest committed revision: one round trip."""
        return self._run(
            "read",
            lambda conn: self._head(conn.execute("SELECT value FROM meta WHERE key = 'head'")),
        )

    def snapshot(self) -> Snapshot:
        """Every record at one revision: one REPEATABLE READ transaction, the large
        tables read on server-side cursors, 20,000 rows a batch. O(records)."""
        reader = SnapshotReader(self._damaged)

        def read(conn: Any) -> tuple[Any, ...]:
            shim = PgShim(conn, streaming=True)
            db = cast(sqlite3.Connection, shim)  # the subset of it the reader calls
            try:
                revision = self._head(conn.execute("SELECT value FROM meta WHERE key = 'head'"))
                reader._check_head(db, revision)
                sums = reader._checksums(db)
                tenants = reader._records(db, Tenant, sums)
                groups = reader._groups(db, sums)
                shared: dict[Any, Any] = {}  # equal values of all the records, decoded once
                facts = _codec.DeviceFacts()
                devices = reader._records(db, Device, sums, shared=shared, facts=facts)
                users = reader._records(db, User, sums, shared=shared)
                memberships = reader._pairs(
                    db, "memberships", "group_id, user_id", sums, order="group_id, user_id"
                )
                usage = reader._records(db, UsageDay, sums, order="tenant_id, day")
                access = reader._access(db, sums)
            finally:
                shim.close()
            return revision, tenants, groups, devices, users, memberships, usage, access, facts

        with _codec.gc_paused():
            revision, tenants, groups, devices, users, memberships, usage, access, facts = (
                self._reading("read a snapshot", read)
            )
        reader._check_references(tenants, groups, users, memberships)
        reader._check_devices(devices, facts, {t.id for t in tenants})
        return Snapshot(
            revision=revision,
            tenants=tenants,
            groups=groups,
            devices=devices,
            users=users,
            memberships=[tuple(pair) for pair in memberships],
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
        """Write ``changes`` as revision ``expected_revision + 1`` (see the Store protocol):
        one transaction, about eight round trips plus the server's durable commit (and
        three for each batch of rows sent by ``COPY``). ``beside`` runs from the change
        log's row on: what is left is the server's work (the prune, the totals, the head
        and the durable ``COMMIT``), waited for with the interpreter lock released."""
        changes = tuple(changes)
        check_changes(changes)  # an impossible value is refused before anything is written
        psycopg = self._psycopg
        state: dict[str, Any] = {}
        try:
            # The pool hands out only connections whose socket is quiet (_check_idle): one
            # the server ended while it sat idle is replaced before anything is sent on it.
            with self._pooled() as conn:
                return self._write(conn, changes, expected_revision, audit, state, beside=beside)
        except self._psycopg_pool.PoolTimeout as exc:
            raise self._unreachable(exc) from exc
        except psycopg.OperationalError as exc:
            if state.get("committing"):
                return self._outcome(state, changes, exc)
            raise self._error(
                exc, f"write revision {expected_revision + 1} (nothing was written)"
            ) from exc
        except psycopg.Error as exc:
            raise self._error(exc, f"write revision {expected_revision + 1}") from exc

    def _write(
        self,
        conn: psycopg.Connection[Any],
        changes: tuple[Change, ...],
        expected: Revision,
        audit: Sequence[AuditRecord],
        state: dict[str, Any],
        *,
        beside: Beside | None,
    ) -> Revision:
        try:
            # The head row's lock first: writers queue here. The same round trip reads
            # this transaction's id (to ask the server about it, should COMMIT be cut off)
            # and the audit log's last record (the next ones are numbered after it).
            # BEGIN (READ COMMITTED: each statement sees what the last writer did) and the
            # lock in one round trip (two statements: the simple query protocol).
            cursor = conn.execute(
                "BEGIN; " + (_HEAD_FOR_UPDATE if self._notify else _HEAD_FOR_UPDATE_NO_XID)
            )
            cursor.nextset()
            head, xid, last_seq, last_at = cursor.fetchone() or (None, None, None, None)
            state["xid"] = xid
            if type(head) is not int:
                raise self._damaged(f"its head revision is {shorten(head)}, not a revision")
            if head != expected:
                raise StaleRevision(expected, head)
            revision = head + 1
            shim = PgShim(conn, defer_sums=True)
            db = cast(sqlite3.Connection, shim)  # the subset of it the row writer calls
            writer = ChangeWriter({} if audit else None)
            try:
                writer._apply(db, changes)
            except _Missing as exc:
                raise StoreError(
                    f"commit {revision} could not be applied: {exc}",
                    value=changes,
                    rule="every change of a commit must apply to the current records",
                ) from exc
            body = _codec.encode_changes(changes, writer._encoded)
            stamps = _audit.times(audit, last_at or 0)
            encoded, first_seq = writer._encoded or {}, last_seq or 0

            def rows() -> Iterator[tuple[Any, ...]]:
                return _audit_rows(audit, encoded, first_seq, stamps)
        except BaseException:
            if not conn.closed:
                with suppress(Exception):
                    conn.execute("ROLLBACK")
            raise
        # The rest reads nothing back, in two round trips: the log row with the audit
        # records; then the checksum totals, the head, the NOTIFY and COMMIT (literals of
        # the store's own making: ints and the validated schema name). From the second on,
        # a lost connection leaves the outcome to ask the server about (_outcome).
        try:
            # The commit keeps the time and actor of its audit records (one write shares one).
            at, actor = (stamps[0], audit[0].actor) if audit else (None, None)
            log_row = (revision, body, log_crc(body, at, actor), at, actor)
            # Many audit records (an import's: one a change) go by COPY; a few ride with
            # the log row in one statement.
            copied = len(audit) >= _postgres_sql.COPY_ROWS and copy_new_rows(
                conn, "audit", _AUDIT_COPY_COLUMNS, rows()
            )
            if audit and not copied and len(audit) * 9 < _MAX_PARAMS:
                values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(audit))
                conn.execute(
                    f"WITH a AS ({_INSERT_AUDIT_INTO} VALUES {values}) {_INSERT_LOG}",
                    [value for row in rows() for value in row] + list(log_row),
                    binary=True,
                )
            else:
                if audit and not copied:
                    conn.cursor().executemany(f"{_INSERT_AUDIT_INTO} {_ONE_AUDIT_ROW}", rows())
                conn.execute(_INSERT_LOG, log_row, binary=True)
            del body, log_row
            if beside is not None:  # the rest is a few statements, the server's work
                beside.start()
            if self._retention is not None and revision - self._retention > 0:
                writer._prune(db, revision - self._retention)
            tail = [
                f"UPDATE checksums SET rows = rows + {n:d}, total = total + {total:d}"  # noqa: S608 - ints, a fixed name
                f" WHERE name = '{_checked(table)}'"
                for n, total, table in shim.sums
            ]
            tail.append(f"UPDATE meta SET value = {revision:d} WHERE key = 'head'")  # noqa: S608
            if self._notify:
                tail.append(f"SELECT pg_notify('{self._channel}', '{revision:d}')")
            tail.append("COMMIT")
            state["committing"] = revision
            if self._listener is not None:
                self._listener.committing(revision)
            conn.execute("; ".join(tail))
            if self._listener is not None:
                self._listener.committed(revision)
        except self._psycopg.OperationalError:
            if self._listener is not None:
                self._listener.settled(revision)
            raise
        except BaseException:
            if self._listener is not None:
                self._listener.settled(revision)
            if not conn.closed:
                with suppress(Exception):
                    conn.execute("ROLLBACK")
            raise
        return revision

    def _outcome(
        self, state: dict[str, Any], changes: tuple[Change, ...], exc: Exception
    ) -> Revision:
        """The connection broke during COMMIT: ask the server whether it committed."""
        revision: Revision = state["committing"]
        deadline = time.monotonic() + _STATUS_WAIT
        status: str | None = None
        while state.get("xid"):
            try:
                row = self._run(
                    "read",
                    lambda conn: conn.execute(
                        "SELECT pg_xact_status(%s::xid8)", (state["xid"],)
                    ).fetchone(),
                )
                status = None if row is None else row[0]
            except StoreError:
                status = None
            if status != "in progress" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if status == "committed":
            return revision
        if status == "aborted":
            raise self._error(exc, f"write revision {revision} (it was rolled back)") from exc
        raise StoreError(
            f"{self._name}: the connection broke while revision {revision} was being "
            f"committed ({exc}); whether it committed is unknown: a handle catching up "
            "from the log sees it if it did",
            value=changes,
            rule="a write either returns its revision or raises",
        ) from exc

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
        """Audit records in ``seq`` order (see the Store protocol): one read transaction,
        O(log2 of the log) probes for a time range, then one indexed query."""

        def read(conn: Any) -> list[Any]:
            db = PgShim(conn)
            top = db.execute("SELECT max(seq) FROM audit").fetchone()[0] or 0

            def at_of(seq: int) -> int:
                row = db.execute("SELECT at FROM audit WHERE seq = ?", (seq,)).fetchone()
                return int(row[0])

            above, below = _audit.seq_range(at_of, top, start=start, end=end, after=after)
            where, params = _audit_filters(
                tenant=tenant, actor=actor, target=target, above=above, below=below
            )
            return db.execute(
                f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE {where} ORDER BY seq LIMIT ?",  # noqa: S608
                (*params, limit),
            ).fetchall()

        rows = self._reading("read the audit log", read)
        return _audit.from_rows(rows)

    def changes_since(self, revision: Revision) -> list[Commit]:
        """Every commit after ``revision``: one statement, O(commits returned)."""
        return self.commits_after(revision, None)

    def commits_after(self, revision: Revision, limit: int | None) -> list[Commit]:
        """The first ``limit`` commits after ``revision`` (None: all), in order; StaleRevision
        as :meth:`changes_since` when the log no longer reaches back that far. One
        statement, O(commits returned). (The change feed's bounded read.)"""
        if type(revision) is not int:
            raise InvalidValue(revision, "a revision is an int", field="revision")
        if limit is not None and (type(limit) is not int or limit < 1):
            raise InvalidValue(limit, "limit is a positive int, or None", field="limit")
        # One statement: one consistent view of the head, the floor and the log.
        rows = self._run(
            "read the change log",
            lambda conn: conn.execute(
                "SELECT m.head, m.floor, c.revision, c.body, c.crc, c.at, c.actor FROM"
                " (SELECT max(value) FILTER (WHERE key = 'head') AS head,"
                "  max(value) FILTER (WHERE key = 'log_floor') AS floor FROM meta) AS m"
                " LEFT JOIN changes AS c ON c.revision > %s ORDER BY c.revision LIMIT %s",
                (revision, limit),
                binary=True,
            ).fetchall(),
        )
        head, floor = rows[0][0], rows[0][1]
        if type(head) is not int or type(floor) is not int:
            raise self._damaged(f"its head and log floor are {shorten((head, floor))}")
        if revision < floor:
            raise StaleRevision(revision, head)
        log = [row[2:] for row in rows if row[2] is not None]
        whole = limit is None or len(log) < limit
        return decode_log(log, revision, head, self._damaged, whole=whole)

    def wait_for_commit(self, revision: Revision, timeout: float) -> Revision:
        """Block until a commit past ``revision`` is announced (or made by this store
        object), ``timeout`` seconds pass, or :meth:`wake` is called; return the latest
        revision known to be committed (``revision`` when none is). It may return early
        (after the listening connection was reopened a notification may have been
        missed): the caller reads the log either way. Costs no query: it waits on the
        listening connection's socket. Used by the handle's follower."""
        listener = self._listener
        if listener is None or self._closed:
            return revision
        return max(revision, listener.wait(revision, timeout))

    def wake(self) -> None:
        """End a :meth:`wait_for_commit` in progress at once (the handle is closing)."""
        if self._listener is not None:
            self._listener.wake()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            _OPEN.discard(self)
            pool, self._pool = self._pool, None
        if self._listener is not None:
            self._listener.close()
        if pool is not None:
            pool.close(timeout=self._busy_timeout)

    # ------------------------------------------------------------ connections

    def _make_pool(self) -> psycopg_pool.ConnectionPool[Any]:
        psycopg, pool_module = self._psycopg, self._psycopg_pool
        schema = psycopg.sql.Identifier(self._schema)
        lock_timeout = f"{int(self._busy_timeout * 1000)}ms"

        def configure(conn: Any) -> None:
            conn.execute(psycopg.sql.SQL("SET search_path TO {}").format(schema))
            conn.execute("SELECT set_config('lock_timeout', %s, false)", (lock_timeout,))

        pool = pool_module.ConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self._pool_size,
            kwargs={"autocommit": True},
            configure=configure,
            check=_check_idle,
            timeout=self._busy_timeout,
            reconnect_timeout=self._busy_timeout,
            name=f"tenancy-{self._schema}",
            open=False,
        )
        try:
            pool.open(wait=True, timeout=self._busy_timeout)
        except BaseException:
            pool.close(timeout=1.0)
            raise
        return cast("psycopg_pool.ConnectionPool[Any]", pool)

    def _get_pool(self) -> psycopg_pool.ConnectionPool[Any]:
        if self._pid != os.getpid():
            self._after_fork_in_child()  # before the fork hook ran (a child's thread)
        with self._lock:
            if self._closed:
                raise StoreError(
                    f"the store {self._name} is closed",
                    value=self._name,
                    rule="a closed store is neither read nor written",
                )
            if self._pool is None:
                try:
                    self._pool = self._make_pool()
                except self._psycopg_pool.PoolTimeout as exc:
                    raise self._unreachable(exc) from exc
                except self._psycopg.Error as exc:
                    raise self._error(exc, "connect") from exc
            return self._pool

    @contextmanager
    def _pooled(self) -> Iterator[Any]:
        """A connection of the pool, given back afterwards. A pool that has none to give
        within a second (its connections were ended together and its reconnection backs
        off for seconds) is replaced by a new one, which connects at once."""
        pool = self._get_pool()
        try:
            conn = pool.getconn(timeout=min(1.0, self._busy_timeout))
        except self._psycopg_pool.PoolTimeout:
            self._reset_pool(pool)
            pool = self._get_pool()
            conn = pool.getconn(timeout=self._busy_timeout)
        try:
            yield conn
        finally:
            pool.putconn(conn)

    def _reset_pool(self, pool: Any) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        with suppress(Exception):
            pool.close(timeout=1.0)

    def _check_pool(self) -> None:
        """Replace every idle connection of the pool that no longer works."""
        pool = self._pool
        if pool is not None:
            with suppress(Exception):
                pool.check()

    def _run(self, purpose: str, body: Callable[[Any], T], *, read: bool = True) -> T:
        """``body(conn)`` on a connection of the pool. A read whose idle connection had
        died (a restart, a terminated backend) runs again on another: a read does nothing
        twice. An error of psycopg becomes StoreError; the store's own errors pass."""
        psycopg = self._psycopg
        attempts = self._pool_size + 1 if read else 1
        for attempt in range(attempts):
            used: list[Any] = []
            try:
                with self._pooled() as conn:
                    used.append(conn)
                    return body(conn)
            except self._psycopg_pool.PoolTimeout as exc:
                raise self._unreachable(exc) from exc
            except psycopg.OperationalError as exc:
                if attempt + 1 < attempts and _lost(used, exc):
                    self._check_pool()
                    continue
                raise self._error(exc, purpose) from exc
            except psycopg.Error as exc:
                raise self._error(exc, purpose) from exc
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _reading(self, purpose: str, body: Callable[[Any], T]) -> T:
        """``body(conn)`` in one read transaction at one consistent revision
        (REPEATABLE READ), retried like any read."""

        def read(conn: Any) -> T:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                result = body(conn)
            except BaseException:
                if not conn.closed:
                    with suppress(Exception):
                        conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return self._run(purpose, read)

    def _listen_connection(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] = self._psycopg.connect(self._conninfo, autocommit=True)
        return conn

    # ------------------------------------------------------------ errors

    def _head(self, cursor: Any) -> Revision:
        row = cursor.fetchone()
        if row is None or type(row[0]) is not int or row[0] < 0:
            raise self._damaged(f"its head revision is {shorten(row)}, not a revision")
        value: Revision = row[0]
        return value

    def _damaged(self, problem: str) -> StoreError:
        return StoreError(
            f"{self._name} is damaged: {problem}; restore a backup or rebuild the store",
            value=self._name,
            rule="a store opens only if what it read matches its checksums",
        )

    def _unreachable(self, exc: BaseException) -> StoreError:
        return StoreError(
            f"{self._name}: no connection within busy_timeout={self._busy_timeout:g} s "
            f"({exc}); is the server running and reachable?",
            value=self._name,
            rule="a store waits at most busy_timeout seconds for a connection",
        )

    def _error(self, exc: BaseException, purpose: str) -> StoreError:
        text = str(exc).strip()
        if getattr(exc, "sqlstate", None) == "55P03":  # lock_not_available: lock_timeout
            return StoreError(
                f"{self._name}: could not {purpose}: another writer held the head lock for "
                f"more than busy_timeout={self._busy_timeout:g} s ({text})",
                value=self._name,
                rule="a writer waits at most busy_timeout seconds for another's write",
            )
        return StoreError(f"{self._name}: could not {purpose}: {text}", value=self._name)

    # ------------------------------------------------------------ fork

    def _after_fork_in_child(self) -> None:
        """In a forked child the pool, its threads and the listening connection are the
        parent's: keep them referenced, unused (closing one would end the parent's session),
        and open this process's own on first use. Once per process."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._lock = threading.RLock()
        if self._pool is not None:
            _INHERITED.append(self._pool)
            self._pool = None
        if self._listener is not None:
            self._listener.forget()

    def __repr__(self) -> str:
        return f"PostgresStore({self._name!r})"


def _check_idle(conn: Any) -> None:
    """Refuse a pooled connection the server has ended (a restart, a terminated backend):
    an idle connection's socket has nothing to read unless the server said goodbye. No
    round trip: one poll of the socket."""
    if conn.closed or conn.broken:
        raise OSError("the connection is closed")
    ready, _, _ = select.select([conn.fileno()], [], [], 0)
    if ready:
        conn.close()
        raise OSError("the server ended this connection while it was idle")


def _lost(used: list[Any], exc: BaseException) -> bool:
    """The error says the connection is gone (not that a statement failed)."""
    if used and (used[0].closed or used[0].broken):
        return True
    return getattr(exc, "sqlstate", None) in _LOST_STATES


_LOST_STATES = frozenset({"57P01", "57P02", "57P03", "08000", "08003", "08006", "08001"})
"""admin_shutdown, crash_shutdown, cannot_connect_now, and the connection exceptions."""


_OPEN: weakref.WeakSet[PostgresStore] = weakref.WeakSet()
"""The open stores of this process, reset in a forked child."""
_INHERITED: list[object] = []
"""Pools a forked child inherited: never used nor closed by it."""


def _after_fork_in_child() -> None:
    for store in list(_OPEN):
        store._after_fork_in_child()


if sys.platform != "win32":  # POSIX: os.fork exists
    os.register_at_fork(after_in_child=_after_fork_in_child)
