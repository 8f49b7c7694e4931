"""The benchmark harness at scale S inside the normal test run, so it never rots.

The workload generator is checked directly (deterministic, the shape it promises, a
physical limit that agrees with the library), then the harness itself runs once at S with
tiny timing budgets (``python -m benchmarks.run --quick``) in a subprocess: every system it
can load is checked against the physical limit, timed, and measured in a process of its
own, exactly as in a full run; the report and the plots are made from its results.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from benchmarks import report
from benchmarks.systems import ALL_SYSTEMS, available
from benchmarks.timing import interleave, percentile, rounds_for

from tenancy.testing.workload import (
    SCALES,
    Workload,
    WorkloadSpec,
    apply,
    build,
    plan,
    sample_pairs,
)

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
    reach, covers = small.tn.index.reach_tables()
    for did, cover in lim.device_cover.items():
        assert covers.get(did, frozenset()) == cover, did
    for uid, groups in lim.user_groups.items():
        assert reach[uid] == groups, uid
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


def test_a_plan_is_created_only_when_applied() -> None:
    spec = SCALES["S"].scaled(0.1)
    planned = plan(spec, seed=9)
    with pytest.raises(ValueError, match="plan only"):
        _ = planned.tn
    assert planned.devices == build(spec, seed=9).devices
    applied = apply(planned)
    assert applied is planned
    assert len(planned.tn.index.devices) == len(planned.devices)
    with pytest.raises(ValueError, match="already"):
        apply(planned)


def test_associating_is_rule_one_of_the_index(small: Workload) -> None:
    index = small.tn.index
    for did in list(small.devices)[:200]:
        assert small.associating(did) == sorted(index.groups_associating(index.devices[did]))


def test_percentiles_and_rounds() -> None:
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([1.0, 2.0], 0.99) == pytest.approx(1.99)
    assert rounds_for(0.5, budget=1.0, least=3, most=10) == 3
    assert rounds_for(1e-6, budget=1.0, least=3, most=10) == 10


def test_interleave_gives_each_system_its_own_rounds() -> None:
    calls: list[str] = []
    stats = interleave(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
        rounds={"a": 4, "b": 2},
        batch={"a": 1, "b": 2},
        overhead_ns=0.0,
    )
    assert calls.count("a") == 4
    assert calls.count("b") == 2
    assert calls[:4] in (["a", "b", "b", "a"], ["b", "a", "a", "b"])  # the order rotates
    assert stats["a"].rounds == 4
    assert stats["b"].batch == 2


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """python -m benchmarks.run --scale S --quick, once for the tests below."""
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "S.json"
    result = subprocess.run(
        [
            sys.executable, "-m", "benchmarks.run", "--scale=S", "--quick",
            f"--out={out}", f"--cache-dir={tmp / 'cache'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data: dict[str, Any] = json.loads(out.read_text())
    data["_stdout"] = result.stdout
    data["_tmp"] = str(tmp)
    return data


def test_the_harness_runs_at_scale_s(smoke_run: dict[str, Any]) -> None:
    """Every available system was loaded alone (time, memory), checked and timed."""
    measured = {row["system"] for row in smoke_run["ops"]}
    for key in ALL_SYSTEMS:
        info = smoke_run["systems"][key]
        if not available(key):
            assert info["status"].startswith("not installed")
            continue
        assert info["status"] == "ok", (key, info)
        assert info["seconds"] > 0
        assert info["rss"] > 0
        assert key in measured, key
    ops = {(row["op"], row["system"]) for row in smoke_run["ops"]}
    for op in ("verify", "first page (root)", "all devices (leaf)", "users_for (typical)"):
        assert (op, "tenancy") in ops
        assert (op, "limit") in ops
    for op in ("tag change", "membership change", "device creation", "subtree move"):
        assert (op, "tenancy-sqlite") in ops
        assert (op, "sql") in ops
    assert "Scale S" in smoke_run["_stdout"]
    # nothing of the run is left beside the cache
    leftovers = [p.name for p in Path(smoke_run["_tmp"], "cache").iterdir()]
    assert all(name.endswith((".db", ".json")) for name in leftovers), leftovers


def test_the_report_renders_and_updates_a_page(smoke_run: dict[str, Any], tmp_path: Path) -> None:
    text = report.render(smoke_run)
    assert "| verify, median |" in text
    assert "cold open" in text
    results = tmp_path / "results"
    results.mkdir()
    (results / "S.json").write_text(json.dumps(smoke_run))
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- bench:S -->\nSTALE TABLE\n<!-- /bench:S -->\noutro\n")
    assert report.update(page, results) == ["S"]
    updated = page.read_text()
    assert "STALE TABLE" not in updated
    assert updated.startswith("intro\n<!-- bench:S -->\nScale S")
    assert updated.endswith("<!-- /bench:S -->\noutro\n")


def test_the_plots_are_drawn(smoke_run: dict[str, Any], tmp_path: Path) -> None:
    """With matplotlib (the bench extra) the plots are drawn; without it, the module says
    so when imported, and make bench installs it first."""
    results = tmp_path / "results"
    results.mkdir()
    (results / "S.json").write_text(json.dumps(smoke_run))
    if importlib.util.find_spec("matplotlib") is None:
        with pytest.raises(ImportError):
            __import__("benchmarks.plot")
        return
    from benchmarks import plot

    written = plot.plot({"S": smoke_run}, tmp_path / "img")
    assert [p.name for p in written] == ["bench-reads.png", "bench-writes.png", "bench-load.png"]
    assert all(p.stat().st_size > 10_000 for p in written)


def test_the_pytest_benchmark_suite_runs_at_scale_s() -> None:
    """benchmarks/test_*.py (pytest-benchmark: issue 2's and issue 5's targets) run once
    each with timing off, so every system still agrees with the physical limit."""
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
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout
    assert "failed" not in result.stdout


def test_the_cold_open_breakdown_runs_at_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m benchmarks.breakdown`` times the phases of an open and sizes every
    structure of the index; at S it takes a second."""
    from benchmarks import breakdown

    assert breakdown.main(["--scale", "S", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Index.build" in out
    assert "a full collection afterwards" in out
    sizes = {
        line.split()[0]: float(line.split()[-1])
        for line in out.splitlines()[6:]
        if line.startswith("  ") and line.split()[0] != "everything"
    }
    assert sizes["devices"] > 0
    assert sizes["covered"] > 0


def test_the_transfer_benchmarks_floor_plans_and_builds_what_an_import_would(
    small: Workload, tmp_path: Path
) -> None:
    """``python -m benchmarks.transfer``'s floor step: the planner and the index build of
    an import, timed alone, give the index the import itself leaves."""
    from benchmarks import transfer

    import tenancy

    document = tmp_path / "store.json"
    small.tn.export_to(document)
    index, planned, built = transfer._plan_and_build(document)
    imported = tenancy.open()
    imported.import_from(document)
    ours, theirs = index.snapshot(), imported.index.snapshot()
    for table in ("tenants", "groups", "devices", "users", "memberships", "access"):
        assert getattr(ours, table) == getattr(theirs, table), table
    assert len(ours.devices) == len(small.tn.index.devices)
    assert planned > 0
    assert built > 0
    assert transfer._floor(document)["devices"] == len(ours.devices)
