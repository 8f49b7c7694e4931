"""Rendering helpers of the admin page: the Jinja2 environment (autoescape on for every
template), the inline SVG usage chart, tag and rule formatting, and the paging of lists the
library returns whole.

Nothing here reads the store; the page functions hand plain values in.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TypeVar

import jinja2

from tenancy import UsageDay

__all__ = [
    "Bar",
    "Chart",
    "environment",
    "format_rule",
    "format_tags",
    "slice_after",
    "static_files",
    "usage_chart",
]

T = TypeVar("T")

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def environment() -> jinja2.Environment:
    """The templates of tenancy.web, every value escaped (autoescape is on for all of them,
    whatever their suffix), undefined names an error rather than an empty string."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tenancy.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tags"] = format_tags
    env.filters["rule"] = format_rule
    return env


def static_files() -> dict[str, tuple[bytes, str]]:
    """The static files by name, read once: the only names ``/static/`` serves, so a path
    from a URL is a key looked up here, never a file path."""
    found: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("tenancy.web").joinpath("static").iterdir():
        suffix = entry.name[entry.name.rfind(".") :]
        if suffix in STATIC_TYPES:
            found[entry.name] = (entry.read_bytes(), STATIC_TYPES[suffix])
    return found


def format_tags(tags: Iterable[tuple[str, str]]) -> str:
    """``k=v`` pairs, sorted, comma separated (``-`` for none)."""
    text = ", ".join(f"{k}={v}" for k, v in sorted(tags))
    return text or "-"


def format_rule(rule: Sequence[tuple[str | None, str | None]]) -> str:
    """A tag rule in words: ``site=san-bruno``, ``site=*`` (any value), ``*=gold`` (any
    key), ``a=b and c=d`` (all of)."""
    return " and ".join(f"{k or '*'}={v or '*'}" for k, v in rule)


def slice_after(
    items: Sequence[T], key: Callable[[T], str], after: str | None, limit: int
) -> tuple[list[T], str | None]:
    """One page of ``items`` (sorted by ``key``): the first ``limit`` whose key is greater
    than ``after``, and the key to pass as ``after`` for the next page (None on the last).
    For the lists the library returns whole (groups, users, users_for); device listings use
    the library's own cursors."""
    keys = [key(item) for item in items]
    start = 0 if after is None else bisect.bisect_right(keys, after)
    page = list(items[start : start + limit])
    more = start + limit < len(items)
    return page, (key(page[-1]) if more and page else None)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Chart:
    """An inline SVG bar chart: one bar per day, and a text summary."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    title: str
    latest: int
    peak: int


def usage_chart(
    days: Sequence[UsageDay], *, slots: int = 30, width: int = 120, height: int = 28
) -> Chart:
    """The number of devices per day as a small bar chart: ``slots`` days ending with the
    last one given, oldest on the left, scaled to the period's peak (a day without a
    record, before the tenant existed, has no bar)."""
    shown = list(days)[-slots:]
    values = [day.devices for day in shown]
    peak = max(values, default=0)
    step = width / slots
    offset = slots - len(shown)
    bars = []
    for i, day in enumerate(shown):
        h = max(round(day.devices / peak * (height - 2), 1), 1.0) if peak else 1.0
        bars.append(Bar(round((offset + i) * step, 1), round(height - h, 1),
                        round(max(step - 1, 1), 1), h,
                        f"{day.day.isoformat()}: {day.devices} devices"))  # fmt: skip
    first = shown[0].day.isoformat() if shown else "-"
    last = shown[-1].day.isoformat() if shown else "-"
    latest = values[-1] if values else 0
    title = f"devices per day from {first} to {last}: latest {latest}, peak {peak}"
    return Chart(width, height, tuple(bars), title, latest, peak)
