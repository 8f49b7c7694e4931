"""Tenant lifecycle: create, edit, suspend, activate and delete tenants (DOMAIN.md section 6).

A mixin of :class:`~tenancy.service.Tenancy`: it validates against the handle's index and
writes through the handle's single write path.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from tenancy import ids as _ids
from tenancy._validate import (
    UNSET,
    check_bool,
    check_domain,
    check_email,
    check_name,
    check_text,
    replace,
    unique_id,
)
from tenancy.changes import (
    Change,
    TenantActivated,
    TenantCreated,
    TenantDeleted,
    TenantSuspended,
    TenantUpdated,
    UserCreated,
)
from tenancy.errors import AlreadyExists, InUse, InvalidValue, NotFound
from tenancy.errors import TenantSuspended as TenantSuspendedError
from tenancy.index import Index
from tenancy.model import ACTIVE, SUSPENDED, Tenant, User

__all__ = ["MANAGEMENT_DOMAIN", "TenantLifecycle"]

MANAGEMENT_DOMAIN = "management"
R = TypeVar("R")


class TenantLifecycle:
    """The tenant methods of a :class:`~tenancy.Tenancy` handle."""

    _index: Index
    _clock: Callable[[], datetime]

    def _write(self, make: Callable[[], tuple[list[Change], R]]) -> R:
        raise NotImplementedError  # provided by Tenancy

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
            tenant_id = id or unique_id(_ids.new_tenant_id, index.tenants)
            check_email(admin_email)
            check_name("admin user", admin_username)
            admin = User(
                id=unique_id(_ids.new_user_id, index.users), tenant_id=tenant_id,
                email=admin_email, username=admin_username,
            )  # fmt: skip
            tenant = Tenant(
                id=tenant_id,
                domain=domain,
                name=check_name("tenant", name),
                parent_id=parent_id,
                allow_subtenants=check_bool("allow_subtenants", allow_subtenants),
                status=ACTIVE,
                created_at=self._clock(),
                contact_name=check_text("contact_name", contact_name),
                contact_phone=check_text("contact_phone", contact_phone),
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
        name: str = UNSET,
        contact_name: str = UNSET,
        contact_phone: str = UNSET,
        admin_email: str = UNSET,
        allow_subtenants: bool = UNSET,
    ) -> Tenant:
        """Edit a tenant's fields; id, domain and the admin username never change."""

        def make() -> tuple[list[Change], Tenant]:
            old = self.get_tenant(tenant_id)
            self._check_active(tenant_id)
            fields: dict[str, Any] = {}
            if name is not UNSET:
                fields["name"] = check_name("tenant", name)
            if contact_name is not UNSET:
                fields["contact_name"] = check_text("contact_name", contact_name)
            if contact_phone is not UNSET:
                fields["contact_phone"] = check_text("contact_phone", contact_phone)
            if admin_email is not UNSET:
                fields["admin_email"] = check_email(admin_email)
            if allow_subtenants is not UNSET:
                fields["allow_subtenants"] = check_bool("allow_subtenants", allow_subtenants)
            new = replace(old, **fields)
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
            return [TenantSuspended(tenant_id=tenant_id)], replace(tenant, status=SUSPENDED)

        return self._write(make)

    def activate_tenant(self, tenant_id: str) -> Tenant:
        """Lift a suspension: every answer comes back exactly as it was."""

        def make() -> tuple[list[Change], Tenant]:
            tenant = self.get_tenant(tenant_id)
            if tenant.status == ACTIVE:
                return [], tenant
            return [TenantActivated(tenant_id=tenant_id)], replace(tenant, status=ACTIVE)

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
