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
"""

from __future__ import annotations

import operator
import os
import sqlite3
import sys
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from itertools import starmap
from operator import attrgetter, itemgetter
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote

import msgspec

from tenancy.changes import (
    AccessRemoved,
    AccessSet,
    Associated,
    Change,
    Commit,
    DeviceCreated,
    DeviceDeleted,
    DeviceMoved,
    DeviceRenamed,
    DeviceTagged,
    DeviceUntagged,
    Dissociated,
    GroupCreated,
    GroupDeleted,
    GroupMoved,
    GroupUpdated,
    MemberAdded,
    MemberRemoved,
    Revision,
    SupportSessionStarted,
    TenantActivated,
    TenantCreated,
    TenantDeleted,
    TenantSuspended,
    TenantUpdated,
    UsageRecorded,
    UserCreated,
    UserDeleted,
    UserUpdated,
    check_changes,
)
from tenancy.errors import InvalidValue, StaleRevision, StoreError, shorten
from tenancy.model import ACTIVE, SUSPENDED, AuditRecord, Device, Group, Tenant, UsageDay, User
from tenancy.snapshot import Snapshot, access_key, merge_usage
from tenancy.store import _audit, _codec, migrations
from tenancy.store.protocol import Capabilities

__all__ = ["SQLiteStore"]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
Integrity = Literal["rows", "quick", "full"]
_INTEGRITY = ("rows", "quick", "full")
FORK_WAIT = 10.0
"""Seconds os.fork() waits for a transaction of another thread on a store to end."""
_BATCH = 20_000
"""Rows fetched and decoded per call when loading a snapshot."""

_PAIR_TABLES = frozenset({"memberships", "group_devices", "group_rules"})
_RECORD_TABLE: dict[type[Any], str] = {
    Tenant: "tenants",
    Group: "groups",
    Device: "devices",
    User: "users",
    UsageDay: "usage",
}
_KEYS = {
    "tenants": "id, body",
    "groups": "id, body",
    "devices": "id, body",
    "users": "id, body",
    "usage": "tenant_id, day, body",
    "access": "kind, key, body",
    "memberships": "group_id, user_id",
    "group_devices": "group_id, device_id",
    "group_rules": "group_id, rule",
}
"""What names a row of each checked table in an error, then what its checksum covers."""


def _blob_crc(*keys: Any) -> int:
    return _codec.row_crc(keys[-1])


_ROW_CRC: dict[str, Callable[..., int]] = {
    table: _codec.key_crc if table in _PAIR_TABLES else _blob_crc for table in _KEYS
}
_ROW_DECODERS: dict[str, Callable[[bytes], Any]] = {
    **{table: _codec.record_decoder(kind).decode for kind, table in _RECORD_TABLE.items()},
    "access": _codec.decode_access,
    "group_rules": _codec.decode_rule,
}


_PUT = {
    "tenants": "INSERT INTO tenants (id, body, crc) VALUES (?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET body = excluded.body, crc = excluded.crc",
    **{
        table: f"INSERT INTO {table} (id, tenant_id, body, crc) VALUES (?, ?, ?, ?)"  # noqa: S608
        " ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id,"
        " body = excluded.body, crc = excluded.crc"
        for table in ("groups", "devices", "users")
    },
}
"""Insert or replace a record (an upsert: an update in place when the id is there)."""


def _decode_row(kind: type[Any], body: bytes, name: str) -> Any:
    """One row's record, for a write that reads it (a damaged blob: StoreError)."""
    try:
        return _codec.record_decoder(kind).decode(body)
    except _codec.DECODE_ERRORS as exc:
        raise StoreError(
            f"the stored {name} is damaged: {_cause(exc)}",
            value=name,
            rule="a store opens only if what it read matches its checksums",
        ) from None


def _in_a_cycle(parents: dict[str, str | None]) -> str | None:
    """A node whose chain of parents comes back to itself, or None. Nodes that are no
    node's parent are dropped until none is left (no cycle) or none drops (each one left
    is on a cycle): a few passes at C speed, one per level of the tree."""
    while parents:
        named = set(parents.values())
        kept = {node: parent for node, parent in parents.items() if node in named}
        if len(kept) == len(parents):
            return min(kept)
        parents = kept
    return None


def _row_name(table: str, keys: list[Any]) -> str:
    shown = keys if table in _PAIR_TABLES else keys[:-1]
    return ", ".join(shorten(k) for k in shown)


def _cause(exc: BaseException) -> str:
    return f"it does not decode ({type(exc).__name__}: {shorten(str(exc))[1:-1]})"


_Record = Tenant | Group | Device | User


_by_id = operator.attrgetter("id")
_AUDIT_COLUMNS = "seq, revision, at, tenant_id, actor, action, target, before_value, after_value"


class _Missing(Exception):
    """A change names a record that is not there: the commit cannot apply."""


def _bare(group: Group) -> Group:
    """A group row's blob leaves the associations out: they live in their own tables."""
    if group.device_ids or group.device_tags:
        return msgspec.structs.replace(group, device_ids=frozenset(), device_tags=frozenset())
    return group


class SQLiteStore:
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
        self._depth = 0
        self._closed = False
        self._forked = False  # crossed a fork: open a connection of this process first
        self._forked_writing = False  # ... in the middle of another thread's write
        # During a commit with audit records: the blobs of records written, by id(), so an
        # audit record whose ``after`` is that record reuses them (the same bytes).
        self._encoded: dict[int, bytes] | None = None
        # During a commit: what its writes add to each table's (row count, checksum total).
        self._sums: dict[str, tuple[int, int]] = {}
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
        return Capabilities(durable=durable, shared=durable, retention=self._retention)

    @property
    def path(self) -> str:
        return self._path

    def head(self) -> Revision:
        with self._reading() as conn:
            return self._head(conn)

    def snapshot(self) -> Snapshot:
        with self._reading() as conn, _codec.gc_paused():
            revision = self._head(conn)
            self._check_head(conn, revision)
            sums = self._checksums(conn)
            tenants = self._records(conn, Tenant, sums)
            groups = self._groups(conn, sums)
            shared: dict[Any, Any] = {}  # equal values of all the records, decoded once
            facts = _codec.DeviceFacts()
            devices = self._records(conn, Device, sums, shared=shared, facts=facts)
            users = self._records(conn, User, sums, shared=shared)
            memberships = self._pairs(
                conn, "memberships", "group_id, user_id", sums, order="group_id, user_id"
            )
            usage = self._records(conn, UsageDay, sums, order="tenant_id, day")
            access = self._access(conn, sums)
        self._check_references(tenants, groups, users, memberships)
        self._check_devices(devices, facts, {t.id for t in tenants})
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

    def commit(
        self,
        changes: Sequence[Change],
        *,
        expected_revision: Revision,
        audit: Sequence[AuditRecord] = (),
    ) -> Revision:
        changes = tuple(changes)
        check_changes(changes)  # an impossible value is refused before anything is written
        try:
            with self.atomic() as conn:
                head = self._head(conn)
                if head != expected_revision:
                    raise StaleRevision(expected_revision, head)
                revision = head + 1
                self._encoded = {} if audit else None
                try:
                    self._apply(conn, changes)
                    body = _codec.encode_changes(changes)
                    conn.execute(
                        "INSERT INTO changes (revision, body, crc) VALUES (?, ?, ?)",
                        (revision, body, _codec.row_crc(body)),
                    )
                    if audit:
                        self._append_audit(conn, audit, self._encoded or {})
                finally:
                    self._encoded = None
                conn.execute("UPDATE meta SET value = ? WHERE key = 'head'", (revision,))
                if self._retention is not None and revision - self._retention > 0:
                    self._prune(conn, revision - self._retention)
        except _Missing as exc:
            raise StoreError(
                f"commit {expected_revision + 1} could not be applied: {exc}",
                value=changes,
                rule="every change of a commit must apply to the current records",
            ) from exc
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
        decode, moment = _audit.decode_value, _audit.moment
        return [
            AuditRecord(
                seq=seq,
                revision=revision,
                at=moment(at),
                tenant_id=tenant_id,
                actor=who,
                action=action,
                target=what,
                before=decode(before),
                after=decode(after_),
            )
            for seq, revision, at, tenant_id, who, action, what, before, after_ in rows
        ]

    def changes_since(self, revision: Revision) -> list[Commit]:
        with self._reading() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'log_floor'").fetchone()
            if row is None or type(row[0]) is not int:
                raise self._damaged(f"its log floor is {shorten(row)}, not a revision")
            if revision < row[0]:
                raise StaleRevision(revision, self._head(conn))
            rows = conn.execute(
                "SELECT revision, body, crc FROM changes WHERE revision > ? ORDER BY revision",
                (revision,),
            ).fetchall()
            head = self._head(conn)
        return self._commits(rows, revision, head)

    def _commits(self, rows: list[Any], revision: Revision, head: Revision) -> list[Commit]:
        """The commits of change-log rows, each checked against its checksum; the log has
        no gap (each commit's revision follows the one before, up to the head)."""
        commits = []
        expected = revision + 1
        for number, body, crc in rows:
            if number != expected:
                raise self._damaged(
                    f"its change log skips from revision {expected - 1} to {shorten(number)}"
                )
            try:
                if _codec.row_crc(body) != crc:
                    raise self._damaged(f"table changes, revision {number}: checksum mismatch")
                commits.append(Commit(revision=number, changes=_codec.decode_changes(body)))
            except _codec.DECODE_ERRORS as exc:
                raise self._damaged(f"table changes, revision {number}: {_cause(exc)}") from None
            expected += 1
        if expected - 1 < head or (rows and expected - 1 != head):
            raise self._damaged(f"its change log ends at {expected - 1}, its head is {head}")
        return commits

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

    def _checksums(self, conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
        rows = conn.execute("SELECT name, rows, total FROM checksums").fetchall()
        sums = {str(name): (count, total) for name, count, total in rows}
        missing = set(migrations.CHECKED) - set(sums)
        if missing:
            raise self._damaged(f"the checksums of {', '.join(sorted(missing))} are missing")
        return sums

    def _tally(
        self,
        conn: sqlite3.Connection,
        table: str,
        sums: dict[str, tuple[int, int]],
        count: int,
        total: int,
    ) -> None:
        if sums[table] != (count, total):
            raise self._damaged(self._locate(conn, table, sums[table], count, total))

    def _locate(
        self,
        conn: sqlite3.Connection,
        table: str,
        expected: tuple[int, int],
        count: int,
        total: int,
    ) -> str:
        """What is wrong in ``table`` (its checksums did not add up): the first row whose
        checksum is wrong or whose value does not decode, else the count that differs."""
        key = _KEYS[table]
        decode = _ROW_DECODERS.get(table)
        try:
            for row in conn.execute(f"SELECT {key}, crc FROM {table}"):  # noqa: S608
                *keys, crc = row
                try:
                    good = _ROW_CRC[table](*keys) == crc
                    if good and decode is not None:
                        decode(keys[-1])
                except _codec.DECODE_ERRORS as exc:
                    return f"table {table}, row {_row_name(table, keys)}: {_cause(exc)}"
                if not good:
                    return f"table {table}, row {_row_name(table, keys)}: checksum mismatch"
        except sqlite3.Error as exc:
            return f"table {table}: {exc}"
        rows, sum_ = expected
        if rows != count:
            return f"table {table} holds {count} rows where its checksums say {rows}"
        return f"table {table}: the checksum total is {total} where it should be {sum_}"

    def _check_head(self, conn: sqlite3.Connection, head: Revision) -> None:
        top = conn.execute("SELECT max(revision) FROM changes").fetchone()[0]
        if top is not None and top != head:
            raise self._damaged(f"its head revision is {head} but its change log ends at {top}")

    def _records(
        self,
        conn: sqlite3.Connection,
        kind: type[Any],
        sums: dict[str, tuple[int, int]],
        *,
        shared: dict[Any, Any] | None = None,
        order: str | None = None,
        facts: _codec.DeviceFacts | None = None,
    ) -> list[Any]:
        # Read in storage order (sequential pages) and sort by id here: cheaper than
        # walking the id index and fetching each row from wherever it lies. Devices are
        # stored in id order (migration 6), so for them the sort only checks.
        table = _RECORD_TABLE[kind]
        sql = f"SELECT body FROM {table} NOT INDEXED"  # noqa: S608 - the table itself
        cursor = conn.execute(sql if order is None else f"{sql} ORDER BY {order}")
        records: list[Any] = []
        count = total = 0
        crc = _codec.row_crc
        while rows := cursor.fetchmany(_BATCH):
            blobs = [body for (body,) in rows]
            count += len(blobs)
            try:
                total += sum(map(crc, blobs))
                if shared is None:
                    records.extend(_codec.decode_many(kind, blobs))
                else:
                    records.extend(_codec.decode_sharing(kind, blobs, shared, facts))
            except _codec.DECODE_ERRORS:
                raise self._damaged(self._locate(conn, table, sums[table], -1, -1)) from None
        self._tally(conn, table, sums, count, total)
        if order is None and kind is not Device:  # devices: in id order, which is checked
            records.sort(key=_by_id)
        return records

    def _pairs(
        self,
        conn: sqlite3.Connection,
        table: str,
        columns: str,
        sums: dict[str, tuple[int, int]],
        order: str | None = None,
    ) -> list[Any]:
        """Every row of a table of two keys (memberships, a group's device ids or rules)."""
        sql = f"SELECT {columns} FROM {table} NOT INDEXED"  # noqa: S608 - not a covering index
        rows = conn.execute(sql if order is None else f"{sql} ORDER BY {order}").fetchall()
        try:
            total = sum(starmap(_codec.key_crc, rows))
        except _codec.DECODE_ERRORS:
            raise self._damaged(self._locate(conn, table, sums[table], -1, -1)) from None
        self._tally(conn, table, sums, len(rows), total)
        return rows

    def _access(self, conn: sqlite3.Connection, sums: dict[str, tuple[int, int]]) -> list[Any]:
        blobs = [b for (b,) in conn.execute("SELECT body FROM access ORDER BY kind, key")]
        try:
            total = sum(map(_codec.row_crc, blobs))
            records = [_codec.decode_access(body) for body in blobs]
        except _codec.DECODE_ERRORS:
            raise self._damaged(self._locate(conn, "access", sums["access"], -1, -1)) from None
        self._tally(conn, "access", sums, len(blobs), total)
        return records

    def _groups(self, conn: sqlite3.Connection, sums: dict[str, tuple[int, int]]) -> list[Group]:
        groups: list[Group] = self._records(conn, Group, sums)
        ids: dict[str, list[str]] = {}
        # Ordered by the key: the table itself is read, not a covering index of it.
        pairs = self._pairs(
            conn, "group_devices", "group_id, device_id", sums, "group_id, device_id"
        )
        for group_id, device_id in pairs:
            ids.setdefault(group_id, []).append(device_id)
        rules: dict[str, list[bytes]] = {}
        for group_id, rule in self._pairs(
            conn, "group_rules", "group_id, rule", sums, "group_id, rule"
        ):
            rules.setdefault(group_id, []).append(rule)
        if not ids and not rules:
            return groups
        known = {g.id for g in groups}
        for table, named in (("group_devices", ids), ("group_rules", rules)):
            strays = named.keys() - known
            if strays:
                raise self._damaged(
                    f"table {table} names the group {shorten(min(strays))}, which does not exist"
                )
        replace = msgspec.structs.replace
        try:
            return [
                replace(
                    g,
                    device_ids=frozenset(ids.get(g.id, ())),
                    device_tags=frozenset(_codec.decode_rule(r) for r in rules.get(g.id, ())),
                )
                if g.id in ids or g.id in rules
                else g
                for g in groups
            ]
        except _codec.DECODE_ERRORS as exc:
            raise self._damaged(f"table group_rules: {_cause(exc)}") from None

    def _check_references(
        self,
        tenants: list[Tenant],
        groups: list[Group],
        users: list[User],
        memberships: list[Any],
    ) -> None:
        """Every tenant, group and user a record names exists (checked on the sets of
        distinct values named), and no tenant or group is its own ancestor."""
        tenant_ids = {t.id for t in tenants}
        group_ids = {g.id for g in groups}
        user_ids = {u.id for u in users}
        tenant_of = attrgetter("tenant_id")
        parent_of = attrgetter("parent_id")
        checks: list[tuple[str, str, list[Any], Any, set[Any]]] = [
            ("tenant", "tenant", tenants, parent_of, tenant_ids),
            ("group", "tenant", groups, tenant_of, tenant_ids),
            ("group", "parent group", groups, parent_of, group_ids),
            ("user", "tenant", users, tenant_of, tenant_ids),
            ("membership", "group", memberships, itemgetter(0), group_ids),
            ("membership", "user", memberships, itemgetter(1), user_ids),
        ]
        for kind, what, records, field_of, known in checks:
            named = set(map(field_of, records))
            named.discard(None)
            strays = named - known
            if strays:
                stray = min(strays)
                record = next(r for r in records if field_of(r) == stray)
                name = record if kind == "membership" else record.id
                raise self._damaged(
                    f"the {kind} {shorten(name)} names the {what} {shorten(stray)}, "
                    "which does not exist"
                )
        for kind, records in (("tenant", tenants), ("group", groups)):
            looped = _in_a_cycle({r.id: r.parent_id for r in records})
            if looped is not None:
                raise self._damaged(
                    f"the {kind} {shorten(looped)} is its own ancestor (its parents form a cycle)"
                )

    def _check_devices(
        self, devices: list[Device], facts: _codec.DeviceFacts, tenant_ids: set[str]
    ) -> None:
        """Devices came in id order, each once (the table is clustered on the id: out of
        order means its pages are mixed up), of tenants that exist, and every gateway
        exists and is no device's own ancestor (found by bisection: gateways are few).
        What was noted while decoding them (``facts``) makes it cost no pass of its own."""
        if not facts.in_order:
            raise self._damaged("table devices is out of id order (its pages are mixed up)")
        strays = facts.tenants - tenant_ids
        if strays:
            device = next(d for d in devices if d.tenant_id in strays)
            raise self._damaged(
                f"the device {shorten(device.id)} names the tenant "
                f"{shorten(device.tenant_id)}, which does not exist"
            )
        parents: dict[str, str | None] = {}
        ids = facts.ids
        for gateway in facts.gateways:
            at = bisect_left(ids, gateway)
            if at == len(ids) or ids[at] != gateway:
                device = next(d for d in devices if d.parent_id == gateway)
                raise self._damaged(
                    f"the device {shorten(device.id)} names the gateway {shorten(gateway)}, "
                    "which does not exist"
                )
            parents[gateway] = devices[at].parent_id
        facts.ids = []
        looped = _in_a_cycle(parents)  # a device on a cycle is a gateway with a gateway
        if looped is not None:
            raise self._damaged(
                f"the device {shorten(looped)} is its own ancestor (its parents form a cycle)"
            )

    @staticmethod
    def _record(conn: sqlite3.Connection, kind: type[Any], record_id: str) -> Any:
        row = conn.execute(
            f"SELECT body FROM {_RECORD_TABLE[kind]} WHERE id = ?",  # noqa: S608
            (record_id,),
        ).fetchone()
        if row is None:
            raise _Missing(f"{kind.__name__.lower()} {record_id!r} does not exist")
        return _decode_row(kind, row[0], f"{kind.__name__.lower()} {record_id!r}")

    # ------------------------------------------------------------ writing records

    def _apply(self, conn: sqlite3.Connection, changes: tuple[Change, ...]) -> None:
        """Write each change's meaning on the records: the same as RecordState.apply.
        Then add what the writes did to each table's row count and checksum total."""
        self._sums = {}
        i, n = 0, len(changes)
        while i < n:
            change = changes[i]
            # Runs of creations (bulk import, create_devices) go in one executemany.
            if isinstance(change, DeviceCreated | UserCreated | UserUpdated | MemberAdded):
                j = i + 1
                kind = type(change)
                while j < n and type(changes[j]) is kind:
                    j += 1
                self._apply_run(conn, changes[i:j])
                i = j
            else:
                self._apply_one(conn, change)
                i += 1
        conn.executemany(
            "UPDATE checksums SET rows = rows + ?, total = total + ? WHERE name = ?",
            [(rows, total, table) for table, (rows, total) in self._sums.items()],
        )

    # The checksum totals are kept here, in the transaction of the write (not by triggers,
    # which would cost a statement per row: they tripled a bulk insert of a million rows):
    # a row added adds its checksum, a row replaced or removed takes its old one away.

    def _count(self, table: str, rows: int, total: int) -> None:
        was = self._sums.get(table, (0, 0))
        self._sums[table] = (was[0] + rows, was[1] + total)

    def _put_row(
        self,
        conn: sqlite3.Connection,
        table: str,
        where: str,
        key: tuple[Any, ...],
        *,
        sql: str,
        params: tuple[Any, ...],
    ) -> None:
        """Insert or replace one row (``params`` ends with its checksum)."""
        old = conn.execute(f"SELECT crc FROM {table} WHERE {where}", key).fetchone()  # noqa: S608
        conn.execute(sql, params)
        self._count(table, 0 if old else 1, params[-1] - (old[0] if old else 0))

    def _insert_new(
        self,
        conn: sqlite3.Connection,
        table: str,
        sql: str,
        rows: list[tuple[Any, ...]],
        one_by_one: Callable[[tuple[Any, ...]], None],
    ) -> None:
        """Insert rows that should all be new (``sql`` ignores a row already there; each
        row ends with its checksum) in one executemany; if one was there already (or came
        twice), undo and write them one by one."""
        if not rows:
            return
        conn.execute("SAVEPOINT tenancy_rows")
        before = conn.total_changes
        conn.executemany(sql, rows)
        if conn.total_changes - before == len(rows):
            conn.execute("RELEASE tenancy_rows")
            self._count(table, len(rows), sum(map(itemgetter(-1), rows)))
            return
        conn.execute("ROLLBACK TO tenancy_rows")
        conn.execute("RELEASE tenancy_rows")
        for row in rows:
            one_by_one(row)

    def _put_record_row(self, table: str, conn: sqlite3.Connection) -> Callable[..., None]:
        def put(row: tuple[Any, ...]) -> None:
            self._put_row(conn, table, "id = ?", (row[0],), sql=_PUT[table], params=row)

        return put

    def _add_pair(self, conn: sqlite3.Connection, table: str, columns: str) -> Callable[..., None]:
        sql = f"INSERT OR IGNORE INTO {table} ({columns}, crc) VALUES (?, ?, ?)"  # noqa: S608

        def add(row: tuple[Any, ...]) -> None:
            if conn.execute(sql, row).rowcount == 1:
                self._count(table, 1, row[-1])

        return add

    def _delete_where(
        self, conn: sqlite3.Connection, table: str, where: str, params: tuple[Any, ...]
    ) -> int:
        """Delete the rows ``where`` selects; returns how many there were."""
        rows, total = conn.execute(
            f"SELECT count(*), coalesce(sum(crc), 0) FROM {table} WHERE {where}",  # noqa: S608
            params,
        ).fetchone()
        if rows:
            conn.execute(f"DELETE FROM {table} WHERE {where}", params)  # noqa: S608
            self._count(table, -rows, -total)
        return int(rows)

    def _apply_run(self, conn: sqlite3.Connection, run: Sequence[Change]) -> None:
        encode, crc = _codec.encode_record, _codec.row_crc
        first = run[0]
        if isinstance(first, DeviceCreated):
            rows = [(c.device.id, c.device.tenant_id, encode(c.device)) for c in run]  # type: ignore[union-attr]
            self._insert_new(
                conn,
                "devices",
                "INSERT OR IGNORE INTO devices (id, tenant_id, body, crc) VALUES (?, ?, ?, ?)",
                [(*row, crc(row[2])) for row in rows],
                self._put_record_row("devices", conn),
            )
            if self._encoded is not None:
                # The audit records of these creations carry the same devices as ``after``.
                encoded = self._encoded
                for change, row in zip(run, rows, strict=True):
                    encoded[id(change.device)] = row[2]  # type: ignore[union-attr]
        elif isinstance(first, UserCreated):
            blobs = [(c.user.id, c.user.tenant_id, encode(c.user)) for c in run]  # type: ignore[union-attr]
            self._insert_new(
                conn,
                "users",
                "INSERT OR IGNORE INTO users (id, tenant_id, body, crc) VALUES (?, ?, ?, ?)",
                [(*row, crc(row[2])) for row in blobs],
                self._put_record_row("users", conn),
            )
        elif isinstance(first, UserUpdated):
            put = self._put_record_row("users", conn)
            for change in run:
                user = change.user  # type: ignore[union-attr]
                body = encode(user)
                put((user.id, user.tenant_id, body, crc(body)))
        else:
            key_crc = _codec.key_crc
            self._insert_new(
                conn,
                "memberships",
                "INSERT OR IGNORE INTO memberships (group_id, user_id, crc) VALUES (?, ?, ?)",
                [(c.group_id, c.user_id, key_crc(c.group_id, c.user_id)) for c in run],  # type: ignore[union-attr]
                self._add_pair(conn, "memberships", "group_id, user_id"),
            )

    def _apply_one(self, conn: sqlite3.Connection, change: Change) -> None:
        match change:
            case TenantCreated(tenant=t) | TenantUpdated(tenant=t):
                self._put(conn, t)
            case TenantSuspended(tenant_id=tid):
                tenant = self._record(conn, Tenant, tid)
                self._put(conn, msgspec.structs.replace(tenant, status=SUSPENDED))
            case TenantActivated(tenant_id=tid):
                tenant = self._record(conn, Tenant, tid)
                self._put(conn, msgspec.structs.replace(tenant, status=ACTIVE))
            case TenantDeleted(tenant_id=tid):
                self._delete_tenant(conn, tid)
            case GroupCreated(group=g):
                self._put(conn, g)
                self._delete_where(conn, "group_devices", "group_id = ?", (g.id,))
                self._delete_where(conn, "group_rules", "group_id = ?", (g.id,))
                self._associate(conn, g.id, g.device_ids, g.device_tags)
            case GroupUpdated(group_id=gid, name=name, description=description):
                group = self._record(conn, Group, gid)
                self._put(conn, msgspec.structs.replace(group, name=name, description=description))
            case GroupMoved(group_id=gid, parent_id=parent_id):
                group = self._record(conn, Group, gid)
                self._put(conn, msgspec.structs.replace(group, parent_id=parent_id))
            case GroupDeleted(group_id=gid):
                self._delete(conn, "groups", gid)
                for table in ("group_devices", "group_rules", "memberships"):
                    self._delete_where(conn, table, "group_id = ?", (gid,))
            case Associated(group_id=gid, device_ids=ids, device_tags=rules):
                self._record(conn, Group, gid)
                self._associate(conn, gid, ids, rules)
            case Dissociated(group_id=gid, device_ids=ids, device_tags=rules):
                self._record(conn, Group, gid)
                for d in ids:
                    self._delete_where(
                        conn, "group_devices", "group_id = ? AND device_id = ?", (gid, d)
                    )
                for r in rules:
                    rule = _codec.encode_rule(r)
                    self._delete_where(
                        conn, "group_rules", "group_id = ? AND rule = ?", (gid, rule)
                    )
            case DeviceRenamed(device_id=did, name=name):
                self._put(conn, msgspec.structs.replace(self._record(conn, Device, did), name=name))
            case DeviceTagged(device_id=did, tags=tags):
                device = self._record(conn, Device, did)
                self._put(conn, msgspec.structs.replace(device, tags=device.tags | tags))
            case DeviceUntagged(device_id=did, tags=tags):
                device = self._record(conn, Device, did)
                self._put(conn, msgspec.structs.replace(device, tags=device.tags - tags))
            case DeviceMoved(device_id=did, parent_id=parent_id):
                device = self._record(conn, Device, did)
                self._put(conn, msgspec.structs.replace(device, parent_id=parent_id))
            case DeviceDeleted(device_id=did):
                self._delete(conn, "devices", did)
                self._delete_where(conn, "group_devices", "device_id = ?", (did,))
            case UserDeleted(user_id=uid):
                self._delete(conn, "users", uid)
                self._delete_where(conn, "memberships", "user_id = ?", (uid,))
            case MemberRemoved(group_id=gid, user_id=uid):
                self._delete_where(conn, "memberships", "group_id = ? AND user_id = ?", (gid, uid))
            case UsageRecorded(tenant_id=tid, day=day):
                self._record_usage(conn, change, tid, day.isoformat())
            case AccessSet(record=r):
                kind, key = access_key(r)
                body = _codec.encode_access(r)
                self._put_row(
                    conn,
                    "access",
                    "kind = ? AND key = ?",
                    (kind, key),
                    sql="INSERT INTO access (kind, key, tenant_id, body, crc)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET"
                    " tenant_id = excluded.tenant_id, body = excluded.body, crc = excluded.crc",
                    params=(kind, key, r.tenant_id, body, _codec.row_crc(body)),
                )
            case AccessRemoved(record=r):
                self._delete_where(conn, "access", "kind = ? AND key = ?", access_key(r))
            case SupportSessionStarted():
                pass  # on record in the log (and the audit log); no row changes
            case DeviceCreated() | UserCreated() | UserUpdated() | MemberAdded():
                self._apply_run(conn, [change])
            case _:
                # A change type this adapter does not know: refuse the commit rather than
                # drop its meaning (the contract suite compares against the reference).
                raise _Missing(f"no meaning for the change {change!r} in the SQLite store")

    def _record_usage(
        self, conn: sqlite3.Connection, change: UsageRecorded, tid: str, day: str
    ) -> None:
        """Merge into the tenant's row of that day; a row of an unknown tenant is dropped."""
        if conn.execute("SELECT 1 FROM tenants WHERE id = ?", (tid,)).fetchone() is None:
            return
        row = conn.execute(
            "SELECT body FROM usage WHERE tenant_id = ? AND day = ?", (tid, day)
        ).fetchone()
        old = None if row is None else _decode_row(UsageDay, row[0], f"usage {tid} {day}")
        body = _codec.encode_record(merge_usage(old, change))
        self._put_row(
            conn,
            "usage",
            "tenant_id = ? AND day = ?",
            (tid, day),
            sql="INSERT INTO usage (tenant_id, day, body, crc) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (tenant_id, day) DO UPDATE SET body = excluded.body, crc = excluded.crc",
            params=(tid, day, body, _codec.row_crc(body)),
        )

    def _put(self, conn: sqlite3.Connection, record: _Record) -> None:
        if isinstance(record, Tenant):
            body = _codec.encode_record(record)
            params: tuple[Any, ...] = (record.id, body, _codec.row_crc(body))
            self._put_row(
                conn, "tenants", "id = ?", (record.id,), sql=_PUT["tenants"], params=params
            )
            return
        if isinstance(record, Group):
            record = _bare(record)
        body = _codec.encode_record(record)
        table = _RECORD_TABLE[type(record)]
        params = (record.id, record.tenant_id, body, _codec.row_crc(body))
        self._put_row(conn, table, "id = ?", (record.id,), sql=_PUT[table], params=params)

    def _delete(self, conn: sqlite3.Connection, table: str, record_id: str) -> None:
        if self._delete_where(conn, table, "id = ?", (record_id,)) != 1:
            raise _Missing(f"{table[:-1]} {record_id!r} does not exist")

    def _associate(
        self,
        conn: sqlite3.Connection,
        group_id: str,
        device_ids: frozenset[str],
        rules: frozenset[tuple[Any, ...]],
    ) -> None:
        key_crc = _codec.key_crc
        self._insert_new(
            conn,
            "group_devices",
            "INSERT OR IGNORE INTO group_devices (group_id, device_id, crc) VALUES (?, ?, ?)",
            [(group_id, d, key_crc(group_id, d)) for d in device_ids],
            self._add_pair(conn, "group_devices", "group_id, device_id"),
        )
        blobs = [_codec.encode_rule(r) for r in rules]
        self._insert_new(
            conn,
            "group_rules",
            "INSERT OR IGNORE INTO group_rules (group_id, rule, crc) VALUES (?, ?, ?)",
            [(group_id, b, key_crc(group_id, b)) for b in blobs],
            self._add_pair(conn, "group_rules", "group_id, rule"),
        )

    def _delete_tenant(self, conn: sqlite3.Connection, tenant_id: str) -> None:
        self._delete(conn, "tenants", tenant_id)
        params = (tenant_id,)
        self._delete_where(
            conn,
            "memberships",
            "group_id IN (SELECT id FROM groups WHERE tenant_id = ?)"
            " OR user_id IN (SELECT id FROM users WHERE tenant_id = ?)",
            (tenant_id, tenant_id),
        )
        for table in ("group_devices", "group_rules"):
            self._delete_where(
                conn, table, "group_id IN (SELECT id FROM groups WHERE tenant_id = ?)", params
            )
        for table in ("groups", "users", "devices", "usage", "access"):
            self._delete_where(conn, table, "tenant_id = ?", params)

    @staticmethod
    def _append_audit(
        conn: sqlite3.Connection, audit: Sequence[AuditRecord], encoded: dict[int, bytes]
    ) -> None:
        """Append in order; SQLite numbers the rows (seq is the rowid: one above the last).
        ``encoded``: blobs already made for records of this commit, by id()."""
        row = conn.execute("SELECT at FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        stamps = _audit.times(audit, 0 if row is None else row[0])
        encode, known = _audit.encode_value, encoded.get
        rows = []
        for r, at in zip(audit, stamps, strict=True):
            after = r.after
            blob = None if after is None else (known(id(after)) or encode(after))
            rows.append(
                (r.revision, at, r.tenant_id, r.actor, r.action, r.target,
                 encode(r.before), blob)
            )  # fmt: skip
        conn.executemany(
            "INSERT INTO audit (revision, at, tenant_id, actor, action, target, before_value, "
            "after_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def _prune(self, conn: sqlite3.Connection, floor: Revision) -> None:
        """Drop the change log at and below ``floor``: readers that far behind reload.
        The audit log is never pruned."""
        conn.execute("DELETE FROM changes WHERE revision <= ?", (floor,))
        conn.execute("UPDATE meta SET value = max(value, ?) WHERE key = 'log_floor'", (floor,))

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


def _audit_filters(
    *, tenant: str | None, actor: str | None, target: str | None, above: int, below: int
) -> tuple[str, list[object]]:
    """The WHERE clause of an audit query (every filter ANDed) and its parameters. Only
    fixed column names and placeholders go into the text; values are parameters."""
    clauses = ["seq > ?", "seq < ?"]
    params: list[object] = [above, below]
    for column, value in (("tenant_id", tenant), ("actor", actor), ("target", target)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(clauses), params


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
