"""Device writes inside one tenant: create (one or many), edit, tag, untag and delete, a
part of TenantScope.

Every write here validates against the index and commits through the writer, which also
authorises it for the acting identity (see :mod:`tenancy.rules.access`). The public
methods' documentation is on :class:`~tenancy.handle.scope.TenantScope`, which hands
these calls here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from tenancy import ids as _ids
from tenancy.errors import AlreadyExists, CycleError, InUse, InvalidValue
from tenancy.handle.lookups import TenantRecords
from tenancy.records import changes as ch
from tenancy.records.changes import Change
from tenancy.records.model import Device, parse_tags
from tenancy.records.tags import TagsInput
from tenancy.rules.limits import NewDevices, check_device_move
from tenancy.rules.sharing import filter_drops
from tenancy.rules.validate import UNSET, check_bool, check_name, named, replace

__all__ = ["DeviceWrites"]

_DEVICE_FIELDS = frozenset({"name", "tags", "id", "parent"})
T = TypeVar("T")


class _Replay(Iterable[T]):
    """An iterator read lazily, at most once, and replayed from the start on each pass: a
    write validated again after losing a race sees the very specs of the first pass."""

    __slots__ = ("_read", "_source")

    def __init__(self, source: Iterator[T]) -> None:
        self._source = source
        self._read: list[T] = []

    def __iter__(self) -> Iterator[T]:
        yield from self._read[:]
        for item in self._source:
            self._read.append(item)
            yield item


class DeviceWrites(TenantRecords):
    """The device writes of one tenant: the part of a
    :class:`~tenancy.handle.scope.TenantScope` it hands those calls to."""

    def _device_parent(self, device_id: str | None, parent: str | None) -> str | None:
        if parent is None:
            return None
        self._device(parent, "parent")
        walk: str | None = parent
        while walk is not None:
            if walk == device_id:
                raise CycleError("device", device_id, parent, field="parent")
            walk = self._index.devices[walk].parent_id
        return parent

    def _new_device(
        self,
        spec: Mapping[str, Any],
        pending: Mapping[str, Device],
        tag_memo: dict[object, frozenset[tuple[str, str]]],
    ) -> Device:
        """Validate one device spec of a (bulk) create. Written for speed: a bulk create
        runs it a hundred thousand times, so equal tag lists are parsed once."""
        try:
            unknown_fields = spec.keys() - _DEVICE_FIELDS
        except (AttributeError, TypeError):
            raise InvalidValue(
                spec, "a device spec is a mapping with name, tags, id and parent", field="specs"
            ) from None
        if unknown_fields:
            unknown = sorted(map(str, unknown_fields))
            raise InvalidValue(
                unknown, "a device has only name, tags, id and parent", field="specs"
            )
        if "name" not in spec:
            raise InvalidValue(dict(spec), "a device needs a name", field="name")
        parent = spec.get("parent")
        if parent is not None and (type(parent) is not str or parent not in pending):
            self._device(parent, "parent")  # a new device cannot be its own ancestor
        existing = self._index.devices
        device_id = spec.get("id")
        if device_id is None:
            device_id = _ids.new_device_id()
            while device_id in existing or device_id in pending:
                device_id = _ids.new_device_id()
        else:
            _ids.check_id("device", device_id)
            if device_id in existing or device_id in pending:
                raise AlreadyExists("device", device_id, field="id")
        raw_tags = spec.get("tags") or ()
        try:
            key: object = tuple(raw_tags) if isinstance(raw_tags, list) else raw_tags
            tags = tag_memo.get(key)
        except TypeError:  # unhashable: parse it every time
            key, tags = None, None
        if tags is None:
            tags = named("tags", parse_tags, raw_tags)
            if key is not None:
                tag_memo[key] = tags
        return Device(
            id=device_id,
            tenant_id=self.tenant_id,
            name=check_name("device", spec["name"]),
            tags=tags,
            parent_id=parent,
        )

    def create_devices(self, specs: Iterable[Mapping[str, Any]]) -> list[Device]:
        """Create many devices in one transaction: all of them or, on any bad spec, none. Each of
        ``specs`` is a mapping with ``name`` and optionally ``tags``, ``id``, ``parent`` (a parent
        may be created earlier in the same call).

        ``specs`` may be any iterable, a generator included: it is read one spec at a time and
        counted against the limits as it is read, so the first spec past a limit raises
        LimitExceeded (creating nothing) without the rest being read, and an endless generator stops
        there. Runtime complexity: O(specs x tags x matching rules x depth), one commit."""
        if isinstance(specs, list | tuple):
            source: Iterable[Mapping[str, Any]] = specs
        else:
            try:
                source = _Replay(iter(specs))
            except TypeError:
                raise InvalidValue(
                    specs, "device specs are an iterable of mappings", field="specs"
                ) from None

        def make() -> tuple[list[Change], list[Device]]:
            self._writable()
            pending: dict[str, Device] = {}
            tag_memo: dict[object, frozenset[tuple[str, str]]] = {}
            counter = NewDevices(self._writer.limits, self._index, self.record)
            for spec in source:
                device = self._new_device(spec, pending, tag_memo)
                pending[device.id] = device
                counter.add(device)
            devices = list(pending.values())
            return [ch.DeviceCreated(device=d) for d in devices], devices

        return self._write(make)

    def update_device(
        self, device_id: str, *, name: str = UNSET, parent: str | None = UNSET
    ) -> Device:
        """Rename the device ``device_id`` (``name``) or change its gateway (``parent``; None
        detaches it). CycleError when the new parent is the device or one of its child devices.
        Runtime complexity: O(1) to rename; O((1 + child devices) x associating groups x
        depth) to move; one commit."""

        def make() -> tuple[list[Change], Device]:
            self._writable()
            old = self.get_device(device_id)
            changes: list[Change] = []
            new = old
            if name is not UNSET and name != old.name:
                new = replace(new, name=check_name("device", name))
                changes.append(ch.DeviceRenamed(device_id=device_id, name=name))
            if parent is not UNSET and parent != old.parent_id:
                new = replace(new, parent_id=self._device_parent(device_id, parent))
                check_device_move(self._writer.limits, self._index, self.record, device_id, parent)
                changes.append(ch.DeviceMoved(device_id=device_id, parent_id=parent))
            return changes, new

        return self._write(make)

    def tag_device(self, device_id: str, tags: TagsInput) -> Device:
        """Add ``tags`` to the device ``device_id``; groups whose rules now match associate it.
        Runtime complexity: O(tags x matching rules x depth + child devices)."""

        def make() -> tuple[list[Change], Device]:
            self._writable()
            old = self.get_device(device_id)
            added = named("tags", parse_tags, tags) - old.tags
            new = replace(old, tags=old.tags | added)
            return ([ch.DeviceTagged(device_id=device_id, tags=added)] if added else []), new

        return self._write(make)

    def untag_device(self, device_id: str, tags: TagsInput) -> Device:
        """Remove ``tags`` from the device ``device_id`` (ones it does not have are ignored);
        groups whose rules no longer match dissociate it. Runtime complexity: as :meth:`tag_device`.
        """

        def make() -> tuple[list[Change], Device]:
            self._writable()
            old = self.get_device(device_id)
            removed = named("tags", parse_tags, tags) & old.tags
            new = replace(old, tags=old.tags - removed)
            return ([ch.DeviceUntagged(device_id=device_id, tags=removed)] if removed else []), new

        return self._write(make)

    def delete_device(self, device_id: str, *, cascade: bool = False) -> None:
        """Delete the device ``device_id`` and its id associations; with ``cascade`` its child
        devices too (refused with InUse without it when it has any, and while a device recipe
        creates devices under one of them); a connector's filter naming one leaves it in the same
        commit. Runtime complexity: O(devices deleted x covering
        groups + access records), one commit."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            self.get_device(device_id)
            children = self._index.child_devices
            if children(device_id) and not check_bool("cascade", cascade):
                raise InUse(
                    "device", device_id, "it is the gateway of child devices; pass cascade=True",
                    field="device_id",
                )  # fmt: skip
            check_bool("cascade", cascade)
            order = [device_id]
            for did in order:
                order.extend(sorted(children(did)))
            drops = filter_drops(self._index, device_ids=order)  # filters naming them lose them
            return [*drops, *(ch.DeviceDeleted(device_id=d) for d in reversed(order))], None

        self._write(make)
