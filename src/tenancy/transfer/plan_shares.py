"""The import of connectors and subscriptions (DOMAIN.md section 7): a part of the
:class:`~tenancy.transfer.plan.Planner`.

A connector record must name, among the records listed before it, a source tenant other
than the management tenant, a destination tenant other than the source, and groups and
devices of the source only; a subscription, a connector offered to its own tenant and
accepted once, and a virtual group of that tenant which covers nothing by itself (no
devices, no tag rules, no child groups), is no other subscription's and is named by no
filter. These are the rules the write path keeps (:mod:`tenancy.rules.sharing`); a record
breaking one is refused by position, as any bad record.

The security code: a connector record carries it only when exported with
``include_secrets=True``, and then the import keeps it (it must look like a code the
library makes: at least 22 URL-safe characters, 128 bits). A connector record without one
gets a new code, made as :meth:`~tenancy.TenantScope.create_connector` makes it: the code
is what a destination gives to accept, so a subscription already accepted goes on working,
and a connector still waiting for its destination needs the new code passed on (its source
reads it with :meth:`~tenancy.TenantScope.connectors`). A code is never echoed by a refusal.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from tenancy.errors import (
    AlreadyExists,
    CrossTenantReference,
    InvalidValue,
    LimitExceeded,
    named,
)
from tenancy.ids import new_connector_id, new_security_code, new_subscription_id
from tenancy.index.index import Index
from tenancy.records.grants import AccessRecord
from tenancy.records.model import AllOf, Group, SafetyLimits, Tenant, parse_rule
from tenancy.records.sharing import Connector, Subscription
from tenancy.records.window import check_window
from tenancy.rules.validate import check_name, check_text
from tenancy.transfer import schema as s

__all__ = ["SharePlanner"]

_CODE = re.compile(r"[A-Za-z0-9_-]{22,128}")
"""What an imported security code looks like: URL-safe text of 128 bits or more."""


class Planner(Protocol):
    """What this part reads of :class:`tenancy.transfer.plan.Planner` (named here, not
    imported: the planner imports this module)."""

    index: Index
    limits: SafetyLimits
    tenants: dict[str, Tenant]
    assigned: dict[str, dict[str, str]]

    def _tenant_of(self, key: str | None) -> str: ...
    def _find(self, kind: str, key: str, field: str, before: str = "") -> str: ...
    def _group_of(self, key: str, tenant_id: str, field: str) -> str: ...
    def _same(self, kind: str, value: str, owner: str, tenant_id: str, field: str) -> None: ...
    def _put(self, record: AccessRecord, field: str = "kind") -> None: ...
    def _new_id(
        self, kind: str, given: str | None, ref: str | None, make: Callable[[], str],
        taken: Mapping[str, Any], *, tenant_id: str | None,
    ) -> str: ...  # fmt: skip


class SharePlanner:
    """The connector and subscription records of one import, checked against the records
    of the document listed before them."""

    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self.connectors: dict[str, Connector] = {}
        """connector id -> the connector the document gave."""
        self.accepted: set[str] = set()
        """Connectors a subscription of the document accepts."""
        self.named: set[str] = set()
        """Groups a connector's filter names."""
        self.virtual: set[str] = set()
        """Virtual groups of the document's subscriptions."""
        self.covering: set[str] = set()
        """Groups that cover devices by themselves or have child groups: never virtual."""
        self.per_source: dict[str, int] = defaultdict(int)

    def group(self, group: Group) -> None:
        """Note what keeps a group of the document from being a virtual group."""
        if group.device_ids or group.device_tags:
            self.covering.add(group.id)
        if group.parent_id is not None:
            self.covering.add(group.parent_id)

    def connector(self, r: s.ConnectorRecord) -> None:
        p = self.planner
        source = p._tenant_of(r.tenant)
        if p.tenants[source].parent_id is None:
            raise InvalidValue(
                source, "the management tenant is never the source of a connector",
                field="tenant",
            )  # fmt: skip
        destination = p._find("tenant", r.destination, "destination", "tenants come first")
        if destination == source:
            raise InvalidValue(
                destination, "a connector's destination is another tenant than its source",
                field="destination",
            )  # fmt: skip
        groups = {p._group_of(key, source, "groups") for key in r.groups}
        devices = set()
        for key in r.devices:
            did = p._find("device", key, "devices", "a device comes before its connectors")
            p._same("device", did, p.assigned["device"][did], source, "devices")
            devices.add(did)
        tags = r.tags
        rule = None if tags is None else named("tags", lambda: parse_rule(AllOf(tuple(tags))))
        code = r.security_code
        if code and _CODE.fullmatch(code) is None:
            raise InvalidValue(
                f"<{len(code)} characters>", "a security code is 22 to 128 URL-safe characters "
                "(A-Z, a-z, 0-9, '-', '_'): 128 bits or more", field="security_code",
            )  # fmt: skip
        count = len(p.index.access.connectors_from(source)) + self.per_source[source] + 1
        if count > p.limits.max_connectors_per_tenant:
            raise LimitExceeded(
                "max_connectors_per_tenant", count, p.limits.max_connectors_per_tenant
            )
        check_window(r.valid_from, r.valid_until)
        taken = p.index.access.all_connectors()
        connector_id = p._new_id(
            "connector", r.id, r.ref, new_connector_id, taken, tenant_id=source
        )
        connector = Connector(
            id=connector_id, source_tenant_id=source, destination_tenant_id=destination,
            name=check_name("connector", r.name), description=check_text("description",
            r.description), group_ids=frozenset(groups), device_ids=frozenset(devices),
            tags=rule, status=r.status, security_code=code or new_security_code(),
            valid_from=r.valid_from, valid_until=r.valid_until,
        )  # fmt: skip
        self.per_source[source] += 1
        self.named |= groups
        self.connectors[connector_id] = connector
        p._put(connector, "id")

    def subscription(self, r: s.SubscriptionRecord) -> None:
        p = self.planner
        tenant_id = p._tenant_of(r.tenant)
        cid = p._find("connector", r.connector, "connector", "a connector comes before")
        connector = self.connectors[cid]
        if connector.destination_tenant_id != tenant_id:
            raise CrossTenantReference(
                "connector", cid, connector.destination_tenant_id, tenant_id, field="connector"
            )
        if cid in self.accepted:
            raise AlreadyExists(
                "subscription of connector", cid, rule="a connector is accepted at most once",
                field="connector",
            )  # fmt: skip
        gid = p._group_of(r.group, tenant_id, "group")
        if gid in self.virtual:
            raise AlreadyExists(
                "virtual group", gid, rule="a group is the virtual group of one subscription",
                field="group",
            )  # fmt: skip
        if gid in self.covering or gid in self.named:
            raise InvalidValue(
                gid, "a virtual group has no devices, tag rules or child groups of its own, "
                "and no filter names it (a share never chains)", field="group",
            )  # fmt: skip
        taken = p.index.access.all_subscriptions()
        sub_id = p._new_id(
            "subscription", r.id, r.ref, new_subscription_id, taken, tenant_id=tenant_id
        )
        sub = Subscription(
            id=sub_id, tenant_id=tenant_id, connector_id=cid,
            name=check_name("subscription", r.name), group_id=gid, status=r.status,
        )  # fmt: skip
        self.accepted.add(cid)
        self.virtual.add(gid)
        p._put(sub, "id")
