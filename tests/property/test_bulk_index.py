"""A large commit taken in by building the index anew (tenancy.index.bulk) leaves the index
that applying it change by change leaves, in the process that wrote it and in another
process that catches up with it from the change log.

The threshold (``BULK_CHANGES``) is lowered so that the small random stores of the round
trip property take the bulk path: each import is made twice, once applied and once
rebuilt, and both indexes hold the same records, pass their invariants and give the same
answers; a second handle on the SQLite file, open before the import, catches up to the
same answers.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

import tenancy
from tenancy.index import bulk
from tenancy.testing.strategies import WorldPlan, build_world, world_plans
from tests.property.test_transfer_roundtrip import (
    EXAMPLES,
    Extra,
    _answers,
    _apply,
    _export,
    clock,
    extras,
)


@settings(max_examples=max(1, EXAMPLES // 3), deadline=None)
@given(
    top=world_plans(max_devices=5, max_groups=4, max_users=4),
    below=world_plans(max_devices=3, max_groups=2, max_users=2),
    extra_top=extras(),
    extra_below=extras(),
    format=st.sampled_from(["json", "msgpack"]),
)
def test_an_import_rebuilt_in_bulk_answers_as_one_applied(
    top: WorldPlan,
    below: WorldPlan,
    extra_top: list[Extra],
    extra_below: list[Extra],
    format: str,
) -> None:
    with tempfile.TemporaryDirectory() as directory, tenancy.open(clock=clock) as source:
        acme = build_world(source, top, domain="acme", prefix="a", allow_subtenants=True)
        eu = build_world(source, below, domain="acme-eu", prefix="e", parent=acme.tenant_id)
        for extra in extra_below:
            _apply(source, eu.tenant_id, eu, extra)
        for extra in extra_top:
            _apply(source, acme.tenant_id, acme, extra)
        document = _export(source, format)
        expected = _answers(source)
        snapshots = []
        for threshold in (10**9, 1):  # applied, then rebuilt
            path = Path(directory) / f"copy-{threshold}.db"
            with (
                mock.patch.object(bulk, "BULK_CHANGES", threshold),
                tenancy.open(str(path), clock=clock, staleness=None) as copy,
                tenancy.open(str(path), clock=clock, staleness=None) as other,
            ):
                before = copy.index
                copy.import_from(io.BytesIO(document))
                assert (copy.index is not before) == (threshold == 1)  # the path it took
                assert _answers(copy) == expected
                copy.index.check_invariants()
                other.catch_up()  # from the change log, as another process does
                assert other.revision == copy.revision
                assert _answers(other) == expected
                other.index.check_invariants()
                snapshots.append(copy.index.snapshot())
                assert other.index.snapshot() == snapshots[-1]
        assert snapshots[0] == snapshots[1]


def test_a_small_commit_on_a_large_index_is_applied_in_place() -> None:
    with tenancy.open(clock=clock) as tn, mock.patch.object(bulk, "BULK_CHANGES", 10):
        tenant = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        scope = tn.tenant(tenant.id)
        scope.create_devices([{"name": f"d{n}"} for n in range(50)])  # more than it held
        index = tn.index
        scope.create_devices([{"name": f"e{n}"} for n in range(20)])  # fewer than it holds
        assert tn.index is index
        scope.create_devices([{"name": f"f{n}"} for n in range(5)])  # fewer than 10
        assert tn.index is index
        scope.create_devices([{"name": f"g{n}"} for n in range(100)])  # more than it holds
        assert tn.index is not index
        assert len(tn.index.devices) == 175
        tn.index.check_invariants()
