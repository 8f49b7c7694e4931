"""Cross-tenant sharing inside one tenant scope (DOMAIN.md section 7), a part of TenantScope.

The source tenant's scope creates, toggles and deletes its connectors; the destination's
accepts one with its security code, and pauses, resumes and deletes its subscription. The
rules (which ids a filter may name, what a deletion takes with it) are those of
:mod:`tenancy.rules.sharing`; acting users need ``tenant_management:UPDATE`` in their own
tenant (:mod:`tenancy.rules.access`). Every write is one commit, audited in both tenants.

Who sees what: a scope's :meth:`ShareAdmin.connectors` are the connectors it is the source
of (security codes included) and its :meth:`ShareAdmin.subscriptions` those it accepted;
the management tenant's scope lists every connector and subscription of the store, without
the codes. :meth:`ShareAdmin.get_connector` also answers the destination (without the code,
which it must get from the source), and :meth:`ShareAdmin.get_subscription` the source of
its connector.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from datetime import datetime

from tenancy import ids as _ids
from tenancy.errors import AlreadyExists, InvalidValue, NotFound, WrongSecurityCode
from tenancy.handle.lookups import TenantRecords
from tenancy.index.index import Index
from tenancy.records import changes as ch
from tenancy.records.changes import Change
from tenancy.records.model import AllOf, Group
from tenancy.records.sharing import Connector, Subscription, redacted
from tenancy.records.tags import RulesInput, parse_filter, parse_rule
from tenancy.records.window import check_window
from tenancy.rules.limits import check_new_connector, check_new_group
from tenancy.rules.sharing import connector_removal, subscription_removal
from tenancy.rules.validate import as_id_tuple, check_name, check_text, replace

__all__ = ["ShareAdmin"]


def _is_management(index: Index, tenant_id: str) -> bool:
    tenant = index.tenants.get(tenant_id)
    return tenant is not None and tenant.parent_id is None


class ShareAdmin(TenantRecords):
    """The sharing writes and look-ups of one tenant scope (see the module docstring)."""

    # ------------------------------------------------------------ look-ups

    def _shown(self, connector: Connector) -> Connector:
        """The connector as this scope may see it: with its code for its source only."""
        return connector if connector.source_tenant_id == self.tenant_id else redacted(connector)

    def connectors(self) -> list[Connector]:
        index = self._index
        access = index.access
        if _is_management(index, self.tenant_id):
            found = list(access.all_connectors().values())
        else:
            found = [c for c in map(access.connector, access.connectors_from(self.tenant_id)) if c]
        return sorted((self._shown(c) for c in found), key=lambda c: c.id)

    def subscriptions(self) -> list[Subscription]:
        index = self._index
        access = index.access
        if _is_management(index, self.tenant_id):
            found = list(access.all_subscriptions().values())
        else:
            found = [
                s for s in map(access.subscription, access.subscriptions_of(self.tenant_id)) if s
            ]
        return sorted(found, key=lambda s: s.id)

    def get_connector(self, connector_id: str) -> Connector:
        """The :class:`~tenancy.Connector` ``connector_id``, for its source (with the
        security code), its destination and the management tenant (without it); NotFound
        for any other tenant. Runtime complexity: O(1)."""
        index = self._index
        connector = index.access.connector(connector_id) if isinstance(connector_id, str) else None
        if connector is None or (self.tenant_id not in (
            connector.source_tenant_id, connector.destination_tenant_id
        ) and not _is_management(index, self.tenant_id)):  # fmt: skip
            raise NotFound(
                "connector", connector_id, where=f"the connectors of tenant {self.tenant_id!r}",
                field="connector_id",
            )  # fmt: skip
        return self._shown(connector)

    def get_subscription(self, subscription_id: str) -> Subscription:
        """The :class:`~tenancy.Subscription` ``subscription_id``, for its tenant, the source
        of its connector and the management tenant; NotFound for any other. Runtime
        complexity: O(1)."""
        index = self._index
        access = index.access
        sub = access.subscription(subscription_id) if isinstance(subscription_id, str) else None
        connector = None if sub is None else access.connector(sub.connector_id)
        visible = sub is not None and (
            sub.tenant_id == self.tenant_id
            or (connector is not None and connector.source_tenant_id == self.tenant_id)
            or _is_management(index, self.tenant_id)
        )
        if sub is None or not visible:
            raise NotFound(
                "subscription", subscription_id,
                where=f"the subscriptions of tenant {self.tenant_id!r}", field="subscription_id",
            )  # fmt: skip
        return sub

    def _own_connector(self, connector_id: str) -> Connector:
        """A connector this tenant is the source of; NotFound otherwise."""
        connector = (
            self._index.access.connector(connector_id) if isinstance(connector_id, str) else None
        )
        if connector is None or connector.source_tenant_id != self.tenant_id:
            raise NotFound(
                "connector", connector_id,
                where=f"the connectors tenant {self.tenant_id!r} is the source of",
                field="connector_id",
            )  # fmt: skip
        return connector

    def _own_subscription(self, subscription_id: str) -> Subscription:
        """A subscription of this tenant; NotFound otherwise."""
        access = self._index.access
        sub = access.subscription(subscription_id) if isinstance(subscription_id, str) else None
        if sub is None or sub.tenant_id != self.tenant_id:
            raise NotFound(
                "subscription", subscription_id,
                where=f"the subscriptions of tenant {self.tenant_id!r}", field="subscription_id",
            )  # fmt: skip
        return sub

    # ------------------------------------------------------------ connectors (the source)

    def _filters(
        self, groups: Iterable[str], devices: Iterable[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        group_ids = as_id_tuple(groups, "groups")
        device_ids = as_id_tuple(devices, "devices")
        for gid in group_ids:
            self._group(gid, "groups")
            if self._index.access.virtual_group(gid) is not None:
                raise InvalidValue(
                    gid, "a filter names a group of the source itself, never a virtual group "
                    "(a share never chains)", field="groups",
                )  # fmt: skip
        for did in device_ids:
            self._device(did, "devices")
        if not group_ids and not device_ids:
            raise InvalidValue(
                (), "a connector needs at least one filter: a group or a device of the source",
                field="groups",
            )  # fmt: skip
        return frozenset(group_ids), frozenset(device_ids)

    def create_connector(
        self,
        name: str,
        *,
        destination: str,
        groups: Iterable[str] = (),
        devices: Iterable[str] = (),
        tags: RulesInput | None = None,
        description: str = "",
        id: str | None = None,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
    ) -> Connector:
        """Offer the tenant ``destination`` a share of this tenant's devices: a
        :class:`~tenancy.Connector` named ``name`` with a ``description`` (both shown to the
        destination). Its filters: every device a group of ``groups`` covers here, and every
        device of ``devices`` with its child devices, narrowed by ``tags`` (matchers a shared
        device must all match, [tag shapes](scope.md#tag-shapes)) when given. At least one
        group or device, all of this tenant (not a virtual group: shares never chain); never
        from the management tenant, never to this tenant itself. ``id`` is generated unless
        given; the returned connector carries the ``security_code`` to give the destination.
        ``valid_from`` and ``valid_until`` (timezone-aware datetimes) bound when the share
        gives reach, by the handle's clock (DOMAIN.md section 9); see
        :meth:`set_connector_window`. Runtime complexity: O(filters), one commit, audited in
        both tenants.
        """
        check_window(valid_from, valid_until)

        def make() -> tuple[list[Change], Connector]:
            self._writable()
            index = self._index
            if _is_management(index, self.tenant_id):
                raise InvalidValue(
                    self.tenant_id, "the management tenant is never the source of a connector",
                    field="tenant_id",
                )  # fmt: skip
            if not isinstance(destination, str) or destination not in index.tenants:
                raise NotFound("tenant", destination, field="destination")
            if destination == self.tenant_id:
                raise InvalidValue(
                    destination, "a connector's destination is another tenant than its source",
                    field="destination",
                )  # fmt: skip
            group_ids, device_ids = self._filters(groups, devices)
            rule = parse_filter(tags, "tags")
            connector_id = self._new_id(
                "connector", id, index.access.all_connectors(), _ids.new_connector_id
            )
            connector = Connector(
                id=connector_id,
                source_tenant_id=self.tenant_id,
                destination_tenant_id=destination,
                name=check_name("connector", name),
                description=check_text("description", description),
                group_ids=group_ids,
                device_ids=device_ids,
                tags=None if rule is None else parse_rule(AllOf(rule), "tags"),
                security_code=_ids.new_security_code(),
                valid_from=valid_from,
                valid_until=valid_until,
            )
            check_new_connector(self._writer.limits, index, self.tenant_id)
            return [ch.AccessSet(record=connector)], connector

        return self._write(make)

    def _set_connector_status(self, connector_id: str, status: str) -> Connector:
        def make() -> tuple[list[Change], Connector]:
            self._writable()
            old = self._own_connector(connector_id)
            if old.status == status:
                return [], old
            new = replace(old, status=status)
            return [ch.AccessSet(record=new)], new

        return self._write(make)

    def set_connector_window(
        self,
        connector_id: str,
        *,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
    ) -> Connector:
        """Set the window of the connector ``connector_id`` of this tenant: its share gives
        reach only from ``valid_from`` (included) to ``valid_until`` (excluded), by the
        handle's clock; outside it the destination's users reach none of its devices, as
        if it were suspended, and ``explain`` says ``expired`` or ``not-started``. Neither
        bound: the share has no end. Returns the :class:`~tenancy.Connector`. Runtime
        complexity: O(1) plus the devices it shares, one commit."""
        check_window(valid_from, valid_until)

        def make() -> tuple[list[Change], Connector]:
            self._writable()
            old = self._own_connector(connector_id)
            if (old.valid_from, old.valid_until) == (valid_from, valid_until):
                return [], old
            new = replace(old, valid_from=valid_from, valid_until=valid_until)
            return [ch.AccessSet(record=new)], new

        return self._write(make)

    def suspend_connector(self, connector_id: str) -> Connector:
        """Suspend the connector ``connector_id`` of this tenant (its source): the
        destination reaches none of its devices until :meth:`activate_connector`. Returns the
        :class:`~tenancy.Connector`. Runtime complexity: O(1) plus the devices it shares,
        one commit."""
        return self._set_connector_status(connector_id, "suspended")

    def activate_connector(self, connector_id: str) -> Connector:
        """Activate the suspended connector ``connector_id`` of this tenant again. Returns the
        :class:`~tenancy.Connector`. Runtime complexity: as :meth:`suspend_connector`."""
        return self._set_connector_status(connector_id, "active")

    def delete_connector(self, connector_id: str) -> None:
        def make() -> tuple[list[Change], None]:
            self._writable()
            return connector_removal(self._index, self._own_connector(connector_id)), None

        self._write(make)

    # ------------------------------------------------------------ subscriptions (the destination)

    def accept_connector(
        self,
        connector_id: str,
        *,
        security_code: str,
        name: str,
        id: str | None = None,
        group_id: str | None = None,
    ) -> Subscription:
        """Accept the connector ``connector_id`` offered to this tenant, with the
        ``security_code`` its source gave: a :class:`~tenancy.Subscription` named ``name``
        (``id`` generated unless given) and its virtual group, named ``name``, whose id is
        ``group_id`` (generated unless given), in one commit. A wrong code raises
        WrongSecurityCode and is on record in the audit log of both tenants (never the code).
        Runtime complexity: O(the devices it shares), one commit."""

        def make() -> tuple[list[Change], Subscription | None]:
            self._writable()
            index = self._index
            access = index.access
            connector = access.connector(connector_id) if isinstance(connector_id, str) else None
            if connector is None or connector.destination_tenant_id != self.tenant_id:
                raise NotFound(
                    "connector", connector_id,
                    where=f"the connectors offered to tenant {self.tenant_id!r}",
                    field="connector_id",
                )  # fmt: skip
            if access.subscription_of(connector.id) is not None:
                raise AlreadyExists(
                    "subscription of connector", connector.id,
                    rule="a connector is accepted at most once", field="connector_id",
                )  # fmt: skip
            if not isinstance(security_code, str):
                # Its type only: a value given as the code is never echoed.
                raise InvalidValue(
                    type(security_code).__name__, "a security code is a string",
                    field="security_code",
                )  # fmt: skip
            given, expected = security_code.encode(), connector.security_code.encode()
            # Constant time; a connector without a code (imported without it) takes none.
            if not hmac.compare_digest(given, expected) or not expected:
                refused = ch.ConnectorAcceptRefused(
                    tenant_id=self.tenant_id, connector_id=connector.id
                )
                return [refused], None
            sub_name = check_name("subscription", name)
            check_new_group(self._writer.limits, index, self.tenant_id, None)
            sub_id = self._new_id(
                "subscription", id, access.all_subscriptions(), _ids.new_subscription_id
            )
            virtual_id = self._new_id(
                "group", group_id, index.groups, _ids.new_group_id, field="group_id"
            )
            group = Group(id=virtual_id, tenant_id=self.tenant_id, name=sub_name)
            sub = Subscription(
                id=sub_id,
                tenant_id=self.tenant_id,
                connector_id=connector.id,
                name=sub_name,
                group_id=virtual_id,
            )
            return [ch.GroupCreated(group=group), ch.AccessSet(record=sub)], sub

        accepted = self._write(make)
        if accepted is None:  # the refusal is on record; the caller learns only "wrong"
            raise WrongSecurityCode(connector_id)
        return accepted

    def _set_subscription_status(self, subscription_id: str, status: str) -> Subscription:
        def make() -> tuple[list[Change], Subscription]:
            self._writable()
            old = self._own_subscription(subscription_id)
            if old.status == status:
                return [], old
            new = replace(old, status=status)
            return [ch.AccessSet(record=new)], new

        return self._write(make)

    def pause_subscription(self, subscription_id: str) -> Subscription:
        """Pause this tenant's subscription ``subscription_id``: its users reach none of the
        shared devices until :meth:`resume_subscription`. Returns the
        :class:`~tenancy.Subscription`. Runtime complexity: O(1) plus the devices it shares,
        one commit."""
        return self._set_subscription_status(subscription_id, "paused")

    def resume_subscription(self, subscription_id: str) -> Subscription:
        """Resume this tenant's paused subscription ``subscription_id``. Returns the
        :class:`~tenancy.Subscription`. Runtime complexity: as :meth:`pause_subscription`."""
        return self._set_subscription_status(subscription_id, "active")

    def delete_subscription(self, subscription_id: str) -> None:
        def make() -> tuple[list[Change], None]:
            self._writable()
            sub = self._own_subscription(subscription_id)
            return subscription_removal(self._index, sub), None

        self._write(make)
