"""A copy-on-access overlay of an :class:`~tenancy.index.index.Index`: the index a what-if
writes to, and the reach it would add and remove.

:func:`overlay_of` gives a new ``Index`` whose tables read through to a base index and
keep every change to themselves, so :meth:`Index.apply <tenancy.index.index.Index.apply>`
and every query run on it unchanged while the base stays exactly as it was. Its rules:

Rule O1. Generic over the tables. Every attribute of the base index is wrapped by its
   type, not by its name, recursively through the objects of ``tenancy`` that hold tables
   (the group forest, the tag tables, the interner, the access state, the usage table):
   a ``dict`` (a ``defaultdict`` too, with its default) becomes an :class:`OverlayDict`,
   a ``set`` an :class:`OverlaySet`, an immutable value stays shared, and any other
   container (a list, a sorted list: none is a table today) is copied whole. A table
   added to the index tomorrow is overlaid with no edit here, at the cost of that rule.
   One base object wrapped twice (``_group_rules`` is ``_tags.group_rules``) gives one
   overlay, so the aliases the index relies on hold in the overlay too.

Rule O2. Copy on access. An :class:`OverlayDict` answers from the keys it holds, then
   from the base. A mutable value read from the base (the set of a group's children, the
   sorted ids a group covers) is copied into the overlay the first time it is read, since
   the reader may change it in place; an immutable one (an interned frozenset, a record, a
   tuple) is handed out as it is and never copied. A deleted key is a tombstone. So the
   overlay costs what the writes touch: the keys they read or write, each copied once,
   never a copy of the index.

Rule O3. The base is read, never written: nothing of the overlay (no add, no ``del``, no
   default made by a ``defaultdict``) reaches a base table, and the per-commit memo of the
   access rules (``AccessState.cache``, not a table) starts empty instead of reading the
   base's.

Rule O4. The diff (:func:`reach_changes`) looks only at what the writes touched: the users
   whose reach set the overlay rewrote and the devices whose cover it rewrote. A pair
   (user, device) changes only if one of them is touched; for a touched device the
   candidates are the members of the groups its cover gained or lost, and for a touched
   user the devices covered by the groups its reach gained or lost; each candidate is then
   tested as verify tests it (``not reach[u].isdisjoint(cover[d])``) before and after.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, MutableSet
from collections.abc import Set as AbstractSet
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

import msgspec

from tenancy.index.sorted_ids import SortedIds
from tenancy.index.tables import EMPTY

if TYPE_CHECKING:
    from tenancy.index.index import Index

__all__ = ["OverlayDict", "OverlaySet", "overlay_of", "reach_changes"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

_GONE: Any = object()
"""The tombstone of a key deleted in the overlay."""
_MISSING: Any = object()

_IMMUTABLE = (str, int, float, bytes, frozenset, tuple, type(None), date, datetime, timedelta)
"""Values shared with the base as they are (NamedTuples, such as GroupInfo, are tuples)."""


def _is_immutable(value: object) -> bool:
    kind = type(value)
    known = _KINDS.get(kind)
    if known is None:
        if issubclass(kind, _IMMUTABLE):
            known = True
        elif issubclass(kind, msgspec.Struct):
            known = bool(kind.__struct_config__.frozen)
        else:
            known = False
        _KINDS[kind] = known
    return known


_KINDS: dict[type, bool] = {}
"""Whether values of a type are immutable, worked out once per type (a read of the base
asks it for every value it hands out)."""


def _private(value: Any) -> Any:
    """A copy of a mutable value read from the base, for the overlay to own (rule O2)."""
    if type(value) is SortedIds:  # its copy.copy would share the list it holds
        return SortedIds.adopt(list(value.held), ordered=True)
    copier = getattr(value, "copy", None)
    if copier is not None:  # set, dict, defaultdict, list, SortedDict, SortedList
        return copier()
    return copy.copy(value)


class OverlayDict(MutableMapping[K, V]):
    """A dict that reads through to ``base`` and keeps its own writes (rules O2, O3).
    ``factory``: the base's ``default_factory`` when it is a ``defaultdict`` (a missing key
    read with ``[]`` is made, in the overlay only)."""

    __slots__ = ("_base", "_factory", "_local", "_size")

    def __init__(self, base: Mapping[K, V], factory: Callable[[], V] | None = None) -> None:
        self._base = base
        self._factory = factory
        self._local: dict[K, V] = {}
        self._size = len(base)

    # ------------------------------------------------------------ what the diff reads

    def written(self) -> Iterator[K]:
        """The keys the overlay holds: written, deleted or copied on access. O(1) each."""
        return iter(self._local)

    def peek(self, key: K, default: T) -> V | T:
        """The value now, without copying it into the overlay: for reading only. O(1)."""
        value = self._local.get(key, _MISSING)
        if value is _MISSING:
            return self._base.get(key, default)
        return default if value is _GONE else value

    # ------------------------------------------------------------ the dict interface

    def _read(self, key: K) -> V:
        value = self._local.get(key, _MISSING)
        if value is not _MISSING:
            if value is _GONE:
                raise KeyError(key)
            return cast(V, value)
        value = self._base.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        known = _KINDS.get(type(value))
        if known or (known is None and _is_immutable(value)):
            return cast(V, value)
        mine: V = _private(value)
        self._local[key] = mine
        return mine

    def __getitem__(self, key: K) -> V:
        try:
            return self._read(key)
        except KeyError:
            if self._factory is None:
                raise
        value = self[key] = self._factory()
        return value

    def get(self, key: K, default: Any = None) -> Any:
        value = self._local.get(key, _MISSING)
        if value is not _MISSING:
            return default if value is _GONE else value
        value = self._base.get(key, _MISSING)
        if value is _MISSING:
            return default
        known = _KINDS.get(type(value))
        if known or (known is None and _is_immutable(value)):
            return value
        mine = self._local[key] = _private(value)
        return mine

    def __contains__(self, key: object) -> bool:
        value = self._local.get(key, _MISSING)  # type: ignore[arg-type]
        if value is _MISSING:
            return key in self._base
        return value is not _GONE

    def __setitem__(self, key: K, value: V) -> None:
        if key not in self:
            self._size += 1
        self._local[key] = value

    def __delitem__(self, key: K) -> None:
        if key not in self:
            raise KeyError(key)
        self._size -= 1
        if key in self._base:
            self._local[key] = _GONE
        else:
            del self._local[key]

    def pop(self, key: K, default: Any = _MISSING) -> Any:
        try:
            value = self._read(key)
        except KeyError:
            if default is _MISSING:
                raise
            return default
        del self[key]
        return value

    def setdefault(self, key: K, default: Any = None) -> Any:
        try:
            return self._read(key)
        except KeyError:
            self[key] = default
            return default

    def __iter__(self) -> Iterator[K]:
        # The base's keys but the deleted, then the overlay's new ones. A key read (so
        # copied into the overlay) while iterating is still the base's, yielded once.
        local, base = self._local, self._base
        for key in base:
            if local.get(key) is not _GONE:
                yield key
        yield from [k for k, v in local.items() if v is not _GONE and k not in base]

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def __repr__(self) -> str:
        return f"OverlayDict({len(self._local)} keys held over {len(self._base)})"


class OverlaySet(MutableSet[T]):
    """A set that reads through to ``base`` and keeps its own additions and removals."""

    __slots__ = ("_added", "_base", "_removed")

    def __init__(self, base: AbstractSet[T]) -> None:
        self._base = base
        self._added: set[T] = set()
        self._removed: set[T] = set()

    def __contains__(self, value: object) -> bool:
        return value in self._added or (value in self._base and value not in self._removed)

    def add(self, value: T) -> None:
        if value in self._base:
            self._removed.discard(value)
        else:
            self._added.add(value)

    def discard(self, value: T) -> None:
        if value in self._base:
            self._removed.add(value)
        else:
            self._added.discard(value)

    def __iter__(self) -> Iterator[T]:
        removed = self._removed
        for value in self._base:
            if value not in removed:
                yield value
        yield from self._added

    def __len__(self) -> int:
        return len(self._base) - len(self._removed) + len(self._added)

    def __repr__(self) -> str:
        return f"OverlaySet(+{len(self._added)} -{len(self._removed)} over {len(self._base)})"


# ---------------------------------------------------------------- building (rule O1)


def overlay_of(base: Index) -> Index:
    """A new index over ``base`` (rules O1 to O3): apply changes to it, query it, throw it
    away; ``base`` is never written. The caller keeps ``base`` from moving while the overlay
    lives (the writer lock). Runtime complexity: O(attributes of the index), nothing per
    record."""
    overlay = _clone(base, {})
    overlay._access.cache = {}  # rule O3: a memo of the base's answers, not a table
    return overlay


def _attributes(obj: object) -> Iterator[tuple[str, object]]:
    seen: set[str] = set()
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name in seen or name == "__weakref__":
                continue
            try:  # a slot never assigned has no value to wrap
                value = getattr(obj, name)
            except AttributeError:
                continue
            seen.add(name)
            yield name, value
    yield from getattr(obj, "__dict__", {}).items()


def _clone(obj: T, memo: dict[int, object]) -> T:
    """A new object of ``obj``'s class whose attributes are ``obj``'s, wrapped."""
    new = type(obj).__new__(type(obj))
    memo[id(obj)] = new
    for name, value in _attributes(obj):
        object.__setattr__(new, name, _wrap(value, memo))
    return new


def _wrap(value: object, memo: dict[int, object]) -> object:
    if _is_immutable(value):
        return value
    done = memo.get(id(value))
    if done is not None:
        return done
    wrapped: object
    if type(value) is dict:
        wrapped = OverlayDict(value)
    elif type(value) is OverlayDict:  # an overlay of an overlay (a what-if inside one)
        wrapped = OverlayDict(value, value._factory)
    elif type(value) is OverlaySet:
        wrapped = OverlaySet(value)
    elif type(value) is defaultdict:
        wrapped = OverlayDict(value, value.default_factory)
    elif type(value) is set:
        wrapped = OverlaySet(value)
    elif type(value).__module__.startswith("tenancy.") and not isinstance(value, Iterable):
        wrapped = _clone(value, memo)  # an object holding tables: overlay each of them
    else:
        wrapped = _private(value)  # another kind of table: copied whole (rule O1)
    memo[id(value)] = wrapped
    return wrapped


# ---------------------------------------------------------------- the diff (rule O4)

Pair = tuple[str, str]


class _Either:
    """A user's reach from the clock-free table, else the timed one (of the base)."""

    def __init__(
        self, first: Mapping[str, frozenset[str]], second: Mapping[str, frozenset[str]]
    ) -> None:
        self._first, self._second = first, second

    def get(self, key: str, default: frozenset[str]) -> frozenset[str]:
        found = self._first.get(key)
        return self._second.get(key, default) if found is None else found


class _OverlayEither:
    """The same for the overlay's two tables, read without copying."""

    def __init__(
        self, first: OverlayDict[str, frozenset[str]], second: OverlayDict[str, frozenset[str]]
    ):
        self._first, self._second = first, second

    def peek(self, key: str, default: frozenset[str]) -> frozenset[str]:
        found = self._first.peek(key, None)
        return self._second.peek(key, default) if found is None else found


def reach_changes(
    base: Index, overlay: Index, tenant_id: str | None = None
) -> tuple[set[Pair], set[Pair]]:
    """``(gained, lost)``: the (user, device) pairs ``overlay`` reaches and ``base`` does
    not, and the opposite, for the users of ``tenant_id`` (None: every user) (rule O4).
    Runtime complexity: O(touched devices x members of the groups their cover gained or
    lost + touched users x devices of the groups their reach gained or lost), never
    O(index)."""
    o_clock_free = cast(OverlayDict[str, frozenset[str]], overlay._reach)
    o_timed = cast(OverlayDict[str, frozenset[str]], overlay._timed_reach)
    o_cover = cast(OverlayDict[str, frozenset[str]], overlay._cover)
    o_covered = cast(OverlayDict[str, SortedIds], overlay._covered)
    o_members = cast(OverlayDict[str, SortedIds], overlay._members)
    o_users = cast(OverlayDict[str, Any], overlay._users)
    b_cover, b_covered, b_members = base._cover, base._covered, base._members
    b_users = base._users
    # A user's reach is in one of two tables (the timed one for a user whose reach depends
    # on the clock, see tenancy.index.index): read both, on each side.
    b_reach = _Either(base._reach, base._timed_reach)
    o_reach = _OverlayEither(o_clock_free, o_timed)
    gained: set[Pair] = set()
    lost: set[Pair] = set()

    def counted(user_id: str) -> bool:
        if tenant_id is None:
            return True
        user = b_users.get(user_id) or o_users.peek(user_id, None)
        return user is not None and user.tenant_id == tenant_id

    # The users whose reach set changed, with their reach before and after.
    moved: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for user_id in {*o_clock_free.written(), *o_timed.written()}:
        old, new = b_reach.get(user_id, EMPTY), o_reach.peek(user_id, EMPTY)
        if old != new and counted(user_id):
            moved[user_id] = (old, new)

    # Devices whose cover changed: the members of the groups it gained or lost. Covers are
    # interned, so the devices of one subtree share a few (old, new) pairs, and for the
    # members whose reach did not change the answer is the pair's alone: worked out once.
    by_covers: dict[tuple[frozenset[str], frozenset[str]], tuple[list[str], ...]] = {}
    for device_id in o_cover.written():
        old = b_cover.get(device_id, EMPTY)
        new = o_cover.peek(device_id, EMPTY)
        if old == new:
            continue
        found = by_covers.get((old, new))
        if found is None:
            members: set[str] = set()
            for group_id in old ^ new:
                members.update(b_members.get(group_id, ()))
                members.update(o_members.peek(group_id, ()))
            gain: list[str] = []
            loss: list[str] = []
            mixed: list[str] = []  # their reach changed too: tested device by device
            for user_id in members:
                if user_id in moved:
                    mixed.append(user_id)
                    continue
                reach = b_reach.get(user_id, EMPTY)
                before, after = not reach.isdisjoint(old), not reach.isdisjoint(new)
                if before != after and counted(user_id):
                    (gain if after else loss).append(user_id)
            found = by_covers[(old, new)] = (gain, loss, mixed)
        gain, loss, mixed = found
        gained.update([(user_id, device_id) for user_id in gain])
        lost.update([(user_id, device_id) for user_id in loss])
        for user_id in mixed:
            was, now = moved[user_id]
            before, after = not was.isdisjoint(old), not now.isdisjoint(new)
            if before != after:
                (gained if after else lost).add((user_id, device_id))

    # Users whose reach changed: the devices of the groups it lost (reached before, since
    # the group covered them) and gained (reached after), each tested on the other side.
    for user_id, (old, new) in moved.items():
        for group_id in old - new:
            for device_id in b_covered.get(group_id, ()):
                if new.isdisjoint(o_cover.peek(device_id, EMPTY)):
                    lost.add((user_id, device_id))
        for group_id in new - old:
            for device_id in o_covered.peek(group_id, ()):
                if old.isdisjoint(b_cover.get(device_id, EMPTY)):
                    gained.add((user_id, device_id))
    return gained, lost
