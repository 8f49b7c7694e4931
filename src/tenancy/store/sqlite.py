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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote

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
from tenancy.errors import InvalidValue, StaleRevision, StoreError
from tenancy.model import ACTIVE, SUSPENDED, AuditRecord, Device, Group, Tenant, UsageDay, User
from tenancy.snapshot import Snapshot, access_key, merge_usage
from tenancy.store import _audit, _codec, migrations
from tenancy.store.protocol import Capabilities

__all__ = ["SQLiteStore"]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
FORK_WAIT = 10.0
"""Seconds os.fork() waits for a transaction of another thread on a store to end."""
_BATCH = 20_000
"""Rows fetched and decoded per call when loading a snapshot."""

_RECORD_TABLE: dict[type[Any], str] = {
    Tenant: "tenants",
    Group: "groups",
    Device: "devices",
    User: "users",
}
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
    ) -> None:
        """Open (creating and migrating if needed) the store in the file at ``path``.

        ``busy_timeout``: seconds a writer waits for another process's write to finish
        before raising StoreError. ``synchronous``: SQLite's durability level (see the
        module docstring). ``retention``: how many revisions of change log to keep (None:
        all); a process that falls further behind reloads a snapshot instead.
        """
        self._path = os.fspath(path)
        self._busy_timeout = _check_positive("busy_timeout", busy_timeout)
        if synchronous not in _SYNCHRONOUS:
            raise InvalidValue(synchronous, f"synchronous is one of {', '.join(_SYNCHRONOUS)}")
        if retention is not None and (
            not isinstance(retention, int) or isinstance(retention, bool) or retention < 1
        ):
            raise InvalidValue(retention, "retention is a positive number of revisions or None")
        self._retention = retention
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
        self._conn = self._connect()
        try:
            self._configure(synchronous)
            with self.atomic():
                migrations.migrate(self._conn)
        except BaseException as exc:
            self._conn.close()
            self._closed = True
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc, "open") from exc  # e.g. not a database file
            raise
        _OPEN.add(self)

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(
                self._path,
                timeout=self._busy_timeout,
                isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE, SAVEPOINT
                check_same_thread=False,  # shared by the follower thread, under self._lock
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            raise self._error(exc, "open") from exc

    @classmethod
    def from_url(cls, url: str | os.PathLike[str], **options: Any) -> SQLiteStore:
        """Open ``app.db``, ``sqlite:///app.db`` (relative) or ``sqlite:////abs/app.db``.

        Options may also be given as a query string, as in
        ``sqlite:///app.db?busy_timeout=10&synchronous=FULL&retention=100000``.
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
            tenants = self._records(conn, Tenant)
            groups = self._groups(conn)
            shared: dict[Any, Any] = {}  # equal values of all the records, decoded once
            devices = self._records(conn, Device, shared)
            users = self._records(conn, User, shared)
            memberships = conn.execute(
                "SELECT group_id, user_id FROM memberships ORDER BY group_id, user_id"
            ).fetchall()
            usage = _codec.decode_many(
                UsageDay,
                [b for (b,) in conn.execute("SELECT body FROM usage ORDER BY tenant_id, day")],
            )
            access = [
                _codec.decode_access(body)
                for (body,) in conn.execute("SELECT body FROM access ORDER BY kind, key")
            ]
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
                    conn.execute(
                        "INSERT INTO changes (revision, body) VALUES (?, ?)",
                        (revision, _codec.encode_changes(changes)),
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
            floor = conn.execute("SELECT value FROM meta WHERE key = 'log_floor'").fetchone()[0]
            if revision < floor:
                raise StaleRevision(revision, self._head(conn))
            rows = conn.execute(
                "SELECT revision, body FROM changes WHERE revision > ? ORDER BY revision",
                (revision,),
            ).fetchall()
        return [Commit(revision=r, changes=_codec.decode_changes(body)) for r, body in rows]

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
                raise self._error(exc, "read") from exc
            finally:
                self._conn.execute("COMMIT")

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

    @staticmethod
    def _head(conn: sqlite3.Connection) -> Revision:
        value: Revision = conn.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()[0]
        return value

    @staticmethod
    def _records(
        conn: sqlite3.Connection, kind: type[Any], shared: dict[Any, Any] | None = None
    ) -> list[Any]:
        # Read in storage order (sequential pages) and sort by id here: cheaper than
        # walking the id index and fetching each row from wherever it lies. Devices are
        # stored in id order (migration 6), so for them the sort only checks.
        cursor = conn.execute(f"SELECT body FROM {_RECORD_TABLE[kind]}")  # noqa: S608
        records: list[Any] = []
        while rows := cursor.fetchmany(_BATCH):
            blobs = [body for (body,) in rows]
            if shared is None:
                records.extend(_codec.decode_many(kind, blobs))
            else:
                records.extend(_codec.decode_sharing(kind, blobs, shared))
        records.sort(key=_by_id)
        return records

    def _groups(self, conn: sqlite3.Connection) -> list[Group]:
        groups: list[Group] = self._records(conn, Group)
        ids: dict[str, list[str]] = {}
        for group_id, device_id in conn.execute("SELECT group_id, device_id FROM group_devices"):
            ids.setdefault(group_id, []).append(device_id)
        rules: dict[str, list[bytes]] = {}
        for group_id, rule in conn.execute("SELECT group_id, rule FROM group_rules"):
            rules.setdefault(group_id, []).append(rule)
        if not ids and not rules:
            return groups
        replace = msgspec.structs.replace
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

    @staticmethod
    def _record(conn: sqlite3.Connection, kind: type[Any], record_id: str) -> Any:
        row = conn.execute(
            f"SELECT body FROM {_RECORD_TABLE[kind]} WHERE id = ?",  # noqa: S608
            (record_id,),
        ).fetchone()
        if row is None:
            raise _Missing(f"{kind.__name__.lower()} {record_id!r} does not exist")
        return _codec.record_decoder(kind).decode(row[0])

    # ------------------------------------------------------------ writing records

    def _apply(self, conn: sqlite3.Connection, changes: tuple[Change, ...]) -> None:
        """Write each change's meaning on the records: the same as RecordState.apply."""
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

    def _apply_run(self, conn: sqlite3.Connection, run: Sequence[Change]) -> None:
        encode = _codec.encode_record
        first = run[0]
        if isinstance(first, DeviceCreated):
            rows = [(c.device.id, c.device.tenant_id, encode(c.device)) for c in run]  # type: ignore[union-attr]
            conn.executemany(
                "INSERT OR REPLACE INTO devices (id, tenant_id, body) VALUES (?, ?, ?)", rows
            )
            if self._encoded is not None:
                # The audit records of these creations carry the same devices as ``after``.
                encoded = self._encoded
                for change, row in zip(run, rows, strict=True):
                    encoded[id(change.device)] = row[2]  # type: ignore[union-attr]
        elif isinstance(first, UserCreated | UserUpdated):
            conn.executemany(
                "INSERT OR REPLACE INTO users (id, tenant_id, body) VALUES (?, ?, ?)",
                [(c.user.id, c.user.tenant_id, encode(c.user)) for c in run],  # type: ignore[union-attr]
            )
        else:
            conn.executemany(
                "INSERT OR IGNORE INTO memberships (group_id, user_id) VALUES (?, ?)",
                [(c.group_id, c.user_id) for c in run],  # type: ignore[union-attr]
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
                conn.execute("DELETE FROM group_devices WHERE group_id = ?", (g.id,))
                conn.execute("DELETE FROM group_rules WHERE group_id = ?", (g.id,))
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
                    conn.execute(f"DELETE FROM {table} WHERE group_id = ?", (gid,))  # noqa: S608
            case Associated(group_id=gid, device_ids=ids, device_tags=rules):
                self._record(conn, Group, gid)
                self._associate(conn, gid, ids, rules)
            case Dissociated(group_id=gid, device_ids=ids, device_tags=rules):
                self._record(conn, Group, gid)
                conn.executemany(
                    "DELETE FROM group_devices WHERE group_id = ? AND device_id = ?",
                    [(gid, d) for d in ids],
                )
                conn.executemany(
                    "DELETE FROM group_rules WHERE group_id = ? AND rule = ?",
                    [(gid, _codec.encode_rule(r)) for r in rules],
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
                conn.execute("DELETE FROM group_devices WHERE device_id = ?", (did,))
            case UserDeleted(user_id=uid):
                self._delete(conn, "users", uid)
                conn.execute("DELETE FROM memberships WHERE user_id = ?", (uid,))
            case MemberRemoved(group_id=gid, user_id=uid):
                conn.execute(
                    "DELETE FROM memberships WHERE group_id = ? AND user_id = ?", (gid, uid)
                )
            case UsageRecorded(tenant_id=tid, day=day):
                self._record_usage(conn, change, tid, day.isoformat())
            case AccessSet(record=r):
                kind, key = access_key(r)
                conn.execute(
                    "INSERT OR REPLACE INTO access (kind, key, tenant_id, body)"
                    " VALUES (?, ?, ?, ?)",
                    (kind, key, r.tenant_id, _codec.encode_access(r)),
                )
            case AccessRemoved(record=r):
                conn.execute("DELETE FROM access WHERE kind = ? AND key = ?", access_key(r))
            case SupportSessionStarted():
                pass  # on record in the log (and the audit log); no row changes
            case DeviceCreated() | UserCreated() | UserUpdated() | MemberAdded():
                self._apply_run(conn, [change])
            case _:
                # A change type this adapter does not know: refuse the commit rather than
                # drop its meaning (the contract suite compares against the reference).
                raise _Missing(f"no meaning for the change {change!r} in the SQLite store")

    @staticmethod
    def _record_usage(conn: sqlite3.Connection, change: UsageRecorded, tid: str, day: str) -> None:
        """Merge into the tenant's row of that day; a row of an unknown tenant is dropped."""
        if conn.execute("SELECT 1 FROM tenants WHERE id = ?", (tid,)).fetchone() is None:
            return
        row = conn.execute(
            "SELECT body FROM usage WHERE tenant_id = ? AND day = ?", (tid, day)
        ).fetchone()
        old = None if row is None else _codec.record_decoder(UsageDay).decode(row[0])
        conn.execute(
            "INSERT OR REPLACE INTO usage (tenant_id, day, body) VALUES (?, ?, ?)",
            (tid, day, _codec.encode_record(merge_usage(old, change))),
        )

    @staticmethod
    def _put(conn: sqlite3.Connection, record: _Record) -> None:
        if isinstance(record, Tenant):
            conn.execute(
                "INSERT OR REPLACE INTO tenants (id, body) VALUES (?, ?)",
                (record.id, _codec.encode_record(record)),
            )
            return
        if isinstance(record, Group):
            record = _bare(record)
        conn.execute(
            f"INSERT OR REPLACE INTO {_RECORD_TABLE[type(record)]} "  # noqa: S608
            "(id, tenant_id, body) VALUES (?, ?, ?)",
            (record.id, record.tenant_id, _codec.encode_record(record)),
        )

    @staticmethod
    def _delete(conn: sqlite3.Connection, table: str, record_id: str) -> None:
        cursor = conn.execute(f"DELETE FROM {table} WHERE id = ?", (record_id,))  # noqa: S608
        if cursor.rowcount != 1:
            raise _Missing(f"{table[:-1]} {record_id!r} does not exist")

    @staticmethod
    def _associate(
        conn: sqlite3.Connection,
        group_id: str,
        device_ids: frozenset[str],
        rules: frozenset[tuple[Any, ...]],
    ) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO group_devices (group_id, device_id) VALUES (?, ?)",
            [(group_id, d) for d in device_ids],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO group_rules (group_id, rule) VALUES (?, ?)",
            [(group_id, _codec.encode_rule(r)) for r in rules],
        )

    def _delete_tenant(self, conn: sqlite3.Connection, tenant_id: str) -> None:
        self._delete(conn, "tenants", tenant_id)
        params = (tenant_id,)
        conn.execute(
            """DELETE FROM memberships
               WHERE group_id IN (SELECT id FROM groups WHERE tenant_id = ?)
                  OR user_id IN (SELECT id FROM users WHERE tenant_id = ?)""",
            (tenant_id, tenant_id),
        )
        for table in ("group_devices", "group_rules"):
            conn.execute(
                f"DELETE FROM {table} "  # noqa: S608
                "WHERE group_id IN (SELECT id FROM groups WHERE tenant_id = ?)",
                params,
            )
        for table in ("groups", "users", "devices", "usage", "access"):
            conn.execute(f"DELETE FROM {table} WHERE tenant_id = ?", params)  # noqa: S608

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
    raise InvalidValue(
        url, f"unknown SQLite URL option {key!r}: busy_timeout, synchronous, retention"
    )
