"""TenantScope: the writes and look-ups inside one tenant."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, overload

from tenancy import ids as _ids
from tenancy.errors import (
    AlreadyExists,
    InUse,
    InvalidValue,
)
from tenancy.handle.devices import DeviceWrites
from tenancy.handle.groups import GroupAdmin
from tenancy.handle.lookups import TenantRecords
from tenancy.handle.recipes import RecipeBook
from tenancy.handle.roles import RoleAdmin
from tenancy.handle.sharing import ShareAdmin
from tenancy.handle.store_lookups import groups_page, users_page
from tenancy.handle.writer import Writer
from tenancy.index.index import Index
from tenancy.records import changes as ch
from tenancy.records.changes import Change
from tenancy.records.grants import (
    Delegation,
    InventoryGrant,
    Permission,
    PrincipalKind,
    RoleDefinition,
    RoleGrant,
    RoleKind,
    SupportRequest,
)
from tenancy.records.model import Device, Group, Page, User, parse_tags
from tenancy.records.recipes import Recipe
from tenancy.records.sharing import Connector, Subscription
from tenancy.records.tags import RulesInput, TagsInput
from tenancy.rules.access import Identity
from tenancy.rules.limits import (
    check_new_user,
)
from tenancy.rules.reach import DEFAULT_PAGE_SIZE, devices_of_tenant
from tenancy.rules.validate import (
    UNSET,
    check_bool,
    check_email,
    check_line,
    named,
    replace,
)

__all__ = ["TenantScope"]


def _groups_of(index: Index, tenant_id: str) -> list[Group]:
    """Every group of the tenant, sorted by id: a walk of the index's tables, run through
    :meth:`Queries._read <tenancy.handle.queries.Queries._read>`."""
    return [index.group_record(g) for g in sorted(index.groups_of_tenant(tenant_id))]


def _users_of(index: Index, tenant_id: str) -> list[User]:
    """Every user of the tenant, sorted by id; run through ``Queries._read``."""
    users = index.users
    return [users[u] for u in sorted(index.users_of_tenant(tenant_id))]


class TenantScope(TenantRecords):
    """Writes and look-ups inside one tenant. Get one with :meth:`Tenancy.tenant`.

    Every write checks that the tenant (and every tenant above it) is active, that every id
    it names exists in this tenant, and commits all its changes as one revision.
    """

    def __init__(self, writer: Writer, identity: Identity, tenant_id: str) -> None:
        super().__init__(writer, identity, tenant_id)
        self._roles = RoleAdmin(writer, identity, tenant_id)
        self._devices = DeviceWrites(writer, identity, tenant_id)
        self._recipes = RecipeBook(writer, identity, tenant_id)
        self._group_admin = GroupAdmin(writer, identity, tenant_id)
        self._shares = ShareAdmin(writer, identity, tenant_id)

    def __repr__(self) -> str:
        return f"TenantScope({self.tenant_id!r})"

    # ------------------------------------------------------------ look-ups

    def find_user(self, email: str) -> User | None:
        """The user of this tenant with this ``email`` (compared ignoring case), or None. Runtime
        complexity: O(1)."""
        try:
            key = email.casefold()
        except AttributeError:
            raise InvalidValue(email, "an email is a string", field="email") from None

        def look(index: Index) -> User | None:
            user_id = index.user_by_email(self.tenant_id, key)
            return None if user_id is None else index.users[user_id]

        return self._queries._read(look)  # seq-checked: the user may be deleted meanwhile

    @overload
    def groups(self) -> list[Group]: ...
    @overload
    def groups(self, *, limit: int, after: str | None = None) -> Page[Group]: ...
    @overload
    def groups(self, *, after: str | None, limit: int = DEFAULT_PAGE_SIZE) -> Page[Group]: ...

    def groups(self, *, limit: int = UNSET, after: str | None = UNSET) -> list[Group] | Page[Group]:
        """Every group of the tenant, sorted by id (seq-checked, as every listing: a group
        a concurrent write deletes is in the answer whole or not at all). Given ``limit``
        (1 to 10,000) or ``after`` (the ``next`` of the previous page), one
        :class:`~tenancy.Page` of them, as :meth:`devices` gives. Runtime complexity: O(n)
        for the list, O(n log limit) for a page, for the tenant's n groups (plus the
        records given).

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@a.example")
        >>> t = tn.tenant(acme.id)
        >>> _ = [t.create_group(f"Site {n}", id=f"site-{n}") for n in range(3)]
        >>> page = t.groups(limit=2)
        >>> [g.id for g in page], [g.id for g in t.groups(limit=2, after=page.next)]
        (['site-0', 'site-1'], ['site-2'])
        """
        if limit is UNSET and after is UNSET:
            return self._queries._read(_groups_of, self.tenant_id)
        limit = DEFAULT_PAGE_SIZE if limit is UNSET else limit
        after = None if after is UNSET else after
        return self._queries._read(groups_page, self.tenant_id, limit=limit, after=after)

    @overload
    def users(self) -> list[User]: ...
    @overload
    def users(self, *, limit: int, after: str | None = None) -> Page[User]: ...
    @overload
    def users(self, *, after: str | None, limit: int = DEFAULT_PAGE_SIZE) -> Page[User]: ...

    def users(self, *, limit: int = UNSET, after: str | None = UNSET) -> list[User] | Page[User]:
        """Every user of the tenant, sorted by id (seq-checked, as :meth:`groups`); given
        ``limit`` or ``after``, one :class:`~tenancy.Page` of them, as :meth:`groups`.
        Runtime complexity: O(u log u) for the list, O(u log limit) for a page, for the
        tenant's u users."""
        if limit is UNSET and after is UNSET:
            return self._queries._read(_users_of, self.tenant_id)
        limit = DEFAULT_PAGE_SIZE if limit is UNSET else limit
        after = None if after is UNSET else after
        return self._queries._read(users_page, self.tenant_id, limit=limit, after=after)

    def devices(self, *, limit: int = DEFAULT_PAGE_SIZE, after: str | None = None) -> Page[Device]:
        """One page of the tenant's devices, sorted by id: ``limit`` from 1 to 10,000 (100 by
        default), ``after`` the ``next`` of the previous page of this tenant's listing (as for
        ``devices_for``). Runtime complexity: O(log n + limit) for the tenant's n devices."""
        return self._queries._read(devices_of_tenant, self.tenant_id, limit=limit, after=after)

    # ------------------------------------------------------------ groups (delegated)

    def create_group(
        self,
        name: str,
        *,
        parent: str | None = None,
        description: str = "",
        device_ids: Iterable[str] = (),
        device_tags: RulesInput = (),
        id: str | None = None,
    ) -> Group:
        """Create a group named ``name``, optionally below ``parent`` and already associating
        devices by id (``device_ids``) and by tag rule (``device_tags``, [tag
        shapes](scope.md#tag-shapes)), with a ``description``; ``id`` is generated unless given.
        A virtual group (of a subscription) takes no child groups. Returns the
        :class:`~tenancy.Group`. Runtime complexity: O(devices it associates x depth).
        """
        return self._group_admin.create_group(
            name, parent=parent, description=description, device_ids=device_ids,
            device_tags=device_tags, id=id,
        )  # fmt: skip

    def update_group(self, group_id: str, *, name: str = UNSET, description: str = UNSET) -> Group:
        """Give the group ``group_id`` a new ``name`` or ``description`` (the other stays); no
        answer about reach changes. Runtime complexity: O(its device ids and rules), one commit."""
        return self._group_admin.update_group(group_id, name=name, description=description)

    def move_group(self, group_id: str, parent: str | None) -> Group:
        """Put the group ``group_id`` (with its whole subtree) under ``parent``, or make it a
        root with None. CycleError if ``parent`` is the group or below it; a virtual group may
        move under the tenant's own groups but takes no child groups. Runtime complexity:
        O(subtree x depth + devices it covers)."""
        return self._group_admin.move_group(group_id, parent)

    def delete_group(self, group_id: str, *, cascade: bool = False) -> None:
        """Delete the group ``group_id``, its memberships, associations and the role grants on
        it; with ``cascade`` its subgroups too (refused with InUse without it when it has any).
        A group named by a connector's filter leaves that filter in the same commit; a virtual
        group is deleted only with its subscription (InUse). Runtime complexity:
        O(subtree x (devices covered x depth + members + grants)), one commit."""
        self._group_admin.delete_group(group_id, cascade=cascade)

    def associate(
        self, group_id: str, *, device_ids: Iterable[str] = (), device_tags: RulesInput = ()
    ) -> Group:
        """Add device ids (``device_ids``) and tag rules (``device_tags``) to the associations of
        the group ``group_id`` (never of a virtual group: InvalidValue). Runtime complexity:
        O(devices newly associated x depth)."""
        return self._group_admin.associate(group_id, device_ids=device_ids, device_tags=device_tags)

    def dissociate(
        self, group_id: str, *, device_ids: Iterable[str] = (), device_tags: RulesInput = ()
    ) -> Group:
        """Remove device ids (``device_ids``) and tag rules (``device_tags``) from the
        associations of the group ``group_id`` (ones it does not have are ignored). Runtime
        complexity: O(devices dissociated x depth)."""
        return self._group_admin.dissociate(
            group_id, device_ids=device_ids, device_tags=device_tags
        )

    # ------------------------------------------------------------ devices (delegated)

    def create_device(
        self,
        name: str,
        *,
        tags: TagsInput = (),
        id: str | None = None,
        parent: str | None = None,
    ) -> Device:
        """Create a device named ``name``, optionally under a gateway (``parent``), with ``tags``
        (pairs or a mapping, [tag shapes](scope.md#tag-shapes)); ``id`` is generated unless given.
        Groups whose tag rules match it associate it at once. Runtime complexity: O(tags x matching
        rules x depth)."""
        spec = {"name": name, "tags": tags, "id": id, "parent": parent}
        return self._devices.create_devices([spec])[0]

    def create_devices(self, specs: Iterable[Mapping[str, Any]]) -> list[Device]:
        """Create many devices in one transaction: all of them or, on any bad spec, none. Each of
        ``specs`` is a mapping with ``name`` and optionally ``tags``, ``id``, ``parent`` (a parent
        may be created earlier in the same call).

        ``specs`` may be any iterable, a generator included: it is read one spec at a time and
        counted against the limits as it is read, so the first spec past a limit raises
        LimitExceeded (creating nothing) without the rest being read, and an endless generator stops
        there. Runtime complexity: O(specs x tags x matching rules x depth), one commit."""
        return self._devices.create_devices(specs)

    def update_device(
        self, device_id: str, *, name: str = UNSET, parent: str | None = UNSET
    ) -> Device:
        """Rename the device ``device_id`` (``name``) or change its gateway (``parent``; None
        detaches it). CycleError when the new parent is the device or one of its child devices.
        Runtime complexity: O(1) to rename; O((1 + child devices) x associating groups x
        depth) to move; one commit."""
        return self._devices.update_device(device_id, name=name, parent=parent)

    def tag_device(self, device_id: str, tags: TagsInput) -> Device:
        """Add ``tags`` to the device ``device_id``; groups whose rules now match associate it.
        Runtime complexity: O(tags x matching rules x depth + child devices)."""
        return self._devices.tag_device(device_id, tags)

    def untag_device(self, device_id: str, tags: TagsInput) -> Device:
        """Remove ``tags`` from the device ``device_id`` (ones it does not have are ignored);
        groups whose rules no longer match dissociate it. Runtime complexity: as :meth:`tag_device`.
        """
        return self._devices.untag_device(device_id, tags)

    def delete_device(self, device_id: str, *, cascade: bool = False) -> None:
        """Delete the device ``device_id`` and its id associations; with ``cascade`` its child
        devices too (refused with InUse without it when it has any, and while a device recipe
        creates devices under one of them); a connector's filter naming one leaves it in the same
        commit. Runtime complexity: O(devices deleted x covering
        groups + access records), one commit."""
        return self._devices.delete_device(device_id, cascade=cascade)

    # ------------------------------------------------------------ recipes (delegated)
    def create_recipe(
        self,
        recipe_name: str,
        *,
        name: str = UNSET,
        name_pattern: str = UNSET,
        tags: TagsInput = (),
        parent: str | None = None,
        groups: Iterable[str] = (),
        id: str | None = None,
    ) -> Recipe:
        """Keep a device recipe named ``recipe_name`` (unique in the tenant): a template that
        :meth:`create_devices_from_recipe` makes devices from. ``name`` is the name pattern of
        its devices, as ``create_recipe("generator", name="Generator {n}")`` writes it
        (``name_pattern`` is the same argument under the record's own name; give one): it
        holds ``{n}``, the number of each device, and no other brace. Every device gets
        ``tags`` ([tag shapes](scope.md#tag-shapes)), goes under the gateway ``parent`` (a
        device id, or None), and is associated by id with each of ``groups`` (group ids).
        While a recipe names a group or a device, deleting that one is refused (InUse).
        ``id`` is generated unless given. Returns the :class:`~tenancy.Recipe`. An acting user
        needs ``device:CREATE``. Runtime complexity: O(tags + groups + access records), one
        commit.

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@a.example")
        >>> t = tn.tenant(acme.id)
        >>> r = t.create_recipe("generator", name="Generator {n}", tags=[("kind", "gen")])
        >>> [d.name for d in t.create_devices_from_recipe(r.id, count=3, start=7)]
        ['Generator 7', 'Generator 8', 'Generator 9']
        """
        return self._recipes.create_recipe(
            recipe_name, name=name, name_pattern=name_pattern, tags=tags, parent=parent,
            groups=groups, id=id,
        )  # fmt: skip

    def recipes(self) -> list[Recipe]:
        """Every device recipe of the tenant, sorted by id (seq-checked, as :meth:`groups`).
        Runtime complexity: O(access records of the store)."""
        return self._recipes.recipes()

    def get_recipe(self, recipe_id: str) -> Recipe:
        """The :class:`~tenancy.Recipe` ``recipe_id``; NotFound unless it is a recipe of this
        tenant (CrossTenantReference for another tenant's). Runtime complexity: O(1)."""
        return self._recipes.get_recipe(recipe_id)

    def delete_recipe(self, recipe_id: str) -> None:
        """Delete the recipe ``recipe_id``; the devices made from it stay as they are. An
        acting user needs ``device:ADMIN``, as to delete a device. Runtime complexity: O(1),
        one commit."""
        self._recipes.delete_recipe(recipe_id)

    def create_devices_from_recipe(
        self, recipe_id: str, *, count: int, start: int = 1
    ) -> list[Device]:
        """Create ``count`` devices (at least 1) from the recipe ``recipe_id`` in one
        transaction: numbers ``start`` (an int, 0 or more; 1 by default) to ``start + count -
        1``, each named by the recipe's pattern with its number, with the recipe's tags, under
        its gateway, with generated ids, and associated by id with its groups in the same
        commit. Counted against the tenant's device limits and the store's safety limits
        before a device is built: past one, LimitExceeded and nothing is created. Returns the
        devices, in number order. An acting user needs ``device:CREATE``, and
        ``group:UPDATE`` when the recipe names groups. Runtime complexity: O(count x (tags x
        matching rules + groups) x depth), one commit."""
        return self._recipes.create_devices_from_recipe(recipe_id, count=count, start=start)

    # ------------------------------------------------------------ users

    def _check_email_free(self, email: str, user_id: str | None) -> None:
        holder = self._index.user_by_email(self.tenant_id, email)
        if holder is not None and holder != user_id:
            raise AlreadyExists(
                "user email", email, rule="emails are unique per tenant, ignoring case",
                field="email",
            )  # fmt: skip

    def create_user(
        self,
        email: str,
        *,
        username: str = "",
        first_name: str = "",
        last_name: str = "",
        tags: TagsInput = (),
        enabled: bool = True,
        id: str | None = None,
        owner: str | None = None,
    ) -> User:
        """Create a user with ``email`` (unique per tenant, ignoring case), ``username``,
        ``first_name``, ``last_name``, ``tags`` and ``enabled``; optionally the sub-user of
        ``owner`` (who then manages it, and whose permissions cap its own). ``id`` is generated
        unless given. Runtime complexity: O(tags), one commit."""

        def make() -> tuple[list[Change], User]:
            self._writable()
            check_email(email)
            self._check_email_free(email, None)
            check_new_user(self._writer.limits, self._index, self.tenant_id)
            user = User(
                id=self._new_id("user", id, self._index.users, _ids.new_user_id),
                tenant_id=self.tenant_id,
                email=email,
                username=check_line("username", username),
                first_name=check_line("first_name", first_name),
                last_name=check_line("last_name", last_name),
                tags=named("tags", parse_tags, tags),
                enabled=check_bool("enabled", enabled),
                owner_id=None if owner is None else self._user(owner, "owner").id,
            )
            return [ch.UserCreated(user=user)], user

        return self._write(make)

    def update_user(
        self,
        user_id: str,
        *,
        email: str = UNSET,
        username: str = UNSET,
        first_name: str = UNSET,
        last_name: str = UNSET,
        tags: TagsInput = UNSET,
        enabled: bool = UNSET,
    ) -> User:
        """Edit the user ``user_id``: ``email``, ``username``, ``first_name``, ``last_name`` as
        for :meth:`create_user`; ``tags`` replaces the whole set; ``enabled=False`` ends its reach
        (the tenant's first admin cannot be disabled, nor change its username). Runtime complexity:
        O(tags + the user's groups), one commit."""

        def make() -> tuple[list[Change], User]:
            self._writable()
            old = self.get_user(user_id)
            fields: dict[str, Any] = {}
            if email is not UNSET:
                fields["email"] = check_email(email)
                self._check_email_free(email, user_id)
            for field, value in (
                ("username", username),
                ("first_name", first_name),
                ("last_name", last_name),
            ):
                if value is not UNSET:
                    fields[field] = check_line(field, value)
            if fields.get("username", old.username) != old.username and (
                old.id == self.record.admin_user_id
            ):
                raise InvalidValue(
                    username, "the tenant's first admin user keeps its username", field="username"
                )
            if tags is not UNSET:
                fields["tags"] = named("tags", parse_tags, tags)
            if enabled is not UNSET:
                fields["enabled"] = check_bool("enabled", enabled)
                if not enabled and old.id == self.record.admin_user_id:
                    raise InvalidValue(
                        user_id, "the tenant's first admin user cannot be disabled", field="enabled"
                    )
            new = replace(old, **fields)
            return ([] if new == old else [ch.UserUpdated(user=new)]), new

        return self._write(make)

    def delete_user(self, user_id: str) -> None:
        """Delete the user ``user_id``, its memberships, role grants and delegations. The
        tenant's first admin user cannot be deleted (no tenant can lock itself out), nor (InUse) an
        owner of sub-users. Runtime complexity: O(its groups + the access records naming it), one
        commit."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            self.get_user(user_id)
            if user_id == self.record.admin_user_id:
                raise InUse("user", user_id, "it is the tenant's first admin user", field="user_id")
            access = self._index.access
            if access.sub_users_of(user_id):
                raise InUse(
                    "user", user_id, "it owns sub-users; give them another owner first",
                    field="user_id",
                )  # fmt: skip
            removed = [ch.AccessRemoved(record=r) for r in access.referring_to_user(user_id)]
            return [*removed, ch.UserDeleted(user_id=user_id)], None

        self._write(make)

    def add_member(self, group_id: str, user_id: str) -> None:
        """Make the user ``user_id`` a member of the group ``group_id``: it reaches every device
        the group covers. Adding an existing membership does nothing. Runtime complexity: O(the
        user's groups), one commit."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            self.get_group(group_id)
            self.get_user(user_id)
            if self._index.is_member(group_id, user_id):
                return [], None
            return [ch.MemberAdded(group_id=group_id, user_id=user_id)], None

        self._write(make)

    def remove_member(self, group_id: str, user_id: str) -> None:
        """End the membership of the user ``user_id`` in the group ``group_id`` (no error if
        there was none). Runtime complexity: as :meth:`add_member`."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            self.get_group(group_id)
            self.get_user(user_id)
            if not self._index.is_member(group_id, user_id):
                return [], None
            return [ch.MemberRemoved(group_id=group_id, user_id=user_id)], None

        self._write(make)

    # ------------------------------------------------------------ roles (delegated)

    def roles_of(self, user_id: str) -> list[str]:
        """The global roles the user ``user_id`` holds, sorted. Runtime complexity: O(r log r)
        for r roles."""
        return self._roles.roles_of(user_id)

    def inventory_grants_of(
        self, principal_id: str, *, to: PrincipalKind = "user"
    ) -> list[InventoryGrant]:
        """The inventory grants the user ``principal_id`` holds (with ``to="group"``: those every
        member of the group ``principal_id`` holds), sorted. Runtime complexity: O(k log k) for k
        grants."""
        return self._roles.inventory_grants_of(principal_id, to=to)

    def default_member_role(self) -> str | None:
        """The inventory role membership alone grants (``viewer`` unless changed), or None when
        cleared. Runtime complexity: O(1)."""
        return self._roles.default_member_role()

    def define_role(
        self, name: str, permissions: Iterable[str | Permission], *, kind: RoleKind = "global"
    ) -> RoleDefinition:
        """Define (or redefine: holders change at once) the custom role ``name`` of the tenant
        with ``permissions``; ``kind`` is ``"global"`` (tenant-wide) or ``"inventory"`` (device
        permissions, held on a group). Built-in names are taken (AlreadyExists). Returns the
        :class:`~tenancy.RoleDefinition`. Runtime complexity: O(permissions), one commit."""
        return self._roles.define_role(name, permissions, kind=kind)

    def delete_role(self, name: str, *, kind: RoleKind = "global") -> None:
        """Delete the custom role ``name`` of that ``kind``; InUse while a grant of it remains.
        Runtime complexity: O(access records of the tenant), one commit."""
        return self._roles.delete_role(name, kind=kind)

    def grant_role(self, user_id: str, role: str) -> RoleGrant:
        """Give the user ``user_id`` the global ``role`` (``admin``, ``business``, ``readonly``
        or a custom one), tenant-wide. Returns the :class:`~tenancy.RoleGrant`; granting a held role
        writes nothing. Runtime complexity: O(the role's permissions + the owner's global roles),
        one commit."""
        return self._roles.grant_role(user_id, role)

    def revoke_role(self, user_id: str, role: str) -> None:
        """Take the global ``role`` away from ``user_id`` (at once from every sub-user it capped
        too). The tenant's first admin user keeps admin: no tenant can lock itself out. No error if
        not held. Runtime complexity: O(1), one commit."""
        return self._roles.revoke_role(user_id, role)

    def grant_inventory_role(
        self, principal_id: str, role: str, *, group: str, to: PrincipalKind = "user"
    ) -> InventoryGrant:
        """Give the inventory ``role`` (``viewer``, ``operator``, ``manager`` or a custom one) on
        ``group``, so on every device it covers within reach, to the user ``principal_id`` or, with
        ``to="group"``, to every member of the group ``principal_id``. Returns the
        :class:`~tenancy.InventoryGrant`. Runtime complexity: O(the role's permissions + the owner's
        grants), for each member with ``to="group"``, one commit."""
        return self._roles.grant_inventory_role(principal_id, role, group=group, to=to)

    def revoke_inventory_role(
        self, principal_id: str, role: str, *, group: str, to: PrincipalKind = "user"
    ) -> None:
        """Take the inventory ``role`` on ``group`` away from ``principal_id`` (a user, or with
        ``to="group"`` a group's members); no error if it was not held. Runtime complexity: O(1),
        one commit."""
        return self._roles.revoke_inventory_role(principal_id, role, group=group, to=to)

    def set_default_member_role(self, role: str | None) -> None:
        """Set the inventory ``role`` membership alone grants on the group (``viewer`` unless
        changed); None clears it (then a member reaches devices but may do nothing to them without
        another role). A tenant option, ``("access", "default_member_role")``. Runtime complexity:
        O(the tenant's options), one commit."""
        return self._roles.set_default_member_role(role)

    def set_owner(self, user_id: str, owner_id: str | None) -> User:
        """Make ``owner_id`` the owner of the user ``user_id`` (None: no owner). The owner
        manages its sub-users, and a sub-user's permissions are capped by its owner's at check time.
        CycleError if the owner is the user or below it; the first admin user never has an owner.
        Returns the :class:`~tenancy.User`. Runtime complexity: O(depth of owners), one commit."""
        return self._roles.set_owner(user_id, owner_id)

    def sub_users(self, owner_id: str, *, recursive: bool = False) -> list[User]:
        """The users ``owner_id`` owns directly (with ``recursive``, at any depth), sorted by id.
        Runtime complexity: O(k log k) for k users returned."""
        return self._roles.sub_users(owner_id, recursive=recursive)

    def delegate(
        self, owner_id: str, delegate_id: str, *, until: datetime | None = None
    ) -> Delegation:
        """Let ``delegate_id`` (who must hold ``user_management:CREATE``) manage the user
        hierarchy of ``owner_id``, until a timezone-aware ``until`` if given. Returns the
        :class:`~tenancy.Delegation`. Runtime complexity: O(the delegate's roles), one commit."""
        return self._roles.delegate(owner_id, delegate_id, until=until)

    def revoke_delegation(self, owner_id: str, delegate_id: str) -> None:
        """End the delegation from ``owner_id`` to ``delegate_id`` at once (no error if there was
        none). Runtime complexity: O(1), one commit."""
        return self._roles.revoke_delegation(owner_id, delegate_id)

    def request_support(self, user_id: str, *, duration: timedelta | None = None) -> SupportRequest:
        """As the user ``user_id``, open support access to this tenant for ``duration`` (the
        handle's ``support_duration``, 24 hours, by default; a positive timedelta) from now; a new
        request extends it. Returns the :class:`~tenancy.SupportRequest`. Runtime complexity: O(1),
        one commit."""
        return self._roles.request_support(user_id, duration=duration)

    def end_support(self) -> None:
        """End this tenant's support request early (no error if there is none). Runtime
        complexity: O(1), one commit."""
        return self._roles.end_support()

    def support_until(self) -> datetime | None:
        """When the tenant's open support request ends, or None. Runtime complexity: O(1)."""
        return self._roles.support_until()

    # ------------------------------------------------------------ sharing (delegated)

    def create_connector(
        self,
        name: str,
        *,
        destination: str,
        groups: Iterable[str] = (),
        devices: Iterable[str] = (),
        tags: RulesInput | None = None,
        description: str = "",
        id: str | None = None,
    ) -> Connector:
        """Offer the tenant ``destination`` a share of this tenant's devices: a
        :class:`~tenancy.Connector` named ``name`` with a ``description`` (both shown to the
        destination). Its filters: every device a group of ``groups`` covers here, and every
        device of ``devices`` with its child devices, narrowed by ``tags`` (matchers a shared
        device must all match, [tag shapes](scope.md#tag-shapes)) when given. At least one
        group or device, all of this tenant (not a virtual group: shares never chain); never
        from the management tenant, never to this tenant itself. ``id`` is generated unless
        given; the returned connector carries the ``security_code`` to give the destination.
        Runtime complexity: O(filters), one commit, audited in both tenants.
        """
        return self._shares.create_connector(
            name, destination=destination, groups=groups, devices=devices, tags=tags,
            description=description, id=id,
        )  # fmt: skip

    def suspend_connector(self, connector_id: str) -> Connector:
        """Suspend the connector ``connector_id`` of this tenant (its source): the
        destination reaches none of its devices until :meth:`activate_connector`. Returns the
        :class:`~tenancy.Connector`. Runtime complexity: O(1) plus the devices it shares,
        one commit."""
        return self._shares.suspend_connector(connector_id)

    def activate_connector(self, connector_id: str) -> Connector:
        """Activate the suspended connector ``connector_id`` of this tenant again. Returns the
        :class:`~tenancy.Connector`. Runtime complexity: as :meth:`suspend_connector`."""
        return self._shares.activate_connector(connector_id)

    def delete_connector(self, connector_id: str) -> None:
        """Delete the connector ``connector_id`` of this tenant, with its subscription and the
        destination's virtual group (its memberships and grants). Runtime complexity: O(the
        devices it shares + the virtual group's members and grants), one commit."""
        self._shares.delete_connector(connector_id)

    def accept_connector(
        self, connector_id: str, *, security_code: str, name: str, id: str | None = None
    ) -> Subscription:
        """Accept the connector ``connector_id`` offered to this tenant, with the
        ``security_code`` its source gave: a :class:`~tenancy.Subscription` named ``name``
        (``id`` generated unless given) and its virtual group (``group_id``, named ``name``)
        in one commit. A wrong code raises WrongSecurityCode and is on record in the audit
        log of both tenants (never the code). Runtime complexity: O(the devices it shares),
        one commit."""
        return self._shares.accept_connector(
            connector_id, security_code=security_code, name=name, id=id
        )

    def pause_subscription(self, subscription_id: str) -> Subscription:
        """Pause this tenant's subscription ``subscription_id``: its users reach none of the
        shared devices until :meth:`resume_subscription`. Returns the
        :class:`~tenancy.Subscription`. Runtime complexity: O(1) plus the devices it shares,
        one commit."""
        return self._shares.pause_subscription(subscription_id)

    def resume_subscription(self, subscription_id: str) -> Subscription:
        """Resume this tenant's paused subscription ``subscription_id``. Returns the
        :class:`~tenancy.Subscription`. Runtime complexity: as :meth:`pause_subscription`."""
        return self._shares.resume_subscription(subscription_id)

    def delete_subscription(self, subscription_id: str) -> None:
        """Delete this tenant's subscription ``subscription_id`` with its virtual group (its
        memberships and grants); the connector stays and may be accepted again. Runtime
        complexity: as :meth:`delete_connector`."""
        self._shares.delete_subscription(subscription_id)

    def connectors(self) -> list[Connector]:
        """The connectors this tenant is the source of, with their security codes, sorted by
        id; for the management tenant every connector of the store, without the codes.
        Runtime complexity: O(c log c) for the c connectors listed."""
        return self._queries._read(lambda index: self._shares.connectors())

    def subscriptions(self) -> list[Subscription]:
        """The subscriptions of this tenant (the connectors it accepted), sorted by id; for
        the management tenant every subscription of the store. Runtime complexity:
        O(s log s) for the s subscriptions listed."""
        return self._queries._read(lambda index: self._shares.subscriptions())

    def get_connector(self, connector_id: str) -> Connector:
        """The :class:`~tenancy.Connector` ``connector_id``, for its source (with the
        security code), its destination and the management tenant (without it); NotFound
        for any other tenant. Runtime complexity: O(1)."""
        return self._shares.get_connector(connector_id)

    def get_subscription(self, subscription_id: str) -> Subscription:
        """The :class:`~tenancy.Subscription` ``subscription_id``, for its tenant, the source
        of its connector and the management tenant; NotFound for any other. Runtime
        complexity: O(1)."""
        return self._shares.get_subscription(subscription_id)
