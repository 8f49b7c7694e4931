"""The reach queries of a handle (verify, devices_for, users_for, explain, groups_for,
in_group, devices_in): each runs a pure function of tenancy.rules.reach on the handle's
index (:meth:`Queries._read` says how a query that runs during a write still sees the
write whole, or not at all).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from tenancy.errors import InvalidValue
from tenancy.handle.writer import Writer
from tenancy.index.index import Index
from tenancy.records.model import (
    Device,
    Explanation,
    Group,
    Page,
    User,
)
from tenancy.records.tags import RulesInput
from tenancy.rules.access import Identity
from tenancy.rules.paging import (
    DEFAULT_PAGE_SIZE,
)
from tenancy.rules.reach import (
    devices_for,
    devices_in,
    explain,
    groups_for,
    in_group,
    users_for,
)

__all__ = [
    "Queries",
    "T",
]


T = TypeVar("T")


_ID_ARGUMENTS = {
    "devices_for": ("user_id",),
    "devices_in": ("group_id",),
    "users_for": ("device_id",),
    "explain": ("user_id", "device_id"),
    "explain_permission": ("user_id", "device_id"),
    "groups_for": ("user_id",),
    "in_group": ("user_id", "group_id"),
}
"""The positional id arguments of each query, by name, for :func:`_check_ids`."""


def _check_ids(query: Callable[..., object], args: tuple[Any, ...], kwargs: Any) -> None:
    """After a query raised TypeError: InvalidValue naming the first id argument that is
    not a string, if any (a list or a dict where an id goes). Runs only on that failure
    path, so valid queries pay nothing for it."""
    named_args = zip(_ID_ARGUMENTS.get(query.__name__, ()), args, strict=False)
    for field, value in (*named_args, ("group", kwargs.get("group"))):
        if value is not None and not isinstance(value, str):
            raise InvalidValue(value, f"{field} is an id (a string)", field=field)


class Queries:
    """The reach queries of a :class:`~tenancy.Tenancy` handle, a part it holds (verify,
    the hottest, is the handle's own method).

    Each method takes the freshness options of DESIGN.md: ``at_least=revision`` waits until
    this handle has seen that revision, ``fresh=True`` catches up with the store first; by
    default the answer is as fresh as the handle's staleness window.
    """

    def __init__(self, writer: Writer, identity: Identity) -> None:
        self._writer = writer
        self._identity = identity

    @property
    def _index(self) -> Index:
        return self._writer.index

    def _sync(self, at_least: int | None, fresh: bool) -> None:
        self._writer.sync(at_least, fresh)

    def _writer_lock(self) -> AbstractContextManager[object]:
        return self._writer.lock

    def _read(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a query that walks the index's tables, without a lock, and make sure no
        write ran meanwhile. Readers never block writers, and a write during a walk need
        not raise: an insert into a plain sorted list (SortedIds under 2,000 ids) shifts it
        under the iterator, which then repeats or skips an id. So the index's ``seq`` (odd
        while a commit applies, bumped again when it is done) is read before and after:
        if it moved or was odd, or the walk raised (a set changed size, a record gone), the
        query runs again under the writer lock, where no write can interleave. Either way
        the answer is the one from before or after each write, never half of one. Cost:
        two reads of :attr:`Index.seq <tenancy.index.tables.IndexTables.seq>`."""
        self._writer.retime()  # memberships with a window, as they count now
        index = self._index  # one index throughout: a reload swaps in another, whole
        seq = index.seq
        try:
            answer = query(index, *args, **kwargs)
        except (RuntimeError, IndexError, KeyError):
            pass  # a write changed what the query walked
        except TypeError:
            _check_ids(query, args, kwargs)  # a list where an id goes: say which argument
            raise
        else:
            if index.seq == seq and not seq & 1:
                return answer
        with self._writer_lock():
            return query(self._index, *args, **kwargs)

    def devices_for(
        self,
        user_id: str,
        *,
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        tags: RulesInput | None = None,
        group: str | None = None,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> Page[Device]:
        """One page of the devices the user reaches, sorted by id; see
        :func:`tenancy.rules.reach.devices_for` for the filters and the cost.

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        >>> t = tn.tenant(acme.id)
        >>> site = t.create_group("San Bruno", device_tags=[("site", "sb")])
        >>> gen = t.create_device("Generator 7", id="gen-7", tags=[("site", "sb")])
        >>> ana = t.create_user("ana@acme.example")
        >>> t.add_member(site.id, ana.id)
        >>> [d.id for d in tn.devices_for(ana.id)]
        ['gen-7']
        """
        self._sync(at_least, fresh)
        return self._read(devices_for, user_id, limit=limit, after=after, tags=tags, group=group)

    def users_for(
        self,
        device_id: str,
        *,
        tags: RulesInput | None = None,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> list[User]:
        """Every user who reaches ``device_id`` (whom to alert), sorted by id; ``tags`` keeps users
        whose tags match every matcher. ``at_least``, ``fresh``: [freshness](api.md#freshness).
        Runtime complexity: O(c + m log c) for c covering groups and m members among them."""
        self._sync(at_least, fresh)
        return self._read(users_for, device_id, tags=tags)

    def explain(
        self, user_id: str, device_id: str, *, at_least: int | None = None, fresh: bool = False
    ) -> Explanation:
        """Why the user reaches the device, or the first failing condition.
        Runtime complexity: O(gateways x (tags x rules per tag + depth x associating
        groups))."""
        self._sync(at_least, fresh)
        return self._read(explain, user_id, device_id)

    def groups_for(
        self,
        user_id: str,
        *,
        inherited: bool = True,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> list[Group]:
        """The groups ``user_id`` is a member of, sorted by id; with ``inherited`` every group below
        them too. ``at_least``, ``fresh``: [freshness](api.md#freshness). Runtime complexity:
        O(g log g) for g groups returned."""
        self._sync(at_least, fresh)
        return self._read(groups_for, user_id, inherited=inherited)

    def in_group(
        self, user_id: str, group_id: str, *, at_least: int | None = None, fresh: bool = False
    ) -> bool:
        """Is ``user_id`` a member of ``group_id`` or of an ancestor? Structural: it ignores the
        enabled flag and suspension, as :meth:`verify` does not. ``at_least``, ``fresh``:
        [freshness](api.md#freshness). Runtime complexity: O(min(depth, the user's groups))."""
        self._sync(at_least, fresh)
        return self._read(in_group, user_id, group_id)

    def devices_in(
        self,
        group_id: str,
        *,
        descendants: bool = True,
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> Page[Device]:
        """One page of the devices ``group_id`` covers; with ``descendants=False`` only those it
        associates itself (and their child devices). ``limit`` and ``after`` as for
        :meth:`devices_for` (a cursor of this group with the same ``descendants``). ``at_least``,
        ``fresh``: [freshness](api.md#freshness). Runtime complexity: O(log n + limit) with
        descendants; O(d log d) over the d devices the group itself associates without."""
        self._sync(at_least, fresh)
        return self._read(devices_in, group_id, descendants=descendants, limit=limit, after=after)
