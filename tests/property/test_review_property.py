"""reach_diff agrees with the naive oracle: for a random sequence of writes (memberships,
group moves, device tags, users disabled, tenants suspended and activated, in two
tenants, memberships with a window that ends or starts a few writes later, an hour between
writes), ``reach_diff(a, b)`` is the difference of the oracle's reach pairs at revisions a
and b, recorded after each write from the store's snapshot at the clock of that write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tenancy
from tenancy.testing.clock import ManualClock
from tenancy.testing.oracle import Oracle

Pair = tuple[str, str]
TAGS = [("site", "a"), ("site", "b"), ("kind", "gen")]
GROUPS = 3
DEVICES = 4
USERS = 3

_index = st.integers(min_value=0, max_value=99)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add_member"), st.booleans(), _index, _index),
        st.tuples(st.just("remove_member"), st.booleans(), _index, _index),
        st.tuples(st.just("move_group"), st.booleans(), _index, _index),
        st.tuples(st.just("tag_device"), st.booleans(), _index, _index),
        st.tuples(st.just("untag_device"), st.booleans(), _index, _index),
        st.tuples(st.just("enable"), st.booleans(), _index, st.booleans()),
        st.tuples(st.just("suspend"), st.booleans(), st.just(0), st.booleans()),
        st.tuples(st.just("window"), st.booleans(), _index, _index),
    ),
    max_size=12,
)


def _world(tn: tenancy.Tenancy) -> list[dict[str, Any]]:
    tenants = []
    for domain in ("acme", "globex"):
        tenant = tn.create_tenant(domain=domain, name=domain, admin_email=f"it@{domain}.example")
        t = tn.tenant(tenant.id)
        groups = [
            t.create_group(f"G{n}", device_tags=[TAGS[n % len(TAGS)]]).id for n in range(GROUPS)
        ]
        devices = [
            t.create_device(f"D{n}", id=f"{domain}-d{n}", tags=[TAGS[n % len(TAGS)]]).id
            for n in range(DEVICES)
        ]
        users = [t.create_user(f"u{n}@{domain}.example").id for n in range(USERS)]
        tenants.append({"id": tenant.id, "groups": groups, "devices": devices, "users": users})
    return tenants


def _apply(tn: tenancy.Tenancy, world: dict[str, Any], op: tuple[Any, ...]) -> None:
    kind, _, i, j = op
    t = tn.tenant(world["id"])
    groups, devices, users = world["groups"], world["devices"], world["users"]
    group = groups[i % len(groups)]
    if kind == "add_member":
        t.add_member(group, users[j % len(users)])
    elif kind == "window":  # ends, or starts, one to three writes from now (an hour each)
        hours = timedelta(hours=j % 3 + 1)
        now = tn.clock()
        bound = {"valid_until": now + hours} if j % 2 else {"valid_from": now + hours}
        t.add_member(group, users[i % len(users)], **bound)
    elif kind == "remove_member":
        t.remove_member(group, users[j % len(users)])
    elif kind == "move_group":
        parent = None if j % (len(groups) + 1) == len(groups) else groups[j % len(groups)]
        t.move_group(group, parent=parent)
    elif kind == "tag_device":
        t.tag_device(devices[i % len(devices)], [TAGS[j % len(TAGS)]])
    elif kind == "untag_device":
        t.untag_device(devices[i % len(devices)], [TAGS[j % len(TAGS)]])
    elif kind == "enable":
        t.update_user(users[i % len(users)], enabled=j)
    elif j:
        tn.suspend_tenant(world["id"])
    else:
        tn.activate_tenant(world["id"])


def _pairs(tn: tenancy.Tenancy, tenant_id: str) -> set[Pair]:
    oracle = Oracle(tn)
    return {
        (u.id, d)
        for u in oracle.users.values()
        if u.tenant_id == tenant_id
        for d in oracle.devices_for(u.id)
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=OPERATIONS, picks=st.tuples(_index, _index))
def test_reach_diff_is_the_difference_of_the_oracles_reach(
    operations: list[tuple[Any, ...]], picks: tuple[int, int]
) -> None:
    clock = ManualClock(datetime(2026, 12, 4, 9, tzinfo=UTC))
    with tenancy.open(clock=clock) as tn:
        worlds = _world(tn)
        acme = worlds[0]["id"]
        seen = {tn.revision: _pairs(tn, acme)}
        for op in operations:
            clock.advance(timedelta(hours=1))  # windows start and end between writes
            try:
                _apply(tn, worlds[0 if op[1] else 1], op)
            except tenancy.TenancyError:
                continue  # a refused write changes nothing
            # A revision's reach is the one at its commit's instant: a write that wrote
            # nothing (an existing membership added again) records nothing later.
            seen.setdefault(tn.revision, _pairs(tn, acme))
        revisions = sorted(seen)
        a, b = sorted(revisions[p % len(revisions)] for p in picks)
        diff = tn.reach_diff(a, b, tenant=acme)
        assert diff.gained == sorted(seen[b] - seen[a])
        assert diff.lost == sorted(seen[a] - seen[b])
        assert sum(diff.gained_by_user.values()) == len(diff.gained)
        assert sum(diff.lost_by_device.values()) == len(diff.lost)
