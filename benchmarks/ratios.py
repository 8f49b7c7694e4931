"""The table of figures and ratios, from a run's results or a pytest-benchmark JSON file.

Every benchmark records in ``extra_info`` what it measured (``op``), which system
(``tenancy``, ``limit`` for the physical limit, ``sql`` for the naive recursive SQL,
``call`` for an empty function call), and how many calls one timed round made (``batch``).
The table shows the median per call and, for each op, the ratio to the physical limit
measured in the same run, and whether the issue 2 target holds.

Usage::

    pytest benchmarks --benchmark-only --scale=M --benchmark-json=bench-M.json
    python benchmarks/report.py bench-M.json

This file imports nothing from the package so it runs on a saved JSON file anywhere.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TARGETS", "Row", "format_table", "rows_from_json"]

SYSTEMS = ("tenancy", "check", "limit", "sql", "call")
LABELS = {
    "tenancy": "tenancy",
    "check": 'tenancy check(u, "device:READ", d)',
    "limit": "physical limit",
    "sql": "naive recursive SQL",
    "call": "empty call",
}

TARGETS: dict[str, tuple[str, float]] = {
    "verify": ("ratio", 2.0),
    "devices_for root": ("seconds", 2e-3),
    "users_for": ("seconds", 100e-6),
    "tag change": ("seconds", 100e-6),
    "membership change": ("seconds", 100e-6),
    "device creation": ("seconds", 100e-6),
}
"""Issue 2's targets at scale M for tenancy: a ratio to the physical limit, or a median."""
CHECK_TARGET = 3.0
"""Issue 5: check median <= 3x the physical limit of verify, at M, in the same run."""


@dataclass(frozen=True)
class Row:
    op: str
    system: str
    per_call: float
    """Median seconds per call."""
    batch: int = 1
    rounds: int = 0
    info: dict[str, Any] = field(default_factory=dict)


def rows_from_json(data: dict[str, Any]) -> list[Row]:
    rows = []
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info", {})
        if "op" not in info:
            continue
        batch = int(info.get("batch", 1))
        rows.append(
            Row(
                op=info["op"],
                system=info["system"],
                per_call=bench["stats"]["median"] / batch,
                batch=batch,
                rounds=int(bench["stats"]["rounds"]),
                info=info,
            )
        )
    return rows


def _time(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _target(row: Row, limit: Row | None) -> str:
    if row.system == "check" and limit is not None:
        ok = row.per_call <= CHECK_TARGET * limit.per_call
        return f"<= {CHECK_TARGET:g}x limit: {'met' if ok else 'MISSED'}"
    if row.system != "tenancy" or row.op not in TARGETS:
        return ""
    kind, bound = TARGETS[row.op]
    if kind == "ratio":
        if limit is None:
            return "?"
        ok = row.per_call <= bound * limit.per_call
        return f"<= {bound:g}x limit: {'met' if ok else 'MISSED'}"
    ok = row.per_call <= bound
    return f"<= {_time(bound)}: {'met' if ok else 'MISSED'}"


def format_table(rows: Iterable[Row], title: str = "") -> str:
    """The figures as a Markdown table, grouped by op, the physical limit first."""
    rows = list(rows)
    order = {s: i for i, s in enumerate(SYSTEMS)}
    ops: list[str] = []
    for r in rows:
        if r.op not in ops:
            ops.append(r.op)
    lines = [title] if title else []
    lines += [
        "| operation | system | median per call | vs physical limit | rounds x batch "
        "| target (M) |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for op in ops:
        group = sorted((r for r in rows if r.op == op), key=lambda r: order.get(r.system, 99))
        limit = next((r for r in group if r.system == "limit"), None)
        for r in group:
            ratio = f"{r.per_call / limit.per_call:.2f}x" if limit and r is not limit else ""
            note = _target(r, limit)
            extra = r.info.get("note")
            if r.info.get("devices"):
                extra = f"{extra}: {_time(r.per_call / r.info['devices'])} per device"
            if extra:
                note = f"{note}; {extra}" if note else str(extra)
            lines.append(
                f"| {op} | {LABELS.get(r.system, r.system)} | {_time(r.per_call)} | {ratio} "
                f"| {r.rounds} x {r.batch} | {note} |"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    for name in argv[1:]:
        data = json.loads(Path(name).read_text())
        rows = rows_from_json(data)
        scale = next((r.info.get("scale") for r in rows if "scale" in r.info), "?")
        machine = data.get("machine_info", {})
        title = f"{name}: scale {scale}, {machine.get('cpu', {}).get('brand_raw', '')}".rstrip(", ")
        print(format_table(rows, title))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
