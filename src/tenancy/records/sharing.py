"""Cross-tenant sharing records (DOMAIN.md section 7): connectors and subscriptions.

A :class:`Connector` is defined by a source tenant S for one destination tenant D; its
filters name groups and devices of S, optionally narrowed by tag matchers. D accepts it
with the connector's security code and gets a :class:`Subscription`, a record of D whose
``group_id`` is D's *virtual group*: an ordinary group record of D that covers exactly the
devices the connector shares while both sides are active.

Both are access-table records, like the role grants of :mod:`tenancy.records.grants`: a
:class:`~tenancy.records.changes.AccessSet` puts one and an
:class:`~tenancy.records.changes.AccessRemoved` takes it away; each has a ``key``, unique
among records of its kind, and the ``tenant_id`` it belongs to (a connector belongs to its
source, a subscription to its destination).

The security code is a secret: a connector's ``repr`` hides it, audit records leave it
out, and error messages never quote it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypeAlias

import msgspec

from tenancy.records.tags import TagRule

__all__ = [
    "CONNECTOR_STATUSES",
    "SUBSCRIPTION_STATUSES",
    "Connector",
    "ConnectorStatus",
    "Subscription",
    "SubscriptionStatus",
    "redacted",
]

ConnectorStatus: TypeAlias = Literal["active", "suspended"]
SubscriptionStatus: TypeAlias = Literal["active", "paused"]
CONNECTOR_STATUSES: tuple[ConnectorStatus, ...] = ("active", "suspended")
SUBSCRIPTION_STATUSES: tuple[SubscriptionStatus, ...] = ("active", "paused")

_HIDDEN = "<hidden>"


class Connector(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A share offered by the source tenant ``source_tenant_id`` to the destination tenant
    ``destination_tenant_id`` (fixed once created).

    ``name`` and ``description`` are shown to the destination. The filters say what is
    shared: every device a group of ``group_ids`` covers in the source (subgroups and
    child devices included), and every device of ``device_ids`` with its child devices;
    when ``tags`` (one all-of rule: a sorted tuple of :class:`~tenancy.TagMatcher`) is set,
    only the devices that match every matcher. ``status`` is ``"active"`` or
    ``"suspended"`` (toggled by the source). ``security_code`` is what the destination
    gives to accept it; the ``repr`` hides it, and only the source's look-ups show it
    (elsewhere it reads ``""``). ``valid_from`` and ``valid_until`` (aware datetimes) bound
    when the share gives reach (DOMAIN.md section 9): outside them it is as if suspended.
    """

    id: str
    source_tenant_id: str
    destination_tenant_id: str
    name: str
    description: str = ""
    group_ids: frozenset[str] = frozenset()
    device_ids: frozenset[str] = frozenset()
    tags: TagRule | None = None
    status: ConnectorStatus = "active"
    security_code: str = ""
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    @property
    def key(self) -> str:
        return self.id

    @property
    def tenant_id(self) -> str:
        """The tenant the record belongs to: the source."""
        return self.source_tenant_id

    def __repr__(self) -> str:
        return (
            f"Connector(id={self.id!r}, source_tenant_id={self.source_tenant_id!r}, "
            f"destination_tenant_id={self.destination_tenant_id!r}, name={self.name!r}, "
            f"description={self.description!r}, group_ids={self.group_ids!r}, "
            f"device_ids={self.device_ids!r}, tags={self.tags!r}, status={self.status!r}, "
            f"security_code={_HIDDEN if self.security_code else ''!r}, "
            f"valid_from={self.valid_from!r}, valid_until={self.valid_until!r})"
        )

    def __rich_repr__(self):  # type: ignore[no-untyped-def]
        for field in self.__struct_fields__:
            if field != "security_code":
                yield field, getattr(self, field)


class Subscription(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """The destination's acceptance of connector ``connector_id``: a record of the
    destination tenant ``tenant_id`` with its own ``name``. ``group_id`` is the virtual
    group of the destination that covers the shared devices (members of it, or of a group
    above it, reach them). ``status`` is ``"active"`` or ``"paused"`` (toggled by the
    destination)."""

    id: str
    tenant_id: str
    connector_id: str
    name: str
    group_id: str
    status: SubscriptionStatus = "active"

    @property
    def key(self) -> str:
        return self.id


def redacted(connector: Connector) -> Connector:
    """The connector without its security code (``""``): what every reader other than
    its source sees, and what the audit log keeps."""
    if not connector.security_code:
        return connector
    return msgspec.structs.replace(connector, security_code="")
