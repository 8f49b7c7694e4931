"""Validity windows (DOMAIN.md section 9): when a time-bounded grant counts.

Memberships, global and inventory role grants, delegations and connectors may carry
``valid_from`` and ``valid_until``, timezone-aware datetimes. A grant counts at instant
``t`` exactly when ``valid_from <= t < valid_until``; a missing bound is open on that side.
Expired grants stay records until removed: the window decides what they grant, never
whether they exist.
"""

from __future__ import annotations

from datetime import datetime

from tenancy.errors import InvalidValue

__all__ = ["check_window", "in_window", "window_text"]


def check_window(valid_from: object, valid_until: object) -> None:
    """Refuse, with InvalidValue naming the field, a bound that is not a timezone-aware
    datetime, and a window whose ``valid_from`` is not before its ``valid_until``. O(1)."""
    for field, value in (("valid_from", valid_from), ("valid_until", valid_until)):
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            raise InvalidValue(value, "a timezone-aware datetime (or None)", field=field)
    if (
        isinstance(valid_from, datetime)
        and isinstance(valid_until, datetime)
        and not valid_from < valid_until
    ):
        raise InvalidValue(
            valid_until.isoformat(),
            f"valid_until comes after valid_from ({valid_from.isoformat()})",
            field="valid_until",
        )


def in_window(valid_from: datetime | None, valid_until: datetime | None, now: datetime) -> bool:
    """Does a grant with this window count at ``now``? ``valid_from <= now < valid_until``,
    a missing bound being open. O(1)."""
    return (valid_from is None or valid_from <= now) and (valid_until is None or now < valid_until)


def window_text(valid_from: datetime | None, valid_until: datetime | None, now: datetime) -> str:
    """Why a grant with this window does not count at ``now``: ``"expired at ..."`` or
    ``"starts at ..."`` (ISO 8601), or ``""`` when it counts. O(1)."""
    if valid_until is not None and now >= valid_until:
        return f"expired at {valid_until.isoformat()}"
    if valid_from is not None and now < valid_from:
        return f"starts at {valid_from.isoformat()}"
    return ""
