"""groups_for, in_group and devices_in (DOMAIN.md section 3)."""

from __future__ import annotations

import pytest

from tenancy import InvalidValue

from ._world import Hospital, hospital


@pytest.fixture
def h() -> Hospital:
    return hospital()


def _ids(records: object) -> list[str]:
    return [r.id for r in records]  # type: ignore[attr-defined]


def test_groups_for_gives_direct_groups_and_with_inherited_every_group_below(h: Hospital) -> None:
    assert _ids(h.tn.groups_for("regional", inherited=False)) == ["north"]
    assert _ids(h.tn.groups_for("regional")) == ["mp", "north", "sb"]
    assert _ids(h.tn.groups_for("ceo")) == ["chain", "mp", "north", "sb", "south"]
    assert _ids(h.tn.groups_for("nobody")) == []


def test_groups_for_counts_overlapping_memberships_once(h: Hospital) -> None:
    h.t.add_member("sb", "regional")
    assert _ids(h.tn.groups_for("regional", inherited=False)) == ["north", "sb"]
    assert _ids(h.tn.groups_for("regional")) == ["mp", "north", "sb"]


def test_in_group_is_membership_of_the_group_or_an_ancestor(h: Hospital) -> None:
    assert h.tn.in_group("ceo", "sb")
    assert h.tn.in_group("regional", "mp")
    assert h.tn.in_group("regional", "north")
    assert not h.tn.in_group("regional", "chain")  # a group above is not "in"
    assert not h.tn.in_group("regional", "south")
    assert not h.tn.in_group("ghost", "chain")
    assert not h.tn.in_group("ceo", "ghost")


def test_in_group_is_structural_it_ignores_enabled_and_suspension(h: Hospital) -> None:
    """in_group answers about the tree; verify is where disabled users and suspended
    tenants are denied."""
    assert h.tn.in_group("off", "sb")
    h.tn.suspend_tenant(h.t.tenant_id)
    assert h.tn.in_group("ceo", "sb")
    assert not h.tn.verify("ceo", "gen-1")


def test_in_group_follows_moves(h: Hospital) -> None:
    h.t.move_group("sb", "south")
    assert not h.tn.in_group("regional", "sb")
    assert h.tn.in_group("ceo", "sb")


def test_devices_in_with_descendants_is_what_the_group_covers(h: Hospital) -> None:
    assert _ids(h.tn.devices_in("north")) == ["gen-1", "gen-2", "probe-1", "sensor-1"]
    assert _ids(h.tn.devices_in("chain")) == ["gen-1", "gen-2", "gen-3", "probe-1", "sensor-1"]
    assert _ids(h.tn.devices_in("ghost")) == []


def test_devices_in_without_descendants_is_what_the_group_associates_itself(h: Hospital) -> None:
    """Its own ids and rules, and their child devices; nothing from subgroups."""
    assert _ids(h.tn.devices_in("north", descendants=False)) == []
    assert _ids(h.tn.devices_in("sb", descendants=False)) == ["gen-1", "probe-1", "sensor-1"]
    assert _ids(h.tn.devices_in("mp", descendants=False)) == ["gen-2"]
    h.t.tag_device("pump-2", [("region", "north")])
    assert _ids(h.tn.devices_in("north", descendants=False)) == ["pump-2"]


def test_devices_in_pages_with_a_cursor(h: Hospital) -> None:
    for descendants in (True, False):
        first = h.tn.devices_in("sb", descendants=descendants, limit=2)
        assert _ids(first) == ["gen-1", "probe-1"]
        assert first.next is not None
        rest = h.tn.devices_in("sb", descendants=descendants, limit=2, after=first.next)
        assert _ids(rest) == ["sensor-1"]
        assert rest.next is None
        # bound to the group and to descendants: the other listing refuses the cursor
        with pytest.raises(InvalidValue):
            h.tn.devices_in("sb", descendants=not descendants, limit=2, after=first.next)


def test_devices_in_ignores_who_is_enabled_or_suspended(h: Hospital) -> None:
    """devices_in describes the group; it is not a reach question."""
    h.tn.suspend_tenant(h.t.tenant_id)
    assert _ids(h.tn.devices_in("south")) == ["gen-3"]
