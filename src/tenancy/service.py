"""The facade: validate a command against the index, commit it through the store, apply the
same changes to the index.

Every write goes through :meth:`Tenancy._write`: under the writer lock it catches up with
the store, lets the command validate itself against the index and produce its changes
(raising, with nothing written, when the input breaks a rule), commits them with the
revision it validated against, and applies them to the local index. If another writer got
there first the store answers StaleRevision and the command is validated again on the newer
state, so two writers can never combine into a cycle. A process always reads its own writes.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

import msgspec

from tenancy import ids as _ids
from tenancy.changes import (
    Associated,
    Change,
    Commit,
    DeviceCreated,
    DeviceDeleted,
    DeviceMoved,
    DeviceRenamed,
    DeviceTagged,
    DeviceUntagged,
    Dissociated,
    GroupCreated,
    GroupDeleted,
    GroupMoved,
    GroupUpdated,
    MemberAdded,
    MemberRemoved,
    Revision,
    TenantActivated,
    TenantCreated,
    TenantDeleted,
    TenantSuspended,
    TenantUpdated,
    UserCreated,
    UserDeleted,
    UserUpdated,
)
from tenancy.errors import (
    AlreadyExists,
    CrossTenantReference,
    CycleError,
    InUse,
    InvalidValue,
    NotFound,
    StaleRevision,
)
from tenancy.errors import (
    TenantSuspended as TenantSuspendedError,
)
from tenancy.index import Index
from tenancy.model import (
    ACTIVE,
    SUSPENDED,
    Device,
    Group,
    Page,
    Tenant,
    User,
    parse_rules,
    parse_tags,
)
from tenancy.query import DEFAULT_PAGE_SIZE, Queries
from tenancy.store.protocol import Store

__all__ = ["MANAGEMENT_DOMAIN", "Tenancy", "TenantScope", "check_domain"]

MANAGEMENT_DOMAIN = "management"
MAX_WRITE_ATTEMPTS = 8
MAX_NAME_LENGTH = 255
_UNSET: Any = object()

R = TypeVar("R")
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


_DOMAIN_CHARS = re.compile(r"[a-z0-9-]*")


def check_domain(domain: object) -> str:
    """Return ``domain`` if it is a valid tenant domain, else raise InvalidValue saying
    which part of the rule failed."""
    if not isinstance(domain, str):
        raise InvalidValue(domain, "a tenant domain is a string")
    if not 2 <= len(domain) <= 63:
        raise InvalidValue(domain, "a tenant domain has 2 to 63 characters")
    if not _DOMAIN_CHARS.fullmatch(domain):
        raise InvalidValue(domain, "a tenant domain has only lowercase letters, digits and hyphens")
    if not domain[0].isalpha():
        raise InvalidValue(domain, "a tenant domain starts with a letter")
    if domain.endswith("-"):
        raise InvalidValue(domain, "a tenant domain does not end with a hyphen")
    return domain


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidValue(name, f"a {kind} name is a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidValue(name, f"a {kind} name has at most {MAX_NAME_LENGTH} characters")
    return name


def _check_text(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidValue(value, f"{field} is a string")
    return value


def _check_email(email: object) -> str:
    if not isinstance(email, str) or email.count("@") != 1 or email != email.strip():
        raise InvalidValue(email, "an email has exactly one @ and no surrounding spaces")
    local, _, host = email.partition("@")
    if not local or not host:
        raise InvalidValue(email, "an email has text on both sides of the @")
    return email


def _check_bool(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue(value, f"{field} is True or False")
    return value


class Tenancy(Queries):
    """A handle on one store: the queries, tenant lifecycle, and :meth:`tenant` scopes.

    Open it with :func:`tenancy.open`. The bare handle is the trusted application.
    """

    def __init__(self, store: Store, *, clock: Clock = _utc_now) -> None:
        self._store = store
        self._clock = clock
        self._write_lock = threading.RLock()
        self._index = Index.build(store.snapshot())
        if self._index.revision == 0:
            self._initialise()

    # ------------------------------------------------------------ lifecycle

    def _initialise(self) -> None:
        """Create the management tenant, the root of the tenant tree, in revision 1."""

        def make() -> tuple[list[Change], None]:
            if self._index.tenants:
                return [], None  # another process initialised the store first
            tenant_id = _ids.new_tenant_id()
            admin = User(
                id=_ids.new_user_id(), tenant_id=tenant_id, email="admin@management.invalid",
                username="admin",
            )  # fmt: skip
            tenant = Tenant(
                id=tenant_id, domain=MANAGEMENT_DOMAIN, name="Management", parent_id=None,
                allow_subtenants=True, created_at=self._clock(), admin_email=admin.email,
                admin_username=admin.username, admin_user_id=admin.id,
            )  # fmt: skip
            return [TenantCreated(tenant=tenant), UserCreated(user=admin)], None

        self._write(make)

    @property
    def revision(self) -> Revision:
        """The last revision this handle has seen (after a write: that write's revision)."""
        return self._index.revision

    @property
    def store(self) -> Store:
        return self._store

    @property
    def index(self) -> Index:
        """The closure index (read-only use: tests and tools)."""
        return self._index

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Tenancy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------ consistency

    def _sync(self, at_least: int | None, fresh: bool) -> None:
        if fresh or (at_least is not None and at_least > self._index.revision):
            self.catch_up()

    def catch_up(self) -> Revision:
        """Apply every commit other handles wrote since this one last looked."""
        with self._write_lock:
            try:
                commits = self._store.changes_since(self._index.revision)
            except StaleRevision:
                self._index = Index.build(self._store.snapshot())
                return self._index.revision
            for commit in commits:
                self._index.apply_commit(commit)
            return self._index.revision

    def _write(self, make: Callable[[], tuple[list[Change], R]]) -> R:
        """Validate, commit, apply: the one path every write takes."""
        with self._write_lock:
            for _ in range(MAX_WRITE_ATTEMPTS):
                self.catch_up()
                changes, result = make()
                if not changes:
                    return result
                expected = self._index.revision
                try:
                    revision = self._store.commit(changes, expected_revision=expected)
                except StaleRevision:
                    continue  # another writer got there first: validate again on its state
                self._index.apply_commit(Commit(revision=revision, changes=tuple(changes)))
                return result
            raise StaleRevision(self._index.revision, self._store.head())

    # ------------------------------------------------------------ tenants

    @property
    def management_tenant(self) -> Tenant:
        """The root of the tenant tree, created when the store was initialised."""
        return self._index.tenants[self._index.domains[MANAGEMENT_DOMAIN]]

    def get_tenant(self, tenant_id: str) -> Tenant:
        """The tenant record; NotFound for an unknown id. Runtime complexity: O(1)."""
        tenant = self._index.tenants.get(tenant_id)
        if tenant is None:
            raise NotFound("tenant", tenant_id)
        return tenant

    def find_tenant(self, domain: str) -> Tenant | None:
        """The tenant with this domain, or None. Runtime complexity: O(1)."""
        tenant_id = self._index.domains.get(domain)
        return None if tenant_id is None else self._index.tenants[tenant_id]

    def subtenants(self, tenant_id: str, *, recursive: bool = False) -> list[Tenant]:
        """Direct (or all) tenants below ``tenant_id``, sorted by id."""
        self.get_tenant(tenant_id)
        if recursive:
            ids = [t for t in self._index.tenant_subtree(tenant_id) if t != tenant_id]
        else:
            ids = list(self._index.tenant_children.get(tenant_id, ()))
        return [self._index.tenants[t] for t in sorted(ids)]

    def tenant(self, tenant_id: str) -> TenantScope:
        """Everything inside one tenant: groups, devices, users, memberships."""
        self.get_tenant(tenant_id)
        return TenantScope(self, tenant_id)

    def create_tenant(
        self,
        *,
        domain: str,
        name: str,
        admin_email: str,
        admin_username: str = "admin",
        parent: str | None = None,
        allow_subtenants: bool = False,
        contact_name: str = "",
        contact_phone: str = "",
        id: str | None = None,
    ) -> Tenant:
        """Create a tenant below ``parent`` (default: the management tenant) with its first
        admin user. The parent must be active and allowed to have subtenants."""

        def make() -> tuple[list[Change], Tenant]:
            index = self._index
            parent_id = self.management_tenant.id if parent is None else parent
            parent_tenant = self.get_tenant(parent_id)
            self._check_active(parent_id)
            if not parent_tenant.allow_subtenants:
                raise InvalidValue(
                    parent_id, "a tenant gets subtenants only when allow_subtenants is set"
                )
            check_domain(domain)
            if domain in index.domains:
                raise AlreadyExists("tenant domain", domain, rule="tenant domains are unique")
            if id is not None:
                _ids.check_id("tenant", id)
                if id in index.tenants:
                    raise AlreadyExists("tenant", id)
            tenant_id = id or _unique(_ids.new_tenant_id, index.tenants)
            _check_email(admin_email)
            _check_name("admin user", admin_username)
            admin = User(
                id=_unique(_ids.new_user_id, index.users), tenant_id=tenant_id,
                email=admin_email, username=admin_username,
            )  # fmt: skip
            tenant = Tenant(
                id=tenant_id,
                domain=domain,
                name=_check_name("tenant", name),
                parent_id=parent_id,
                allow_subtenants=_check_bool("allow_subtenants", allow_subtenants),
                status=ACTIVE,
                created_at=self._clock(),
                contact_name=_check_text("contact_name", contact_name),
                contact_phone=_check_text("contact_phone", contact_phone),
                admin_email=admin_email,
                admin_username=admin_username,
                admin_user_id=admin.id,
            )
            return [TenantCreated(tenant=tenant), UserCreated(user=admin)], tenant

        return self._write(make)

    def update_tenant(
        self,
        tenant_id: str,
        *,
        name: str = _UNSET,
        contact_name: str = _UNSET,
        contact_phone: str = _UNSET,
        admin_email: str = _UNSET,
        allow_subtenants: bool = _UNSET,
    ) -> Tenant:
        """Edit a tenant's fields; id, domain and the admin username never change."""

        def make() -> tuple[list[Change], Tenant]:
            old = self.get_tenant(tenant_id)
            self._check_active(tenant_id)
            fields: dict[str, Any] = {}
            if name is not _UNSET:
                fields["name"] = _check_name("tenant", name)
            if contact_name is not _UNSET:
                fields["contact_name"] = _check_text("contact_name", contact_name)
            if contact_phone is not _UNSET:
                fields["contact_phone"] = _check_text("contact_phone", contact_phone)
            if admin_email is not _UNSET:
                fields["admin_email"] = _check_email(admin_email)
            if allow_subtenants is not _UNSET:
                fields["allow_subtenants"] = _check_bool("allow_subtenants", allow_subtenants)
            new = _replace(old, **fields)
            return ([] if new == old else [TenantUpdated(tenant=new)]), new

        return self._write(make)

    def suspend_tenant(self, tenant_id: str) -> Tenant:
        """Block the tenant and every tenant below it: no user reaches anything and nothing
        is written there until :meth:`activate_tenant`. All data is kept."""

        def make() -> tuple[list[Change], Tenant]:
            tenant = self.get_tenant(tenant_id)
            if tenant.parent_id is None:
                raise InvalidValue(tenant_id, "the management tenant cannot be suspended")
            if tenant.status == SUSPENDED:
                return [], tenant
            return [TenantSuspended(tenant_id=tenant_id)], _replace(tenant, status=SUSPENDED)

        return self._write(make)

    def activate_tenant(self, tenant_id: str) -> Tenant:
        """Lift a suspension: every answer comes back exactly as it was."""

        def make() -> tuple[list[Change], Tenant]:
            tenant = self.get_tenant(tenant_id)
            if tenant.status == ACTIVE:
                return [], tenant
            return [TenantActivated(tenant_id=tenant_id)], _replace(tenant, status=ACTIVE)

        return self._write(make)

    def delete_tenant(self, tenant_id: str, *, cascade: bool = False) -> None:
        """Remove the tenant and every record it holds, irreversibly; with ``cascade`` its
        subtenants too (refused without it when it has any)."""

        def make() -> tuple[list[Change], None]:
            tenant = self.get_tenant(tenant_id)
            if tenant.parent_id is None:
                raise InvalidValue(tenant_id, "the management tenant cannot be deleted")
            subtree = list(self._index.tenant_subtree(tenant_id))
            if len(subtree) > 1 and not cascade:
                raise InUse(
                    "tenant", tenant_id, "it has subtenants; pass cascade=True to delete them too"
                )
            return [TenantDeleted(tenant_id=t) for t in reversed(subtree)], None

        self._write(make)

    def _check_active(self, tenant_id: str) -> None:
        blocker = self._index.blocked.get(tenant_id)
        if blocker is not None:
            raise TenantSuspendedError(tenant_id, blocker)


def _replace(record: R, **fields: Any) -> R:
    return msgspec.structs.replace(record, **fields)  # type: ignore[type-var]


def _unique(make: Callable[[], str], taken: Mapping[str, object]) -> Any:
    while True:
        candidate = make()
        if candidate not in taken:
            return candidate


def _as_tuple(raw: Iterable[str] | str, what: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        raise InvalidValue(raw, f"{what} is a collection of ids, not one string")
    return tuple(raw)


class TenantScope:
    """Writes and look-ups inside one tenant. Get one with :meth:`Tenancy.tenant`.

    Every write checks that the tenant (and every tenant above it) is active, that every id
    it names exists in this tenant, and commits all its changes as one revision.
    """

    def __init__(self, tn: Tenancy, tenant_id: str) -> None:
        self._tn = tn
        self.tenant_id = tenant_id

    def __repr__(self) -> str:
        return f"TenantScope({self.tenant_id!r})"

    @property
    def _index(self) -> Index:
        return self._tn._index

    @property
    def record(self) -> Tenant:
        """The tenant's current record."""
        return self._tn.get_tenant(self.tenant_id)

    # ------------------------------------------------------------ look-ups

    def _owned(self, kind: str, table: Mapping[str, Any], record_id: object, owner: str) -> None:
        if not isinstance(record_id, str) or record_id not in table:
            raise NotFound(kind, record_id, where=f"tenant {self.tenant_id!r}")
        if owner != self.tenant_id:
            raise CrossTenantReference(kind, record_id, owner, self.tenant_id)

    def get_group(self, group_id: str) -> Group:
        """The group's record; NotFound if it is not a group of this tenant."""
        info = self._index.groups.get(group_id)
        self._owned("group", self._index.groups, group_id, info.tenant_id if info else "")
        return self._index.group_record(group_id)

    def get_device(self, device_id: str) -> Device:
        """The device's record; NotFound if it is not a device of this tenant."""
        device = self._index.devices.get(device_id)
        self._owned("device", self._index.devices, device_id, device.tenant_id if device else "")
        return device  # type: ignore[return-value]

    def get_user(self, user_id: str) -> User:
        """The user's record; NotFound if it is not a user of this tenant."""
        user = self._index.users.get(user_id)
        self._owned("user", self._index.users, user_id, user.tenant_id if user else "")
        return user  # type: ignore[return-value]

    def find_user(self, email: str) -> User | None:
        """The user with this email (case-insensitive), or None."""
        user_id = self._index.emails.get((self.tenant_id, email.casefold()))
        return None if user_id is None else self._index.users[user_id]

    def groups(self) -> list[Group]:
        """Every group of the tenant, sorted by id."""
        return [
            self._index.group_record(g)
            for g in sorted(self._index.tenant_groups.get(self.tenant_id, ()))
        ]

    def users(self) -> list[User]:
        """Every user of the tenant, sorted by id."""
        users = self._index.users
        return [users[u] for u in sorted(self._index.tenant_users.get(self.tenant_id, ()))]

    def devices(self, *, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None) -> Page[Device]:
        """One page of the tenant's devices, sorted by id. Runtime complexity: O(n log n)."""
        ids = sorted(
            d
            for d in self._index.tenant_devices.get(self.tenant_id, ())
            if after is None or d > after
        )
        chosen = ids[: limit + 1]
        devices = tuple(self._index.devices[d] for d in chosen[:limit])
        return Page(items=devices, next=devices[-1].id if len(chosen) > limit else None)

    # ------------------------------------------------------------ validation helpers

    def _writable(self) -> None:
        self._tn.get_tenant(self.tenant_id)
        self._tn._check_active(self.tenant_id)

    def _new_id(
        self, kind: str, given: str | None, taken: Mapping[str, object], make: Callable[[], str]
    ) -> str:
        if given is None:
            return _unique(make, taken)  # type: ignore[no-any-return]
        _ids.check_id(kind, given)
        if given in taken:
            raise AlreadyExists(kind, given)
        return given

    def _device_ids(self, raw: Iterable[str]) -> frozenset[str]:
        device_ids = frozenset(_as_tuple(raw, "device_ids"))
        for did in device_ids:
            self.get_device(did)
        return device_ids

    def _group_parent(self, parent: str | None) -> str | None:
        if parent is not None:
            self.get_group(parent)
        return parent

    # ------------------------------------------------------------ groups

    def create_group(
        self,
        name: str,
        *,
        parent: str | None = None,
        description: str = "",
        device_ids: Iterable[str] = (),
        device_tags: Iterable[object] = (),
        id: str | None = None,
    ) -> Group:
        """Create a group, optionally below ``parent`` and already associating devices by
        id and by tag rule. Runtime complexity: O(devices it associates x depth)."""

        def make() -> tuple[list[Change], Group]:
            self._writable()
            group = Group(
                id=self._new_id("group", id, self._index.groups, _ids.new_group_id),
                tenant_id=self.tenant_id,
                name=_check_name("group", name),
                description=_check_text("description", description),
                parent_id=self._group_parent(parent),
                device_ids=self._device_ids(device_ids),
                device_tags=parse_rules(device_tags),
            )
            return [GroupCreated(group=group)], group

        return self._tn._write(make)

    def update_group(
        self, group_id: str, *, name: str = _UNSET, description: str = _UNSET
    ) -> Group:
        """Rename or re-describe a group; no answer about reach changes."""

        def make() -> tuple[list[Change], Group]:
            self._writable()
            old = self.get_group(group_id)
            new_name = old.name if name is _UNSET else _check_name("group", name)
            new_description = (
                old.description
                if description is _UNSET
                else _check_text("description", description)
            )
            new = _replace(old, name=new_name, description=new_description)
            if new == old:
                return [], old
            return [
                GroupUpdated(group_id=group_id, name=new_name, description=new_description)
            ], new

        return self._tn._write(make)

    def move_group(self, group_id: str, parent: str | None) -> Group:
        """Put the group (with its whole subtree) under ``parent``, or make it a root with
        None. CycleError if ``parent`` is the group or below it.
        Runtime complexity: O(subtree x depth + devices it covers)."""

        def make() -> tuple[list[Change], Group]:
            self._writable()
            old = self.get_group(group_id)
            self._group_parent(parent)
            if self._index.forest.would_cycle(group_id, parent):
                raise CycleError("group", group_id, parent)
            if old.parent_id == parent:
                return [], old
            return [GroupMoved(group_id=group_id, parent_id=parent)], _replace(
                old, parent_id=parent
            )

        return self._tn._write(make)

    def delete_group(self, group_id: str, *, cascade: bool = False) -> None:
        """Delete a group, its memberships and associations; with ``cascade`` its subgroups
        too (refused without it when it has any)."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            self.get_group(group_id)
            forest = self._index.forest
            if forest.children[group_id] and not cascade:
                raise InUse(
                    "group", group_id, "it has subgroups; pass cascade=True to delete them too"
                )
            subtree = list(forest.descendants(group_id, include_self=True))
            return [GroupDeleted(group_id=g) for g in reversed(subtree)], None

        self._tn._write(make)

    def associate(
        self, group_id: str, *, device_ids: Iterable[str] = (), device_tags: Iterable[object] = ()
    ) -> Group:
        """Add device ids and tag rules to the group's associations.
        Runtime complexity: O(devices newly associated x depth)."""

        def make() -> tuple[list[Change], Group]:
            self._writable()
            old = self.get_group(group_id)
            ids = self._device_ids(device_ids) - old.device_ids
            rules = parse_rules(device_tags) - old.device_tags
            new = _replace(
                old, device_ids=old.device_ids | ids, device_tags=old.device_tags | rules
            )
            if not ids and not rules:
                return [], old
            return [Associated(group_id=group_id, device_ids=ids, device_tags=rules)], new

        return self._tn._write(make)

    def dissociate(
        self, group_id: str, *, device_ids: Iterable[str] = (), device_tags: Iterable[object] = ()
    ) -> Group:
        """Remove device ids and tag rules from the group's associations (ones it does not
        have are ignored). Runtime complexity: O(devices dissociated x depth)."""

        def make() -> tuple[list[Change], Group]:
            self._writable()
            old = self.get_group(group_id)
            ids = self._device_ids(device_ids) & old.device_ids
            rules = parse_rules(device_tags) & old.device_tags
            new = _replace(
                old, device_ids=old.device_ids - ids, device_tags=old.device_tags - rules
            )
            if not ids and not rules:
                return [], old
            return [Dissociated(group_id=group_id, device_ids=ids, device_tags=rules)], new

        return self._tn._write(make)

    # ------------------------------------------------------------ devices

    def _device_parent(self, device_id: str | None, parent: str | None) -> str | None:
        if parent is None:
            return None
        self.get_device(parent)
        walk: str | None = parent
        while walk is not None:
            if walk == device_id:
                raise CycleError("device", device_id, parent)
            walk = self._index.devices[walk].parent_id
        return parent

    def _new_device(self, spec: Mapping[str, Any], pending: Mapping[str, Device]) -> Device:
        unknown = set(spec) - {"name", "tags", "id", "parent"}
        if unknown:
            raise InvalidValue(sorted(unknown), "a device has only name, tags, id and parent")
        if "name" not in spec:
            raise InvalidValue(dict(spec), "a device needs a name")
        parent = spec.get("parent")
        if parent is not None and parent not in pending:
            self.get_device(parent)  # a new device cannot be its own ancestor: no cycle check
        taken = _Overlay(self._index.devices, pending)
        return Device(
            id=self._new_id("device", spec.get("id"), taken, _ids.new_device_id),
            tenant_id=self.tenant_id,
            name=_check_name("device", spec["name"]),
            tags=parse_tags(spec.get("tags", ())),
            parent_id=parent,
        )

    def create_device(
        self,
        name: str,
        *,
        tags: Iterable[tuple[str, str]] | Mapping[str, str] = (),
        id: str | None = None,
        parent: str | None = None,
    ) -> Device:
        """Create a device, optionally under a gateway (``parent``); groups whose tag rules
        match it associate it at once. Runtime complexity: O(tags x matching rules x depth)."""
        return self.create_devices([{"name": name, "tags": tags, "id": id, "parent": parent}])[0]

    def create_devices(self, specs: Iterable[Mapping[str, Any]]) -> list[Device]:
        """Create many devices in one transaction: all of them or, on any bad spec, none.
        Each spec is a mapping with ``name`` and optionally ``tags``, ``id``, ``parent``
        (a parent may be created earlier in the same call)."""
        specs = list(specs)

        def make() -> tuple[list[Change], list[Device]]:
            self._writable()
            pending: dict[str, Device] = {}
            for spec in specs:
                device = self._new_device({k: v for k, v in spec.items() if v is not None}, pending)
                pending[device.id] = device
            devices = list(pending.values())
            return [DeviceCreated(device=d) for d in devices], devices

        return self._tn._write(make)

    def update_device(
        self, device_id: str, *, name: str = _UNSET, parent: str | None = _UNSET
    ) -> Device:
        """Rename a device or change its gateway (None detaches it). CycleError when the
        new parent is the device or one of its child devices."""

        def make() -> tuple[list[Change], Device]:
            self._writable()
            old = self.get_device(device_id)
            changes: list[Change] = []
            new = old
            if name is not _UNSET and name != old.name:
                new = _replace(new, name=_check_name("device", name))
                changes.append(DeviceRenamed(device_id=device_id, name=name))
            if parent is not _UNSET and parent != old.parent_id:
                new = _replace(new, parent_id=self._device_parent(device_id, parent))
                changes.append(DeviceMoved(device_id=device_id, parent_id=parent))
            return changes, new

        return self._tn._write(make)

    def tag_device(
        self, device_id: str, tags: Iterable[tuple[str, str]] | Mapping[str, str]
    ) -> Device:
        """Add tags to a device; groups whose rules now match associate it.
        Runtime complexity: O(tags x matching rules x depth + child devices)."""

        def make() -> tuple[list[Change], Device]:
            self._writable()
            old = self.get_device(device_id)
            added = parse_tags(tags) - old.tags
            new = _replace(old, tags=old.tags | added)
            return ([DeviceTagged(device_id=device_id, tags=added)] if added else []), new

        return self._tn._write(make)

    def untag_device(
        self, device_id: str, tags: Iterable[tuple[str, str]] | Mapping[str, str]
    ) -> Device:
        """Remove tags from a device (ones it does not have are ignored)."""

        def make() -> tuple[list[Change], Device]:
            self._writable()
            old = self.get_device(device_id)
            removed = parse_tags(tags) & old.tags
            new = _replace(old, tags=old.tags - removed)
            return ([DeviceUntagged(device_id=device_id, tags=removed)] if removed else []), new

        return self._tn._write(make)

    def delete_device(self, device_id: str, *, cascade: bool = False) -> None:
        """Delete a device and its id associations; with ``cascade`` its child devices too
        (refused without it when it has any)."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            self.get_device(device_id)
            children = self._index.device_children
            if children.get(device_id) and not cascade:
                raise InUse(
                    "device", device_id, "it is the gateway of child devices; pass cascade=True"
                )
            order = [device_id]
            for did in order:
                order.extend(sorted(children.get(did, ())))
            return [DeviceDeleted(device_id=d) for d in reversed(order)], None

        self._tn._write(make)

    # ------------------------------------------------------------ users

    def _check_email_free(self, email: str, user_id: str | None) -> None:
        holder = self._index.emails.get((self.tenant_id, email.casefold()))
        if holder is not None and holder != user_id:
            raise AlreadyExists(
                "user email", email, rule="emails are unique per tenant, ignoring case"
            )

    def create_user(
        self,
        email: str,
        *,
        username: str = "",
        first_name: str = "",
        last_name: str = "",
        tags: Iterable[tuple[str, str]] | Mapping[str, str] = (),
        enabled: bool = True,
        id: str | None = None,
    ) -> User:
        """Create a user of this tenant. Emails are unique per tenant, ignoring case."""

        def make() -> tuple[list[Change], User]:
            self._writable()
            _check_email(email)
            self._check_email_free(email, None)
            user = User(
                id=self._new_id("user", id, self._index.users, _ids.new_user_id),
                tenant_id=self.tenant_id,
                email=email,
                username=_check_text("username", username),
                first_name=_check_text("first_name", first_name),
                last_name=_check_text("last_name", last_name),
                tags=parse_tags(tags),
                enabled=_check_bool("enabled", enabled),
            )
            return [UserCreated(user=user)], user

        return self._tn._write(make)

    def update_user(
        self,
        user_id: str,
        *,
        email: str = _UNSET,
        username: str = _UNSET,
        first_name: str = _UNSET,
        last_name: str = _UNSET,
        tags: Iterable[tuple[str, str]] | Mapping[str, str] = _UNSET,
        enabled: bool = _UNSET,
    ) -> User:
        """Edit a user; ``tags`` replaces the whole set; ``enabled=False`` ends its reach."""

        def make() -> tuple[list[Change], User]:
            self._writable()
            old = self.get_user(user_id)
            fields: dict[str, Any] = {}
            if email is not _UNSET:
                fields["email"] = _check_email(email)
                self._check_email_free(email, user_id)
            for field, value in (
                ("username", username),
                ("first_name", first_name),
                ("last_name", last_name),
            ):
                if value is not _UNSET:
                    fields[field] = _check_text(field, value)
            if tags is not _UNSET:
                fields["tags"] = parse_tags(tags)
            if enabled is not _UNSET:
                fields["enabled"] = _check_bool("enabled", enabled)
                if not enabled and old.id == self.record.admin_user_id:
                    raise InvalidValue(user_id, "the tenant's first admin user cannot be disabled")
            new = _replace(old, **fields)
            return ([] if new == old else [UserUpdated(user=new)]), new

        return self._tn._write(make)

    def delete_user(self, user_id: str) -> None:
        """Delete a user and its memberships. The tenant's first admin user cannot be
        deleted (no tenant can lock itself out)."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            self.get_user(user_id)
            if user_id == self.record.admin_user_id:
                raise InUse("user", user_id, "it is the tenant's first admin user")
            return [UserDeleted(user_id=user_id)], None

        self._tn._write(make)

    def add_member(self, group_id: str, user_id: str) -> None:
        """Make the user a member of the group: it reaches every device the group covers."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            self.get_group(group_id)
            self.get_user(user_id)
            if user_id in self._index.members.get(group_id, ()):
                return [], None
            return [MemberAdded(group_id=group_id, user_id=user_id)], None

        self._tn._write(make)

    def remove_member(self, group_id: str, user_id: str) -> None:
        """End the user's membership of the group (no error if it was not a member)."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            self.get_group(group_id)
            self.get_user(user_id)
            if user_id not in self._index.members.get(group_id, ()):
                return [], None
            return [MemberRemoved(group_id=group_id, user_id=user_id)], None

        self._tn._write(make)


class _Overlay(Mapping[str, object]):
    """The index's devices plus the ones a bulk call is about to create, so a device may
    name as its parent one created earlier in the same call."""

    def __init__(self, base: Mapping[str, object], pending: Mapping[str, object]) -> None:
        self._base = base
        self._pending = pending

    def __getitem__(self, key: str) -> object:
        if key in self._pending:
            return self._pending[key]
        return self._base[key]

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield from self._base
        yield from self._pending

    def __len__(self) -> int:
        return len(self._base) + len(self._pending)

    def __contains__(self, key: object) -> bool:
        return key in self._pending or key in self._base
