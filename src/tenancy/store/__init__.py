"""Store adapters: the only part of tenancy that does I/O."""

from tenancy.store.memory import MemoryStore
from tenancy.store.protocol import Capabilities, Store

__all__ = ["Capabilities", "MemoryStore", "Store"]
