"""The permission-aware queries of a handle: check, and devices_for and explain that take a
permission. A listing with a permission is the reach listing (or, for a tenant-wide role,
the tenant's devices) filtered by :func:`tenancy.rules.access.check` itself, so a listing never
disagrees with a check.
"""

from __future__ import annotations

from datetime import datetime

from tenancy.errors import InvalidValue, named
from tenancy.handle.queries import Queries
from tenancy.index.index import Index
from tenancy.records.grants import Permission, parse_permission
from tenancy.records.model import Device, Explanation, Page
from tenancy.records.tags import RulesInput
from tenancy.rules.access import DEVICE_READ, check, effective_global, own_global
from tenancy.rules.access_queries import (
    explain_permission,
)
from tenancy.rules.paging import DEVICES_FOR
from tenancy.rules.reach import (
    DEFAULT_PAGE_SIZE,
    ListingOf,
    devices_for,
    devices_of_tenant,
    explain,
)

__all__ = [
    "AccessQueries",
]


def _check_arguments(user_id: object, permission: object) -> None:
    """InvalidValue naming the argument for a malformed permission or an unhashable user
    id (a list where the id goes); an unknown user id is fine (an empty page)."""
    named("permission", parse_permission, permission)
    try:
        hash(user_id)
    except TypeError:
        raise InvalidValue(user_id, "user_id is an id (a string)", field="user_id") from None


def _permitted(
    index: Index,
    user_id: str,
    perm: Permission,
    listing: ListingOf,
    now: datetime,
    *,
    limit: int,
    after: str | None,
    tags: RulesInput | None,
    group: str | None,
) -> Page[Device]:
    """The page of the devices ``perm`` allows, all of it read from one index inside
    ``_read``: the choice of listing and every check of it see the same writes, and the
    same instant ``now`` (each page is for the clock when it is asked for)."""
    user = index.users.get(user_id)
    if user is None:  # an empty page, once the arguments are checked
        return devices_for(
            index, user_id, limit=limit, after=after, tags=tags, group=group,
            listing=listing,
        )  # fmt: skip

    def allowed(device: Device) -> bool:
        return check(index, user_id, perm, device.id, now)

    # Devices shared into the tenant are READ through memberships, never tenant-wide
    # (tenancy.rules.access rule 6): a tenant-wide listing of READ merges them in.
    shared = perm == DEVICE_READ and bool(index.access.subscriptions_of(user.tenant_id))
    tenant_id = user.tenant_id
    if perm in effective_global(index, user_id, now):
        # Tenant-wide: check allows every device of the tenant, owners included.
        return devices_of_tenant(
            index, tenant_id, limit=limit, after=after, tags=tags, group=group,
            listing=listing, reached_by=user_id if shared else None,
            where=(lambda d: d.tenant_id == tenant_id or allowed(d)) if shared else None,
        )  # fmt: skip

    if perm in own_global(index, user_id, now):
        # The user's own role is tenant-wide but an owner caps it device by device:
        # the candidates are the tenant's devices, not only those the user reaches.
        return devices_of_tenant(
            index, tenant_id, limit=limit, after=after, tags=tags, group=group,
            where=allowed, listing=listing, reached_by=user_id if shared else None,
        )  # fmt: skip
    return devices_for(
        index, user_id, limit=limit, after=after, tags=tags, group=group,
        where=allowed, listing=listing,
    )  # fmt: skip


class AccessQueries(Queries):
    """The queries of a handle with ``permission=`` on :meth:`devices_for` and
    :meth:`explain` (check, hot, is the handle's own method)."""

    def devices_for(
        self,
        user_id: str,
        *,
        limit: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        tags: RulesInput | None = None,
        group: str | None = None,
        permission: str | Permission | None = None,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> Page[Device]:
        """One page of the devices ``user_id`` reaches, sorted by id. ``limit`` is 1 to 10,000;
        ``after`` the previous page's ``next`` (a cursor of this listing with the same filters).
        ``tags`` keeps devices matching every matcher; ``group`` those that group covers; with
        ``permission``, exactly the devices :meth:`check` allows (a tenant-wide role lists the
        tenant, filtered by ``check`` when an owner caps it). ``at_least``, ``fresh``:
        [freshness](api.md#freshness). Runtime complexity: O(g log n + limit x g) for a user whose
        groups cover n devices through g top-most groups; a filter adds the devices it skips, a
        permission one check each. Never materialises more than one page."""
        self._sync(at_least, fresh)
        if permission is None:
            return self._read(
                devices_for, user_id, limit=limit, after=after, tags=tags, group=group
            )
        _check_arguments(user_id, permission)  # InvalidValue naming a malformed one
        perm = parse_permission(permission)
        # Whichever way the page is found, its cursor is bound to this user and permission.
        listing = (DEVICES_FOR, user_id, str(perm))

        # A module function, not a closure: a closure's cells would cost every call of
        # this method, the plain listing's too.
        return self._read(
            _permitted, user_id, perm, listing, self._writer.clock(), limit=limit, after=after,
            tags=tags, group=group,
        )  # fmt: skip

    def explain(
        self,
        user_id: str,
        device_id: str,
        *,
        permission: str | Permission | None = None,
        at_least: int | None = None,
        fresh: bool = False,
    ) -> Explanation:
        """Why ``user_id`` reaches ``device_id`` (an :class:`~tenancy.Explanation`), or the
        first condition that fails; with ``permission``, also which role grants it (``role``,
        ``role_group``) or why none does (``no-role``, ``capped-by-owner``). ``at_least``,
        ``fresh``: [freshness](api.md#freshness). Runtime complexity: O(gateways x (tags x
        rules per tag + depth x associating groups)), plus the grants with a permission."""
        self._sync(at_least, fresh)
        if permission is None:
            return self._read(explain, user_id, device_id)
        named("permission", parse_permission, permission)
        return self._read(explain_permission, user_id, device_id, permission, self._writer.clock())
