"""The PostgreSQL store's notifications: every commit sends ``NOTIFY`` with its revision
(in its own transaction, so it is delivered when, and only if, the commit lands), and a
:class:`Listener` holds one connection of its own that ``LISTEN``s, for the handle's
follower to wait on.

A wait ends at the first notification of a revision past the one the follower has, at
its timeout (the follower then polls the log anyway: notifications are a hint, never the
only way a commit arrives), or when :meth:`Listener.wake` is called (closing the handle).
A lost connection is opened again on the next wait, which then returns at once: a commit
may have been notified while nobody listened, and the follower's catch-up from the log
finds it. The connection is never shared across a fork (the store forgets it in the child).

A store object's own notifications are not counted as news (:meth:`Listener.committing`
marks the revision, and its NOTIFY is dropped when it arrives): the handle that wrote the
commit applied it already. The commit itself still ends a wait in progress
(:meth:`Listener.committed`), so a change-feed ``watch`` on the writing handle sees it at
once (7 ms measured). ``tenancy.open`` gives every handle a store object of its own.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tenancy.records.changes import Revision

if TYPE_CHECKING:
    import psycopg

__all__ = ["Listener", "channel"]

_RETRY = 0.5
"""Seconds a wait pauses after failing to reach the server, before it reports back."""


def channel(schema: str) -> str:
    """The notification channel of the store in ``schema`` (a database holds many)."""
    return f"tenancy.{schema}"


class Listener:
    """One LISTEN connection and the waits on it: one thread waits on its socket, any other
    (a second handle on the same store object) on a condition the first one signals."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]], schema: str) -> None:
        self._connect = connect
        self._channel = channel(schema)
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self._signal = threading.Condition()
        self._wakes = 0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._closed = False
        self._pid = os.getpid()
        self.notified: Revision = 0
        """The highest revision notified so far by another store object (this one's own
        commits wake nobody here: its handle applied them already)."""
        self._own: set[Revision] = set()
        self._own_max: Revision = 0

    def wait(self, after: Revision, timeout: float) -> Revision:
        """Block until a revision past ``after`` is known to be committed, ``timeout``
        seconds pass, or :meth:`wake` is called; return the latest revision known. It may
        return early (a spurious wake-up): after the connection was (re)opened, what was
        notified meanwhile is unknown, so the caller looks at the log either way."""
        deadline = time.monotonic() + timeout
        if self._pid != os.getpid():
            self.forget()  # a forked child's follower may run before the fork hook
        if not self._lock.acquire(blocking=False):
            return self._wait_beside(after, timeout)
        try:
            return self._wait_on_socket(after, deadline, timeout)
        finally:
            self._lock.release()
            with self._signal:
                self._signal.notify_all()

    def _wait_beside(self, after: Revision, timeout: float) -> Revision:
        """Another thread waits on the socket: wait for what it hears."""
        with self._signal:
            wakes = self._wakes
            self._signal.wait_for(
                lambda: self.known > after or self._closed or self._wakes != wakes, timeout
            )
            return self.known

    def _wait_on_socket(self, after: Revision, deadline: float, timeout: float) -> Revision:
        if self._closed:
            return self.known
        if self.known > after:
            return self.known
        if self._conn is None or self._conn.closed:
            try:
                self._open()
            except Exception:  # the server is away: the caller polls, later
                self._pause(min(_RETRY, timeout))
                return self.known
            return self.known
        conn = self._conn
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return self.known
            try:
                ready, _, _ = select.select([conn.fileno(), self._wake_r], [], [], left)
            except (OSError, ValueError):
                self._drop()
                return self.known
            if self._wake_r in ready:
                self._drain_wake()
                return self.known
            if not ready:
                return self.known
            try:
                for note in conn.notifies(timeout=0):
                    self._note(note.payload)
            except Exception:  # the connection broke (a restart, a terminated backend)
                self._drop()
                return self.known
            if self.known > after:
                return self.known

    def wake(self) -> None:
        """End the waits in progress, if any, at once (from another thread)."""
        with self._signal:
            self._wakes += 1
            self._signal.notify_all()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def close(self) -> None:
        self._closed = True
        self.wake()
        with self._lock:
            self._drop()
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def forget(self) -> None:
        """In a forked child: the connection and the pipe are the parent's. Leave them
        untouched (closing the connection would end the parent's session) and start anew.
        Once per process: the fork hook and the child's follower may both call it."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        _INHERITED.append(self._conn)
        self._conn = None
        self._lock = threading.Lock()
        self._signal = threading.Condition()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def _open(self) -> None:
        from psycopg import sql  # noqa: PLC0415 - psycopg is imported only with the store

        conn = self._connect()
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    @property
    def known(self) -> Revision:
        """The latest revision known to be committed: notified by another store object,
        or committed by this one."""
        return max(self.notified, self._own_max)

    def committed(self, revision: Revision) -> None:
        """This store object committed ``revision`` (its COMMIT returned)."""
        self._own_max = max(self._own_max, revision)
        if len(self._own) > 10_000:  # notifications missed (no connection): forget old ones
            self._own = {r for r in self._own if r > revision - 1_000}
        with self._signal:
            self._signal.notify_all()

    def committing(self, revision: Revision) -> None:
        """This store object is committing ``revision``: its notification wakes no one."""
        self._own.add(revision)

    def settled(self, revision: Revision) -> None:
        """That commit failed (or its outcome is unknown): its revision may come from
        another writer, whose notification must wake us."""
        self._own.discard(revision)

    def _note(self, payload: str) -> None:
        with contextlib.suppress(ValueError):
            revision = int(payload)
            if revision in self._own:
                self._own.discard(revision)
                return
            self.notified = max(self.notified, revision)

    def _pause(self, seconds: float) -> None:
        with contextlib.suppress(OSError, ValueError):
            ready, _, _ = select.select([self._wake_r], [], [], seconds)
            if ready:
                self._drain_wake()

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self._wake_r, 64):
                pass


_INHERITED: list[object] = []
"""Connections a forked child inherited: never used nor closed by it."""
