"""A snapshot as document records, in the canonical order: the same state, the same bytes.

Kinds come in :data:`~tenancy.transfer.schema.KINDS` order (what a record refers to comes
first); within a kind, tenants, groups, devices and users come parents (owners) first,
level by level, each level sorted by id; the other kinds are sorted by what identifies them.
Every list inside a record (tags, device ids, tag rules, permissions, subscriptions, a
recipe's groups) is sorted, and defaults are left out.

Shares: a connector's security code is written only when asked (``secrets``); an export of
one tenant holds the connectors whose source and destination are both in it, and the
subscriptions of those (a virtual group whose subscription is left out stays, an ordinary
group that covers nothing).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from tenancy.records.grants import (
    AccessRecord,
    Delegation,
    InventoryGrant,
    RoleDefinition,
    RoleGrant,
    SupportRequest,
)
from tenancy.records.model import (
    AuditRecord,
    Device,
    Group,
    TagRule,
    Tenant,
    UsageDay,
    User,
    rule_matches,
)
from tenancy.records.recipes import Recipe
from tenancy.records.sharing import Connector, Subscription, redacted
from tenancy.records.snapshot import Snapshot
from tenancy.records.terms import MembershipTerm
from tenancy.transfer.frames import CHUNK
from tenancy.transfer.schema import (
    KINDS,
    AuditEntry,
    ConnectorRecord,
    DelegationRecord,
    DeviceRecord,
    GroupRecord,
    Header,
    InventoryGrantRecord,
    MembershipRecord,
    RecipeRecord,
    Record,
    RoleGrantRecord,
    RoleRecord,
    Scope,
    SubscriptionRecord,
    SupportRequestRecord,
    TenantRecord,
    UsageRecord,
    UserRecord,
)

__all__ = ["Selection", "matcher_key", "rule_key", "select", "to_chunks"]

T = TypeVar("T")


def matcher_key(m: tuple[str | None, str | None]) -> tuple[str, str, bool, bool]:
    return (m[0] or "", m[1] or "", m[0] is None, m[1] is None)


def rule_key(rule: TagRule) -> tuple[tuple[str, str, bool, bool], ...]:
    return tuple(matcher_key(m) for m in rule)


def _levels(
    records: list[T],
    key: Callable[[T], str],
    parent: Callable[[T], str | None],
    *,
    complete: bool = True,
) -> list[T]:
    """``records`` (sorted by id) parents first: level by level, each level in id order.
    ``complete``: every parent named is among them (a group's, a device's, a user's owner
    are of its own tenant, and a selection takes whole tenants or a device with its
    gateways); else a record whose parent is not among them is a root here."""
    present = None if complete else {key(r) for r in records}
    children: defaultdict[str, list[T]] = defaultdict(list)
    level: list[T] = []
    for r in records:
        p = parent(r)
        if p is None or (present is not None and p not in present):
            level.append(r)
        else:
            children[p].append(r)
    out: list[T] = []
    while level:
        out.extend(level)
        if not children:
            break
        nxt = [c for r in level for c in children.pop(key(r), ())]
        level = sorted(nxt, key=key)
    return out


class Selection:
    """What a document holds: the snapshot's records of the chosen tenants, in canonical
    order, with the header that announces them."""

    def __init__(
        self,
        snapshot: Snapshot,
        *,
        tenant: str | None,
        device_tags: frozenset[TagRule] | None,
        usage: bool,
        audit: Iterable[AuditRecord] | None,
        audit_count: int,
        secrets: bool = False,
    ) -> None:
        self.tenants = _levels(
            snapshot.tenants, lambda t: t.id, lambda t: t.parent_id, complete=False
        )
        self.by_tag = device_tags is not None
        if tenant is not None:
            below = _subtree(self.tenants, tenant, with_subtenants=not self.by_tag)
            self.tenants = [t for t in self.tenants if t.id in below]
        keep = {t.id for t in self.tenants}
        whole = tenant is None
        devices = [d for d in snapshot.devices if whole or d.tenant_id in keep]
        if device_tags is not None:
            devices = _matching(devices, device_tags)
        self.devices = _levels(devices, lambda d: d.id, lambda d: d.parent_id)
        if self.by_tag:  # the devices only: the tenant is the destination's to organise
            self.groups: list[Group] = []
            self.users: list[User] = []
            self.memberships: list[tuple[str, str]] = []
            self.terms: dict[tuple[str, str], MembershipTerm] = {}
            self.access: list[AccessRecord] = []
            self.usage: list[UsageDay] = []
        else:
            groups = [g for g in snapshot.groups if whole or g.tenant_id in keep]
            self.groups = _levels(groups, lambda g: g.id, lambda g: g.parent_id)
            users = [u for u in snapshot.users if whole or u.tenant_id in keep]
            self.users = _levels(users, lambda u: u.id, lambda u: u.owner_id)
            group_ids = {g.id for g in groups}
            self.memberships = [m for m in snapshot.memberships if m[0] in group_ids]
            access = [r for r in snapshot.access if whole or r.tenant_id in keep]
            # A membership's window is written on the membership itself.
            self.terms = {(r.group_id, r.user_id): r for r in access if type(r) is MembershipTerm}
            access = [r for r in access if type(r) is not MembershipTerm]
            self.access = _shares(access, keep, secrets)
            self.usage = [u for u in snapshot.usage if usage and (whole or u.tenant_id in keep)]
        self.audit = None if audit is None else audit
        self.keep = None if whole else keep
        roles = [r for r in self.access if type(r) is RoleDefinition]
        kinds: dict[str, int] = {
            "tenant": len(self.tenants),
            "role": len(roles),
            "device": len(self.devices),
            "group": len(self.groups),
            "user": len(self.users),
            "membership": len(self.memberships),
            "usage": len(self.usage),
            "audit": audit_count if audit is not None else 0,
        }
        for kind, type_ in _ACCESS_KINDS.items():
            kinds[kind] = sum(1 for r in self.access if type(r) is type_)
        scope_rules: list[list[tuple[str | None, str | None]]] | None = None
        if device_tags is not None:
            scope_rules = [[(m.key, m.value) for m in r] for r in sorted(device_tags, key=rule_key)]
        self.header = Header(
            scope=Scope(tenant=tenant, device_tags=scope_rules),
            usage=usage and not self.by_tag,
            audit=audit is not None,
            counts={k: kinds[k] for k in KINDS if kinds[k]},
        )

    @property
    def count(self) -> int:
        return sum((self.header.counts or {}).values())

    def chunks(self, size: int = CHUNK) -> Iterator[list[Record]]:
        """Every record, in the canonical order, in lists of at most ``size``."""
        tags = _SortedTags()
        yield from to_chunks(self._before_devices(), size)
        devices = self.devices
        for start in range(0, len(devices), size):  # the bulk: a list at a time
            yield [
                DeviceRecord(id=d.id, tenant=d.tenant_id, name=d.name, tags=tags[d.tags],
                             parent=d.parent_id)
                for d in devices[start : start + size]
            ]  # fmt: skip
        yield from to_chunks(self._after_devices(tags), size)

    def records(self) -> Iterator[Record]:
        """Every record, in the canonical order."""
        for chunk in self.chunks():
            yield from chunk

    def _access_sorted(self) -> list[AccessRecord]:
        return sorted(self.access, key=lambda r: (KINDS.index(_kind(r)), r.key))

    def _before_devices(self) -> Iterator[Record]:
        for t in self.tenants:
            yield _tenant(t, self.by_tag)
        for r in self._access_sorted():
            if type(r) is RoleDefinition:
                yield _access(r)

    def _after_devices(self, tags: _SortedTags) -> Iterator[Record]:
        yield from map(_group, self.groups)
        for u in self.users:
            yield _user(u, tags[u.tags])
        terms = self.terms
        for gid, uid in self.memberships:
            term = terms.get((gid, uid))
            if term is None:
                yield MembershipRecord(group=gid, user=uid)
            else:
                yield MembershipRecord(
                    group=gid, user=uid, valid_from=term.valid_from, valid_until=term.valid_until
                )
        for r in self._access_sorted():
            if type(r) is not RoleDefinition:
                yield _access(r)
        yield from map(_usage, self.usage)
        if self.audit is not None:
            keep = self.keep
            for a in self.audit:
                if keep is None or a.tenant_id in keep:
                    yield _audit(a)


def select(snapshot: Snapshot, **options: Any) -> Selection:
    return Selection(snapshot, **options)


def to_chunks(records: Iterator[Record], size: int = CHUNK) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for r in records:
        chunk.append(r)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _shares(access: list[AccessRecord], keep: set[str], secrets: bool) -> list[AccessRecord]:
    """The access records with each connector as the document holds it (its code only
    with ``secrets``), without the connectors to a tenant not in ``keep`` and the
    subscriptions of connectors left out. O(access records)."""
    out: list[AccessRecord] = []
    kept: set[str] = set()
    for r in access:
        if type(r) is Connector:
            if r.destination_tenant_id not in keep:
                continue
            kept.add(r.id)
            out.append(r if secrets else redacted(r))
        elif type(r) is not Subscription:
            out.append(r)
    out.extend(r for r in access if type(r) is Subscription and r.connector_id in kept)
    return out


def _subtree(tenants: list[Tenant], root: str, *, with_subtenants: bool) -> set[str]:
    out = {root}
    if with_subtenants:
        for t in tenants:  # parents first: a tenant's parent is decided before it
            if t.parent_id in out:
                out.add(t.id)
    return out


def _matching(devices: list[Device], rules: frozenset[TagRule]) -> list[Device]:
    """The devices any rule matches, with their gateways (so every parent is in the
    document)."""
    by_id = {d.id: d for d in devices}
    chosen: set[str] = set()
    for d in devices:
        if any(rule_matches(rule, d.tags) for rule in rules):
            walk: Device | None = d
            while walk is not None and walk.id not in chosen:
                chosen.add(walk.id)
                walk = by_id.get(walk.parent_id) if walk.parent_id is not None else None
    return [d for d in devices if d.id in chosen]


def _tenant(t: Tenant, by_tag: bool) -> TenantRecord:
    """The tenant's record; in an export by tag (the devices a leaving customer takes to
    its new platform) without what only the source platform had: its first admin user
    (the import provisions one) and permission to have subtenants."""
    return TenantRecord(
        id=t.id, domain=t.domain, name=t.name, parent=t.parent_id,
        allow_subtenants=t.allow_subtenants and not by_tag, status=t.status,
        created_at=t.created_at,
        contact_name=t.contact_name, contact_phone=t.contact_phone,
        admin_email=t.admin_email, admin_username=t.admin_username,
        admin_user=None if by_tag else t.admin_user_id,
        properties=list(t.properties), options=list(t.options),
        retention_rules=list(t.retention_rules), max_devices=t.max_devices,
        max_root_devices=t.max_root_devices, subscriptions=sorted(t.subscriptions),
        default_subscriptions=(
            None if t.default_subscriptions is None else sorted(t.default_subscriptions)
        ),
        policies=list(t.policies), policy=t.policy,
    )  # fmt: skip


class _SortedTags(dict[frozenset[tuple[str, str]], list[tuple[str, str]]]):
    """Each distinct tag set sorted once: devices share few of them (a site's, a kind's),
    and a record's own list is never changed after it is made."""

    def __missing__(self, tags: frozenset[tuple[str, str]]) -> list[tuple[str, str]]:
        self[tags] = out = sorted(tags)
        return out


def _group(g: Group) -> GroupRecord:
    return GroupRecord(
        id=g.id, tenant=g.tenant_id, name=g.name, description=g.description, parent=g.parent_id,
        device_ids=sorted(g.device_ids),
        device_tags=[list(rule) for rule in sorted(g.device_tags, key=rule_key)],
    )  # fmt: skip


def _user(u: User, tags: list[tuple[str, str]]) -> UserRecord:
    return UserRecord(
        id=u.id, tenant=u.tenant_id, email=u.email, username=u.username,
        first_name=u.first_name, last_name=u.last_name, tags=tags,
        enabled=u.enabled, owner=u.owner_id,
    )  # fmt: skip


_ACCESS_KINDS: dict[str, type[Any]] = {
    "role_grant": RoleGrant,
    "inventory_grant": InventoryGrant,
    "delegation": Delegation,
    "support_request": SupportRequest,
    "recipe": Recipe,
    "connector": Connector,
    "subscription": Subscription,
}


def _kind(r: AccessRecord) -> str:
    return (
        "role"
        if type(r) is RoleDefinition
        else next(k for k, t in _ACCESS_KINDS.items() if type(r) is t)
    )


def _access(r: AccessRecord) -> Record:
    match r:
        case RoleDefinition():
            return RoleRecord(
                tenant=r.tenant_id, name=r.name, role_kind=r.kind,
                permissions=sorted(r.permissions),
            )  # fmt: skip
        case RoleGrant():
            return RoleGrantRecord(
                tenant=r.tenant_id, user=r.user_id, role=r.role, valid_from=r.valid_from,
                valid_until=r.valid_until,
            )  # fmt: skip
        case InventoryGrant():
            return InventoryGrantRecord(
                tenant=r.tenant_id, principal_kind=r.principal_kind, principal=r.principal_id,
                role=r.role, group=r.group_id, valid_from=r.valid_from,
                valid_until=r.valid_until,
            )  # fmt: skip
        case Delegation():
            return DelegationRecord(
                tenant=r.tenant_id, owner=r.owner_id, delegate=r.delegate_id, until=r.until,
                valid_from=r.valid_from,
            )  # fmt: skip
        case SupportRequest():
            return SupportRequestRecord(
                tenant=r.tenant_id, requested_by=r.requested_by, until=r.until
            )
        case Recipe():
            return RecipeRecord(
                id=r.id, tenant=r.tenant_id, name=r.name, name_pattern=r.name_pattern,
                tags=sorted(r.tags), parent=r.parent_id, groups=sorted(r.group_ids),
            )  # fmt: skip
        case Connector():
            return ConnectorRecord(
                id=r.id, tenant=r.source_tenant_id, destination=r.destination_tenant_id,
                name=r.name, description=r.description, groups=sorted(r.group_ids),
                devices=sorted(r.device_ids), tags=None if r.tags is None else list(r.tags),
                status=r.status, security_code=r.security_code, valid_from=r.valid_from,
                valid_until=r.valid_until,
            )  # fmt: skip
        case _:
            assert isinstance(r, Subscription)
            return SubscriptionRecord(
                id=r.id, tenant=r.tenant_id, connector=r.connector_id, name=r.name,
                group=r.group_id, status=r.status,
            )  # fmt: skip


def _usage(u: UsageDay) -> UsageRecord:
    return UsageRecord(
        tenant=u.tenant_id, day=u.day, devices=u.devices, root_devices=u.root_devices,
        users=u.users, groups=u.groups, peak_devices=u.peak_devices,
        peak_root_devices=u.peak_root_devices, peak_users=u.peak_users,
        peak_groups=u.peak_groups, requests=list(u.requests), shared_devices=u.shared_devices,
        peak_shared_devices=u.peak_shared_devices,
    )  # fmt: skip


def _audit(a: AuditRecord) -> AuditEntry:
    return AuditEntry(
        seq=a.seq, revision=a.revision, at=a.at, tenant=a.tenant_id, actor=a.actor,
        action=a.action, target=a.target, before=a.before, after=a.after,
    )  # fmt: skip
