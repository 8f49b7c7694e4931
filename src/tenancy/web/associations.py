"""Test device associations: pick a user and a device, see whether the user reaches it and
why, as the source platform's tool of that name does.

The two boxes take an id, an email (users) or part of a name. An exact id wins; otherwise
the page lists the candidates (at most :data:`CANDIDATES`) to pick from. The answer is
``explain``'s: when allowed, its proof path drawn as the chain from the user through the
groups to the device; when denied, the first failing condition in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from tenancy import Device, Explanation, Group, Tenancy, User
from tenancy.web import lookups
from tenancy.web.context import Req, seg
from tenancy.web.render import format_rule

__all__ = ["CANDIDATES", "DEVICE_SCAN", "associations_page"]

CANDIDATES = 20
DEVICE_SCAN = 20_000
"""Devices looked at, over every tenant, when searching devices by name (there is no
name index in the public API); the page says when it stopped early. An id is found in any
tenant at once."""


@dataclass
class Search:
    """What one box found: the record when it is one, else the candidates."""

    text: str
    chosen: User | Device | None = None
    candidates: tuple[User | Device, ...] = ()
    partial: bool = False


def _user_name(user: User) -> str:
    name = f"{user.first_name} {user.last_name}".strip()
    return name or user.username or user.email


def _find_user(tn: Tenancy, root: str, text: str) -> Search:
    found = lookups.find_user(tn, root, text)
    if found is not None:
        return Search(text, found)
    if "@" in text:
        by_email = lookups.find_users_by_email(tn, root, text)
        if len(by_email) == 1:
            return Search(text, by_email[0])
        if by_email:
            return Search(text, candidates=tuple(by_email[:CANDIDATES]))
    needle = text.casefold()
    matches: list[User] = []
    for tenant in lookups.visible_tenants(tn, root):
        for user in tn.tenant(tenant.id).users():
            words = f"{_user_name(user)} {user.username} {user.email}".casefold()
            if needle in words:
                matches.append(user)
                if len(matches) > CANDIDATES:
                    return Search(text, candidates=tuple(matches[:CANDIDATES]), partial=True)
    if len(matches) == 1:
        return Search(text, matches[0])
    return Search(text, candidates=tuple(matches))


def _find_device(tn: Tenancy, root: str, text: str) -> Search:
    found = lookups.find_device(tn, root, text)
    if found is not None:
        return Search(text, found)
    needle = text.casefold()
    matches: list[Device] = []
    budget = DEVICE_SCAN
    for tenant in lookups.visible_tenants(tn, root):
        scope = tn.tenant(tenant.id)
        after = None
        while budget > 0:
            page = scope.devices(limit=min(1_000, budget), after=after)
            budget -= len(page.items)
            matches.extend(d for d in page.items if needle in d.name.casefold())
            if len(matches) > CANDIDATES:
                return Search(text, candidates=tuple(matches[:CANDIDATES]), partial=True)
            after = page.next
            if after is None:
                break
        if budget <= 0:
            return Search(text, candidates=tuple(matches), partial=True)
    if len(matches) == 1:
        return Search(text, matches[0])
    return Search(text, candidates=tuple(matches))


@dataclass
class Link:
    """One step of the drawn chain: what it is, its label, and how it joins the next."""

    kind: str
    label: str
    href: str
    edge: str = ""


def _chain(req: Req, user: User, device: Device, why: Explanation) -> list[Link]:
    scope = req.tn.tenant(user.tenant_id)
    groups: list[Group] = [scope.get_group(g) for g in why.path]
    links = [Link("user", _user_name(user), f"/users/{seg(user.id)}", "member of")]
    for position, group in enumerate(groups):
        last = position == len(groups) - 1
        links.append(Link("group", group.name, f"/groups/{seg(group.id)}",
                          "" if last else "has child group"))  # fmt: skip
    association = why.association
    assert association is not None  # an allowed explanation always has one
    if association.kind == "device_id":
        how = "associates by id"
    else:
        how = f"associates by tag rule {format_rule(association.rule or ())}"
    links[-1].edge = how
    # The association may hold a gateway of the device: draw the gateways, then the device.
    for gateway_id in reversed(association.via):
        gateway = scope.get_device(gateway_id)
        links.append(Link("device", gateway.name, f"/devices/{seg(gateway.id)}",
                          "is the gateway of"))  # fmt: skip
    links.append(Link("device", device.name, f"/devices/{seg(device.id)}"))
    return links


def _denial(req: Req, user: User, device: Device, why: Explanation) -> str:
    """The first failing condition, in a sentence with names rather than ids."""
    name = _user_name(user)
    if why.code == "other-tenant":
        mine = req.tn.get_tenant(user.tenant_id).name
        theirs = req.tn.get_tenant(device.tenant_id).name
        return (
            f"{name} belongs to {mine} and {device.name} to {theirs}: "
            "a user never reaches a device of another tenant."
        )
    if why.code == "tenant-suspended":
        return (
            f"{req.tn.get_tenant(user.tenant_id).name} is suspended, or a tenant above it is: "
            "nobody there reaches any device until it is activated."
        )
    if why.code == "user-disabled":
        return f"{name} is disabled: a disabled user reaches no device."
    if why.code == "no-covering-group":
        groups = req.tn.groups_for(user.id, inherited=False)
        if not groups:
            return f"{name} is a member of no group, so reaches no device."
        names = ", ".join(g.name for g in groups[:5]) + (", ..." if len(groups) > 5 else "")
        which = "group" if len(groups) == 1 else f"{len(groups)} groups"
        them = "it" if len(groups) == 1 else "them"
        return (
            f"{name} is a member of {which} ({names}), and no group at or below {them} "
            f"associates {device.name}, by id or by tag rule, directly or through a gateway."
        )
    return why.reason  # unknown-user, unknown-device: the ids were resolved just before


def associations_page(req: Req) -> Response:
    user_text = (req.arg("user") or "").strip()
    device_text = (req.arg("device") or "").strip()
    user = _find_user(req.tn, req.root, user_text) if user_text else None
    device = _find_device(req.tn, req.root, device_text) if device_text else None
    why = chain = denial = None
    if (
        user is not None
        and device is not None
        and isinstance(user.chosen, User)
        and isinstance(device.chosen, Device)
    ):
        why = req.tn.explain(user.chosen.id, device.chosen.id)
        if why.allowed:
            chain = _chain(req, user.chosen, device.chosen, why)
        else:
            denial = _denial(req, user.chosen, device.chosen, why)
    return req.render(
        "associations.html",
        user_text=user_text,
        device_text=device_text,
        user=user,
        device=device,
        why=why,
        chain=chain,
        denial=denial,
        user_name=_user_name,
        scanned=DEVICE_SCAN,
    )
