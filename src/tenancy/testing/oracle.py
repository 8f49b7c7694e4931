"""A naive, from-scratch definition of reach to check the index against.

Everything here follows DOMAIN.md section 3 word for word, over the plain records of a
:class:`~tenancy.Snapshot`, and nothing here uses the index, the closure, the interned sets
or the tag index: each answer is recomputed by walking the records. It is slow on purpose
(a handful of records in a test, never a real store) and short enough to check by reading.

- Group g *associates* device d when both belong to the same tenant and ``d.id`` is in
  ``g.device_ids`` or one of ``g``'s tag rules matches ``d``'s tags (a rule is an all-of tuple
  of matchers; ``(k, v)`` needs that pair, ``(k, None)`` any value of ``k``, ``(None, v)``
  the value ``v`` under any key).
- Group g *covers* device d when g or any descendant of g associates d, or g covers d's
  parent device (recursively: a child device follows its gateway).
- User u *reaches* device d when u and d belong to the same tenant T, T and every ancestor
  of T is active, u is enabled, and some group u is a member of covers d. A membership with
  a term counts only while ``valid_from <= now < valid_until`` (DOMAIN.md section 9), now
  being the handle's clock or the instant given.

Cross-tenant sharing (DOMAIN.md section 7), from the connector and subscription records:

- A connector *shares* device d of its source when d matches its tag matchers (if any) and
  one of its filter groups covers d (the rule above, inside the source: no chaining) or d
  or one of its gateways is a filter device.
- A share is *live* when the connector and its subscription are both active, the connector
  is inside its window (if it has one) now, and the source, the destination and every
  tenant above either are active.
- Group g of the destination covers d *through a share* when g is the share's virtual group
  or above it, the share is live and shares d; a user of the destination reaches d when it
  is enabled and a member of such a group.

>>> import tenancy
>>> from tenancy.testing import oracle
>>> tn = tenancy.open()
>>> t = tn.tenant(tn.create_tenant(domain="acme", name="Acme", admin_email="a@acme.example").id)
>>> g = t.create_group("Site", device_tags=[("site", None)])
>>> d = t.create_device("Generator", tags=[("site", "sb")], id="gen-1")
>>> u = t.create_user("ana@acme.example", id="ana")
>>> t.add_member(g.id, u.id)
>>> oracle.reaches(tn, "ana", "gen-1"), oracle.devices_for(tn, "ana"), oracle.users_for(tn, "gen-1")
(True, ['gen-1'], ['ana'])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, TypeAlias

from tenancy.records.model import (
    ACTIVE,
    Device,
    Explanation,
    ExplanationCode,
    Group,
    Tag,
    TagMatcher,
    TagRule,
    Tenant,
    User,
    parse_rule,
)
from tenancy.records.sharing import Connector, Subscription
from tenancy.records.snapshot import Snapshot
from tenancy.records.terms import MembershipTerm

if TYPE_CHECKING:
    from tenancy.handle.tenancy import Tenancy

__all__ = [
    "Oracle",
    "Source",
    "devices_for",
    "explain_code",
    "matcher_matches",
    "reaches",
    "rule_matches",
    "users_for",
]

Source: TypeAlias = "Snapshot | Tenancy"
"""What the oracle reads: a snapshot, or a handle whose *store* snapshot is read (the truth,
never the handle's index)."""


def matcher_matches(
    matcher: TagMatcher | tuple[str | None, str | None], tags: Iterable[Tag]
) -> bool:
    """Some tag ``(k, v)`` agrees with the matcher on every side the matcher names."""
    key, value = matcher
    return any((key is None or key == k) and (value is None or value == v) for k, v in tags)


def rule_matches(rule: TagRule, tags: Iterable[Tag]) -> bool:
    """An all-of rule matches when every one of its matchers does."""
    tags = list(tags)
    return all(matcher_matches(m, tags) for m in rule)


def _snapshot_of(source: Source) -> Snapshot:
    if isinstance(source, Snapshot):
        return source
    return source.store.snapshot()


class Oracle:
    """The naive definitions over one snapshot. Build one per state; it never changes.

    Every method answers for unknown ids the way the library must (False, empty) and
    asserts that the records hold no cycle, so a corrupt store fails loudly here too.
    """

    def __init__(self, source: Source, *, now: datetime | None = None) -> None:
        snapshot = _snapshot_of(source)
        self.snapshot = snapshot
        if now is None:
            now = datetime.now(UTC) if isinstance(source, Snapshot) else source.clock()
        self.now = now
        """The instant the answers are for (DOMAIN.md section 9): the handle's clock."""
        self.terms: dict[tuple[str, str], MembershipTerm] = {
            (r.group_id, r.user_id): r for r in snapshot.access if isinstance(r, MembershipTerm)
        }
        """(group, user) -> the window of a time-bounded membership."""
        self.tenants: dict[str, Tenant] = {t.id: t for t in snapshot.tenants}
        self.groups: dict[str, Group] = {g.id: g for g in snapshot.groups}
        self.devices: dict[str, Device] = {d.id: d for d in snapshot.devices}
        self.users: dict[str, User] = {u.id: u for u in snapshot.users}
        self.memberships: set[tuple[str, str]] = set(snapshot.memberships)
        self.connectors: dict[str, Connector] = {
            r.id: r for r in snapshot.access if isinstance(r, Connector)
        }
        self.subscriptions: dict[str, Subscription] = {
            r.connector_id: r for r in snapshot.access if isinstance(r, Subscription)
        }
        """connector id -> the subscription that accepted it."""

    # ------------------------------------------------------------------ structure

    def tenant_ancestors(self, tenant_id: str) -> list[str]:
        """The tenant and every tenant above it, nearest first."""
        chain: list[str] = []
        walk: str | None = tenant_id
        while walk is not None:
            assert walk not in chain, f"tenant cycle through {walk!r}"
            chain.append(walk)
            walk = self.tenants[walk].parent_id
        return chain

    def suspended_blocker(self, tenant_id: str) -> str | None:
        """The top-most suspended tenant among the tenant and its ancestors, or None."""
        suspended = [
            t for t in self.tenant_ancestors(tenant_id) if self.tenants[t].status != ACTIVE
        ]
        return suspended[-1] if suspended else None

    def group_ancestors(self, group_id: str) -> list[str]:
        """The group and every group above it, nearest first."""
        chain: list[str] = []
        walk: str | None = group_id
        while walk is not None:
            assert walk not in chain, f"group cycle through {walk!r}"
            chain.append(walk)
            walk = self.groups[walk].parent_id
        return chain

    def group_descendants(self, group_id: str) -> set[str]:
        """The group and every group below it (every group that has it as an ancestor)."""
        return {g for g in self.groups if group_id in self.group_ancestors(g)}

    def device_gateways(self, device_id: str) -> list[str]:
        """The device and its parent devices, from the device upward."""
        chain: list[str] = []
        walk: str | None = device_id
        while walk is not None:
            assert walk not in chain, f"device parent cycle through {walk!r}"
            chain.append(walk)
            walk = self.devices[walk].parent_id
        return chain

    def member_groups(self, user_id: str) -> set[str]:
        """The groups the user is a direct member of, by a membership that counts now:
        without a term, or ``valid_from <= now < valid_until``."""
        return {g for g, u in self.memberships if u == user_id and self.counts(g, u)}

    def counts(self, group_id: str, user_id: str) -> bool:
        """Does the membership count now? Always, without a term."""
        term = self.terms.get((group_id, user_id))
        return term is None or self.in_window(term.valid_from, term.valid_until)

    def in_window(self, valid_from: datetime | None, valid_until: datetime | None) -> bool:
        """``valid_from <= now < valid_until``, a missing bound being open."""
        return (valid_from is None or valid_from <= self.now) and (
            valid_until is None or self.now < valid_until
        )

    def out_of_term_code(self, user_id: str, device_id: str) -> ExplanationCode | None:
        """``expired`` or ``not-started`` when the first membership by group id that does
        not count now would reach the device, else None."""
        for (g, u), term in sorted(self.terms.items()):
            if u != user_id or self.counts(g, u) or not self.covers_any(g, device_id):
                continue
            expired = term.valid_until is not None and self.now >= term.valid_until
            return "expired" if expired else "not-started"
        return None

    # ------------------------------------------------------------------ section 3

    def associates(self, group_id: str, device_id: str) -> bool:
        """Rule: same tenant, and the id is listed or some tag rule matches."""
        group = self.groups[group_id]
        device = self.devices[device_id]
        if group.tenant_id != device.tenant_id:
            return False
        if device.id in group.device_ids:
            return True
        return any(rule_matches(rule, device.tags) for rule in group.device_tags)

    def covers(self, group_id: str, device_id: str) -> bool:
        """Rule: the group or a descendant associates the device, or the group covers the
        device's parent device."""
        if any(self.associates(g, device_id) for g in self.group_descendants(group_id)):
            return True
        parent_id = self.devices[device_id].parent_id
        return parent_id is not None and self.covers(group_id, parent_id)

    # ------------------------------------------------------------------ section 7

    def shares(self, connector: Connector, device_id: str) -> bool:
        """The connector's filters and tags select the device (whatever the statuses)."""
        return self.sharing_filter(connector, device_id) is not None

    def sharing_filter(self, connector: Connector, device_id: str) -> str | None:
        """The first filter (groups by id, then the nearest gateway) sharing the device."""
        device = self.devices[device_id]
        if device.tenant_id != connector.source_tenant_id:
            return None
        if connector.tags is not None and not rule_matches(connector.tags, device.tags):
            return None
        for gid in sorted(connector.group_ids):
            if gid in self.groups and self.covers(gid, device_id):
                return gid
        for gateway in self.device_gateways(device_id):
            if gateway in connector.device_ids:
                return gateway
        return None

    def live(self, connector: Connector) -> bool:
        """Both sides active, the virtual group there, every tenant involved active."""
        sub = self.subscriptions.get(connector.id)
        return (
            connector.status == "active"
            and self.in_window(connector.valid_from, connector.valid_until)
            and sub is not None
            and sub.status == "active"
            and sub.group_id in self.groups
            and all(
                t in self.tenants and self.suspended_blocker(t) is None
                for t in (connector.source_tenant_id, connector.destination_tenant_id)
            )
        )

    def covers_through_shares(self, group_id: str, device_id: str) -> bool:
        """The group is a live share's virtual group or above it, and the share shares the
        device."""
        up_of = self.group_ancestors
        return any(
            group_id in up_of(self.subscriptions[c.id].group_id) and self.shares(c, device_id)
            for c in self.connectors.values()
            if self.live(c)
        )

    def covers_any(self, group_id: str, device_id: str) -> bool:
        """Covers by section 3, or through a share."""
        return self.covers(group_id, device_id) or self.covers_through_shares(group_id, device_id)

    def share_code(self, user: User, device: Device) -> tuple[ExplanationCode, str | None]:
        """The explain code of a user of another tenant than the device's (tenancy.rules.
        share_reach's order): allowed through a share, or the first missing link of the
        first sharing connector by id; ``not-shared`` or ``other-tenant`` without one."""
        between = sorted(
            c.id for c in self.connectors.values()
            if c.source_tenant_id == device.tenant_id
            and c.destination_tenant_id == user.tenant_id
        )  # fmt: skip
        codes: list[tuple[ExplanationCode, str | None]] = []
        for cid in between:
            connector = self.connectors[cid]
            if not self.shares(connector, device.id):
                continue
            codes.append(self._share_link(user, connector))
            if codes[-1][0] == "allowed":
                return codes[-1]
        if codes:
            return codes[0]
        return ("not-shared", None) if between else ("other-tenant", None)

    def _share_link(self, user: User, connector: Connector) -> tuple[ExplanationCode, str | None]:
        for tenant_id in (user.tenant_id, connector.source_tenant_id):
            blocker = self.suspended_blocker(tenant_id)
            if blocker is not None:
                return "tenant-suspended", blocker
        if not user.enabled:
            return "user-disabled", None
        sub = self.subscriptions.get(connector.id)
        if sub is None:
            return "not-accepted", None
        if connector.status != "active":
            return "connector-suspended", None
        if not self.in_window(connector.valid_from, connector.valid_until):
            expired = connector.valid_until is not None and self.now >= connector.valid_until
            return ("expired" if expired else "not-started"), None
        if sub.status != "active":
            return "subscription-paused", None
        if not self.member_groups(user.id) & set(self.group_ancestors(sub.group_id)):
            return "no-covering-group", None
        return "allowed", None

    def reaches(self, user_id: str, device_id: str) -> bool:
        """The four conditions of reach; unknown ids give False."""
        return self.explain_code(user_id, device_id)[0] == "allowed"

    def explain_code(self, user_id: str, device_id: str) -> tuple[ExplanationCode, str | None]:
        """The first failing condition in DOMAIN.md order, or ``"allowed"``; the second item
        names the suspended tenant for ``"tenant-suspended"`` (else None)."""
        user = self.users.get(user_id)
        if user is None:
            return "unknown-user", None
        device = self.devices.get(device_id)
        if device is None:
            return "unknown-device", None
        if user.tenant_id != device.tenant_id:
            code = self.share_code(user, device)
            if code[0] == "no-covering-group":
                return self.out_of_term_code(user_id, device_id) or code[0], None
            return code
        blocker = self.suspended_blocker(user.tenant_id)
        if blocker is not None:
            return "tenant-suspended", blocker
        if not user.enabled:
            return "user-disabled", None
        if not any(self.covers(g, device_id) for g in self.member_groups(user_id)):
            return self.out_of_term_code(user_id, device_id) or "no-covering-group", None
        return "allowed", None

    # ------------------------------------------------------------------ listings

    def devices_for(
        self,
        user_id: str,
        *,
        tags: Iterable[object] | None = None,
        group: str | None = None,
    ) -> list[str]:
        """Sorted ids of the devices the user reaches; ``tags`` keeps devices matching every
        given matcher, ``group`` those the group covers."""
        matchers = _filter(tags)
        return sorted(
            d
            for d, device in self.devices.items()
            if self.reaches(user_id, d)
            and rule_matches(matchers, device.tags)
            and (group is None or (group in self.groups and self.covers_any(group, d)))
        )

    def users_for(self, device_id: str, *, tags: Iterable[object] | None = None) -> list[str]:
        """Sorted ids of the users who reach the device; ``tags`` filters on user tags."""
        matchers = _filter(tags)
        return sorted(
            u
            for u, user in self.users.items()
            if self.reaches(u, device_id) and rule_matches(matchers, user.tags)
        )

    def groups_for(self, user_id: str, *, inherited: bool = True) -> list[str]:
        """Sorted ids of the user's groups and, with ``inherited``, every group below them."""
        direct = self.member_groups(user_id)
        if not inherited:
            return sorted(direct)
        return sorted(g for g in self.groups if direct & set(self.group_ancestors(g)))

    def in_group(self, user_id: str, group_id: str) -> bool:
        """The user is a member of the group or of one of its ancestors (structural)."""
        if group_id not in self.groups:
            return False
        return bool(self.member_groups(user_id) & set(self.group_ancestors(group_id)))

    def devices_in(self, group_id: str, *, descendants: bool = True) -> list[str]:
        """Sorted ids of the devices the group covers; without ``descendants`` only those it
        associates itself and their child devices (recursively)."""
        if group_id not in self.groups:
            return []
        if descendants:
            return sorted(d for d in self.devices if self.covers_any(group_id, d))
        return sorted(
            d
            for d in self.devices
            if any(self.associates(group_id, gw) for gw in self.device_gateways(d))
        )

    # ------------------------------------------------------------------ explanations

    def proves(self, explanation: Explanation) -> bool:
        """Is an allowed explanation a real proof of reach? Its path starts at a group the
        user is a member of and runs parent to child down to a group that associates the
        association's device, which is the asked device or, through ``via``, one of its
        gateways."""
        if explanation.allowed and explanation.connector_id is not None:
            return self._proves_share(explanation)
        if not explanation.allowed or explanation.association is None or not explanation.path:
            return False
        path = explanation.path
        association = explanation.association
        if path[0] not in self.member_groups(explanation.user_id):
            return False
        if any(self.groups[child].parent_id != parent for parent, child in pairwise(path)):
            return False
        if association.group_id != path[-1]:
            return False
        chain = self.device_gateways(explanation.device_id)
        hops = len(association.via)
        if hops >= len(chain) or tuple(chain[1 : hops + 1]) != association.via:
            return False
        if chain[hops] != association.device_id:
            return False
        group = self.groups[association.group_id]
        device = self.devices[association.device_id]
        if group.tenant_id != device.tenant_id:
            return False
        if association.kind == "device_id":
            return device.id in group.device_ids
        return association.rule in group.device_tags and rule_matches(
            association.rule or (), device.tags
        )

    def _proves_share(self, explanation: Explanation) -> bool:
        """A share proof: the path runs from a membership of the user down to the virtual
        group of the named subscription, whose live connector's named filter shares the
        device."""
        connector = self.connectors.get(explanation.connector_id or "")
        path = explanation.path
        if connector is None or not path or not self.live(connector):
            return False
        sub = self.subscriptions[connector.id]
        if explanation.subscription_id != sub.id or path[-1] != sub.group_id:
            return False
        if path[0] not in self.member_groups(explanation.user_id):
            return False
        if any(self.groups[child].parent_id != parent for parent, child in pairwise(path)):
            return False
        return self.sharing_filter(connector, explanation.device_id) == explanation.filter_id


def _filter(tags: Mapping[str, str] | Iterable[object] | None) -> TagRule:
    """A listing filter as one all-of rule (no filter: the empty rule, which matches all)."""
    if tags is None:
        return ()
    items = tags.items() if isinstance(tags, Mapping) else tags
    return tuple(m for raw in items for m in parse_rule(raw))


def reaches(source: Source, user_id: str, device_id: str) -> bool:
    """Does the user reach the device, by the definition? Unknown ids give False."""
    return Oracle(source).reaches(user_id, device_id)


def explain_code(
    source: Source, user_id: str, device_id: str
) -> tuple[ExplanationCode, str | None]:
    """The first failing condition of reach (and the suspended tenant), or ``"allowed"``."""
    return Oracle(source).explain_code(user_id, device_id)


def devices_for(
    source: Source,
    user_id: str,
    *,
    tags: Iterable[object] | None = None,
    group: str | None = None,
) -> list[str]:
    """Sorted ids of every device the user reaches (optionally filtered)."""
    return Oracle(source).devices_for(user_id, tags=tags, group=group)


def users_for(source: Source, device_id: str, *, tags: Iterable[object] | None = None) -> list[str]:
    """Sorted ids of every user who reaches the device (optionally filtered by user tags)."""
    return Oracle(source).users_for(device_id, tags=tags)
