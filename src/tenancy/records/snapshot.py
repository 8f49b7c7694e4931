"""Snapshots: every current record at one revision.

A :class:`Snapshot` is what a store hands an index to build from, and what export writes.
The meaning of each change on these records lives in :mod:`tenancy.records.state`.
"""

from __future__ import annotations

import msgspec

from tenancy.records.changes import Revision
from tenancy.records.grants import AccessRecord
from tenancy.records.model import Device, Group, Tenant, UsageDay, User

__all__ = ["Snapshot"]


class Snapshot(msgspec.Struct, kw_only=True):
    """Every current record at ``revision``, in a canonical order (sorted by id)."""

    revision: Revision = 0
    tenants: list[Tenant] = msgspec.field(default_factory=list)
    groups: list[Group] = msgspec.field(default_factory=list)
    devices: list[Device] = msgspec.field(default_factory=list)
    users: list[User] = msgspec.field(default_factory=list)
    memberships: list[tuple[str, str]] = msgspec.field(default_factory=list)
    """(group_id, user_id) pairs."""
    usage: list[UsageDay] = msgspec.field(default_factory=list)
    """Usage statistics, one row per tenant and UTC day that recorded any, sorted by
    (tenant_id, day)."""
    access: list[AccessRecord] = msgspec.field(default_factory=list)
    """Access-control records (roles, grants, delegations, support requests), sorted by
    (kind, key); see :func:`tenancy.records.state.access_key`."""
