"""what_if agrees with doing the writes for real: for a random history of writes in two
tenants (one sharing a group with the other), then a random list of proposed writes
(memberships, moves, deletions of groups, devices and users, tags, associations, users and
devices created, users disabled, tenants suspended, the share suspended), ``what_if`` gives
the same ReachDiff as applying the same writes to a copy of the store (exported with its
secrets, imported into a fresh handle) and diffing the naive oracle's reach pairs before and
after. The handle's index is left exactly as it was (its snapshot and every table equal, its
invariants whole), and the overlay holds up as an index after the writes."""

from __future__ import annotations

import io
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tenancy
from tenancy.records.review import Pair, ReachDiff
from tenancy.testing.oracle import Oracle

TAGS = [("site", "a"), ("site", "b"), ("kind", "gen")]
GROUPS = 4
DEVICES = 5
USERS = 3

_n = st.integers(min_value=0, max_value=99)
OPERATION = st.one_of(
    st.tuples(st.just("add_member"), st.booleans(), _n, _n),
    st.tuples(st.just("remove_member"), st.booleans(), _n, _n),
    st.tuples(st.just("move_group"), st.booleans(), _n, _n),
    st.tuples(st.just("delete_group"), st.booleans(), _n, st.booleans()),
    st.tuples(st.just("tag_device"), st.booleans(), _n, _n),
    st.tuples(st.just("untag_device"), st.booleans(), _n, _n),
    st.tuples(st.just("associate"), st.booleans(), _n, _n),
    st.tuples(st.just("create_device"), st.booleans(), _n, _n),
    st.tuples(st.just("move_device"), st.booleans(), _n, _n),
    st.tuples(st.just("delete_device"), st.booleans(), _n, st.booleans()),
    st.tuples(st.just("create_user"), st.booleans(), _n, _n),
    st.tuples(st.just("delete_user"), st.booleans(), _n, st.just(0)),
    st.tuples(st.just("enable"), st.booleans(), _n, st.booleans()),
    st.tuples(st.just("suspend"), st.booleans(), st.just(0), st.booleans()),
    st.tuples(st.just("share"), st.just(True), _n, st.booleans()),
)


def _world(tn: tenancy.Tenancy) -> list[dict[str, Any]]:
    worlds: list[dict[str, Any]] = []
    for domain in ("acme", "globex"):
        tenant = tn.create_tenant(domain=domain, name=domain, admin_email=f"it@{domain}.example")
        t = tn.tenant(tenant.id)
        groups = [
            t.create_group(f"G{n}", id=f"{domain}-g{n}", device_tags=[TAGS[n % len(TAGS)]]).id
            for n in range(GROUPS)
        ]
        devices = [
            t.create_device(f"D{n}", id=f"{domain}-d{n}", tags=[TAGS[n % len(TAGS)]]).id
            for n in range(DEVICES)
        ]
        users = [
            t.create_user(f"u{n}@{domain}.example", id=f"{domain}-u{n}").id for n in range(USERS)
        ]
        worlds.append({"id": tenant.id, "domain": domain, "groups": groups, "devices": devices,
                       "users": users})  # fmt: skip
    acme, globex = worlds
    src = tn.tenant(acme["id"])
    connector = src.create_connector("c", destination=globex["id"], groups=[acme["groups"][0]])
    sub = tn.tenant(globex["id"]).accept_connector(
        connector.id, security_code=connector.security_code, name="Acme"
    )
    acme["connector"] = connector.id
    globex["groups"].append(sub.group_id)  # members may join the virtual group
    return worlds


def _apply(tn: tenancy.Tenancy, worlds: list[dict[str, Any]], op: tuple[Any, ...]) -> None:
    kind, first, i, j = op
    world = worlds[0 if first else 1]
    t = tn.tenant(world["id"])
    groups, devices, users = world["groups"], world["devices"], world["users"]
    group = groups[i % len(groups)]
    device = devices[i % len(devices)]
    if kind == "add_member":
        t.add_member(group, users[j % len(users)])
    elif kind == "remove_member":
        t.remove_member(group, users[j % len(users)])
    elif kind == "move_group":
        parent = None if j % (len(groups) + 1) == len(groups) else groups[j % len(groups)]
        t.move_group(group, parent=parent)
    elif kind == "delete_group":
        t.delete_group(group, cascade=j)
    elif kind == "tag_device":
        t.tag_device(device, [TAGS[j % len(TAGS)]])
    elif kind == "untag_device":
        t.untag_device(device, [TAGS[j % len(TAGS)]])
    elif kind == "associate":
        t.associate(group, device_ids=[devices[j % len(devices)]])
    elif kind == "create_device":
        parent = None if j % 2 else devices[j % len(devices)]
        t.create_device("New", id=f"{world['domain']}-n{i % 4}", tags=[TAGS[j % len(TAGS)]],
                        parent=parent)  # fmt: skip
    elif kind == "move_device":
        parent = None if j % 3 == 0 else devices[j % len(devices)]
        t.update_device(device, parent=parent)
    elif kind == "delete_device":
        t.delete_device(device, cascade=j)
    elif kind == "create_user":
        user = t.create_user(
            f"n{i % 4}@{world['domain']}.example", id=f"{world['domain']}-n{i % 4}"
        )
        t.add_member(groups[j % len(groups)], user.id)
    elif kind == "delete_user":
        t.delete_user(users[i % len(users)])
    elif kind == "enable":
        t.update_user(users[i % len(users)], enabled=j)
    elif kind == "suspend":
        (tn.suspend_tenant if j else tn.activate_tenant)(world["id"])
    elif j:
        t.suspend_connector(worlds[0]["connector"])
    else:
        t.activate_connector(worlds[0]["connector"])


def _run(tn: tenancy.Tenancy, worlds: list[dict[str, Any]], ops: list[tuple[Any, ...]]) -> None:
    for op in ops:
        try:
            _apply(tn, worlds, op)
        except tenancy.TenancyError:
            continue  # a refused write changes nothing, here and on the copy alike


def _pairs(tn: tenancy.Tenancy, tenant_id: str | None) -> set[Pair]:
    oracle = Oracle(tn)
    return {
        (u.id, d)
        for u in oracle.users.values()
        if tenant_id is None or u.tenant_id == tenant_id
        for d in oracle.devices_for(u.id)
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=st.lists(OPERATION, max_size=10),
    proposed=st.lists(OPERATION, min_size=1, max_size=8),
    one_tenant=st.booleans(),
)
def test_what_if_is_the_oracles_diff_of_doing_it_on_a_copy(
    history: list[tuple[Any, ...]], proposed: list[tuple[Any, ...]], one_tenant: bool
) -> None:
    with tenancy.open() as tn:
        worlds = _world(tn)
        _run(tn, worlds, history)
        tenant = worlds[1]["id"] if one_tenant else None
        document = io.BytesIO()
        tn.export_to(document, include_secrets=True)
        with tenancy.open() as copy:
            copy.import_from(io.BytesIO(document.getvalue()))
            before = _pairs(copy, tenant)
            _run(copy, worlds, proposed)
            want = ReachDiff.between(
                before, _pairs(copy, tenant), tenant_id=tenant or "",
                from_revision=tn.revision, to_revision=tn.revision,
            )  # fmt: skip
        snapshot = tn.index.snapshot()
        tables = {name: repr(value) for name, value in tn.index.tables().items()}
        head = tn.store.head()

        def rehearse(w: tenancy.Tenancy) -> None:
            _run(w, worlds, proposed)
            w.index.check_invariants()

        got = tn.what_if(rehearse, tenant=tenant)
        assert got == want
        assert tn.index.snapshot() == snapshot
        assert tn.store.head() == head == tn.revision
        assert {name: repr(value) for name, value in tn.index.tables().items()} == tables
        tn.index.check_invariants()
