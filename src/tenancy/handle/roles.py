"""Role administration inside one tenant: the access-control writes, a part of TenantScope.

Every write here validates against the index, refuses what would let a sub-user exceed its
owner (the ceiling of DOMAIN.md section 5), and commits through the writer, which also
authorises it for the acting identity (see :mod:`tenancy.rules.access`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from tenancy.errors import AlreadyExists, CycleError, InUse, InvalidValue, NotFound
from tenancy.handle.lookups import TenantRecords
from tenancy.index.index import Index
from tenancy.records import changes as ch
from tenancy.records.changes import Change
from tenancy.records.grants import (
    ADMIN_ROLE,
    BUILTIN_GLOBAL_ROLES,
    BUILTIN_INVENTORY_ROLES,
    Delegation,
    InventoryGrant,
    Permission,
    PrincipalKind,
    RoleDefinition,
    RoleGrant,
    RoleKind,
    SupportRequest,
    expand,
    parse_permissions,
)
from tenancy.records.model import User
from tenancy.records.window import check_window
from tenancy.rules.access import (
    MEMBER_ROLE_OPTION,
    effective_global,
    holds_on_group,
    role_permissions,
)
from tenancy.rules.validate import check_bool, check_iterable, check_line, named, replace

__all__ = ["RoleAdmin"]


def _role_name(name: object, field: str = "role") -> str:
    if not isinstance(name, str) or not name or name != name.strip() or len(name) > 100:
        raise InvalidValue(
            name, "a role name is a non-empty string of at most 100 characters", field=field
        )
    return check_line(field, name, what="a role name")


def _kind(kind: object, field: str = "kind") -> str:
    if kind not in ("global", "inventory"):
        raise InvalidValue(kind, 'a role kind is "global" or "inventory"', field=field)
    return kind


def _principal_kind(to: object) -> str:
    if to not in ("user", "group"):
        raise InvalidValue(to, 'an inventory role is granted to a "user" or a "group"', field="to")
    return to


def _user_ids(**ids: object) -> None:
    """Ids a look-up tolerates when unknown must still be ids: NotFound for a non-string."""
    for field, value in ids.items():
        if not isinstance(value, str):
            raise NotFound("user", value, field=field)


# Walks of the index's tables, each run through Queries._read (seq-checked, rerun under
# the writer lock if a write ran meanwhile): a concurrent write can shift or empty a set
# they iterate, or delete a user they look up.


def _roles_of(index: Index, user_id: str) -> list[str]:
    return sorted(index.access.global_roles_of(user_id))


def _role_grants_of(index: Index, user_id: str) -> list[RoleGrant]:
    """The stored records, windows included, sorted by role."""
    found: list[RoleGrant] = []
    for role in sorted(index.access.global_roles_of(user_id)):
        record = index.access.record("RoleGrant", f"{user_id}/{role}")
        if isinstance(record, RoleGrant):
            found.append(record)
    return found


def _inventory_of(index: Index, to: str, principal_id: str) -> list[InventoryGrant]:
    """The stored records, windows included (one per (role, group))."""
    found: list[InventoryGrant] = []
    for role, group in list(index.access.inventory_of(to, principal_id)):
        record = index.access.record("InventoryGrant", f"{to}/{principal_id}/{role}/{group}")
        if isinstance(record, InventoryGrant):
            found.append(record)
    return found


def _sub_users(index: Index, owner_id: str, recursive: bool) -> list[User]:
    found: list[str] = []
    frontier = [owner_id]
    while frontier:
        nxt = sorted(u for o in frontier for u in index.access.sub_users_of(o))
        found.extend(nxt)
        frontier = nxt if recursive else []
    return [index.users[u] for u in sorted(found)]


class RoleAdmin(TenantRecords):
    """Roles, grants, owners, delegation and support requests of one tenant: the part of
    a :class:`~tenancy.handle.scope.TenantScope` it hands those calls to."""

    # ------------------------------------------------------------ looking up

    def _role(self, kind: str, role: object, field: str = "role") -> frozenset[str]:
        perms = role_permissions(self._index, self.tenant_id, kind, _role_name(role, field))
        if perms is None:
            raise NotFound(f"{kind} role", role, where=f"tenant {self.tenant_id!r}", field=field)
        return perms

    def roles_of(self, user_id: str) -> list[str]:
        """The global roles the user ``user_id`` holds, sorted: every grant, those outside
        their window included (a grant stays a record until revoked; :meth:`check` decides
        what it gives now). Runtime complexity: O(r log r) for r roles."""
        self.get_user(user_id)
        return self._queries._read(_roles_of, user_id)

    def role_grants_of(self, user_id: str) -> list[RoleGrant]:
        """The global role grants of the user ``user_id`` as records, sorted by role: what
        :meth:`roles_of` names, with each grant's window (``valid_from``, ``valid_until``;
        None: open). Runtime complexity: O(r log r) for r roles."""
        self.get_user(user_id)
        return self._queries._read(_role_grants_of, user_id)

    def inventory_grants_of(
        self, principal_id: str, *, to: PrincipalKind = "user"
    ) -> list[InventoryGrant]:
        """The inventory grants the user ``principal_id`` holds (with ``to="group"``: those every
        member of the group ``principal_id`` holds), sorted by key, with their windows
        (``valid_from``, ``valid_until``): a grant outside its window is listed, and grants
        nothing until it is in it again or revoked. Runtime complexity: O(k log k) for k
        grants."""
        _principal_kind(to)
        try:
            hash(principal_id)
        except TypeError:  # an unhashable id
            raise NotFound(to, principal_id, field="principal_id") from None
        grants = self._queries._read(_inventory_of, to, principal_id)
        return sorted((g for g in grants if g.tenant_id == self.tenant_id), key=lambda g: g.key)

    def default_member_role(self) -> str | None:
        """The inventory role membership alone grants (``viewer`` unless changed), or None when
        cleared. Runtime complexity: O(1)."""
        value = self._tenants.get_tenant(self.tenant_id).get_option(*MEMBER_ROLE_OPTION, "viewer")
        return value or None

    # ------------------------------------------------------------ roles

    def define_role(
        self, name: str, permissions: Iterable[str | Permission], *, kind: RoleKind = "global"
    ) -> RoleDefinition:
        """Define (or redefine: holders change at once) the custom role ``name`` of the tenant
        with ``permissions``; ``kind`` is ``"global"`` (tenant-wide) or ``"inventory"`` (device
        permissions, held on a group). Built-in names are taken (AlreadyExists). Returns the
        :class:`~tenancy.RoleDefinition`. Runtime complexity: O(permissions), one commit."""

        def make() -> tuple[list[Change], RoleDefinition]:
            self._writable()
            _kind(kind)
            builtin = BUILTIN_GLOBAL_ROLES if kind == "global" else BUILTIN_INVENTORY_ROLES
            if _role_name(name, "name") in builtin:
                raise AlreadyExists(
                    f"{kind} role", name, rule="built-in role names are taken", field="name"
                )
            if not isinstance(permissions, str):
                check_iterable(permissions, "permissions", "permissions are a collection")
            perms = named("permissions", parse_permissions, permissions)
            if not perms:
                raise InvalidValue(
                    permissions, "a role grants at least one permission", field="permissions"
                )
            if kind == "inventory" and any(not p.startswith("device:") for p in perms):
                raise InvalidValue(
                    sorted(perms),
                    "an inventory role grants device permissions only",
                    field="permissions",
                )
            record = RoleDefinition(
                tenant_id=self.tenant_id,
                name=name,
                kind=kind,
                permissions=perms,
            )
            return [ch.AccessSet(record=record)], record

        return self._write(make)

    def delete_role(self, name: str, *, kind: RoleKind = "global") -> None:
        """Delete the custom role ``name`` of that ``kind``; InUse while a grant of it remains.
        Runtime complexity: O(access records of the tenant), one commit."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            record = self._index.access.role(self.tenant_id, _kind(kind), _role_name(name, "name"))
            if record is None:
                raise NotFound(
                    f"custom {kind} role", name, where=f"tenant {self.tenant_id!r}", field="name"
                )
            grant = RoleGrant if kind == "global" else InventoryGrant  # a role of this kind
            held = any(
                isinstance(r, grant) and r.role == name
                for r in self._index.access.of_tenant(self.tenant_id)
            )
            if held:
                raise InUse("role", name, "users still hold it; revoke it first", field="name")
            return [ch.AccessRemoved(record=record)], None

        self._write(make)

    def _check_ceiling(
        self, user: User, perms: frozenset[Permission], group_id: str | None, field: str
    ) -> None:
        """A sub-user is never granted what its owner (or the owner's owner) lacks now."""
        if user.owner_id is None:
            return
        index = self._index
        now = self._writer.clock()
        if group_id is None:
            missing = perms - effective_global(index, user.owner_id, now)
        else:
            held = holds_on_group(index, user.owner_id, perms, group_id, now)
            missing = frozenset() if held else perms
        if missing:
            listed = ", ".join(sorted(str(p) for p in missing))
            raise InvalidValue(
                user.id,
                f"a sub-user never holds a permission its owner {user.owner_id!r} lacks ({listed})",
                field=field,
            )

    def grant_role(
        self,
        user_id: str,
        role: str,
        *,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
    ) -> RoleGrant:
        """Give the user ``user_id`` the global ``role`` (``admin``, ``business``, ``readonly``
        or a custom one), tenant-wide; from ``valid_from`` and until ``valid_until`` when
        given (timezone-aware datetimes, ``valid_from`` before ``valid_until``: the grant
        counts at ``t`` when ``valid_from <= t < valid_until`` by the handle's clock, and
        stays a record, granting nothing, outside it). Returns the
        :class:`~tenancy.RoleGrant`; granting a held role with the same window writes
        nothing, with another window replaces it. InvalidValue naming ``valid_from`` or
        ``valid_until`` for a naive or empty window, nothing written. Runtime complexity:
        O(the role's permissions + the owner's global roles), one commit."""

        def make() -> tuple[list[Change], RoleGrant]:
            self._writable()
            check_window(valid_from, valid_until)
            user = self.get_user(user_id)
            perms = self._role("global", role)
            self._check_ceiling(user, expand(perms), None, "user_id")
            record = RoleGrant(
                tenant_id=self.tenant_id, user_id=user_id, role=role,
                valid_from=valid_from, valid_until=valid_until,
            )  # fmt: skip
            if self._index.access.record("RoleGrant", record.key) == record:
                return [], record
            return [ch.AccessSet(record=record)], record

        return self._write(make)

    def revoke_role(self, user_id: str, role: str) -> None:
        """Take the global ``role`` away from ``user_id`` (at once from every sub-user it capped
        too). The tenant's first admin user keeps admin: no tenant can lock itself out. No error if
        not held. Runtime complexity: O(1), one commit."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            self.get_user(user_id)
            if _role_name(role) not in self._index.access.global_roles_of(user_id):
                return [], None
            if (
                role == ADMIN_ROLE
                and user_id == self._tenants.get_tenant(self.tenant_id).admin_user_id
            ):
                raise InvalidValue(
                    user_id, "the tenant's first admin user keeps the admin role", field="role"
                )
            record = RoleGrant(tenant_id=self.tenant_id, user_id=user_id, role=role)
            # The stored record, window included: what the audit log shows was taken.
            stored = self._index.access.record("RoleGrant", record.key)
            return [ch.AccessRemoved(record=stored or record)], None

        self._write(make)

    def _inventory_grant(
        self,
        principal_id: str,
        role: str,
        group: str,
        to: PrincipalKind,
        window: tuple[datetime | None, datetime | None] = (None, None),
    ) -> InventoryGrant:
        if _principal_kind(to) == "user":
            self._user(principal_id, "principal_id")
        else:
            self._group(principal_id, "principal_id")
        self._group(group, "group")
        _role_name(role)
        return InventoryGrant(
            tenant_id=self.tenant_id, principal_kind=to, principal_id=principal_id,
            role=role, group_id=group, valid_from=window[0], valid_until=window[1],
        )  # fmt: skip

    def grant_inventory_role(
        self,
        principal_id: str,
        role: str,
        *,
        group: str,
        to: PrincipalKind = "user",
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
    ) -> InventoryGrant:
        """Give the inventory ``role`` (``viewer``, ``operator``, ``manager`` or a custom one) on
        ``group``, so on every device it covers within reach, to the user ``principal_id`` or, with
        ``to="group"``, to every member of the group ``principal_id``; from ``valid_from`` and
        until ``valid_until`` when given (as for :meth:`grant_role`: aware datetimes, counting
        when ``valid_from <= t < valid_until``). Returns the :class:`~tenancy.InventoryGrant`;
        granting a held one with the same window writes nothing, with another window replaces
        it. InvalidValue naming ``valid_from`` or ``valid_until`` for a naive or empty window,
        nothing written. Runtime complexity: O(the role's permissions + the owner's grants), for
        each member with ``to="group"``, one commit."""

        def make() -> tuple[list[Change], InventoryGrant]:
            self._writable()
            check_window(valid_from, valid_until)
            record = self._inventory_grant(principal_id, role, group, to, (valid_from, valid_until))
            perms = expand(self._role("inventory", role))
            if to == "user":
                self._check_ceiling(self.get_user(principal_id), perms, group, "principal_id")
            else:
                for member in self._index.members_of(principal_id):
                    self._check_ceiling(self._index.users[member], perms, group, "principal_id")
            if self._index.access.record("InventoryGrant", record.key) == record:
                return [], record
            return [ch.AccessSet(record=record)], record

        return self._write(make)

    def revoke_inventory_role(
        self, principal_id: str, role: str, *, group: str, to: PrincipalKind = "user"
    ) -> None:
        """Take the inventory ``role`` on ``group`` away from ``principal_id`` (a user, or with
        ``to="group"`` a group's members); no error if it was not held. Runtime complexity: O(1),
        one commit."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            record = self._inventory_grant(principal_id, role, group, to)
            if (role, group) not in self._index.access.inventory_of(to, principal_id):
                return [], None
            stored = self._index.access.record("InventoryGrant", record.key)
            return [ch.AccessRemoved(record=stored or record)], None

        self._write(make)

    def set_default_member_role(self, role: str | None) -> None:
        """Set the inventory ``role`` membership alone grants on the group (``viewer`` unless
        changed); None clears it (then a member reaches devices but may do nothing to them without
        another role). A tenant option, ``("access", "default_member_role")``. Runtime complexity:
        O(the tenant's options), one commit."""
        if role is not None:
            self._role("inventory", role)
        self._tenants.set_options(self.tenant_id, {MEMBER_ROLE_OPTION: role or ""})

    # ------------------------------------------------------------ owners and delegation

    def set_owner(self, user_id: str, owner_id: str | None) -> User:
        """Make ``owner_id`` the owner of the user ``user_id`` (None: no owner). The owner
        manages its sub-users, and a sub-user's permissions are capped by its owner's at check time.
        CycleError if the owner is the user or below it; the first admin user never has an owner.
        Returns the :class:`~tenancy.User`. Runtime complexity: O(depth of owners), one commit."""

        def make() -> tuple[list[Change], User]:
            self._writable()
            user = self.get_user(user_id)
            if owner_id is not None:
                self._user(owner_id, "owner_id")
                if user_id == self._tenants.get_tenant(self.tenant_id).admin_user_id:
                    # An owner would cap it: no tenant can lock itself out (DOMAIN.md 6).
                    raise InvalidValue(
                        user_id, "the tenant's first admin user has no owner", field="owner_id"
                    )
                walk: str | None = owner_id
                while walk is not None:
                    if walk == user_id:
                        raise CycleError("user", user_id, owner_id, field="owner_id")
                    walk = self._index.users[walk].owner_id
            if user.owner_id == owner_id:
                return [], user
            new = replace(user, owner_id=owner_id)
            return [ch.UserUpdated(user=new)], new

        return self._write(make)

    def sub_users(self, owner_id: str, *, recursive: bool = False) -> list[User]:
        """The users ``owner_id`` owns directly (with ``recursive``, at any depth), sorted by id.
        Runtime complexity: O(k log k) for k users returned."""
        self._user(owner_id, "owner_id")
        check_bool("recursive", recursive)
        return self._queries._read(_sub_users, owner_id, recursive)

    def delegate(
        self,
        owner_id: str,
        delegate_id: str,
        *,
        until: datetime | None = None,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
    ) -> Delegation:
        """Let ``delegate_id`` (who must hold ``user_management:CREATE``) manage the user
        hierarchy of ``owner_id``; from ``valid_from`` and until ``valid_until`` when given
        (timezone-aware datetimes, counting when ``valid_from <= t < valid_until`` by the
        handle's clock). ``until`` is ``valid_until`` under its older name: give either, or
        both with one value (InvalidValue otherwise). Delegating again replaces the window.
        Returns the :class:`~tenancy.Delegation` (its ``until`` and ``valid_until`` are the
        end). InvalidValue naming the field for a naive or empty window, nothing written.
        Runtime complexity: O(the delegate's roles), one commit."""

        def make() -> tuple[list[Change], Delegation]:
            self._writable()
            if until is not None and (not isinstance(until, datetime) or until.tzinfo is None):
                raise InvalidValue(until, "until is a timezone-aware datetime", field="until")
            check_window(valid_from, valid_until)
            if until is not None and valid_until is not None and until != valid_until:
                raise InvalidValue(
                    valid_until,
                    f"valid_until is until under its newer name: give one, or both equal "
                    f"(until is {until.isoformat()})",
                    field="valid_until",
                )
            end = valid_until if valid_until is not None else until
            check_window(valid_from, end)
            self._user(owner_id, "owner_id")
            self._user(delegate_id, "delegate_id")
            if owner_id == delegate_id:
                raise InvalidValue(
                    delegate_id, "a user does not delegate to itself", field="delegate_id"
                )
            if Permission("user_management", "CREATE") not in effective_global(
                self._index, delegate_id, self._writer.clock()
            ):
                raise InvalidValue(
                    delegate_id,
                    "a delegate must hold user_management:CREATE in its tenant",
                    field="delegate_id",
                )
            record = Delegation(
                tenant_id=self.tenant_id, owner_id=owner_id, delegate_id=delegate_id, until=end,
                valid_from=valid_from,
            )  # fmt: skip
            return [ch.AccessSet(record=record)], record

        return self._write(make)

    def revoke_delegation(self, owner_id: str, delegate_id: str) -> None:
        """End the delegation from ``owner_id`` to ``delegate_id`` at once (no error if there was
        none). Runtime complexity: O(1), one commit."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            _user_ids(owner_id=owner_id, delegate_id=delegate_id)
            record = self._index.access.delegation(owner_id, delegate_id)
            if record is None or record.tenant_id != self.tenant_id:
                return [], None
            return [ch.AccessRemoved(record=record)], None

        self._write(make)

    # ------------------------------------------------------------ support

    def request_support(self, user_id: str, *, duration: timedelta | None = None) -> SupportRequest:
        """As the user ``user_id``, open support access to this tenant for ``duration`` (the
        handle's ``support_duration``, 24 hours, by default; a positive timedelta) from now; a new
        request extends it. Returns the :class:`~tenancy.SupportRequest`. Runtime complexity: O(1),
        one commit."""

        def make() -> tuple[list[Change], SupportRequest]:
            self._writable()
            self.get_user(user_id)
            length = self._writer.support_duration if duration is None else duration
            rule = "a support request lasts a positive timedelta that ends before year 10000"
            if not isinstance(length, timedelta) or length <= timedelta(0):
                raise InvalidValue(duration, rule, field="duration")
            try:
                until = self._writer.clock() + length
            except OverflowError:
                raise InvalidValue(duration, rule, field="duration") from None
            record = SupportRequest(tenant_id=self.tenant_id, requested_by=user_id, until=until)
            return [ch.AccessSet(record=record)], record

        return self._write(make)

    def end_support(self) -> None:
        """End this tenant's support request early (no error if there is none). Runtime
        complexity: O(1), one commit."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            record = self._index.access.support_request(self.tenant_id)
            return ([] if record is None else [ch.AccessRemoved(record=record)]), None

        self._write(make)

    def support_until(self) -> datetime | None:
        """When the tenant's open support request ends, or None. Runtime complexity: O(1)."""
        record = self._index.access.support_request(self.tenant_id)
        return None if record is None else record.until
