"""Id types and generation.

All ids are strings, unique in the whole store per kind, stable for life. Callers may bring
their own (devices often have serial numbers); otherwise these helpers make one.
"""

from __future__ import annotations

import secrets
from typing import NewType

from tenancy.errors import InvalidValue

__all__ = [
    "DeviceId",
    "GroupId",
    "RecipeId",
    "TenantId",
    "UserId",
    "check_id",
    "new_connector_id",
    "new_device_id",
    "new_group_id",
    "new_recipe_id",
    "new_security_code",
    "new_subscription_id",
    "new_tenant_id",
    "new_user_id",
]

TenantId = NewType("TenantId", str)
GroupId = NewType("GroupId", str)
DeviceId = NewType("DeviceId", str)
UserId = NewType("UserId", str)
RecipeId = NewType("RecipeId", str)

MAX_ID_LENGTH = 255


def new_tenant_id() -> TenantId:
    """A tenant id: ``t`` and eight digits, as the source platform shows them."""
    return TenantId(f"t{secrets.randbelow(10**8):08d}")


def new_group_id() -> GroupId:
    return GroupId(f"g-{secrets.token_hex(8)}")


def new_device_id() -> DeviceId:
    return DeviceId(f"d-{secrets.token_hex(8)}")


def new_user_id() -> UserId:
    return UserId(f"u-{secrets.token_hex(8)}")


def new_recipe_id() -> RecipeId:
    return RecipeId(f"r-{secrets.token_hex(8)}")


def new_connector_id() -> str:
    return f"c-{secrets.token_hex(8)}"


def new_subscription_id() -> str:
    return f"s-{secrets.token_hex(8)}"


SECURITY_CODE_BYTES = 24
"""Random bytes of a connector's security code: 192 bits (DOMAIN.md section 7 asks 128+)."""


def new_security_code() -> str:
    """A fresh security code: :data:`SECURITY_CODE_BYTES` bytes from :mod:`secrets`, as
    URL-safe text (32 characters)."""
    return secrets.token_urlsafe(SECURITY_CODE_BYTES)


def check_id(kind: str, value: object, field: str = "id") -> str:
    """Return ``value`` if it is a usable id, else raise InvalidValue naming the rule."""
    if not isinstance(value, str):
        raise InvalidValue(value, f"a {kind} id must be a string", field=field)
    if not value or value != value.strip():
        raise InvalidValue(
            value, f"a {kind} id must be non-empty, without surrounding spaces", field=field
        )
    if len(value) > MAX_ID_LENGTH:
        raise InvalidValue(
            value, f"a {kind} id has at most {MAX_ID_LENGTH} characters", field=field
        )
    if not value.isprintable():
        raise InvalidValue(value, f"a {kind} id must be printable", field=field)
    return value
