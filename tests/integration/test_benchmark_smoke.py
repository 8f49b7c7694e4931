"""The benchmark harness at scale S inside the normal test run, so it never rots.

The workload generator is checked directly (deterministic, the shape it promises, a
physical limit that agrees with the library), then the benchmark suite itself runs once in
a subprocess with timing disabled: every agreement assertion in it runs, nothing is timed.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tenancy.testing.workload import SCALES, Workload, WorkloadSpec, build, sample_pairs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small() -> Workload:
    return build(SCALES["S"], seed=11)


def test_the_same_seed_builds_the_same_workload() -> None:
    spec = SCALES["S"].scaled(0.2)
    a, b = build(spec, seed=3), build(spec, seed=3)
    assert (a.devices, a.group_parent, a.group_rules, a.group_device_ids, a.user_groups) == (
        b.devices,
        b.group_parent,
        b.group_rules,
        b.group_device_ids,
        b.user_groups,
    )
    assert a.seed == 3
    assert build(spec, seed=4).devices != a.devices


def test_an_unseeded_build_records_the_seed_it_drew() -> None:
    w = build(SCALES["S"].scaled(0.05), seed=None)
    again = build(SCALES["S"].scaled(0.05), seed=w.seed)
    assert again.devices == w.devices


def test_the_workload_has_the_promised_shape(small: Workload) -> None:
    spec = SCALES["S"]
    assert len(small.devices) == spec.devices
    assert len(small.group_parent) == spec.groups
    assert len(small.user_groups) == spec.users
    assert max(small.group_level.values()) == spec.depth - 1
    assert len(small.tenants) == spec.tenants
    kinds = Counter(p.kind for p in small.devices.values())
    assert set(kinds) == {"site", "mobile", "gateway", "child", "spare"}
    assert Counter(small.user_kind.values()).keys() == {"root", "middle", "leaf"}
    # what the handle holds is what the plan says
    tn = small.tn
    for tenant_id in small.tenants:
        t = tn.tenant(tenant_id)
        assert {g.id for g in t.groups()} == {
            g for g, owner in small.group_tenant.items() if owner == tenant_id
        }
    for did in list(small.devices)[:50]:
        assert tn.index.devices[did].tags == small.devices[did].tags


def test_the_physical_limit_matches_the_index(small: Workload) -> None:
    """Computed by a naive walk over the plan, the limit must equal the index's covers."""
    lim = small.limit()
    index = small.tn.index
    for did, cover in lim.device_cover.items():
        assert index.cover.get(did, frozenset()) == cover, did
    for uid, groups in lim.user_groups.items():
        assert index.reach[uid] == groups, uid
    spares = [d for d, p in small.devices.items() if p.kind == "spare"]
    assert spares
    assert all(not lim.device_cover[d] for d in spares)


def test_sampled_pairs_mix_allowed_and_denied_at_every_level(small: Workload) -> None:
    pairs = sample_pairs(small, 300, seed=5)
    assert pairs == sample_pairs(small, 300, seed=5)
    for kind in ("root", "middle", "leaf"):
        answers = {p.allowed for p in pairs if p.user_kind == kind}
        assert answers == {True, False}, kind
    assert all(small.tn.verify(p.user_id, p.device_id) == p.allowed for p in pairs)


def test_level_sizes_add_up_for_odd_shapes() -> None:
    w = build(WorkloadSpec(devices=40, groups=7, users=9, depth=6, tenants=3), seed=1)
    assert len(w.group_parent) == 7
    assert len(w.devices) == 40
    assert len(w.user_groups) == 9
    pairs = sample_pairs(w, 50)
    assert all(w.tn.verify(p.user_id, p.device_id) == p.allowed for p in pairs)


def test_the_benchmark_suite_runs_at_scale_s() -> None:
    """pytest benchmarks --benchmark-disable --scale=S: every benchmark's agreement checks
    run once, nothing is timed."""
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "benchmarks", "-q", "-p", "no:cacheprovider",
            "--benchmark-disable", "--scale=S",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " passed" in output
    assert "failed" not in output
    assert "tenancy benchmark summary" in output
