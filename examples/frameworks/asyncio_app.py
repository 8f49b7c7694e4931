"""asyncio: which tenancy calls run on the event loop, and which go to a thread.

On the loop, called directly: the queries, answered from the in-memory index without I/O
(a query that walks a table and overlapped a write's apply runs once more under the
writer lock; ``verify`` never waits): ``verify``, ``check``,
``devices_for``, ``users_for``, ``explain``, ``groups_for``, ``in_group``,
``devices_in``, ``usage``, the tenant scope's reads (``get_device``, ``groups``,
``users``, ...), and ``as_user`` / ``as_support`` / ``tenant``, which only look up ids.

In a thread (``asyncio.to_thread``), because they wait:

- ``tenancy.open``: it reads the whole store into memory (seconds at a million devices);
- every write: it takes the handle's writer lock (behind any write of another thread),
  waits for SQLite's file lock while another process writes (up to ``busy_timeout``, 5 s),
  and retries races lost to other processes for up to ``write_timeout`` (10 s);
- ``close`` and ``flush_usage`` (they write the usage counters), ``catch_up``, a query
  with ``fresh=True`` or ``at_least=`` (it may read the file first), and ``audit_log``
  (it reads the store).

Called on the loop, such a write stops every other task for as long as it waits; in a
thread, the loop keeps serving reads meanwhile (tests/examples/test_asyncio_recipe.py
measures both).
"""

from __future__ import annotations

import asyncio

import tenancy
from examples.frameworks.world import seed

__all__ = ["DeviceService", "main"]


class DeviceService:
    """What an asyncio application asks tenancy, each call where it belongs."""

    def __init__(self, tn: tenancy.Tenancy) -> None:
        self.tn = tn

    @classmethod
    async def open(cls, target: str | None, **options: object) -> DeviceService:
        return cls(await asyncio.to_thread(tenancy.open, target, **options))

    def can_see(self, user_id: str, device_id: str) -> bool:
        """On the loop: two dictionary look-ups."""
        return self.tn.verify(user_id, device_id)

    def visible(self, user_id: str, after: str | None = None) -> tenancy.Page[tenancy.Device]:
        """On the loop: one page from the index."""
        return self.tn.devices_for(user_id, after=after)

    async def can_see_now(self, user_id: str, device_id: str) -> bool:
        """In a thread: ``fresh=True`` first catches up with the store's file."""
        return await asyncio.to_thread(self.tn.verify, user_id, device_id, fresh=True)

    async def rename(
        self, user_id: str, tenant_id: str, device_id: str, name: str
    ) -> tenancy.Device:
        """In a thread: a write, authorised for the user (PermissionDenied otherwise)."""
        scope = self.tn.as_user(user_id).tenant(tenant_id)  # look-ups only: on the loop
        return await asyncio.to_thread(scope.update_device, device_id, name=name)

    async def close(self) -> None:
        await asyncio.to_thread(self.tn.close)


async def main(target: str | None = None) -> None:
    service = await DeviceService.open(target)
    try:
        w = await asyncio.to_thread(seed, service.tn)  # a few writes
        print("Ana sees the generator:", service.can_see(w.viewer_id, w.generator_id))
        renamed = await service.rename(w.operator_id, w.tenant_id, w.generator_id, "Gen 7b")
        print("Olga renamed it:", renamed.name)
        print("Ana's devices:", [d.name for d in service.visible(w.viewer_id).items])
    finally:
        await service.close()


if __name__ == "__main__":
    asyncio.run(main())
