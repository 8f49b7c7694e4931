"""TenantScope: the writes and look-ups inside one tenant.

It writes users and memberships itself; its group, device, recipe, role and sharing calls
are the methods of its parts (:mod:`~tenancy.handle.groups`, :mod:`~tenancy.handle.devices`,
:mod:`~tenancy.handle.recipes`, :mod:`~tenancy.handle.roles`, :mod:`~tenancy.handle.sharing`),
bound with :class:`~tenancy.handle.delegate.delegated`: one signature and docstring each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, overload

from tenancy import ids as _ids
from tenancy.errors import (
    AlreadyExists,
    InUse,
    InvalidValue,
)
from tenancy.handle.delegate import delegated
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
from tenancy.records.model import Device, Group, Page, User, parse_tags
from tenancy.records.sharing import Connector, Subscription
from tenancy.records.tags import TagsInput
from tenancy.records.terms import MembershipTerm
from tenancy.records.window import check_window
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

    create_group = delegated("_group_admin", GroupAdmin.create_group)
    update_group = delegated("_group_admin", GroupAdmin.update_group)
    move_group = delegated("_group_admin", GroupAdmin.move_group)

    def delete_group(self, group_id: str, *, cascade: bool = False) -> None:
        """Delete the group ``group_id``, its memberships, associations and the role grants on
        it; with ``cascade`` its subgroups too (refused with InUse without it when it has any).
        A group named by a connector's filter leaves that filter in the same commit; a virtual
        group is deleted only with its subscription (InUse). Runtime complexity:
        O(subtree x (devices covered x depth + members + grants)), one commit."""
        self._group_admin.delete_group(group_id, cascade=cascade)

    associate = delegated("_group_admin", GroupAdmin.associate)
    dissociate = delegated("_group_admin", GroupAdmin.dissociate)

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

    create_devices = delegated("_devices", DeviceWrites.create_devices)
    update_device = delegated("_devices", DeviceWrites.update_device)
    tag_device = delegated("_devices", DeviceWrites.tag_device)
    untag_device = delegated("_devices", DeviceWrites.untag_device)
    delete_device = delegated("_devices", DeviceWrites.delete_device)

    # ------------------------------------------------------------ recipes (delegated)
    create_recipe = delegated("_recipes", RecipeBook.create_recipe)
    recipes = delegated("_recipes", RecipeBook.recipes)
    get_recipe = delegated("_recipes", RecipeBook.get_recipe)

    def delete_recipe(self, recipe_id: str) -> None:
        """Delete the recipe ``recipe_id``; the devices made from it stay as they are. An
        acting user needs ``device:ADMIN``, as to delete a device. Runtime complexity: O(1),
        one commit."""
        self._recipes.delete_recipe(recipe_id)

    create_devices_from_recipe = delegated("_recipes", RecipeBook.create_devices_from_recipe)

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
            # Membership terms go after the user, with its memberships: removed first,
            # a term would leave its membership counting always for an instant.
            terms = [ch.AccessRemoved(record=r) for r in self._index.terms_of_user(user_id)]
            return [*removed, ch.UserDeleted(user_id=user_id), *terms], None

        self._write(make)

    def add_member(
        self,
        group_id: str,
        user_id: str,
        *,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
    ) -> None:
        """Make the user ``user_id`` a member of the group ``group_id``: it reaches every device
        the group covers. ``valid_from`` and ``valid_until`` (timezone-aware datetimes) bound
        when the membership counts: from ``valid_from`` included to ``valid_until`` excluded,
        by the handle's clock (DOMAIN.md section 9); outside them it stays a record (listed
        by :meth:`members`) that grants nothing. Adding an existing membership sets its
        window to the one given (none: it counts always), and does nothing if it is the
        same. Runtime complexity: O(the user's groups), one commit.

        >>> import tenancy
        >>> from datetime import datetime, timezone
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        >>> t = tn.tenant(acme.id)
        >>> site = t.create_group("San Bruno", device_tags=[("site", "sb")])
        >>> gen = t.create_device("Generator 7", tags=[("site", "sb")])
        >>> ana = t.create_user("ana@acme.example")
        >>> t.add_member(site.id, ana.id, valid_until=datetime(2000, 1, 7, tzinfo=timezone.utc))
        >>> tn.verify(ana.id, gen.id), tn.explain(ana.id, gen.id).code
        (False, 'expired')
        """
        check_window(valid_from, valid_until)

        def make() -> tuple[list[Change], None]:
            self._writable()
            self.get_group(group_id)
            self.get_user(user_id)
            index = self._index
            old = index.member_term(group_id, user_id)
            changes: list[Change] = []
            if not index.is_member(group_id, user_id):
                changes.append(ch.MemberAdded(group_id=group_id, user_id=user_id))
            if valid_from is not None or valid_until is not None:
                term = MembershipTerm(
                    tenant_id=self.tenant_id, group_id=group_id, user_id=user_id,
                    valid_from=valid_from, valid_until=valid_until,
                )  # fmt: skip
                if term != old:  # after its MemberAdded: see tenancy.records.terms
                    changes.append(ch.AccessSet(record=term))
            elif old is not None:
                changes.append(ch.AccessRemoved(record=old))  # it counts always from now
            return changes, None

        self._write(make)

    def remove_member(self, group_id: str, user_id: str) -> None:
        """End the membership of the user ``user_id`` in the group ``group_id`` (no error if
        there was none), and its window if it had one. Runtime complexity: as
        :meth:`add_member`."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            self.get_group(group_id)
            self.get_user(user_id)
            index = self._index
            if not index.is_member(group_id, user_id):
                return [], None
            term = index.member_term(group_id, user_id)
            removed = [] if term is None else [ch.AccessRemoved(record=term)]
            return [ch.MemberRemoved(group_id=group_id, user_id=user_id), *removed], None

        self._write(make)

    # ------------------------------------------------------------ roles (delegated)

    roles_of = delegated("_roles", RoleAdmin.roles_of)
    role_grants_of = delegated("_roles", RoleAdmin.role_grants_of)
    inventory_grants_of = delegated("_roles", RoleAdmin.inventory_grants_of)
    default_member_role = delegated("_roles", RoleAdmin.default_member_role)
    define_role = delegated("_roles", RoleAdmin.define_role)
    delete_role = delegated("_roles", RoleAdmin.delete_role)
    grant_role = delegated("_roles", RoleAdmin.grant_role)
    revoke_role = delegated("_roles", RoleAdmin.revoke_role)
    grant_inventory_role = delegated("_roles", RoleAdmin.grant_inventory_role)
    revoke_inventory_role = delegated("_roles", RoleAdmin.revoke_inventory_role)
    set_default_member_role = delegated("_roles", RoleAdmin.set_default_member_role)
    set_owner = delegated("_roles", RoleAdmin.set_owner)
    sub_users = delegated("_roles", RoleAdmin.sub_users)
    delegate = delegated("_roles", RoleAdmin.delegate)
    revoke_delegation = delegated("_roles", RoleAdmin.revoke_delegation)
    request_support = delegated("_roles", RoleAdmin.request_support)
    end_support = delegated("_roles", RoleAdmin.end_support)
    support_until = delegated("_roles", RoleAdmin.support_until)

    # ------------------------------------------------------------ sharing (delegated)

    create_connector = delegated("_shares", ShareAdmin.create_connector)
    set_connector_window = delegated("_shares", ShareAdmin.set_connector_window)
    suspend_connector = delegated("_shares", ShareAdmin.suspend_connector)
    activate_connector = delegated("_shares", ShareAdmin.activate_connector)

    def delete_connector(self, connector_id: str) -> None:
        """Delete the connector ``connector_id`` of this tenant, with its subscription and the
        destination's virtual group (its memberships and grants). Runtime complexity: O(the
        devices it shares + the virtual group's members and grants), one commit."""
        self._shares.delete_connector(connector_id)

    accept_connector = delegated("_shares", ShareAdmin.accept_connector)
    pause_subscription = delegated("_shares", ShareAdmin.pause_subscription)
    resume_subscription = delegated("_shares", ShareAdmin.resume_subscription)

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

    get_connector = delegated("_shares", ShareAdmin.get_connector)
    get_subscription = delegated("_shares", ShareAdmin.get_subscription)
