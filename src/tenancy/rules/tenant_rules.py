"""Who may edit a tenant: the tenant-edit rule, in one place (DOMAIN.md section 6).

Rule 1. The management tenant may change every field of every tenant.

Rule 2. ``allow_subtenants`` is the management tenant's alone (MANAGEMENT_FIELDS).

Rule 3. A tenant's parent may change every other field (and suspend or activate it).

Rule 4. A tenant itself may change only its own descriptive fields and settings
   (OWN_FIELDS: its name, contact, admin email, options, retention rules, default
   subscriptions and policies); its properties, limits, subscriptions and status are its
   parent's.

Two callers ask the same questions: the facade's tenant commands (tenancy.handle.tenants)
per field before they build a change, with ``by=`` naming the acting tenant, and the
authorisation of an acting user's commit (tenancy.rules.access), on the change record
itself. Pure: no index, no I/O.
"""

from __future__ import annotations

from collections.abc import Container

import msgspec

from tenancy.records.model import Tenant

__all__ = [
    "MANAGEMENT_FIELDS",
    "OWN_FIELDS",
    "changed_fields",
    "edit_refusal",
    "editors",
    "may_edit",
]

OWN_FIELDS = frozenset(
    {
        "name",
        "contact_name",
        "contact_phone",
        "admin_email",
        "options",
        "retention_rules",
        "default_subscriptions",
        "policies",
    }
)
"""The fields of a tenant the tenant itself may edit (rule 4)."""

MANAGEMENT_FIELDS = frozenset({"allow_subtenants"})
"""The fields only the management tenant may edit (rule 2)."""

_MANAGEMENT_ONLY = "only the management tenant"
_OWN_ONLY = (
    "a tenant edits only its own descriptive fields and settings; the rest is for its parent "
    "tenant or the management tenant"
)


def may_edit(actor: str, target: Tenant, field: str, *, management: Container[str]) -> bool:
    """Whether tenant ``actor`` may change ``field`` of ``target`` (rules 1 to 4)."""
    if actor in management:
        return True
    if field in MANAGEMENT_FIELDS:
        return False
    if actor == target.parent_id:
        return True
    return actor == target.id and field in OWN_FIELDS


def editors(field: str) -> str:
    """Who may change ``field`` of a tenant, in words (for the refusal's message)."""
    if field in MANAGEMENT_FIELDS:
        return "the management tenant"
    if field in OWN_FIELDS:
        return "the tenant itself, its parent or the management tenant"
    return "its parent or the management tenant"


def changed_fields(old: Tenant, new: Tenant) -> frozenset[str]:
    """The fields whose values differ between two versions of a tenant."""
    return frozenset(
        f.name
        for f in msgspec.structs.fields(Tenant)
        if getattr(old, f.name) != getattr(new, f.name)
    )


def edit_refusal(actor: str, old: Tenant, new: Tenant, *, management: Container[str]) -> str | None:
    """None when tenant ``actor`` may turn ``old`` into ``new``, else the rule it breaks. An
    actor that is neither the management tenant, the parent nor the tenant itself is refused
    even an edit that changes nothing."""
    changed = changed_fields(old, new)
    if changed & MANAGEMENT_FIELDS and actor not in management:
        return _MANAGEMENT_ONLY
    if actor in management or actor == old.parent_id:
        return None
    if actor != old.id or not changed <= OWN_FIELDS:
        return _OWN_ONLY
    return None
