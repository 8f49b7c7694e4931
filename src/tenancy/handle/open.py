"""``tenancy.open``: a handle on a store named by a path, a URL, a Store, or nothing.

The SQLite adapter is imported only when a path asks for it.
"""

from __future__ import annotations

from os import PathLike

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
    ``limits=``, ``usage_flush_interval=``, ``write_timeout=``).
    """
    if target is None or target == ":memory:":
        store: Store = MemoryStore()
    elif isinstance(target, Store):
        store = target
    else:
        from tenancy.store.sqlite import SQLiteStore  # noqa: PLC0415 - only loaded when used

        store = SQLiteStore.from_url(target)
    return Tenancy(store, **options)  # type: ignore[arg-type]
