"""Tables from a run's results: side by side, each figure with its ratio to the physical limit
measured in the same run, and the targets of issue 6.

    python -m benchmarks.report benchmarks/results/M.json          # print the tables
    python -m benchmarks.report --update docs/performance.md       # refresh the docs

``--update`` rewrites what lies between ``<!-- bench:S -->`` and ``<!-- /bench:S -->``
(and M, L, and ``summary``) in the page, from ``benchmarks/results/*.json``; everything else
in the page is left as it is. This module imports nothing from the package.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["TARGETS", "fmt_load", "fmt_ratio", "fmt_time", "render", "targets", "update"]

RESULTS = Path(__file__).resolve().parent / "results"
SYSTEMS = ("limit", "tenancy", "tenancy-sqlite", "sql", "casbin", "oso")
HEAD = {
    "limit": "physical limit",
    "tenancy": "tenancy, memory",
    "tenancy-sqlite": "tenancy, SQLite",
    "sql": "naive SQL",
    "casbin": "pycasbin",
    "oso": "oso 0.27",
    "call": "empty call",
}
KIB = 1024


def fmt_time(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} us"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    if seconds < 120:
        return f"{seconds:.3g} s"
    return f"{seconds / 60:.3g} min"


def fmt_ratio(x: float) -> str:
    if x < 10:
        return f"{x:.2f}x"
    return f"{x:,.0f}x"


def fmt_bytes(n: float) -> str:
    for unit, size in (("GiB", KIB**3), ("MiB", KIB**2), ("KiB", KIB)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def fmt_load(info: dict[str, Any]) -> str:
    if info.get("status") != "ok":
        return str(info.get("status"))
    if "seconds" not in info:
        return "loaded"
    return (
        f"loaded in {fmt_time(info['seconds'])}, {fmt_bytes(info['rss'])} "
        f"({info['per_device']:.0f} B per device), peak {fmt_bytes(info['peak'])}"
    )


def _ops(results: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["op"], o["system"]): o for o in results.get("ops", [])}


def _cell(
    row: dict[str, Any] | None,
    base: dict[str, Any] | None,
    *,
    key: str = "median",
    extra: Callable[[dict[str, Any]], str] | None = None,
) -> str:
    if row is None or key not in row:
        return "-"
    value = row[key]
    text = fmt_time(value)
    if row.get("estimated"):
        text = f"~{text} (est.)"
    if base is not None and row is not base and key in base and base[key] > 0:
        text += f" ({fmt_ratio(value / base[key])})"
    if extra is not None:
        text += extra(row)
    return text


def _present(results: dict[str, Any]) -> list[str]:
    ops = results.get("ops", [])
    return [s for s in SYSTEMS if any(o["system"] == s for o in ops)]


def _absent(results: dict[str, Any]) -> list[str]:
    info = results.get("systems", {})
    return [
        f"{HEAD.get(k, k)}: {v.get('status')}" for k, v in info.items() if v.get("status") != "ok"
    ]


def _reads_table(results: dict[str, Any]) -> list[str]:
    ops = _ops(results)
    systems = _present(results)
    probes = results.get("probes", {})
    users = probes.get("users", {})
    devices = probes.get("devices", {})
    lines = [
        "| read | " + " | ".join(HEAD[s] for s in systems) + " |",
        "| --- |" + " ---: |" * len(systems),
    ]

    def row(label: str, op: str, key: str = "median", rate: bool = False) -> None:
        base = ops.get((op, "limit"))

        def per_second(r: dict[str, Any]) -> str:
            if not rate or not r.get(key) or not r.get("n"):
                return ""
            return f"; {r['n'] / r[key] / 1e6:.3g}M/s"

        cells = [_cell(ops.get((op, s)), base, key=key, extra=per_second) for s in systems]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("verify, median", "verify")
    row("verify, p99", "verify", key="p99")
    for kind in ("root", "middle", "leaf"):
        reach = users.get(kind, {}).get("reaches", "?")
        row(f"first page of 100, {kind} user (reaches {reach:,})", f"first page ({kind})")
    for kind in ("root", "middle", "leaf"):
        reach = users.get(kind, {}).get("reaches", "?")
        row(f"all devices, {kind} user ({reach:,})", f"all devices ({kind})", rate=True)
    for kind in ("typical", "busiest"):
        n = devices.get(kind, {}).get("users", "?")
        row(f"users_for, {kind} device ({n} users)", f"users_for ({kind})")
    call = ops.get(("verify", "call"))
    if call is not None:
        lines.append("")
        lines.append(
            f"An empty two-argument call in the same loop costs {fmt_time(call['median'])}: "
            "it is inside every verify figure."
        )
    return lines


def _writes_table(results: dict[str, Any]) -> list[str]:
    ops = _ops(results)
    systems = [s for s in _present(results) if any(o[1] == s for o in ops if o[0] == "tag change")]
    if not systems:
        return []
    lines = [
        "| write | " + " | ".join(HEAD[s] for s in systems) + " |",
        "| --- |" + " ---: |" * len(systems),
    ]
    for op in ("tag change", "membership change", "device creation", "subtree move"):
        label = op
        sample = next((ops[(op, s)] for s in systems if (op, s) in ops), None)
        if op == "subtree move" and sample is not None:
            groups, devices = sample.get("groups", 0), sample.get("devices", 0)
            label = f"subtree move ({groups:,} groups, {devices:,} devices)"
        cells = [_cell(ops.get((op, s)), None) for s in systems]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _load_table(results: dict[str, Any]) -> list[str]:
    info = results.get("systems", {})
    setup = results.get("setup", {})
    lines = [
        "| system | build or open | memory (RSS delta) | per device | peak during load |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for key in SYSTEMS:
        i = info.get(key)
        if i is None:
            continue
        if i.get("status") != "ok" or "seconds" not in i:
            lines.append(f"| {HEAD[key]} | {i.get('status')} | | | |")
            continue
        what = {
            "tenancy": "build (public API)",
            "tenancy-sqlite": "cold open",
            "limit": "precompute",
            "sql": "load",
            "casbin": "load",
            "oso": "load",
        }[key]
        cpu = f" (CPU {fmt_time(i['cpu_seconds'])})" if "cpu_seconds" in i else ""
        lines.append(
            f"| {HEAD[key]} | {what}: {fmt_time(i['seconds'])}{cpu} | {fmt_bytes(i['rss'])} "
            f"| {i['per_device']:,.0f} B | {fmt_bytes(i['peak'])} |"
        )
    made = setup.get("cache", {})
    if made:
        lines.append("")
        lines.append(
            f"The SQLite file was written from the memory store's change log in "
            f"{fmt_time(made.get('write_seconds', 0))} (once, then cached)."
        )
    return lines


TARGETS: list[tuple[str, str]] = [
    ("verify median <= 1.5x the physical limit", "verify"),
    ("first page of 100 for the root user <= 1 ms", "first page (root)"),
    ("full enumeration >= 1M devices/s (root user)", "all devices (root)"),
    ("users_for <= 50 us (typical and busiest device)", "users_for"),
    ("<= 1 KiB of memory per device, all included (SQLite store opened)", "memory"),
    ("SQLite cold open <= 15 s", "open"),
]


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """Each target of issue 6 for tenancy: (target, the figure, met)."""
    ops = _ops(results)
    info = results.get("systems", {})
    out: list[tuple[str, str, bool | None]] = []
    for label, op in TARGETS:
        figures: list[tuple[str, float, bool]] = []
        for key in ("tenancy", "tenancy-sqlite"):
            name = HEAD[key]
            if op == "verify":
                mine, base = ops.get(("verify", key)), ops.get(("verify", "limit"))
                if mine and base:
                    ratio = mine["median"] / base["median"]
                    figures.append((f"{name}: {ratio:.2f}x", ratio, ratio <= 1.5))
            elif op == "first page (root)":
                mine = ops.get((op, key))
                if mine:
                    v = mine["median"]
                    figures.append((f"{name}: {fmt_time(v)}", v, v <= 1e-3))
            elif op == "all devices (root)":
                mine = ops.get((op, key))
                if mine:
                    rate = mine["n"] / mine["median"]
                    figures.append((f"{name}: {rate / 1e6:.2f}M/s", rate, rate >= 1e6))
            elif op == "users_for":
                for kind in ("typical", "busiest"):
                    mine = ops.get((f"users_for ({kind})", key))
                    if mine:
                        v = mine["median"]
                        figures.append((f"{name}, {kind}: {fmt_time(v)}", v, v <= 50e-6))
            elif op == "memory" and key == "tenancy-sqlite":
                # "All included" is the SQLite handle: everything it holds comes from the
                # file. The memory store's figure leaves out the strings it shares with the
                # plan and holds its whole change log: shown in the table, not judged.
                i = info.get(key, {})
                if "per_device" in i:
                    v = i["per_device"]
                    figures.append((f"{name}: {v:,.0f} B", v, v <= KIB))
            elif op == "open" and key == "tenancy-sqlite":
                i = info.get(key, {})
                if "seconds" in i:
                    v = i["seconds"]
                    cpu = f" (CPU {fmt_time(i['cpu_seconds'])})" if "cpu_seconds" in i else ""
                    figures.append((f"{name}: {fmt_time(v)}{cpu}", v, v <= 15))
        if figures:
            out.append((label, "; ".join(f[0] for f in figures), all(f[2] for f in figures)))
        else:
            out.append((label, "not measured", None))
    return out


def _targets_table(results: dict[str, Any]) -> list[str]:
    lines = [
        f"| target (issue 6, judged at L) | scale {results.get('scale')} | met |",
        "| --- | --- | --- |",
    ]
    for label, figure, met in targets(results):
        mark = "-" if met is None else "yes" if met else "**no**"
        lines.append(f"| {label} | {figure} | {mark} |")
    return lines


def render(results: dict[str, Any]) -> str:
    """Every table of one run, as Markdown."""
    env = results.get("environment", {})
    load = env.get("load_average")
    head = (
        f"Scale {results.get('scale')}: {results.get('workload')}; seed {results.get('seed')}; "
        f"{results.get('pairs', {}).get('sampled', '?')} sampled pairs "
        f"({results.get('pairs', {}).get('allowed', '?')} allowed), each system checked "
        f"against the physical limit on {results.get('pairs', {}).get('checked', '?')} of "
        f"them and on every listing before it was timed; whole run "
        f"{fmt_time(results.get('wall_seconds', 0))}"
    )
    if load:
        head += f"; load average at the start {load[0]:.1f}"
    if results.get("quick"):
        head += " (QUICK: smoke budgets, figures not meaningful)"
    parts = [head + ".", "", "Median per call (ratio to the physical limit in the same run):", ""]
    parts += _reads_table(results)
    writes = _writes_table(results)
    if writes:
        parts += ["", "Writes, median per write (each a full transaction):", "", *writes]
    parts += ["", "Load and memory, each system alone in a fresh process:", ""]
    parts += _load_table(results)
    parts += ["", *_targets_table(results)]
    absent = _absent(results)
    if absent:
        parts += ["", "Not measured: " + "; ".join(absent) + "."]
    return "\n".join(parts)


def _summary(all_results: dict[str, dict[str, Any]]) -> str:
    """Ratios to the physical limit at every scale, for the headline operations."""
    scales = [s for s in ("S", "M", "L") if s in all_results]
    lines = [
        "| operation | system | " + " | ".join(scales) + " |",
        "| --- | --- |" + " ---: |" * len(scales),
    ]
    for op in ("verify", "first page (root)", "all devices (root)", "users_for (typical)"):
        for system in SYSTEMS[1:]:
            cells = []
            for scale in scales:
                ops = _ops(all_results[scale])
                mine, base = ops.get((op, system)), ops.get((op, "limit"))
                if mine is None or base is None:
                    cells.append("-")
                    continue
                cell = fmt_ratio(mine["median"] / base["median"])
                cells.append(f"~{cell}" if mine.get("estimated") else cell)
            if any(c != "-" for c in cells):
                lines.append(f"| {op} | {HEAD[system]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _replacement(body: str) -> Callable[[re.Match[str]], str]:
    return lambda m: f"{m.group(1)}{body}\n{m.group(2)}"


def _machine(all_results: dict[str, dict[str, Any]]) -> str:
    """The machine and versions of the runs (from the largest scale's results)."""
    scales = [s for s in ("L", "M", "S") if s in all_results]
    env = all_results[scales[0]].get("environment", {})
    versions = env.get("versions", {})
    lines = [
        "| | |",
        "| --- | --- |",
        f"| CPU | {env.get('cpu', '?')}, {env.get('cores', '?')} cores |",
        f"| memory | {env.get('memory', '?')} |",
        f"| OS | {env.get('platform', '?')} |",
        f"| Python | {env.get('python', '?')} |",
        "| libraries | " + ", ".join(f"{name} {v}" for name, v in versions.items() if v) + " |",
    ]
    for scale in reversed(scales):
        r = all_results[scale]
        load = r.get("environment", {}).get("load_average") or [0.0]
        lines.append(
            f"| run at {scale} | {r.get('date', '?')}, seed {r.get('seed')}, "
            f"{fmt_time(r.get('wall_seconds', 0))} wall, load average {load[0]:.1f} at the "
            f"start, timer overhead {r.get('timer_overhead_ns', 0):.0f} ns |"
        )
    return "\n".join(lines)


def update(page: Path, results_dir: Path = RESULTS) -> list[str]:
    """Rewrite the marked blocks of ``page`` from the results; returns the blocks updated."""
    text = page.read_text()
    all_results = {
        p.stem: json.loads(p.read_text())
        for p in sorted(results_dir.glob("*.json"))
        if p.stem in ("S", "M", "L")
    }
    blocks = {scale: render(r) for scale, r in all_results.items()}
    if all_results:
        blocks["summary"] = _summary(all_results)
        blocks["machine"] = _machine(all_results)
    done = []
    for name, body in blocks.items():
        pattern = re.compile(rf"(<!-- bench:{name} -->\n).*?(<!-- /bench:{name} -->)", re.DOTALL)
        if pattern.search(text):
            text = pattern.sub(_replacement(body), text)
            done.append(name)
    page.write_text(text)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report")
    parser.add_argument("results", nargs="*", type=Path)
    parser.add_argument("--update", type=Path, default=None, help="the page to refresh")
    args = parser.parse_args(argv)
    for path in args.results:
        print(render(json.loads(path.read_text())))
        print()
    if args.update is not None:
        done = update(args.update)
        print(f"updated {args.update}: {', '.join(done) or 'no marked block'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
