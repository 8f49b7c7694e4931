"""Listing: devices_for pages and filters, users_for and its tag filter (DOMAIN.md section 3)."""

from __future__ import annotations

import pytest

import tenancy
from tenancy import InvalidValue, Tenancy, TenantScope

from ._world import Hospital, hospital, listed, new_tenant


@pytest.fixture
def h() -> Hospital:
    return hospital()


def _many(count: int) -> tuple[Tenancy, TenantScope]:
    tn = tenancy.open()
    t = new_tenant(tn, "fleet")
    t.create_group("Fleet", id="fleet", device_tags=[("fleet", None)])
    t.create_devices(
        [{"name": f"truck {i}", "id": f"d{i:03d}", "tags": [("fleet", "a")]} for i in range(count)]
    )
    t.create_user("u@fleet.example", id="u")
    t.add_member("fleet", "u")
    return tn, t


def test_devices_for_is_sorted_by_id_and_paged_with_a_cursor() -> None:
    """Each page holds at most ``limit`` devices in id order; ``next`` is an opaque cursor
    after the last device of a full page and None on the last page; following it visits
    every device exactly once."""
    tn, _ = _many(7)
    page = tn.devices_for("u", limit=3)
    assert [d.id for d in page] == ["d000", "d001", "d002"]
    assert isinstance(page.next, str)
    assert page.next != "d002"
    page = tn.devices_for("u", limit=3, after=page.next)
    assert [d.id for d in page] == ["d003", "d004", "d005"]
    page = tn.devices_for("u", limit=3, after=page.next)
    assert [d.id for d in page] == ["d006"]
    assert page.next is None


def test_a_page_that_ends_exactly_at_the_last_device_has_no_next() -> None:
    tn, _ = _many(4)
    first = tn.devices_for("u", limit=2)
    second = tn.devices_for("u", limit=2, after=first.next)
    assert [d.id for d in second] == ["d002", "d003"]
    assert second.next is None
    assert tn.devices_for("u", limit=4).next is None


def test_the_cursor_stays_valid_when_devices_are_added_or_removed_between_pages() -> None:
    """The cursor stands for a device id (the page's last): devices added before it are not
    repeated, devices added after it appear, and deleting the cursor's own device does not
    break the walk."""
    tn, t = _many(6)
    first = tn.devices_for("u", limit=3)
    assert first.items[-1].id == "d002"
    t.create_device("early", id="d000a", tags=[("fleet", "a")])  # before the cursor
    t.create_device("late", id="d004a", tags=[("fleet", "a")])  # after the cursor
    t.delete_device("d002")  # the cursor itself
    t.delete_device("d005")
    rest = listed(tn, "u", after=first.next)
    assert rest == ["d003", "d004", "d004a"]


def test_listing_merges_overlapping_groups_without_duplicates(h: Hospital) -> None:
    """A user in several overlapping groups sees each device once, in id order."""
    h.t.add_member("sb", "ceo")
    h.t.add_member("south", "ceo")
    assert listed(h.tn, "ceo") == ["gen-1", "gen-2", "gen-3", "probe-1", "sensor-1"]


@pytest.mark.parametrize("limit", [0, -1, 10_001, True, 2.5, "10"])
def test_a_bad_page_size_is_refused(h: Hospital, limit: object) -> None:
    with pytest.raises(InvalidValue, match="page size"):
        h.tn.devices_for("ceo", limit=limit)  # type: ignore[arg-type]


def test_filter_by_tags_keeps_devices_matching_every_matcher(h: Hospital) -> None:
    assert listed(h.tn, "ceo", tags=[("site", "mp")]) == ["gen-2"]  # pump-2 is not reached
    assert listed(h.tn, "ceo", tags=[(None, "south")]) == ["gen-3"]
    assert listed(h.tn, "ceo", tags=[("site", None), ("kind", "generator")]) == ["gen-2"]
    assert listed(h.tn, "ceo", tags=[("site", "sb"), ("kind", None)]) == []
    assert listed(h.tn, "ceo", tags=[tenancy.all_of(("site", "mp"), ("kind", None))]) == ["gen-2"]
    assert listed(h.tn, "ceo", tags=[]) == listed(h.tn, "ceo")


def test_filter_by_group_keeps_devices_that_group_covers_and_the_user_reaches(h: Hospital) -> None:
    assert listed(h.tn, "ceo", group="north") == ["gen-1", "gen-2", "probe-1", "sensor-1"]
    assert listed(h.tn, "ceo", group="sb") == ["gen-1", "probe-1", "sensor-1"]
    assert listed(h.tn, "ceo", group="south") == ["gen-3"]
    # a group above the user's own: only what the user reaches anyway
    assert listed(h.tn, "site_manager", group="chain") == ["gen-1", "probe-1", "sensor-1"]
    # a sibling group: nothing the user reaches
    assert listed(h.tn, "regional", group="south") == []
    assert listed(h.tn, "ceo", group="no-such-group") == []


def test_filters_combine(h: Hospital) -> None:
    h.t.tag_device("sensor-1", [("kind", "sensor")])
    assert listed(h.tn, "ceo", group="sb", tags=[("kind", None)]) == ["sensor-1"]


def test_users_for_lists_everyone_who_reaches_the_device_sorted(h: Hospital) -> None:
    """Whom to alert: members of every covering group, up the tree, enabled only."""
    assert [u.id for u in h.tn.users_for("probe-1")] == ["ceo", "regional", "site_manager"]
    assert [u.id for u in h.tn.users_for("gen-3")] == ["ceo"]
    assert h.tn.users_for("lone") == []
    h.t.update_user("off", enabled=True)
    assert [u.id for u in h.tn.users_for("gen-3")] == ["ceo", "off"]


def test_users_for_filters_on_user_tags(h: Hospital) -> None:
    h.t.update_user("regional", tags={"notify": "mail", "role": "ops"})
    assert [u.id for u in h.tn.users_for("gen-2", tags=[("notify", "sms")])] == ["ceo"]
    assert [u.id for u in h.tn.users_for("gen-2", tags=[("notify", None)])] == ["ceo", "regional"]
    assert [u.id for u in h.tn.users_for("gen-2", tags=[(None, "ops")])] == ["regional"]
    both = [("notify", "mail"), ("role", "ops")]
    assert [u.id for u in h.tn.users_for("gen-2", tags=both)] == ["regional"]
    assert h.tn.users_for("gen-2", tags=[("notify", "pager")]) == []


def test_users_for_is_empty_while_the_tenant_is_suspended(h: Hospital) -> None:
    h.tn.suspend_tenant(h.t.tenant_id)
    assert h.tn.users_for("gen-1") == []
    h.tn.activate_tenant(h.t.tenant_id)
    assert [u.id for u in h.tn.users_for("gen-1")] == ["ceo", "regional", "site_manager"]


def test_the_tenant_scope_lists_every_device_of_the_tenant_in_pages(h: Hospital) -> None:
    first = h.t.devices(limit=4)
    rest = h.t.devices(limit=4, after=first.next)
    ids = [d.id for d in first] + [d.id for d in rest]
    assert ids == sorted(["gen-1", "sensor-1", "probe-1", "gen-2", "pump-2", "gen-3", "lone"])
    assert rest.next is None
