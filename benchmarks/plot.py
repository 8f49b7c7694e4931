"""Plots of how each system's cost grows with the workload, from ``benchmarks/results``.

    python -m benchmarks.plot [--out docs/img]

One PNG per family of operations (reads, writes, load and memory): one panel per operation,
cost against the number of devices on log-log axes, one line per system. Estimated figures
(a filtering peer whose answer would take minutes) are drawn as hollow markers off the line.
Needs matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib  # type: ignore[import-not-found,unused-ignore]

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]

from benchmarks.report import HEAD, RESULTS, SYSTEMS

__all__ = ["main", "plot"]

ROOT = Path(__file__).resolve().parents[1]
STYLE = {
    "limit": ("black", "o"),
    "tenancy": ("tab:blue", "s"),
    "tenancy-sqlite": ("tab:cyan", "D"),
    "sql": ("tab:orange", "^"),
    "casbin": ("tab:red", "v"),
    "oso": ("tab:purple", "P"),
}
FIGURES: dict[str, list[tuple[str, str, str]]] = {
    "reads": [
        ("verify", "median", "verify, median"),
        ("verify", "p99", "verify, p99"),
        ("first page (root)", "median", "first page of 100, root user"),
        ("first page (leaf)", "median", "first page of 100, leaf user"),
        ("all devices (root)", "median", "all devices of the root user"),
        ("users_for (typical)", "median", "users_for, typical device"),
    ],
    "writes": [
        ("tag change", "median", "tag change"),
        ("membership change", "median", "membership change"),
        ("device creation", "median", "device creation"),
        ("subtree move", "median", "subtree move (~1k groups at M and L)"),
    ],
    "load": [
        ("load", "seconds", "build or open (seconds)"),
        ("memory", "per_device", "memory per device (bytes, RSS delta)"),
    ],
}


def _value(results: dict[str, Any], op: str, key: str, system: str) -> tuple[float, bool] | None:
    if op in ("load", "memory"):
        info = results.get("systems", {}).get(system, {})
        return (float(info[key]), False) if key in info else None
    for row in results.get("ops", []):
        if row["op"] == op and row["system"] == system and key in row:
            return float(row[key]), bool(row.get("estimated"))
    return None


def plot(all_results: dict[str, dict[str, Any]], out: Path) -> list[Path]:
    """Write one PNG per family into ``out``; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    scales = sorted(all_results.values(), key=lambda r: r["spec"]["devices"])
    written = []
    for family, panels in FIGURES.items():
        columns = 2 if len(panels) > 1 else 1
        rows = (len(panels) + columns - 1) // columns
        fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 3.6 * rows), squeeze=False)
        for ax, (op, key, title) in zip(axes.flat, panels, strict=False):
            for system in SYSTEMS:
                color, marker = STYLE[system]
                xs, ys, est_x, est_y = [], [], [], []
                for r in scales:
                    found = _value(r, op, key, system)
                    if found is None:
                        continue
                    value, estimated = found
                    if estimated:
                        est_x.append(r["spec"]["devices"])
                        est_y.append(value)
                    else:
                        xs.append(r["spec"]["devices"])
                        ys.append(value)
                if xs:
                    ax.plot(xs, ys, color=color, marker=marker, label=HEAD[system])
                if est_x:
                    ax.plot(
                        est_x,
                        est_y,
                        linestyle="none",
                        marker=marker,
                        markerfacecolor="none",
                        color=color,
                        label=f"{HEAD[system]} (estimated)",
                    )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("devices")
            unit = {"per_device": "bytes per device", "seconds": "seconds"}.get(key, "seconds")
            ax.set_ylabel(unit)
            ax.grid(True, which="major", alpha=0.3)
            ax.legend(fontsize=7)
        for ax in list(axes.flat)[len(panels) :]:
            ax.set_visible(False)
        fig.suptitle(f"tenancy benchmarks: {family}, cost against scale (log-log)")
        fig.tight_layout()
        path = out / f"bench-{family}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plot")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args(argv)
    all_results = {
        p.stem: json.loads(p.read_text())
        for p in sorted(args.results.glob("*.json"))
        if p.stem in ("S", "M", "L")
    }
    for path in plot(all_results, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
