"""Round trip as a property (DOMAIN.md section 8): a random store, exported and imported
into an empty store of each adapter, gives the same answer to verify, devices_for,
users_for, check and explain for every (user, device) pair, and exports again to the same
bytes.

The random store has every record kind: two tenants (one below the other), groups, devices
with gateways, users with owners, memberships, custom roles, global and inventory grants
(to users and to groups), delegations, a support request, device recipes, usage statistics,
connectors between the two tenants in both directions (accepted or not, active, suspended,
paused, the virtual group with members and moved under a group) and, drawn sometimes, a
suspension and revoked roles (a delegation outliving its delegate's role). The document is
written with or without the security codes; either way the copy exports to the same bytes
(without them, the copy's connectors have new codes, which that document does not hold).
The adapters: memory, SQLite and PostgreSQL (where a server answers, tests/pg.py), the
last with its rows sent by COPY as a large import sends them. Each copy exports the
document's own bytes, so SQLite -> PostgreSQL (the migration path) imports that same
document and keeps every answer.
``TENANCY_TRANSFER_EXAMPLES`` sets the number of examples (30 by default, a few seconds);
a new store adapter is one more entry in ``ADAPTERS``.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tenancy
from tenancy import Tenancy, TenancyError
from tenancy.testing.strategies import (
    SharePlan,
    WorldPlan,
    build_shares,
    build_world,
    share_plans,
    world_plans,
)
from tests import pg

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
EXAMPLES = int(os.environ.get("TENANCY_TRANSFER_EXAMPLES", "30"))


DAY = timedelta(days=1)


def clock() -> datetime:
    return NOW


@contextmanager
def _postgres(directory: Path) -> Iterator[Tenancy]:
    """An empty PostgreSQL store (a schema of this run's database, given back after), its
    rows sent by COPY from two rows on: the random stores are small, and the COPY path
    (with its fallback to the inserts) is the one an import of a real store takes."""
    from tenancy.store import _postgres_sql

    url, schema = pg.database_url(), pg.fresh_schema()
    was = _postgres_sql.COPY_ROWS
    _postgres_sql.COPY_ROWS = 2
    try:
        with tenancy.open(f"{url}?schema={schema}", clock=clock, staleness=None) as tn:
            yield tn
    finally:
        _postgres_sql.COPY_ROWS = was
        pg.give_back(url, schema)


ADAPTERS: dict[str, Callable[[Path], AbstractContextManager[Tenancy]]] = {
    "memory": lambda directory: tenancy.open(clock=clock, staleness=None),
    "sqlite": lambda directory: tenancy.open(
        str(directory / "copy.db"), clock=clock, staleness=None
    ),
    "postgresql": _postgres,
}
"""Each adapter an import is tried into: a factory of an empty store in ``directory``
(PostgreSQL: skipped where no server answers, see tests/pg.py)."""

Extra = tuple[str, int, int, int]
"""(operation, and three indices the operation reads modulo what exists)."""

OPERATIONS = (
    "grant", "inventory", "group_grant", "custom_role", "delegate", "support", "owner",
    "requests", "suspend", "revoke", "window", "share_window",
)  # fmt: skip


def extras() -> st.SearchStrategy[list[Extra]]:
    index = st.integers(0, 7)
    return st.lists(st.tuples(st.sampled_from(OPERATIONS), index, index, index), max_size=8)


def _apply(tn: Tenancy, tenant_id: str, world: object, extra: Extra) -> None:
    """One extra write; one the rules refuse (a sub-user's ceiling, say) is skipped."""
    op, a, b, c = extra
    t = tn.tenant(tenant_id)
    users = list(world.user_ids)  # type: ignore[attr-defined]
    groups = list(world.group_ids)  # type: ignore[attr-defined]
    try:
        if op == "grant" and users:
            t.grant_role(users[a % len(users)], ("readonly", "business", "admin")[b % 3])
        elif op == "inventory" and users and groups:
            role = ("viewer", "operator", "manager")[c % 3]
            t.grant_inventory_role(users[a % len(users)], role, group=groups[b % len(groups)])
        elif op == "group_grant" and groups:
            t.grant_inventory_role(
                groups[a % len(groups)], "operator", group=groups[b % len(groups)], to="group"
            )
        elif op == "custom_role":
            t.define_role(f"role{a}", ["device:READ", "device:UPDATE"], kind="inventory")
            if users and groups:
                t.grant_inventory_role(
                    users[b % len(users)], f"role{a}", group=groups[c % len(groups)]
                )
        elif op == "delegate" and len(users) > 1:
            owner, delegate = users[a % len(users)], users[(a + 1 + b) % len(users)]
            if owner != delegate:
                t.grant_role(delegate, "business")
                t.delegate(owner, delegate, until=None if c % 2 else NOW + timedelta(days=c))
        elif op == "support" and users:
            t.request_support(users[a % len(users)])
        elif op == "owner" and len(users) > 1:
            t.set_owner(users[a % len(users)], users[(a + 1 + b) % len(users)])
        elif op == "requests":
            tn.record_request(tenant_id, ("api", "device")[a % 2], b + 1)
            tn.flush_usage()
        elif op == "suspend":
            tn.suspend_tenant(tenant_id)
        elif op == "window" and users and groups:  # a membership that ended or starts
            hours = timedelta(hours=b - 3)
            t.add_member(
                groups[c % len(groups)], users[a % len(users)],
                valid_from=NOW + hours if b % 2 else None, valid_until=NOW + hours * 2 + DAY,
            )  # fmt: skip
        elif op == "share_window":  # a connector whose share ended, or starts later
            for connector in t.connectors():
                t.set_connector_window(connector.id, valid_until=NOW + timedelta(hours=a - 3))
        elif op == "revoke" and users:  # a delegation or a sub-user may outlive its reason
            t.revoke_role(users[a % len(users)], ("business", "readonly")[b % 2])
    except TenancyError:
        pass


def _answers(tn: Tenancy) -> list[object]:
    index = tn.index
    users, devices = sorted(index.users), sorted(index.devices)
    out: list[object] = []
    for u in users:
        out.append([d.id for d in tn.devices_for(u, limit=10_000)])
        out.extend(
            (
                tn.verify(u, d),
                tn.check(u, "device:READ", d),
                tn.check(u, "device:UPDATE", d),
                tn.check(u, "device:ADMIN", d),
                tn.explain(u, d),
                tn.explain(u, d, permission="device:UPDATE"),
            )
            for d in devices
        )
    out.extend([u.id for u in tn.users_for(d)] for d in devices)
    out.extend(tn.tenant(t).recipes() for t in sorted(index.tenants))
    return out


def _export(tn: Tenancy, format: str, secrets: bool = False) -> bytes:
    out = io.BytesIO()
    tn.export_to(out, format=format, include_secrets=secrets)
    return out.getvalue()


def _codes(tn: Tenancy) -> list[tuple[str, str]]:
    """Each connector's id and security code (read as its source reads them)."""
    return [
        (c.id, c.security_code)
        for t in tn.tenants()
        if t.parent_id is not None
        for c in tn.tenant(t.id).connectors()
    ]


@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
@settings(max_examples=EXAMPLES)
@given(
    top=world_plans(max_devices=5, max_groups=4, max_users=4, max_recipes=2),
    below=world_plans(max_devices=3, max_groups=2, max_users=2, max_recipes=1),
    extra_top=extras(),
    extra_below=extras(),
    shares=share_plans(),
    format=st.sampled_from(["json", "msgpack"]),
    secrets=st.booleans(),
)
def test_export_then_import_answers_the_same_and_exports_the_same_bytes(
    adapter: str,
    top: WorldPlan,
    below: WorldPlan,
    extra_top: list[Extra],
    extra_below: list[Extra],
    shares: tuple[SharePlan, ...],
    format: str,
    secrets: bool,
) -> None:
    with tempfile.TemporaryDirectory() as directory, tenancy.open(clock=clock) as source:
        acme = build_world(source, top, domain="acme", prefix="a", allow_subtenants=True)
        eu = build_world(source, below, domain="acme-eu", prefix="e", parent=acme.tenant_id)
        build_shares(source, acme, eu, shares)
        for extra in extra_below:
            _apply(source, eu.tenant_id, eu, extra)
        for extra in extra_top:
            _apply(source, acme.tenant_id, acme, extra)
        document = _export(source, format, secrets)
        with ADAPTERS[adapter](Path(directory)) as copy:
            copy.import_from(io.BytesIO(document))
            assert _answers(copy) == _answers(source)
            assert _export(copy, format, secrets) == document
            codes, copied = _codes(source), _codes(copy)
            assert [c for c, _ in copied] == [c for c, _ in codes]
            if secrets:
                assert copied == codes
            else:  # new codes, none of them the source's
                assert not {code for _, code in copied} & {code for _, code in codes}
            copy.index.check_invariants()
