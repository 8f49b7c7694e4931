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
    """Open a handle on a store.

    ``None`` or ``":memory:"`` gives a fresh in-memory store; a :class:`Store` instance is
    used as it is. Options are passed to :class:`Tenancy` (``clock=``, ``staleness=``,
    ``limits=``, ``usage_flush_interval=``, ``write_timeout=``), except the options of a
    SQLite file: ``integrity=`` (``"rows"``, ``"quick"``, ``"full"``: what the open checks)
    and ``create=`` (None: a missing file becomes a new store; True: an empty file does
    too; False: only an existing store opens), see :class:`~tenancy.store.sqlite.SQLiteStore`;
    and the options of a ``postgresql://`` URL: ``schema=`` (default ``"public"``, made on
    first use), ``pool_size=``, ``busy_timeout=``, ``notify=`` (False on an engine without
    LISTEN/NOTIFY), see :class:`~tenancy.store.postgres.PostgresStore`.
    """
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
