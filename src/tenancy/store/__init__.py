"""Store adapters: the only part of tenancy that does I/O."""

from tenancy.store.memory import MemoryStore
from tenancy.store.protocol import Capabilities, Store
from tenancy.store.sqlite import SQLiteStore

__all__ = ["Capabilities", "MemoryStore", "SQLiteStore", "Store"]
