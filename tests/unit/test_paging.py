"""Page sizes and cursors of every listing that takes ``limit=`` and ``after=``.

A page size is an int from 1 to 10,000, anything else is refused naming ``limit``. A cursor
is an opaque string, valid only for the listing (and the user, group or tenant, and the
filters) whose page gave it: any other value is refused naming ``after``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tenancy
from tenancy import InvalidValue, Page, Tenancy

from ._world import Hospital, hospital, new_tenant

Listing = Callable[..., Page[Any]]


@pytest.fixture
def h() -> Hospital:
    world = hospital()
    world.t.grant_role("nobody", "readonly")
    return world


def listings(h: Hospital) -> dict[str, Listing]:
    """Every listing with ``limit=`` and ``after=``, each with its own arguments fixed."""
    tn, t = h.tn, h.t
    return {
        "devices_for": lambda **kw: tn.devices_for("ceo", **kw),
        "devices_for tags": lambda **kw: tn.devices_for("ceo", tags=[("site", None)], **kw),
        "devices_for group": lambda **kw: tn.devices_for("ceo", group="north", **kw),
        "devices_for permission": lambda **kw: tn.devices_for(
            "ceo", permission="device:READ", **kw
        ),
        "devices_for tenant-wide": lambda **kw: tn.devices_for(
            "nobody", permission="device:READ", **kw
        ),
        "devices_in": lambda **kw: tn.devices_in("chain", **kw),
        "devices_in own": lambda **kw: tn.devices_in("sb", descendants=False, **kw),
        "TenantScope.devices": t.devices,
        "audit_log": tn.audit_log,
        "audit_log tenant": lambda **kw: tn.audit_log(tenant=t.tenant_id, **kw),
    }


def walk(listing: Listing, size: int) -> list[Any]:
    items: list[Any] = []
    page = listing(limit=size)
    items.extend(page)
    while page.next is not None:
        assert len(page) == size, "only the last page may be short"
        page = listing(limit=size, after=page.next)
        items.extend(page)
    return items


NAMES = list(listings(hospital()))


@pytest.mark.parametrize("name", NAMES)
def test_following_the_cursors_gives_the_whole_listing_once(h: Hospital, name: str) -> None:
    listing = listings(h)[name]
    whole = list(listing(limit=10_000))
    assert len(whole) >= 2, "each listing must have a second page to test"
    for size in (1, 2, len(whole) - 1, len(whole)):
        assert walk(listing, size) == whole, size
    assert listing(limit=len(whole)).next is None


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "limit", [0, -1, 10_001, 10**9, True, False, 1.5, 2.0, "10", None, [5]], ids=repr
)
def test_a_page_size_outside_1_to_10000_is_refused_naming_limit(
    h: Hospital, name: str, limit: object
) -> None:
    with pytest.raises(InvalidValue, match="page size") as caught:
        listings(h)[name](limit=limit)
    assert caught.value.field == "limit"
    assert caught.value.value is limit


def test_the_tenant_scope_no_longer_returns_a_whole_tenant_for_a_huge_limit(h: Hospital) -> None:
    with pytest.raises(InvalidValue):
        h.t.devices(limit=10**9)
    assert len(h.t.devices(limit=10_000)) == 7


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "after",
    [5, 1.5, b"AWQ", ["x"], {}, object(), "", "gen-1", "1", "not base64!", "AQ", "éé", "\x00"],
    ids=repr,
)
def test_anything_but_a_cursor_of_the_listing_is_refused_naming_after(
    h: Hospital, name: str, after: object
) -> None:
    with pytest.raises(InvalidValue) as caught:
        listings(h)[name](after=after)
    assert caught.value.field == "after"


@pytest.mark.parametrize("name", NAMES)
def test_a_cursor_works_only_for_the_listing_that_gave_it(h: Hospital, name: str) -> None:
    every = listings(h)
    cursor = every[name](limit=1).next
    assert cursor is not None
    every[name](limit=1, after=cursor)  # its own listing takes it
    for other, listing in every.items():
        if other != name:
            with pytest.raises(InvalidValue) as caught:
                listing(limit=1, after=cursor)
            assert caught.value.field == "after", other


def test_a_cursor_of_one_user_is_refused_for_another(h: Hospital) -> None:
    cursor = h.tn.devices_for("ceo", limit=1).next
    assert cursor is not None
    for user in ("regional", "site_manager", "nobody", "no-such-user"):
        with pytest.raises(InvalidValue, match="another query"):
            h.tn.devices_for(user, after=cursor)
    for user in ("regional", "no-such-user"):
        with pytest.raises(InvalidValue):
            h.tn.devices_for(user, after=cursor, permission="device:READ")


def test_a_cursor_of_another_group_or_tenant_is_refused(h: Hospital) -> None:
    cursor = h.tn.devices_in("chain", limit=1).next
    assert cursor is not None
    with pytest.raises(InvalidValue):
        h.tn.devices_in("north", after=cursor)
    other = new_tenant(h.tn, "other")
    other.create_devices([{"name": "a"}, {"name": "b"}])
    scope_cursor = other.devices(limit=1).next
    with pytest.raises(InvalidValue):
        h.t.devices(after=scope_cursor)
    with pytest.raises(InvalidValue):
        h.tn.audit_log(tenant=other.tenant_id, after=h.tn.audit_log(limit=1).next)


def test_a_cursor_with_other_filters_is_refused_and_the_same_filters_in_any_form_agree(
    h: Hospital,
) -> None:
    tn = h.tn
    h.t.tag_device("gen-1", [("kind", "generator")])
    tags = [("site", None), ("kind", "generator")]
    cursor = tn.devices_for("ceo", limit=1, tags=tags).next
    assert cursor is not None
    expected = list(tn.devices_for("ceo", tags=tags, after=cursor))
    # The same filter given in another order, container or shape is the same query.
    for same in (list(reversed(tags)), set(tags), (*tags, tags[0]), iter(tags)):
        assert list(tn.devices_for("ceo", tags=same, after=cursor)) == expected
    for other in (
        {"tags": [("site", None)]},
        {"tags": tags, "group": "north"},
        {"tags": tags, "permission": "device:READ"},
        {},
    ):
        with pytest.raises(InvalidValue):
            tn.devices_for("ceo", after=cursor, **other)
    # the page size is not part of the query
    assert list(tn.devices_for("ceo", tags=tags, after=cursor, limit=1)) == expected[:1]


def test_an_audit_cursor_is_bound_to_its_filters(h: Hospital) -> None:
    tn = h.tn
    first = tn.audit_log(target="ceo", limit=1)
    assert first.next is not None
    tn.audit_log(target="ceo", after=first.next)
    for other in ({"target": "regional"}, {}, {"target": "ceo", "actor": "system"}):
        with pytest.raises(InvalidValue):
            tn.audit_log(after=first.next, **other)  # type: ignore[arg-type]


def test_an_altered_cursor_is_refused(h: Hospital) -> None:
    cursor = h.tn.devices_for("ceo", limit=2).next
    assert cursor is not None
    for i in range(len(cursor)):
        for c in "AQw-_":
            altered = cursor[:i] + c + cursor[i + 1 :]
            if altered != cursor:
                with pytest.raises(InvalidValue):
                    h.tn.devices_for("ceo", after=altered)
    for altered in (cursor + "A", cursor[:-1], cursor + "=", " " + cursor, cursor.upper()):
        with pytest.raises(InvalidValue):
            h.tn.devices_for("ceo", after=altered)


def test_a_cursor_is_short_and_urlsafe(h: Hospital) -> None:
    cursor = h.tn.devices_for("ceo", limit=1).next
    assert cursor is not None
    assert len(cursor) <= 8 + len("gen-1") * 4 // 3 + 2
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_a_cursor_stays_valid_for_another_handle_on_the_same_file(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    with tenancy.open(path) as first:
        hospital(first)
        cursor = first.devices_for("ceo", limit=1, tags=[("site", None)]).next
        assert cursor is not None
        expected = list(first.devices_for("ceo", tags=[("site", None)], after=cursor))
    assert [d.id for d in expected] == ["gen-2"]
    with tenancy.open(path) as second:
        assert list(second.devices_for("ceo", tags=[("site", None)], after=cursor)) == expected


_CHILD = """
import tenancy, sys
sys.path.insert(0, {tests!r})
from unit._world import hospital
h = hospital(tenancy.open())
h.t.tag_device("gen-1", [("kind", "generator")])
print(h.tn.devices_for("ceo", limit=1, tags={{("site", None), ("kind", None)}}).next)
print(h.tn.devices_for("ceo", limit=1, tags={{("site", None), (None, "generator")}}).next)
print(h.tn.devices_in("chain", limit=1).next)
"""


def test_a_cursor_is_the_same_in_every_process_whatever_the_hash_seed() -> None:
    """Cursors hold no per-process hash: a page served by one worker may be followed on
    another (a set of tag filters iterates in another order there)."""
    tests = str(Path(__file__).resolve().parents[1])
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", _CHILD.format(tests=tests)],
            env=env, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        outputs.add(out.stdout)
    assert len(outputs) == 1, outputs
    assert "None" not in outputs.pop()


def test_after_seq_follows_the_log_from_a_record(tn_log: Tenancy) -> None:
    tn = tn_log
    log = list(tn.audit_log(limit=10_000))
    middle = log[len(log) // 2].seq
    assert list(tn.audit_log(after_seq=middle, limit=10_000)) == [r for r in log if r.seq > middle]
    assert list(tn.audit_log(after_seq=log[-1].seq)) == []
    page = tn.audit_log(after_seq=middle, limit=1)
    assert page.next is not None
    rest = tn.audit_log(after=page.next, limit=10_000)
    assert [*page, *rest] == [r for r in log if r.seq > middle]


@pytest.fixture
def tn_log() -> Tenancy:
    tn = tenancy.open()
    t = new_tenant(tn, "acme")
    for i in range(6):
        t.create_device(f"d{i}")
    return tn
