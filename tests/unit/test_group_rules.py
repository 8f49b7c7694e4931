"""Many tag rules on one group: the safety limit on how many, and the index kept right as a
group's rules (and a rule-index bucket) grow past the small tuples they start as.

The cost is not tested by the clock: adding, removing and loading a rule is O(1) whatever
the group holds (the figures are in the report of issue 11: 12,000 rules in one call went
from 4.7 s to 0.13 s, reopening a file holding them from 1.6 s to 0.03 s).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

import tenancy
from tenancy import LimitExceeded, SafetyLimits, Tenancy, TenantScope, all_of

from ._world import new_tenant


def _world(limit: int | None = None, path: str | None = None) -> tuple[Tenancy, TenantScope]:
    limits = None if limit is None else SafetyLimits(max_tag_rules_per_group=limit)
    tn = tenancy.open(path, staleness=None, limits=limits) if path else tenancy.open(limits=limits)
    t = new_tenant(tn, "acme")
    t.create_devices(
        [
            {"name": f"d{i}", "id": f"d{i:03d}", "tags": [("customer", "acme"), ("site", f"s{i}")]}
            for i in range(40)
        ]
    )
    t.create_user("ana@acme.example", id="ana")
    return tn, t


def _refused(tn: Tenancy, count: int, maximum: int, write: object) -> None:
    revision, snapshot = tn.revision, tn.store.snapshot()
    log = len(tn.audit_log(limit=10_000))
    with pytest.raises(LimitExceeded) as caught:
        write()  # type: ignore[operator]
    assert (caught.value.limit, caught.value.value, caught.value.maximum) == (
        "max_tag_rules_per_group",
        count,
        maximum,
    )
    assert tn.revision == revision
    assert tn.store.snapshot() == snapshot
    assert len(tn.audit_log(limit=10_000)) == log
    tn.index.check_invariants()


def test_the_default_limit_is_a_thousand_rules_per_group() -> None:
    tn, t = _world()
    assert tn.limits.max_tag_rules_per_group == 1_000
    rules = [("site", f"s{i}") for i in range(1_000)]
    group = t.create_group("All sites", device_tags=rules)
    assert len(group.device_tags) == 1_000
    _refused(tn, 1_001, 1_000, lambda: t.associate(group.id, device_tags=[("site", "one more")]))
    _refused(tn, 1_001, 1_000, lambda: t.create_group("Too many", device_tags=[*rules, ("k", "v")]))


def test_the_limit_is_exact_on_create_and_on_associate() -> None:
    tn, t = _world(limit=3)
    rules = [("site", "s1"), ("site", "s2"), all_of(("customer", "acme"), ("site", "s3"))]
    # equal rules given twice count once
    group = t.create_group("Three", device_tags=[*rules, ("site", "s1")])  # type: ignore[list-item]
    assert len(group.device_tags) == 3
    _refused(tn, 4, 3, lambda: t.create_group("Four", device_tags=[*rules, ("site", "s4")]))  # type: ignore[list-item]
    _refused(tn, 4, 3, lambda: t.associate(group.id, device_tags=[("site", "s4")]))
    # rules it has already are no new rules; ids are not rules
    assert t.associate(group.id, device_tags=[("site", "s2")]) == group
    t.associate(group.id, device_ids=["d007"])
    t.dissociate(group.id, device_tags=[("site", "s2")])
    assert len(t.associate(group.id, device_tags=[("site", "s4")]).device_tags) == 3


def test_a_group_over_a_lowered_limit_keeps_its_rules_and_may_lose_some(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    tn, t = _world(path=path)
    group = t.create_group("Five", device_tags=[("site", f"s{i}") for i in range(5)])
    tn.close()
    with tenancy.open(path, limits=SafetyLimits(max_tag_rules_per_group=2)) as tn:
        t = tn.tenant(t.tenant_id)
        assert len(t.get_group(group.id).device_tags) == 5  # nothing is removed on open
        _refused(tn, 6, 2, lambda: t.associate(group.id, device_tags=[("site", "s9")]))
        t.associate(group.id, device_ids=["d039"])  # not a rule
        assert len(t.dissociate(group.id, device_tags=[("site", "s0")]).device_tags) == 4


@pytest.mark.parametrize("shape", ["one matcher each", "all-of sharing a first matcher"])
def test_many_rules_on_one_group_stay_right_as_they_are_added_and_removed(
    tmp_path: Path, shape: str
) -> None:
    """Past eight rules a group's rules become a set, and past eight pairs a rule-index
    bucket a dict: every answer and every invariant stays as a rebuild gives it, before and
    after a reopen."""
    path = str(tmp_path / "t.db")
    tn, t = _world(path=path)

    def rule(i: int) -> object:
        if shape == "one matcher each":
            return ("site", f"s{i}")
        return all_of(("customer", "acme"), ("site", f"s{i}"))

    group = t.create_group("Sites", device_tags=[rule(i) for i in range(0, 30, 3)])  # type: ignore[misc]
    t.add_member(group.id, "ana")
    for i in range(30):
        t.associate(group.id, device_tags=[rule(i)])  # type: ignore[list-item]
    other = t.create_group("Other", device_tags=[rule(i) for i in range(20)])  # type: ignore[misc]
    group_rules = cast("dict[str, object]", tn.index.tables()["group_rules"])
    assert isinstance(group_rules[group.id], set)  # past the small tuple
    tn.index.check_invariants()
    assert [d.id for d in tn.devices_for("ana", limit=100)] == [f"d{i:03d}" for i in range(30)]
    for i in range(0, 30, 2):
        t.dissociate(group.id, device_tags=[rule(i)])  # type: ignore[list-item]
    tn.index.check_invariants()
    expected = [f"d{i:03d}" for i in range(1, 30, 2)]
    assert [d.id for d in tn.devices_for("ana", limit=100)] == expected
    assert tn.explain("ana", "d005").allowed
    assert not tn.explain("ana", "d004").allowed
    assert len(t.get_group(group.id).device_tags) == 15
    tn.close()
    with tenancy.open(path, staleness=None) as reopened:
        reopened.index.check_invariants()
        assert [d.id for d in reopened.devices_for("ana", limit=100)] == expected
        assert [u.id for u in reopened.users_for("d005")] == ["ana"]
        scope = reopened.tenant(t.tenant_id)
        scope.delete_group(other.id)
        scope.dissociate(group.id, device_tags=[rule(i) for i in range(30)])  # type: ignore[misc]
        reopened.index.check_invariants()
        assert list(reopened.devices_for("ana")) == []
        assert reopened.index.tables()["rules_by_key"] == {}
