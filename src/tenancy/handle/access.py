"""The permission-aware queries of a handle: check, and devices_for and explain that take a
permission. A listing with a permission is the reach listing (or, for a tenant-wide role,
the tenant's devices) filtered by :func:`tenancy.rules.access.check` itself, so a listing never
disagrees with a check.
"""

from __future__ import annotations

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
    *,
    limit: int,
    after: str | None,
    tags: RulesInput | None,
    group: str | None,
) -> Page[Device]:
    """The page of the devices ``perm`` allows, all of it read from one index inside
    ``_read``: the choice of listing and every check of it see the same writes."""
    user = index.users.get(user_id)
    if user is None:  # an empty page, once the arguments are checked
        return devices_for(
            index, user_id, limit=limit, after=after, tags=tags, group=group,
            listing=listing,
        )  # fmt: skip

    def allowed(device: Device) -> bool:
        return check(index, user_id, perm, device.id)

    # Devices shared into the tenant are READ through memberships, never tenant-wide
    # (tenancy.rules.access rule 6): a tenant-wide listing of READ merges them in.
    shared = perm == DEVICE_READ and bool(index.access.subscriptions_of(user.tenant_id))
    tenant_id = user.tenant_id
    if perm in effective_global(index, user_id):
        # Tenant-wide: check allows every device of the tenant, owners included.
        return devices_of_tenant(
            index, tenant_id, limit=limit, after=after, tags=tags, group=group,
            listing=listing, reached_by=user_id if shared else None,
            where=(lambda d: d.tenant_id == tenant_id or allowed(d)) if shared else None,
        )  # fmt: skip

    if perm in own_global(index, user_id):
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
        """One page of the devices the user reaches, sorted by id; with ``permission``, of
        exactly the devices :meth:`check` allows for it (a tenant-wide role lists the whole
        tenant). See :func:`tenancy.rules.reach.devices_for` for the filters and the cost; a
        permission filter adds one check per device it looks at."""
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
            _permitted, user_id, perm, listing, limit=limit, after=after, tags=tags,
            group=group,
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
        """Why the user reaches the device, or the first failing condition; with
        ``permission``, also which role grants it, or why none does.
        Runtime complexity: O(depth x associating groups), plus the grants with a
        permission."""
        self._sync(at_least, fresh)
        if permission is None:
            return self._read(explain, user_id, device_id)
        named("permission", parse_permission, permission)
        return self._read(explain_permission, user_id, device_id, permission)
