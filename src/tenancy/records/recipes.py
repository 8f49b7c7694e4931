"""Device recipes: named templates a tenant bulk-creates devices from (DOMAIN.md section 8).

A recipe is stored and logged as one of the generic access-table records (see
:mod:`tenancy.records.grants`): a change :class:`~tenancy.records.changes.AccessSet` puts
it and :class:`~tenancy.records.changes.AccessRemoved` takes it away, so every store keeps
it in the table that already holds (kind, key, tenant, body) and no schema changes. The
index keeps it with the other access records and gives it no table of its own: nothing
on the path of a check reads it.
"""

from __future__ import annotations

import msgspec

from tenancy.records.tags import Tag

__all__ = ["PLACEHOLDER", "Recipe"]

PLACEHOLDER = "{n}"
"""What a recipe's name pattern numbers its devices with: ``"Generator {n}"``."""


class Recipe(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A named template of one tenant's devices: ``name_pattern`` (with ``{n}``, the number
    of each device), the ``tags`` every device gets (a frozenset of ``(key, value)``
    pairs), the gateway ``parent_id`` they go under (or None), and ``group_ids``, the
    groups that associate each new device by id."""

    id: str
    tenant_id: str
    name: str
    name_pattern: str
    tags: frozenset[Tag] = frozenset()
    parent_id: str | None = None
    group_ids: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        """Its id: recipe ids are unique in the store."""
        return self.id

    def device_name(self, n: int) -> str:
        """The name of device number ``n``: the pattern with ``{n}`` replaced.

        >>> Recipe(id="r1", tenant_id="t1", name="gen", name_pattern="Generator {n}").device_name(7)
        'Generator 7'
        """
        return self.name_pattern.format(n=n)
