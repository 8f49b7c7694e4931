"""The base of a tenant scope: the writer and identity it acts with, the look-ups of one
tenant's records by id (NotFound, or CrossTenantReference for another tenant's), and the
check that the tenant may be written. :class:`~tenancy.handle.roles.RoleAdmin` and
:class:`~tenancy.handle.scope.TenantScope` build on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from tenancy import ids as _ids
from tenancy.errors import AlreadyExists, CrossTenantReference, NotFound
from tenancy.handle.queries import Queries
from tenancy.handle.tenants import TenantLifecycle
from tenancy.handle.writer import Writer
from tenancy.index.index import Index
from tenancy.records.changes import Change
from tenancy.records.model import Device, Group, Tenant, User
from tenancy.records.terms import MembershipTerm
from tenancy.rules.access import Identity
from tenancy.rules.validate import unique_id

__all__ = ["TenantRecords"]

R = TypeVar("R")


class TenantRecords:
    """One tenant's records, looked up through a writer, and the writes of an identity."""

    def __init__(self, writer: Writer, identity: Identity, tenant_id: str) -> None:
        self._writer = writer
        self._identity = identity
        self._tenants = TenantLifecycle(writer, identity)
        self._queries = Queries(writer, identity)
        self.tenant_id = tenant_id
        """The id of the tenant this scope reads and writes."""

    @property
    def _index(self) -> Index:
        return self._writer.index

    def _write(self, make: Callable[[], tuple[list[Change], R]]) -> R:
        return self._writer.write(make, self._identity)

    @property
    def record(self) -> Tenant:
        """The tenant's current :class:`~tenancy.Tenant` record."""
        return self._tenants.get_tenant(self.tenant_id)

    # ------------------------------------------------------------ look-ups

    def _owned(self, kind: str, table: Mapping[str, Any], record_id: object, field: str) -> Any:
        """The record of this tenant with this id; NotFound (or CrossTenantReference for
        another tenant's) naming ``field``."""
        try:
            record = table.get(record_id) if isinstance(record_id, str) else None
        except TypeError:  # pragma: no cover - a str subclass with a broken hash
            record = None
        if record is None:
            raise NotFound(kind, record_id, where=f"tenant {self.tenant_id!r}", field=field)
        if record.tenant_id != self.tenant_id:
            raise CrossTenantReference(
                kind, record_id, record.tenant_id, self.tenant_id, field=field
            )
        return record

    def get_group(self, group_id: str) -> Group:
        """The :class:`~tenancy.Group` ``group_id``; NotFound unless it is a group of this tenant
        (CrossTenantReference for another tenant's). Runtime complexity: O(its device ids and
        rules), which the record copies."""
        return self._group(group_id, "group_id")

    def _group(self, group_id: object, field: str) -> Group:
        def look(index: Index) -> Group:
            self._owned("group", index.groups, group_id, field)
            return index.group_record(group_id)  # type: ignore[arg-type]

        # Seq-checked: a delete between the check and the record, or an associate while
        # its device ids are copied, is rerun under the writer lock (NotFound, or whole).
        return self._queries._read(look)

    def get_device(self, device_id: str) -> Device:
        """The :class:`~tenancy.Device` ``device_id``; NotFound unless it is a device of this
        tenant (CrossTenantReference for another tenant's). Runtime complexity: O(1)."""
        return self._device(device_id, "device_id")

    def _device(self, device_id: object, field: str) -> Device:
        return self._owned("device", self._index.devices, device_id, field)  # type: ignore[no-any-return]

    def get_user(self, user_id: str) -> User:
        """The :class:`~tenancy.User` ``user_id``; NotFound unless it is a user of this tenant
        (CrossTenantReference for another tenant's). Runtime complexity: O(1)."""
        return self._user(user_id, "user_id")

    def _user(self, user_id: object, field: str) -> User:
        return self._owned("user", self._index.users, user_id, field)  # type: ignore[no-any-return]

    def members(self, group_id: str) -> list[User]:
        """The direct members of the group ``group_id``, sorted by id (members of the
        groups below it are theirs; :meth:`~tenancy.Tenancy.users_for` answers who reaches
        a device), those whose membership is outside its window (expired, or not started)
        included: it is a record until removed. NotFound unless it is a group of this
        tenant. Runtime complexity: O(m) for its m members."""

        def look(index: Index) -> list[User]:
            self._owned("group", index.groups, group_id, "group_id")
            users = index.users
            return [users[u] for u in index.held_members_of(group_id)]

        return self._queries._read(look)  # seq-checked: a member may leave meanwhile

    def member_windows(self, group_id: str) -> dict[str, MembershipTerm]:
        """The windows of the direct memberships of the group ``group_id`` that have one
        (DOMAIN.md section 9): user id -> its :class:`~tenancy.MembershipTerm`
        (``valid_from``, ``valid_until``), sorted by user id; a member missing here counts
        always. NotFound unless it is a group of this tenant. Runtime complexity: O(w) for
        its w windows.

        >>> import tenancy
        >>> from datetime import datetime, timezone
        >>> tn = tenancy.open()
        >>> t = tn.tenant(tn.create_tenant(domain="acme", name="Acme",
        ...                                admin_email="it@acme.example").id)
        >>> site = t.create_group("San Bruno", id="sb")
        >>> kim = t.create_user("kim@contractor.example", id="kim")
        >>> t.add_member("sb", "kim", valid_until=datetime(2026, 12, 4, 17, tzinfo=timezone.utc))
        >>> {u: w.valid_until.isoformat() for u, w in t.member_windows("sb").items()}
        {'kim': '2026-12-04T17:00:00+00:00'}
        """

        def look(index: Index) -> dict[str, MembershipTerm]:
            self._owned("group", index.groups, group_id, "group_id")
            return {term.user_id: term for term in index.terms_of_group(group_id)}

        return self._queries._read(look)

    def child_devices(self, device_id: str) -> list[Device]:
        """The devices whose gateway is ``device_id`` (its direct children), sorted by id.
        NotFound unless it is a device of this tenant. Runtime complexity: O(k log k) for its
        k children."""

        def look(index: Index) -> list[Device]:
            self._owned("device", index.devices, device_id, "device_id")
            devices = index.devices
            return [devices[d] for d in sorted(index.child_devices(device_id))]

        return self._queries._read(look)

    # ------------------------------------------------------------ validation helpers

    def _new_id(
        self,
        kind: str,
        given: str | None,
        taken: Mapping[str, object],
        make: Callable[[], str],
        *,
        field: str = "id",
    ) -> str:
        if given is None:
            return unique_id(make, taken)  # type: ignore[no-any-return]
        _ids.check_id(kind, given, field)
        if given in taken:
            raise AlreadyExists(kind, given, field=field)
        return given

    def _writable(self) -> None:
        self._tenants.get_tenant(self.tenant_id)
        self._tenants._check_active(self.tenant_id)
