"""The read pages of the admin page: tenants, a tenant (its group tree and its shares),
its users, devices and audit log, a group, a user, a device.

Each function takes a :class:`~tenancy.web.context.Req` and returns a response. Every list
is one page: device listings use the library's cursors (``Page.next`` passed back as
``after``); the lists the library returns whole (groups, users, ``users_for``) are cut into
pages by id with :func:`~tenancy.web.render.slice_after`. The test-device-associations page
is in :mod:`tenancy.web.associations`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from starlette.responses import Response

import tenancy
from tenancy import Group, RoleGrant, Tenancy, Tenant, TenantScope
from tenancy.web import lookups
from tenancy.web.context import Req
from tenancy.web.render import Chart, slice_after, usage_chart

__all__ = [
    "COUNT_CAP",
    "audit_page",
    "device_page",
    "group_page",
    "tenant_devices_page",
    "tenant_page",
    "tenant_users_page",
    "tenants_page",
    "user_page",
]

USAGE_DAYS = 30
COUNT_CAP = 100
"""The group tree counts each group's devices up to this many (then shows "100+"): one
page of ``devices_in`` per group, so the tree costs the same for a million devices."""


def _usage(tn: Tenancy, tenant: Tenant, width: int, height: int) -> Chart:
    today = datetime.now(UTC).date()
    days = tn.usage(tenant.id, today - timedelta(days=USAGE_DAYS - 1), today)
    return usage_chart(days, width=width, height=height)


# ------------------------------------------------------------------ tenants


@dataclass
class TenantRow:
    tenant: Tenant
    depth: int
    chart: Chart
    children: int


def tenants_page(req: Req) -> Response:
    """The tenant tree below the actor's tenant, one page of it in tree order (parents
    first), each with its status, limits and devices per day over the last 30 days."""
    ordered = lookups.visible_tenants(req.tn, req.root)
    depth: dict[str, int] = {}
    children: Counter[str] = Counter()
    for tenant in ordered:
        parent = tenant.parent_id or ""
        depth[tenant.id] = depth[parent] + 1 if parent in depth else 0
        children[parent] += 1
    after = req.arg("after")
    start = 0
    if after is not None:
        positions = [t.id for t in ordered]
        if after not in positions:
            raise tenancy.InvalidValue(after, "the tenant list changed; start again", field="after")
        start = positions.index(after) + 1
    page = ordered[start : start + req.page_size]
    more = start + req.page_size < len(ordered)
    rows = [TenantRow(t, depth[t.id], _usage(req.tn, t, 120, 28), children[t.id]) for t in page]
    return req.render(
        "tenants.html", rows=rows, next=page[-1].id if more and page else None, total=len(ordered)
    )


@dataclass
class Node:
    group: Group
    devices: str
    members: int
    children: list[Node] = field(default_factory=list)


def _member_counts(scope: TenantScope, groups: list[Group]) -> dict[str, int]:
    """Direct members of each group shown. O(members of those groups)."""
    return {g.id: len(scope.members(g.id)) for g in groups}


def _tree_order(groups: list[Group]) -> tuple[list[Group], dict[str, int]]:
    """The groups depth first (roots and siblings by name, then id), and each one's depth."""
    children: dict[str | None, list[Group]] = {}
    for g in groups:
        children.setdefault(g.parent_id, []).append(g)
    for siblings in children.values():
        siblings.sort(key=lambda g: (g.name, g.id))
    ordered: list[Group] = []
    depth: dict[str, int] = {}
    stack = [(g, 0) for g in reversed(children.get(None, []))]
    while stack:
        group, level = stack.pop()
        ordered.append(group)
        depth[group.id] = level
        stack.extend((c, level + 1) for c in reversed(children.get(group.id, [])))
    return ordered, depth


def _device_count(tn: Tenancy, group_id: str) -> str:
    page = tn.devices_in(group_id, limit=COUNT_CAP)
    return f"{COUNT_CAP}+" if page.next is not None else str(len(page.items))


@dataclass
class ShareRow:
    """One share on a tenant's page, as plain text: never the connector record (whose
    security code the source's scope would hand over)."""

    name: str
    other_id: str
    other: Tenant | None
    """The tenant at the other end, when the operator may see it (else its id only)."""
    status: str
    connector_status: str = ""
    group_id: str | None = None


def _shares(req: Req, scope: TenantScope) -> tuple[list[ShareRow], list[ShareRow]]:
    """The tenant's connectors (shares out) and subscriptions (shares in), one page each."""
    out = [
        ShareRow(c.name, c.destination_tenant_id,
                 lookups.find_tenant(req.tn, req.root, c.destination_tenant_id), c.status)
        for c in scope.connectors()[: req.page_size]
    ]  # fmt: skip
    into = []
    for s in scope.subscriptions()[: req.page_size]:
        c = scope.get_connector(s.connector_id)
        other = lookups.find_tenant(req.tn, req.root, c.source_tenant_id)
        into.append(ShareRow(s.name, c.source_tenant_id, other, s.status, c.status, s.group_id))
    return out, into


def tenant_page(req: Req) -> Response:
    """A tenant: its record, usage chart, subtenants, shares, and one page of its group
    tree."""
    tenant = req.tenant(req.path["tenant_id"])
    scope = req.tn.tenant(tenant.id)
    ordered, depth = _tree_order(scope.groups())
    after = req.arg("after")
    start = 0
    if after is not None:
        ids = [g.id for g in ordered]
        if after not in ids:
            raise tenancy.InvalidValue(after, "the group tree changed; start again", field="after")
        start = ids.index(after) + 1
    page = ordered[start : start + req.page_size]
    more = start + req.page_size < len(ordered)
    members = _member_counts(scope, page)
    nodes = {g.id: Node(g, _device_count(req.tn, g.id), members[g.id]) for g in page}
    roots: list[Node] = []
    for g in page:
        above = nodes.get(g.parent_id or "")
        (above.children if above is not None else roots).append(nodes[g.id])
    parent = None
    if tenant.parent_id is not None:
        parent = lookups.find_tenant(req.tn, req.root, tenant.parent_id)
    shares_out, shares_in = _shares(req, scope)
    return req.render(
        "tenant.html",
        tenant=tenant,
        parent=parent,
        subtenants=req.tn.subtenants(tenant.id)[: req.page_size],
        shares_out=shares_out,
        shares_in=shares_in,
        chart=_usage(req.tn, tenant, 360, 80),
        roots=roots,
        depth=depth,
        groups=len(ordered),
        next=page[-1].id if more and page else None,
    )


def tenant_users_page(req: Req) -> Response:
    tenant = req.tenant(req.path["tenant_id"])
    users, nxt = slice_after(
        req.tn.tenant(tenant.id).users(), lambda u: u.id, req.arg("after"), req.page_size
    )
    return req.render("users.html", tenant=tenant, users=users, next=nxt)


def tenant_devices_page(req: Req) -> Response:
    tenant = req.tenant(req.path["tenant_id"])
    page = req.tn.tenant(tenant.id).devices(limit=req.page_size, after=req.arg("after"))
    return req.render("devices.html", tenant=tenant, devices=page.items, next=page.next)


def audit_page(req: Req) -> Response:
    tenant = req.tenant(req.path["tenant_id"])
    page = req.tn.audit_log(tenant=tenant.id, limit=req.page_size, after=req.arg("after"))
    return req.render("audit.html", tenant=tenant, records=page.items, next=page.next)


# ------------------------------------------------------------------ group, user, device


def _ancestors(scope: TenantScope, group: Group) -> list[Group]:
    chain: list[Group] = []
    current = group
    while current.parent_id is not None:
        current = scope.get_group(current.parent_id)
        chain.append(current)
    return chain[::-1]


def group_page(req: Req) -> Response:
    """A group: where it sits, its associations (ids and tag rules), members, child groups
    and one page of the devices it covers."""
    group = req.group(req.path["group_id"])
    tenant = req.tenant(group.tenant_id)
    scope = req.tn.tenant(tenant.id)
    ids, ids_next = slice_after(sorted(group.device_ids), str, req.arg("ids_after"), req.page_size)
    members, members_next = slice_after(
        scope.members(group.id), lambda u: u.id, req.arg("members_after"),
        req.page_size,
    )  # fmt: skip
    children = sorted(
        (g for g in scope.groups() if g.parent_id == group.id), key=lambda g: (g.name, g.id)
    )
    devices = req.tn.devices_in(group.id, limit=req.page_size, after=req.arg("after"))
    rules = sorted(group.device_tags, key=lambda r: [(k or "", v or "") for k, v in r])
    return req.render(
        "group.html",
        tenant=tenant,
        group=group,
        ancestors=_ancestors(scope, group),
        ids=ids,
        ids_next=ids_next,
        rules=rules[: req.page_size],
        more_rules=len(rules) > req.page_size,
        members=members,
        members_next=members_next,
        windows=scope.member_windows(group.id),
        children=children[: req.page_size],
        more_children=len(children) > req.page_size,
        devices=devices.items,
        next=devices.next,
    )


def user_page(req: Req) -> Response:
    """A user: record, direct groups, the groups below them, roles, one page of devices."""
    user = req.user(req.path["user_id"])
    tenant = req.tenant(user.tenant_id)
    scope = req.tn.tenant(tenant.id)
    direct = req.tn.groups_for(user.id, inherited=False)
    every = req.tn.groups_for(user.id)
    devices = req.tn.devices_for(user.id, limit=req.page_size, after=req.arg("after"))
    owner = scope.get_user(user.owner_id) if user.owner_id else None
    return req.render(
        "user.html",
        tenant=tenant,
        user=user,
        owner=owner,
        groups=direct[: req.page_size],
        inherited=len(every),
        roles=[_windowed(g.role, g) for g in scope.role_grants_of(user.id)],
        grants=scope.inventory_grants_of(user.id)[: req.page_size],
        group_names={g.id: g.name for g in every},
        devices=devices.items,
        next=devices.next,
    )


def _windowed(name: str, grant: RoleGrant) -> str:
    """``name``, then the grant's window when it has one: ``(from A until B)``."""
    bounds = [
        f"{word} {when.isoformat()}"
        for word, when in (("from", grant.valid_from), ("until", grant.valid_until))
        if when is not None
    ]
    return f"{name} ({' '.join(bounds)})" if bounds else name


def _tag_filter(values: list[str]) -> list[tuple[str, str | None]]:
    """``k=v`` (that pair), ``k`` or ``k=`` (any value of the key), as users_for takes."""
    pairs: list[tuple[str, str | None]] = []
    for text in values:
        key, _, value = text.partition("=")
        pairs.append((key.strip(), value.strip() or None))
    return pairs


def device_page(req: Req) -> Response:
    """A device: tags, gateway and child devices, and the users who reach it (one page),
    filtered by user tags ("whom to alert": ``?tag=notify=sms``)."""
    device = req.device(req.path["device_id"])
    tenant = req.tenant(device.tenant_id)
    scope = req.tn.tenant(tenant.id)
    parent = scope.get_device(device.parent_id) if device.parent_id else None
    children = scope.child_devices(device.id)
    filters = req.args("tag")
    problem = None
    try:
        who = req.tn.users_for(device.id, tags=_tag_filter(filters) or None)
    except tenancy.InvalidValue as error:
        who, problem = [], str(error)
    users, users_next = slice_after(who, lambda u: u.id, req.arg("users_after"), req.page_size)
    return req.render(
        "device.html",
        tenant=tenant,
        device=device,
        parent=parent,
        children=children[: req.page_size],
        filters=filters,
        problem=problem,
        users=users,
        reach=len(who),
        users_next=users_next,
    )
