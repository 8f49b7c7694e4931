"""Access control on top of reach: what a user may do to the devices in its slice.

Rules (DOMAIN.md section 5), each a test in tests/unit/test_access*.py:

Rule 1. A *global role* grants its permissions tenant-wide: a tenant admin manages every
   device of its tenant without being a member of any group.

Rule 2. An *inventory role* held on a group (by the user, or by every member of a group)
   grants its device permissions on every device that group covers, but only within reach:
   ``check(u, p, d)`` needs ``verify(u, d)`` for this path. Membership alone grants the
   tenant's *default member role* (viewer unless changed or cleared) on the group, so for a
   plain member ``check(u, "device:READ", d) == verify(u, d)``.

Rule 3. A sub-user never exceeds its owner: a check of a sub-user is also a check of its
   owner, and of the owner's owner, on the same device, at check time. Taking a permission
   from an owner takes it from the whole subtree at once. Reach itself is not capped.

Rule 4. Deny by default: unknown ids, a disabled user, a suspended tenant (or one below a
   suspended tenant), another tenant's device: False, never an exception.

Rule 6. A device shared into the user's tenant (DOMAIN.md section 7) is read-only there:
   ``check`` grants at most ``device:READ`` on it, through the roles a share can carry
   (the default member role of a membership, an inventory role on a group covering it
   through the share), never through a tenant-wide role of the destination.

Rule 5. An acting user may write only what its permissions allow, may grant only what it
   holds itself, and may manage only its own sub-users, the sub-users of users who
   delegated to it (until the delegation ends), or everyone when it holds user_management.

Rule 7. Time (DOMAIN.md section 9): a global role grant, an inventory role grant or a
   delegation with a window counts at ``now`` exactly when ``valid_from <= now <
   valid_until`` (:func:`tenancy.records.window.in_window`); outside it, it grants nothing,
   on every path of this module (check, the ceilings, explain's role sources, writes
   authorised for an actor). Every function that answers for an instant takes ``now``: the
   handle's clock, read by the caller.

Answers per user are cached in the index's access state and dropped at every commit (a new
dict at the start and the end of each apply), so a check reads a few dicts; see
:func:`check` for the cost. Time passing clears nothing, so an answer that depends on a
windowed global role grant is kept with the interval of instants it holds for (from the
latest bound at or before the ``now`` it was worked out for to the earliest after it) and
worked out again for a ``now`` outside it, forward or back; such a user is never
``simple``, so the hot path, which reads no clock, never serves it. Windowed inventory
grants are not cached at all: they are tested against ``now`` at each check (a user
holding one is never ``simple`` either).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import attrs

from tenancy.errors import InvalidValue, PermissionDenied
from tenancy.index.index import Index
from tenancy.records import changes as ch
from tenancy.records.grants import (
    BUILTIN_GLOBAL_ROLES,
    BUILTIN_INVENTORY_ROLES,
    LEVELS,
    PERMISSION_TYPES,
    Delegation,
    InventoryGrant,
    Permission,
    RoleDefinition,
    RoleGrant,
    SupportRequest,
    expand,
    parse_permission,
)
from tenancy.records.model import Device, Tenant, User
from tenancy.records.recipes import Recipe
from tenancy.records.sharing import Connector, Subscription
from tenancy.records.terms import MembershipTerm
from tenancy.records.window import in_window
from tenancy.rules.sharing import Consequences, consequences
from tenancy.rules.tenant_rules import edit_refusal

__all__ = [
    "ANY_INSTANT",
    "DEFAULT_MEMBER_ROLE",
    "DEVICE_READ",
    "MEMBER_ROLE_OPTION",
    "SUPPORT_FOR_ALL_OPTION",
    "SYSTEM",
    "Identity",
    "authorize",
    "check",
    "effective_global",
    "holds_on_group",
    "manages",
    "membership_grants",
    "own_global",
    "role_permissions",
    "support_open",
]

DEFAULT_MEMBER_ROLE = "viewer"
MEMBER_ROLE_OPTION = ("access", "default_member_role")
"""Tenant option naming the role membership grants; an empty value clears it."""
SUPPORT_FOR_ALL_OPTION = ("support", "enabled_for_all_tenants")
"""Option of the management tenant: "true" lets support users act in every tenant."""
ANY_INSTANT = datetime(2000, 1, 1, tzinfo=UTC)
"""The ``now`` a caller may pass to :func:`check` instead of reading its clock while
``index.access.windowed`` is False: no grant has a window then, and check reads no other
time-bounded record (delegations and support requests authorise writes, not checks), so
every instant gives the same answer. A clock read costs a slow-path check about 15% of its
instructions."""
SUPPORT = Permission("support", "READ")
DEVICE_READ = Permission("device", "READ")
_DEVICE_READ_TEXT = str(DEVICE_READ)
_PERMISSIONS: dict[object, Permission] = {
    text: parse_permission(text)
    for text in (f"{t}:{level}" for t in PERMISSION_TYPES for level in LEVELS)
    if not text.endswith(":CHANGE") or text.startswith("tenant_management")
}
"""Every valid permission string, parsed once: check looks its argument up here first."""


@attrs.frozen
class Identity:
    """Who acts: the application itself (``user_id`` None), a user, or a support user
    acting as a user."""

    user_id: str | None = None
    support_user_id: str | None = None

    @property
    def name(self) -> str:
        """How the audit log names it: ``system``, the user id, or ``support_user$user``."""
        if self.user_id is None:
            return "system"
        if self.support_user_id is not None:
            return f"{self.support_user_id}${self.user_id}"
        return self.user_id


SYSTEM = Identity()


# ---------------------------------------------------------------- roles


def role_permissions(index: Index, tenant_id: str, kind: str, role: str) -> frozenset[str] | None:
    """The permissions of a role in a tenant (built-in or custom), or None if unknown."""
    builtin = BUILTIN_GLOBAL_ROLES if kind == "global" else BUILTIN_INVENTORY_ROLES
    if role in builtin:
        return builtin[role]
    custom = index.access.role(tenant_id, kind, role)
    return None if custom is None else custom.permissions


def _member_role(index: Index, tenant_id: str) -> str | None:
    tenant = index.tenants.get(tenant_id)
    if tenant is None:
        return None
    name = tenant.get_option(*MEMBER_ROLE_OPTION, DEFAULT_MEMBER_ROLE)
    return name or None


def _expanded(index: Index, tenant_id: str, kind: str, role: str | None) -> frozenset[Permission]:
    if role is None:
        return frozenset()
    perms = role_permissions(index, tenant_id, kind, role)
    return frozenset() if perms is None else expand(perms)


@attrs.frozen
class _UserAccess:
    """What a user's own grants give at an instant, before capping by its owners (cached
    per commit and, when a global role grant of the user has a window, for the interval
    ``[since, until)`` only)."""

    tenant_id: str
    active: bool
    global_perms: frozenset[Permission]
    member_perms: frozenset[Permission]
    simple: bool
    """No owner and no inventory grant: a check needs no walk over grants or owners."""
    member_texts: frozenset[str]
    """``member_perms`` as ``"type:LEVEL"`` strings: the hot path tests the caller's string."""
    global_texts: frozenset[str]
    """``global_perms`` as strings, for the same reason."""
    bounded: bool = False
    """A global role grant of the user has a window: the entry holds from ``since`` to
    ``until`` only (None: open on that side)."""
    since: datetime | None = None
    until: datetime | None = None


def _access_of(index: Index, user: User, now: datetime) -> _UserAccess:
    # The dict of now, taken before the tables are read: an apply starting meanwhile puts a
    # new one in its place, so what is worked out from a half-applied index is never served.
    cache = index.access.cache
    cached: _UserAccess | None = cache.get(user.id)
    if cached is not None and (not cached.bounded or in_window(cached.since, cached.until, now)):
        return cached
    state = index.access
    roles: Iterable[str] = state.global_roles_of(user.id)
    windows = state.role_windows_of(user.id)
    since: datetime | None = None
    until: datetime | None = None
    if windows:
        # Only the grants in force at now count; the entry holds until the next bound
        # after now, and since the last one at or before it (the clock may move back).
        roles = [r for r in roles if r not in windows or in_window(*windows[r], now)]
        for bound in (b for w in windows.values() for b in w if b is not None):
            if bound <= now:
                since = bound if since is None or bound > since else since
            elif until is None or bound < until:
                until = bound
    global_perms: frozenset[Permission] = frozenset().union(
        *(_expanded(index, user.tenant_id, "global", r) for r in roles)
    )
    has_grants = bool(state.inventory_of("user", user.id)) or any(
        state.inventory_of("group", g) for g in index.groups_of_user(user.id)
    )
    member_perms = _expanded(
        index, user.tenant_id, "inventory", _member_role(index, user.tenant_id)
    )
    entry = _UserAccess(
        tenant_id=user.tenant_id,
        active=user.enabled and index.blocker_of(user.tenant_id) is None,
        global_perms=global_perms,
        member_perms=member_perms,
        simple=user.owner_id is None and not has_grants and not windows,
        member_texts=frozenset(str(p) for p in member_perms),
        global_texts=frozenset(str(p) for p in global_perms),
        bounded=bool(windows),
        since=since,
        until=until,
    )
    cache[user.id] = entry
    return entry


def _reaches(index: Index, user_id: str, device_id: str) -> bool:
    groups = index.reach_of(user_id)
    return bool(groups) and not groups.isdisjoint(index.cover_of(device_id))


def _inventory_grants(index: Index, user_id: str, now: datetime) -> Iterator[tuple[str, str]]:
    """(role, group) of every inventory grant the user holds at ``now``, itself or through
    a group (rule 7: a grant outside its window is skipped)."""
    state = index.access
    inventory_of = state.inventory_of
    windows = state.inventory_windows
    if not windows:  # no grant of the store has a window: nothing to test
        yield from inventory_of("user", user_id)
        for g in index.groups_of_user(user_id):
            yield from inventory_of("group", g)
        return
    for kind, principal in (
        ("user", user_id),
        *(("group", g) for g in index.groups_of_user(user_id)),
    ):
        for role, g in inventory_of(kind, principal):
            window = windows.get((kind, principal, role, g))
            if window is None or in_window(*window, now):
                yield role, g


def _own_allows(index: Index, user: User, perm: Permission, device: Device, now: datetime) -> bool:
    """Rules 1 and 2 for one user, without its owners."""
    acc = _access_of(index, user, now)
    if not acc.active:
        return False
    if device.tenant_id != acc.tenant_id:  # rule 6: a shared device, read-only
        return perm == DEVICE_READ and _member_or_inventory(index, user, acc, perm, device, now=now)
    if perm in acc.global_perms:
        return True
    return perm.type == "device" and _member_or_inventory(index, user, acc, perm, device, now=now)


def _member_or_inventory(
    index: Index, user: User, acc: _UserAccess, perm: Permission, device: Device, *, now: datetime
) -> bool:
    """Rule 2 alone: reach, and the member role or an inventory role on a covering group."""
    if not _reaches(index, user.id, device.id):
        return False
    if perm in acc.member_perms:
        return True
    cover = index.cover_of(device.id)
    return any(
        g in cover and perm in _expanded(index, user.tenant_id, "inventory", role)
        for role, g in _inventory_grants(index, user.id, now)
    )


def membership_grants(index: Index, user_id: str, device_id: str, permission: object) -> bool:
    """Reach found on the fast path of :func:`check` grants ``permission`` through a
    membership: always for READ, else only on a device of the user's own tenant (rule 6).
    """
    if permission in (_DEVICE_READ_TEXT, DEVICE_READ):
        return True
    if not index.shared_part_of(device_id):
        return True
    user, device = index.users.get(user_id), index.devices.get(device_id)
    return user is not None and device is not None and user.tenant_id == device.tenant_id


def _owners(index: Index, user: User) -> Iterator[User]:
    """The user's owner, its owner, and so on (cycles are refused on write; guarded here)."""
    seen = {user.id}
    owner_id = user.owner_id
    while owner_id is not None and owner_id not in seen:
        owner = index.users.get(owner_id)
        if owner is None:
            return
        seen.add(owner_id)
        yield owner
        owner_id = owner.owner_id


def check(index: Index, user_id: str, permission: object, device_id: str, now: datetime) -> bool:
    """May the user do ``permission`` to the device at ``now``? Unknown ids give False.

    Runtime complexity: O(1) for a user without owner, inventory grants or windowed role
    grants (a few dict look-ups, then verify's ``isdisjoint``); otherwise O(grants + owners
    x grants).
    """
    covers = index.reach_tables()[1]
    acc: _UserAccess | None = index.access.cache.get(user_id)
    if acc is not None and acc.simple and permission in acc.member_texts:
        # The hottest case, a plain member asking for what membership gives: a string in
        # a set of strings, then verify's own test (reach is empty for an inactive user).
        cover = covers.get(device_id)
        if cover is not None and not index.reach_of(user_id).isdisjoint(cover):
            return membership_grants(index, user_id, device_id, permission)
        if permission not in acc.global_texts:
            return False
    perm = _PERMISSIONS.get(permission)
    if perm is None:
        perm = parse_permission(permission)
    if acc is None:
        user = index.users.get(user_id)
        if user is None:
            return False
        acc = _access_of(index, user, now)
    if acc.simple:  # never bounded: nothing below depends on now
        # Reach is empty for an inactive user and never crosses tenants, so the member
        # path needs no other test; the tenant-wide path checks activity and tenant.
        if perm in acc.member_perms:
            cover = covers.get(device_id)
            if (
                cover is not None
                and not index.reach_of(user_id).isdisjoint(cover)
                and membership_grants(index, user_id, device_id, perm)
            ):
                return True
        if perm in acc.global_perms and acc.active:
            device = index.devices.get(device_id)
            return device is not None and device.tenant_id == acc.tenant_id
        return False
    user = index.users[user_id]
    device = index.devices.get(device_id)
    if device is None or not _own_allows(index, user, perm, device, now):
        return False
    return all(_own_allows(index, owner, perm, device, now) for owner in _owners(index, user))


def effective_global(index: Index, user_id: str, now: datetime) -> frozenset[Permission]:
    """The tenant-wide permissions the user holds at ``now``, capped by its owners'. Empty
    for an unknown, disabled or suspended user."""
    user = index.users.get(user_id)
    if user is None:
        return frozenset()
    acc = _access_of(index, user, now)
    if not acc.active:
        return frozenset()
    perms = acc.global_perms
    for owner in _owners(index, user):
        owner_acc = _access_of(index, owner, now)
        perms = perms & owner_acc.global_perms if owner_acc.active else frozenset()
    return perms


def own_global(index: Index, user_id: str, now: datetime) -> frozenset[Permission]:
    """The tenant-wide permissions of the user's own global roles at ``now``, before capping
    by its owners (a check of such a permission may pass outside the user's reach). Empty
    for an unknown, disabled or suspended user."""
    user = index.users.get(user_id)
    if user is None:
        return frozenset()
    acc = _access_of(index, user, now)
    return acc.global_perms if acc.active else frozenset()


def holds_on_group(
    index: Index, user_id: str, perms: Iterable[Permission], group_id: str, now: datetime
) -> bool:
    """Does the user hold every permission on the group (and so on every device it covers)
    at ``now``? Tenant-wide roles count; so do inventory roles on the group or one of its
    ancestors, and the default member role where the user is a member of the group or an
    ancestor."""
    user = index.users.get(user_id)
    if user is None or group_id not in index.groups:
        return False
    wanted = set(perms)
    chain = [user, *_owners(index, user)]
    for holder in chain:
        acc = _access_of(index, holder, now)
        if not acc.active or index.groups[group_id].tenant_id != acc.tenant_id:
            return False
        held = set(acc.global_perms)
        up = index.group_path(group_id)
        if not index.groups_of_user(holder.id).isdisjoint(up):
            held |= acc.member_perms
        for role, g in _inventory_grants(index, holder.id, now):
            if g in up:
                held |= _expanded(index, holder.tenant_id, "inventory", role)
        if not wanted <= held:
            return False
    return True


# ---------------------------------------------------------------- managing users


def _delegations_to(index: Index, actor_id: str, now: datetime) -> set[str]:
    """The owners whose hierarchy the actor manages by delegation: in its window at ``now``
    (rule 7), and only while the actor still holds user_management:CREATE (what a delegate
    must hold)."""
    owners: set[str] = set()
    if not index.access.delegators_of(actor_id):
        return owners
    if Permission("user_management", "CREATE") not in effective_global(index, actor_id, now):
        return owners
    for owner in index.access.delegators_of(actor_id):
        delegation = index.access.delegation(owner, actor_id)
        if delegation is not None and in_window(delegation.valid_from, delegation.until, now):
            owners.add(owner)
    return owners


def manages(index: Index, actor_id: str, user_id: str, now: datetime) -> bool:
    """Is ``user_id`` a sub-user (at any depth) of the actor, or of a user who delegated the
    management of its hierarchy to the actor (a delegation not yet ended)?"""
    user = index.users.get(user_id)
    if user is None:
        return False
    heads = {actor_id} | _delegations_to(index, actor_id, now)
    return any(owner.id in heads for owner in _owners(index, user))


def _may_own(index: Index, actor_id: str, owner_id: str, now: datetime) -> bool:
    """May the actor make ``owner_id`` the owner of a user it creates or moves?"""
    if owner_id == actor_id or owner_id in _delegations_to(index, actor_id, now):
        return True
    return manages(index, actor_id, owner_id, now)


def support_open(index: Index, tenant_id: str, now: datetime) -> bool:
    """Is support access open for the tenant: for every tenant, or by its own request?"""
    management = next((t for t in index.tenants.values() if t.parent_id is None), None)
    if management is not None and management.get_option(*SUPPORT_FOR_ALL_OPTION) == "true":
        return True
    request = index.access.support_request(tenant_id)
    return request is not None and request.until > now


# ---------------------------------------------------------------- authorising writes


def _deny(identity: Identity, action: str, rule: str) -> PermissionDenied:
    return PermissionDenied(
        f"{identity.name} may not {action}: {rule}", value=identity.name, rule=rule
    )


class _Authorizer:
    """Checks one commit's changes against what the acting user may do (rule 5)."""

    def __init__(
        self, index: Index, identity: Identity, now: datetime, implied: Consequences
    ) -> None:
        assert identity.user_id is not None
        self.implied = implied
        """Changes another change of the commit implies (a new subscription's virtual
        group...): authorised with that change (tenancy.rules.sharing)."""
        self.index = index
        self.identity = identity
        self.actor = identity.user_id
        self.now = now
        self.tenant_id = index.users[self.actor].tenant_id
        self.perms = effective_global(index, self.actor, now)
        self.management = {t.id for t in index.tenants.values() if t.parent_id is None}
        self.created: set[str] = set()
        """Tenants this commit creates: their first admin user and its admin role come with
        the authorised TenantCreated."""

    def need(self, type_: str, level: str, action: str) -> None:
        if Permission(type_, level) not in self.perms:
            raise _deny(self.identity, action, f"it needs {type_}:{level} in its tenant")

    def tenant_above(self, tenant_id: str | None, action: str) -> None:
        """The actor's tenant is ``tenant_id`` (the parent of what is written) or the
        management tenant: the rules of tenancy.handle.tenants, for the actor's own tenant
        whatever ``by=`` said."""
        if self.tenant_id not in self.management and self.tenant_id != tenant_id:
            raise _deny(self.identity, action, "only its parent tenant or the management tenant")

    def tenant_edit(self, old: Tenant, new: Tenant) -> None:
        """What a tenant's fields may change by whom: the rules of tenancy.rules.tenant_rules,
        for the actor's own tenant."""
        rule = edit_refusal(self.tenant_id, old, new, management=self.management)
        if rule is not None:
            raise _deny(self.identity, f"edit tenant {old.id!r}", rule)

    def in_tenant(self, tenant_id: str, action: str) -> None:
        if tenant_id != self.tenant_id:
            raise _deny(self.identity, action, "a user acts only inside its own tenant")

    def device(self, device_id: str, level: str, action: str) -> None:
        if not check(self.index, self.actor, Permission("device", level), device_id, self.now):
            raise _deny(self.identity, action, f"it needs device:{level} on {device_id!r}")

    def user(self, user_id: str, level: str, action: str) -> None:
        """user_management at ``level``, or managing the user as (delegated) owner."""
        if Permission("user_management", level) in self.perms:
            return
        if not manages(self.index, self.actor, user_id, self.now):
            raise _deny(
                self.identity,
                action,
                f"it needs user_management:{level}, or to own {user_id!r} (or hold a "
                "delegation from its owner)",
            )

    def grantable(self, perms: frozenset[Permission], action: str, group_id: str | None) -> None:
        """An actor grants only what it holds itself (on the group, for inventory roles)."""
        if group_id is None:
            missing = perms - self.perms
        elif holds_on_group(self.index, self.actor, perms, group_id, self.now):
            missing = frozenset()
        else:
            missing = perms
        if missing:
            listed = ", ".join(sorted(str(p) for p in missing))
            raise _deny(self.identity, action, f"it may grant only what it holds ({listed})")

    def authorize(self, change: ch.Change) -> None:
        index = self.index
        match change:
            case ch.UsageRecorded() | ch.SupportSessionStarted():
                return
            case _ if self.implied.follows(change):
                return
            case ch.ConnectorAcceptRefused(tenant_id=tid):
                self.in_tenant(tid, "accept a connector")
                self.need("tenant_management", "UPDATE", "accept a connector")
            case (
                ch.UserCreated(user=User(tenant_id=tid))
                | ch.AccessSet(record=RoleGrant(tenant_id=tid))
            ) if tid in self.created:
                return  # the new tenant's first admin, provisioned with it
            case ch.TenantCreated(tenant=t):
                self.need("tenant_management", "CREATE", "create a tenant")
                self.tenant_above(t.parent_id, f"create a subtenant of {t.parent_id!r}")
                self.created.add(t.id)
            case ch.TenantUpdated(tenant=t):
                self.need("tenant_management", "UPDATE", f"edit tenant {t.id!r}")
                self.tenant_edit(index.tenants[t.id], t)
            case ch.TenantSuspended(tenant_id=tid) | ch.TenantActivated(tenant_id=tid):
                self.need("tenant_management", "UPDATE", f"{type(change).__name__}")
                self.tenant_above(index.tenants[tid].parent_id, f"suspend or activate {tid!r}")
            case ch.TenantDeleted(tenant_id=tid):
                self.need("tenant_management", "ADMIN", "delete a tenant")
                if self.tenant_id not in self.management:
                    raise _deny(self.identity, f"delete tenant {tid!r}", _MANAGEMENT_ONLY)
            case ch.GroupCreated(group=g):
                self.in_tenant(g.tenant_id, "create a group")
                self.need("group", "CREATE", "create a group")
            case ch.GroupUpdated(group_id=gid) | ch.GroupMoved(group_id=gid):
                self.in_tenant(index.groups[gid].tenant_id, "edit a group")
                self.need("group", "UPDATE", f"edit group {gid!r}")
            case ch.Associated(group_id=gid) | ch.Dissociated(group_id=gid):
                self.in_tenant(index.groups[gid].tenant_id, "change associations")
                self.need("group", "UPDATE", f"change the associations of group {gid!r}")
            case ch.GroupDeleted(group_id=gid):
                self.in_tenant(index.groups[gid].tenant_id, "delete a group")
                self.need("group", "ADMIN", f"delete group {gid!r}")
            case ch.DeviceCreated(device=d):
                self.in_tenant(d.tenant_id, "create a device")
                self.need("device", "CREATE", "create a device")
            case (
                ch.DeviceRenamed(device_id=did)
                | ch.DeviceTagged(device_id=did)
                | ch.DeviceUntagged(device_id=did)
            ):
                self.device(did, "UPDATE", f"edit device {did!r}")
            case ch.DeviceMoved(device_id=did, parent_id=parent):
                self.device(did, "UPDATE", f"edit device {did!r}")
                if parent is not None:  # a device goes only under a gateway it may update
                    self.device(parent, "UPDATE", f"put device {did!r} under {parent!r}")
            case ch.DeviceDeleted(device_id=did):
                self.device(did, "ADMIN", f"delete device {did!r}")
            case ch.UserCreated(user=u):
                self.in_tenant(u.tenant_id, "create a user")
                if Permission("user_management", "CREATE") in self.perms:
                    return
                if u.owner_id is None or not _may_own(index, self.actor, u.owner_id, self.now):
                    raise _deny(
                        self.identity,
                        "create a user",
                        "it needs user_management:CREATE, or to create a sub-user of its own",
                    )
            case ch.UserUpdated(user=u):
                old = index.users[u.id]
                now = self.now
                if u.id == self.actor and _self_edit(old, u):
                    return
                self.user(u.id, "UPDATE", f"edit user {u.id!r}")
                moved = u.owner_id != old.owner_id
                if (
                    moved
                    and Permission("user_management", "UPDATE") not in self.perms
                    and (u.owner_id is None or not _may_own(index, self.actor, u.owner_id, now))
                ):
                    # Releasing a sub-user (no owner) would lift its owner's cap from it.
                    raise _deny(
                        self.identity,
                        f"change the owner of {u.id!r}",
                        "the new owner must be the actor or one of its own sub-users; "
                        "releasing a user from its owner needs user_management:UPDATE",
                    )
            case ch.UserDeleted(user_id=uid):
                self.user(uid, "ADMIN", f"delete user {uid!r}")
            case (
                ch.MemberAdded(group_id=gid, user_id=uid)
                | ch.MemberRemoved(group_id=gid, user_id=uid)
            ):
                if Permission("user_management", "UPDATE") in self.perms:
                    return
                self.user(uid, "UPDATE", f"change the memberships of {uid!r}")
                # An owner gives its sub-users no reach it lacks itself.
                up = index.group_path(gid)
                if index.groups_of_user(self.actor).isdisjoint(up):
                    raise _deny(
                        self.identity,
                        f"add {uid!r} to group {gid!r}",
                        "an owner adds sub-users only to groups it is in itself (or below)",
                    )
            case ch.AccessSet(record=r) | ch.AccessRemoved(record=r):
                self._authorize_access(r, removing=isinstance(change, ch.AccessRemoved))
            case _:  # never allowed by default: a type no rule here names is refused
                raise ch.unknown_change(change)

    def _authorize_access(self, record: object, *, removing: bool) -> None:
        index = self.index
        match record:
            case RoleDefinition(tenant_id=t, name=name, permissions=defined):
                self.in_tenant(t, "define a role")
                self.need("user_management", "ADMIN", "define a role")
                if not removing:  # (re)defining a held role grants it to every holder
                    self.grantable(expand(defined), f"define role {name!r}", None)
            case RoleGrant(tenant_id=t, user_id=uid, role=role):
                self.in_tenant(t, "grant a role")
                self.user(uid, "ADMIN", f"change the roles of {uid!r}")
                if not removing:
                    perms = _expanded(index, t, "global", role)
                    self.grantable(perms, f"grant role {role!r}", None)
            case InventoryGrant(tenant_id=t, principal_kind=kind, principal_id=pid, role=role):
                self.in_tenant(t, "grant an inventory role")
                if kind == "user":
                    self.user(pid, "ADMIN", f"change the roles of {pid!r}")
                else:
                    self.need("user_management", "ADMIN", "grant a role to a group's members")
                if not removing:
                    perms = _expanded(index, t, "inventory", role)
                    self.grantable(perms, f"grant role {role!r}", record.group_id)
            case Delegation(tenant_id=t, owner_id=owner, delegate_id=delegate):
                self.in_tenant(t, "delegate")
                allowed = {owner, delegate} if removing else {owner}
                if self.actor not in allowed:
                    self.need("user_management", "ADMIN", "delegate another user's hierarchy")
            case SupportRequest(tenant_id=t):
                self.in_tenant(t, "request support")
            case Recipe(tenant_id=t, id=rid):
                # A recipe is a standing way to create devices: making one takes what
                # creating a device takes, deleting one what deleting a device takes. Using
                # it is authorised change by change (device:CREATE, and group:UPDATE for
                # the groups it associates the new devices with).
                self.in_tenant(t, "keep device recipes")
                if removing:
                    self.need("device", "ADMIN", f"delete recipe {rid!r}")
                else:
                    self.need("device", "CREATE", "create a device recipe")
            case Connector(source_tenant_id=t):
                self.in_tenant(t, "create, toggle or delete a connector")
                self.need("tenant_management", "UPDATE", "create, toggle or delete a connector")
            case Subscription(tenant_id=t):
                self.in_tenant(t, "accept, toggle or delete a subscription")
                self.need("tenant_management", "UPDATE", "accept, toggle or delete a subscription")
            case MembershipTerm(group_id=gid, user_id=uid):
                # The window of a membership is the membership's own: who may change the
                # one may change the other.
                self.authorize(ch.MemberAdded(group_id=gid, user_id=uid))
            case _:
                raise InvalidValue(
                    record, "an access record is a tenancy.records.grants record", field="record"
                )


_MANAGEMENT_ONLY = "only the management tenant"


def _self_edit(old: User, new: User) -> bool:
    """A user may edit its own email, username and names, nothing that grants anything."""
    return (old.tags, old.enabled, old.owner_id) == (new.tags, new.enabled, new.owner_id)


def authorize(
    index: Index, identity: Identity, changes: Iterable[ch.Change], now: datetime
) -> None:
    """Raise PermissionDenied, naming the actor and the rule, unless the acting identity
    may make every change. The application itself (``SYSTEM``) may make any."""
    if identity.user_id is None:
        return
    actor = index.users.get(identity.user_id)
    if actor is None:
        raise _deny(identity, "act", "the acting user no longer exists")
    if not actor.enabled or index.blocker_of(actor.tenant_id) is not None:
        raise _deny(identity, "act", "a disabled user, or one of a suspended tenant, may not act")
    if identity.support_user_id is not None:
        support = index.users.get(identity.support_user_id)
        if (
            support is None
            or not support.enabled
            or index.blocker_of(support.tenant_id) is not None
            or index.tenants[support.tenant_id].parent_id is not None
            or SUPPORT not in effective_global(index, support.id, now)
        ):
            raise _deny(identity, "act", "the support user no longer holds the support permission")
        if not support_open(index, actor.tenant_id, now):
            raise _deny(identity, "act", "the support session has ended")
    changes = list(changes)
    authorizer = _Authorizer(index, identity, now, consequences(index, changes))
    for change in changes:
        authorizer.authorize(change)
