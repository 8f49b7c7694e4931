"""Store adapters: the only part of tenancy that does I/O."""

from tenancy.store.memory import MemoryStore
from tenancy.store.postgres import PostgresStore  # imports psycopg only when one is opened
from tenancy.store.protocol import Capabilities, NotifyingStore, Store
from tenancy.store.sqlite import SQLiteStore

__all__ = ["Capabilities", "MemoryStore", "NotifyingStore", "PostgresStore", "SQLiteStore", "Store"]
