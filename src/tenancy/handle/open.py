"""``tenancy.open``: a handle on a store named by a path, a URL, a Store, or nothing.

The SQLite adapter is imported only when a path asks for it, the PostgreSQL adapter (and
psycopg) only when a ``postgresql://`` URL does.
"""

from __future__ import annotations

from os import PathLike

from tenancy.errors import InvalidValue
from tenancy.handle.tenancy import Tenancy
from tenancy.store.memory import MemoryStore
from tenancy.store.protocol import Store

__all__ = ["open"]


def open(
    target: str | PathLike[str] | Store | None = None,
    **options: object,
) -> Tenancy:
    """Open a handle on a store: a :class:`~tenancy.Tenancy`.

    ``target``: ``None`` or ``":memory:"``, a new in-memory store; a path or ``"sqlite:///path"``, a
    SQLite file, created if missing; a ``"postgresql://..."`` URL, a PostgreSQL store (the
    ``postgres`` extra; its schema made on first use); a :class:`~tenancy.Store` instance, used
    as it is. The options
    go to :class:`~tenancy.Tenancy` (``clock=``, ``staleness=``, ``limits=``,
    ``usage_flush_interval=``, ``support_duration=``, ``write_timeout=``), except the two options of
    a SQLite file (InvalidValue for any other target):

    - ``integrity=``: what the open of the file checks before it answers: ``"rows"`` (the
      default) the checksum, count and references of every row it reads; ``"quick"`` also
      ``PRAGMA quick_check``; ``"full"`` also ``PRAGMA integrity_check``. A damaged file
      raises StoreError naming the file and the problem ([integrity on
      open](../how-to/sqlite.md#integrity-on-open)).
    - ``create=``: ``None``, a missing file becomes a new store; ``True``, so does an existing
      empty file (0 bytes, or SQLite without tables); ``False``, only an existing store opens.
      A file that is not a tenancy store (another application's database, not SQLite) is
      always refused with StoreError.

    The options of a ``postgresql://`` URL (InvalidValue for any other target): ``schema=``
    (default ``"public"``), ``pool_size=``, ``busy_timeout=``, ``notify=`` (False on an engine
    without LISTEN/NOTIFY: other processes' writes are then seen by polling every
    ``staleness``); see :class:`~tenancy.store.postgres.PostgresStore` and
    [the how-to](../how-to/postgresql.md).

    A handle is a context manager: ``with tenancy.open("app.db") as tn: ...`` closes the store on
    exit. Runtime complexity: O(records in the store), which the index loads once."""
    file_options = {key: options.pop(key) for key in _FILE_OPTIONS if key in options}
    server_options = {key: options.pop(key) for key in _SERVER_OPTIONS if key in options}
    postgres = isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))
    if file_options and (
        target is None or target == ":memory:" or isinstance(target, Store) or postgres
    ):
        key = min(file_options)
        raise InvalidValue(file_options[key], f"{key}= is an option of a SQLite file", field=key)
    if not postgres and server_options:
        key = min(server_options)
        raise InvalidValue(
            server_options[key], f"{key}= is an option of a postgresql:// store", field=key
        )
    store: Store
    if postgres:
        from tenancy.store.postgres import PostgresStore  # noqa: PLC0415 - only loaded when used

        store = PostgresStore.from_url(str(target), **server_options)
    elif target is None or target == ":memory:" or isinstance(target, Store):
        store = MemoryStore() if not isinstance(target, Store) else target
    else:
        from tenancy.store.sqlite import SQLiteStore  # noqa: PLC0415 - only loaded when used

        store = SQLiteStore.from_url(target, **file_options)
    try:
        return Tenancy(store, **options)  # type: ignore[arg-type]
    except BaseException:
        if store is not target:
            store.close()  # a handle that did not open leaves no connection behind
        raise


_FILE_OPTIONS = ("create", "integrity")
_SERVER_OPTIONS = ("schema", "pool_size", "busy_timeout", "notify")
