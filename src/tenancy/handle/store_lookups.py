"""Store-wide look-ups (ids are unique in the whole store, DOMAIN.md section 2): every
tenant, parents first; a user, device or group by id whatever its tenant; the users of
an email in every tenant (a login page's question); the pages of a tenant's users and
groups; and :func:`every_page`, which walks every page of a listing.

Who may read: every handle, acting ones included, exactly as the tenant-scoped reads
(:meth:`TenantScope.get_user <tenancy.TenantScope.get_user>`, ``users()``, ``groups()``,
``devices()``): reads are not authorised, writes are (an acting handle is checked on every
write, DOMAIN.md section 5). So ``tn.as_user(u).get_user(x)`` is ``tn.get_user(x)``.

Every read walks the index inside :meth:`Queries._read
<tenancy.handle.queries.Queries._read>`, so one that runs during a write sees the write
whole or not at all. The module's reads of the index's tables are the small functions in
the first section below, and nowhere else.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, TypeVar

from tenancy.errors import InvalidValue, NotFound
from tenancy.handle.queries import Queries
from tenancy.handle.writer import Writer
from tenancy.index.index import Index
from tenancy.records.model import Device, Group, Page, Tenant, User
from tenancy.rules.access import Identity
from tenancy.rules.paging import (
    TENANT_GROUPS,
    TENANT_USERS,
    check_page_size,
    decode,
    encode,
)

__all__ = ["StoreLookups", "every_page", "groups_page", "users_page"]

T = TypeVar("T")
R = TypeVar("R")


# ---------------------------------------------------------------- the index reads
# Every read of the index this module makes (and so the store-wide look-ups and the tenant
# scope's pages of users and groups), through the index's read interface.


def _tenants(index: Index) -> Mapping[str, Tenant]:
    return index.tenants


def _child_tenants(index: Index, tenant_id: str) -> Collection[str]:
    return index.child_tenants(tenant_id)


def _users(index: Index) -> Mapping[str, User]:
    return index.users


def _devices(index: Index) -> Mapping[str, Device]:
    return index.devices


def _group(index: Index, group_id: str) -> Group | None:
    """The group's record, or None for an unknown id."""
    return index.group_record(group_id) if group_id in index.groups else None


def _email_holder(index: Index, tenant_id: str, email_key: str) -> str | None:
    """The id of the tenant's user with this casefolded email, or None."""
    return index.user_by_email(tenant_id, email_key)


def _tenant_user_ids(index: Index, tenant_id: str) -> Collection[str]:
    return index.users_of_tenant(tenant_id)


def _tenant_group_ids(index: Index, tenant_id: str) -> Collection[str]:
    return index.groups_of_tenant(tenant_id)


# ---------------------------------------------------------------- pure queries


def _tenant_tree(index: Index) -> list[Tenant]:
    """Every tenant, depth first from the root, each before its subtenants; siblings by id."""
    tenants = _tenants(index)
    order: list[Tenant] = []
    stack = sorted((t for t in tenants.values() if t.parent_id is None), key=_id, reverse=True)
    while stack:
        tenant = stack.pop()
        order.append(tenant)
        stack.extend(tenants[c] for c in sorted(_child_tenants(index, tenant.id), reverse=True))
    return order


def _id(tenant: Tenant) -> str:
    return tenant.id


def _record(table: Mapping[str, R], record_id: object, kind: str, field: str) -> R:
    try:
        record = table.get(record_id) if isinstance(record_id, str) else None
    except TypeError:  # pragma: no cover - a str subclass with a broken hash
        record = None
    if record is None:
        raise NotFound(kind, record_id, where="the store", field=field)
    return record


def _group_record(index: Index, group_id: object) -> Group:
    group = _group(index, group_id) if isinstance(group_id, str) else None
    if group is None:
        raise NotFound("group", group_id, where="the store", field="group_id")
    return group


def _users_with_email(index: Index, email_key: str) -> list[User]:
    users = _users(index)
    found = (_email_holder(index, t, email_key) for t in _tenants(index))
    return sorted((users[u] for u in found if u is not None), key=lambda u: u.id)


def _page(ids: Collection[str], bind: tuple[int, str], limit: object, after: object) -> Any:
    """The ids of one page (the first ``limit`` after the cursor, in id order), and the
    cursor of the next page, or None: O(n log limit) for the n ids of the tenant."""
    size = check_page_size(limit)
    start = decode(bind, after)
    chosen = heapq.nsmallest(size + 1, ids if start is None else (i for i in ids if i > start))
    return chosen[:size], (chosen[size - 1] if len(chosen) > size else None)


def users_page(index: Index, tenant_id: str, *, limit: int, after: str | None) -> Page[User]:
    """One page of the tenant's users, sorted by id (run through ``Queries._read``)."""
    bind = (TENANT_USERS, tenant_id)
    ids, last = _page(_tenant_user_ids(index, tenant_id), bind, limit, after)
    users = _users(index)
    items = tuple(users[u] for u in ids)
    return Page(items) if last is None else Page(items, cursor=(encode, bind, last))


def groups_page(index: Index, tenant_id: str, *, limit: int, after: str | None) -> Page[Group]:
    """One page of the tenant's groups, sorted by id (run through ``Queries._read``)."""
    bind = (TENANT_GROUPS, tenant_id)
    ids, last = _page(_tenant_group_ids(index, tenant_id), bind, limit, after)
    items = tuple(_group_record(index, g) for g in ids)
    return Page(items) if last is None else Page(items, cursor=(encode, bind, last))


# ---------------------------------------------------------------- walking every page


def every_page(
    listing: Callable[..., Page[T] | list[T]], /, *args: Any, **kwargs: Any
) -> Iterator[T]:
    """Every item of a paginated listing, one page after another: ``listing(*args,
    **kwargs)`` is called with ``after=`` each page's ``next`` until a page has none.
    Works with every call that returns a :class:`~tenancy.Page` and takes ``after=``
    (``devices_for``, ``devices_in``, ``audit_log``, a tenant scope's ``devices``, and its
    ``users`` and ``groups``, which page when given ``after=``, as here); ``limit=`` sets
    the page size, ``after=`` a cursor to start from. The first page is read here (a bad
    argument raises at once), each following one when the items before it are used up.

    Each page is consistent; writes between two pages move no cursor (a cursor is a
    position in id order), so the walk gives every item that stayed from start to end
    exactly once, an item added behind the walk's position is not given, and one deleted
    ahead of it is not either. Runtime complexity: the listing's cost per page.

    >>> import tenancy
    >>> tn = tenancy.open()
    >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
    >>> t = tn.tenant(acme.id)
    >>> _ = t.create_devices([{"name": f"Gen {n}", "id": f"gen-{n}"} for n in range(5)])
    >>> t.devices(limit=2).next is not None
    True
    >>> [d.id for d in tenancy.every_page(t.devices, limit=2)]
    ['gen-0', 'gen-1', 'gen-2', 'gen-3', 'gen-4']
    """
    first = _page_of(listing, args, kwargs, kwargs.pop("after", None))
    return _walk(listing, args, kwargs, first)


def _page_of(
    listing: Callable[..., Page[T] | list[T]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    after: object,
) -> Page[T]:
    page = listing(*args, after=after, **kwargs)
    if not isinstance(page, Page):
        raise InvalidValue(
            listing, "every_page walks a listing that returns a Page when given after=",
            field="listing",
        )  # fmt: skip
    return page


def _walk(
    listing: Callable[..., Page[T] | list[T]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    page: Page[T],
) -> Iterator[T]:
    while True:
        yield from page.items
        if page.next is None:
            return
        page = _page_of(listing, args, kwargs, page.next)


# ---------------------------------------------------------------- the part


class StoreLookups:
    """The store-wide look-ups of a :class:`~tenancy.Tenancy` handle, a part it holds."""

    def __init__(self, writer: Writer, identity: Identity) -> None:
        self._queries = Queries(writer, identity)

    def tenants(self) -> list[Tenant]:
        """Every tenant of the store, parents first: the management tenant, then depth
        first, each tenant before its subtenants, siblings sorted by id. Runtime
        complexity: O(tenants log tenants).

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example",
        ...                         allow_subtenants=True)
        >>> _ = tn.create_tenant(domain="acme-eu", name="Acme EU", admin_email="eu@acme.example",
        ...                      parent=acme.id)
        >>> [t.domain for t in tn.tenants()]
        ['management', 'acme', 'acme-eu']
        """
        return self._queries._read(_tenant_tree)

    def get_user(self, user_id: str) -> User:
        """The user with this id, in whichever tenant; NotFound naming ``user_id`` for an
        unknown id. Runtime complexity: O(1)."""
        return self._queries._read(lambda index: _record(_users(index), user_id, "user", "user_id"))

    def get_device(self, device_id: str) -> Device:
        """The device with this id, in whichever tenant; NotFound naming ``device_id``.
        Runtime complexity: O(1).

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        >>> _ = tn.tenant(acme.id).create_device("Generator 7", id="SN-7")
        >>> tn.get_device("SN-7").tenant_id == acme.id
        True
        >>> try:
        ...     tn.get_device("SN-8")
        ... except tenancy.NotFound as missing:
        ...     print(missing.field)
        device_id
        """
        return self._queries._read(
            lambda index: _record(_devices(index), device_id, "device", "device_id")
        )

    def get_group(self, group_id: str) -> Group:
        """The group with this id, in whichever tenant; NotFound naming ``group_id``.
        Runtime complexity: O(device ids and tag rules of the group), copied into the record."""
        return self._queries._read(_group_record, group_id)

    def find_users(self, email: str) -> list[User]:
        """The users whose email is ``email`` (ignoring case), in every tenant, sorted by
        id: who may log in with it. Runtime complexity: O(t) for the store's t tenants.

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> for domain in ("acme", "beta"):
        ...     tenant = tn.create_tenant(domain=domain, name=domain, admin_email="it@x.example")
        ...     _ = tn.tenant(tenant.id).create_user("Ana@Example.com")
        >>> sorted(tn.get_tenant(u.tenant_id).domain for u in tn.find_users("ana@example.COM"))
        ['acme', 'beta']
        """
        if not isinstance(email, str):
            raise InvalidValue(email, "an email is a string", field="email")
        return self._queries._read(_users_with_email, email.casefold())
