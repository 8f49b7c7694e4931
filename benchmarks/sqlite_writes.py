"""The SQLite store's write and open figures of issue 3, on a fresh file.

    python -m benchmarks.sqlite_writes            # 100,000 devices (scale M)
    python -m benchmarks.sqlite_writes --devices 1000

Prints the rate of one bulk ``create_devices`` call (target: 50k devices/s), the median and
p99 of a single durable membership change (target: 2 ms), and the cold open of the file to a
ready index (target: 3 s at 100k devices). Every write includes its audit records and usage
counts, as in production.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import tenancy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--writes", type=int, default=300)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "writes.db"
        with tenancy.open(path) as tn:
            acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
            t = tn.tenant(acme.id)
            t.create_group("root", id="root")
            for i in range(args.sites):
                t.create_group(f"site {i}", parent="root", id=f"s{i}",
                               device_tags=[("site", f"s{i}")])  # fmt: skip
            specs = [
                {"name": f"device {i}", "id": f"d{i:07d}", "tags": [("site", f"s{i % args.sites}")]}
                for i in range(args.devices)
            ]
            start = time.perf_counter()
            t.create_devices(specs)
            bulk = time.perf_counter() - start
            users = [t.create_user(f"u{i}@acme.example", id=f"u{i}").id for i in range(args.writes)]
            latencies = []
            for i, user in enumerate(users):
                start = time.perf_counter()
                t.add_member(f"s{i % args.sites}", user)
                latencies.append(time.perf_counter() - start)
        start = time.perf_counter()
        tenancy.open(path).close()
        cold_open = time.perf_counter() - start
    latencies.sort()
    print(f"bulk create_devices: {args.devices:,} devices in {bulk:.2f} s = "
          f"{args.devices / bulk:,.0f} devices/s")  # fmt: skip
    print(f"membership change: median {statistics.median(latencies) * 1e3:.3f} ms, "
          f"p99 {latencies[int(len(latencies) * 0.99)] * 1e3:.3f} ms")  # fmt: skip
    print(f"cold open of the file to a ready index: {cold_open:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
