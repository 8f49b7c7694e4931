"""Where an import may land: an empty store for a whole store's document, an active tenant
that may have subtenants for a tenant's (onboarding). Checked when the plan is made and
again, under the writer's lock, just before it is committed
(:meth:`Plan.recheck <tenancy.transfer.plan.Plan.recheck>`)."""

from __future__ import annotations

from tenancy.errors import InvalidValue, NotFound, TenantSuspended
from tenancy.index.index import Index
from tenancy.records.model import Tenant

__all__ = ["placement", "pristine"]


def pristine(index: Index, management: str) -> None:
    """A store that holds its management tenant and that tenant's first admin, and
    nothing else."""
    tenant = index.tenants.get(management)
    if (
        tenant is None
        or len(index.tenants) != 1
        or index.groups
        or index.devices
        or set(index.users) != {tenant.admin_user_id}
    ):
        raise InvalidValue(
            "document", "a whole store's document (its first tenant has no parent) is "
            "imported into an empty store, as tenancy.open() initialises one; import a "
            "tenant's document (export_to(..., tenant=...)) into a store in use",
            field="parent",
        )  # fmt: skip


def placement(index: Index, parent: str) -> Tenant:
    """The tenant ``parent`` a tenant's document is onboarded under: one of the store,
    active, that may have subtenants (the management tenant always may)."""
    tenant = index.tenants.get(parent)
    if tenant is None:
        raise NotFound("tenant", parent, where="the store", field="parent")
    blocker = index.blocker_of(parent)
    if blocker is not None:
        raise TenantSuspended(parent, blocker)
    if tenant.parent_id is not None and not tenant.allow_subtenants:
        raise InvalidValue(
            parent, "a tenant gets subtenants only when allow_subtenants is set", field="parent"
        )
    return tenant
