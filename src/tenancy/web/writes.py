"""The writes of the admin page (``allow_writes=True`` only): suspend and activate a tenant,
add and remove a member, tag and untag a device.

Each is a POST of a form that carries the CSRF token (checked before this module is
called) and the ids it acts on; ids are looked up below the actor's tenant like any URL id.
The write goes through ``tn.as_user(actor)``, so the library authorises it for the actor
(PermissionDenied changes nothing: the 403 page says why) and the audit log records the
actor. Each answers with a redirect to the page the form was on (a path built here from
ids, never a URL from the form) and a ``done`` code that page shows as a message.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response

import tenancy
from tenancy import Tenancy
from tenancy.web.context import Req, seg

__all__ = ["WRITES"]


def _acting(req: Req) -> Tenancy:
    return req.tn.as_user(req.actor.id)


def suspend(req: Req) -> Response:
    tenant = req.tenant(req.field("tenant_id"))
    _acting(req).suspend_tenant(tenant.id)
    return req.redirect(f"/tenants/{seg(tenant.id)}?done=suspended")


def activate(req: Req) -> Response:
    tenant = req.tenant(req.field("tenant_id"))
    _acting(req).activate_tenant(tenant.id)
    return req.redirect(f"/tenants/{seg(tenant.id)}?done=activated")


def add_member(req: Req) -> Response:
    """Add a user, named by id or email, to the group (both of the group's tenant)."""
    group = req.group(req.field("group_id"))
    scope = req.tn.tenant(group.tenant_id)
    text = req.field("user").strip()
    try:
        user = scope.get_user(text)
    except tenancy.NotFound:
        found = scope.find_user(text) if "@" in text else None
        if found is None:
            raise
        user = found
    _acting(req).tenant(group.tenant_id).add_member(group.id, user.id)
    return req.redirect(f"/groups/{seg(group.id)}?done=member-added")


def remove_member(req: Req) -> Response:
    group = req.group(req.field("group_id"))
    user = req.user(req.field("user_id"))
    _acting(req).tenant(group.tenant_id).remove_member(group.id, user.id)
    return req.redirect(f"/groups/{seg(group.id)}?done=member-removed")


def _tag(req: Req) -> tuple[str, str, list[tuple[str, str]]]:
    device = req.device(req.field("device_id"))
    return device.tenant_id, device.id, [(req.field("key").strip(), req.field("value").strip())]


def tag(req: Req) -> Response:
    tenant_id, device_id, tags = _tag(req)
    _acting(req).tenant(tenant_id).tag_device(device_id, tags)
    return req.redirect(f"/devices/{seg(device_id)}?done=tagged")


def untag(req: Req) -> Response:
    tenant_id, device_id, tags = _tag(req)
    _acting(req).tenant(tenant_id).untag_device(device_id, tags)
    return req.redirect(f"/devices/{seg(device_id)}?done=untagged")


WRITES: dict[str, Callable[[Req], Response]] = {
    "suspend": suspend,
    "activate": activate,
    "add-member": add_member,
    "remove-member": remove_member,
    "tag": tag,
    "untag": untag,
}
"""The write actions by the last segment of their URL: ``POST /actions/<name>``."""
