"""Views and the decorator that gives each one the request's user and device."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

import tenancy
from examples.frameworks.django_app.apps import handle
from examples.frameworks.http_errors import error_body, http_status
from examples.frameworks.world import device_json

__all__ = ["Caller", "acting_user", "device", "devices", "reaching_device"]


@dataclass(frozen=True)
class Caller:
    """The request's user and the handle acting as that user."""

    user_id: str
    tn: tenancy.Tenancy


def caller_of(request: HttpRequest) -> Caller | None:
    user_id = request.headers.get("X-User-Id")
    if user_id is None:
        return None
    try:
        return Caller(user_id, handle().as_user(user_id))
    except (tenancy.NotFound, tenancy.PermissionDenied):  # unknown, disabled or suspended
        return None


UserView = Callable[[HttpRequest, Caller], HttpResponse]
DeviceView = Callable[[HttpRequest, Caller, str, str], HttpResponse]


def acting_user(view: UserView) -> Callable[[HttpRequest], HttpResponse]:
    """401 without a known user; tenancy errors as their HTTP status."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        caller = caller_of(request)
        if caller is None:
            return JsonResponse({"error": "unknown user"}, status=401)
        try:
            return view(request, caller)
        except tenancy.TenancyError as error:
            return JsonResponse(error_body(error), status=http_status(error))

    return wrapper


def reaching_device(view: DeviceView) -> Callable[[HttpRequest, str, str], HttpResponse]:
    """:func:`acting_user`, and 404 unless the user reaches the URL's device (unknown and
    unreachable look alike, so other tenants' ids leak nothing); 403 is left for a device
    the user sees but may not change."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, tenant_id: str, device_id: str) -> HttpResponse:
        def in_reach(request: HttpRequest, caller: Caller) -> HttpResponse:
            if not caller.tn.verify(caller.user_id, device_id):
                raise Http404("device not found")
            return view(request, caller, tenant_id, device_id)

        return acting_user(in_reach)(request)

    return wrapper


@require_GET
@acting_user
def devices(request: HttpRequest, caller: Caller) -> HttpResponse:
    page = caller.tn.devices_for(caller.user_id, after=request.GET.get("after"))
    return JsonResponse({"items": [device_json(d) for d in page.items], "next": page.next})


@csrf_exempt  # authenticated by a header, not a cookie: no cross-site request can forge it
@require_http_methods(["GET", "PATCH"])
@reaching_device
def device(request: HttpRequest, caller: Caller, tenant_id: str, device_id: str) -> HttpResponse:
    scope = caller.tn.tenant(tenant_id)
    if request.method == "GET":
        return JsonResponse(device_json(scope.get_device(device_id)))
    try:
        name = json.loads(request.body)["name"]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "the body is a JSON object with a name"}, status=400)
    # PermissionDenied (403) if the user may only read it
    return JsonResponse(device_json(scope.update_device(device_id, name=name)))
