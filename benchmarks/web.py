"""How long the admin page takes to render its first pages for a large tenant.

    python -m benchmarks.web                      # 1,000,000 devices
    python -m benchmarks.web --devices 100000 --runs 10

Builds, in memory, one tenant with ``--devices`` devices (``TenantScope.create_devices``
in batches) spread over 100 sites (10 regions of 10 sites, each site a group with a tag
rule), a gateway with child devices, ``--users`` users each a member of one site and a
regional manager per region; then asks the admin page (``tenancy.web.app`` through
Starlette's TestClient, so routing, authorisation, the worker thread, the templates and the
HTTP layer are all counted) for the first page of each kind, ``--runs`` times, and prints
the median and the slowest run in milliseconds. Wall-clock on a shared machine moves by tens
of percent: read the figures as orders of magnitude against the target ("well under a
second"), not as a regression baseline.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from starlette.testclient import TestClient

import tenancy
from tenancy import Tenancy
from tenancy.web import app

SITES = 100
BATCH = 100_000


def build(devices: int, users: int) -> tuple[Tenancy, dict[str, str]]:
    """The store and the URLs to measure."""
    tn = tenancy.open(staleness=None)
    acme = tn.create_tenant(domain="acme", name="Acme Fleet", admin_email="it@acme.example")
    t = tn.tenant(acme.id)
    chain = t.create_group("Acme")
    regions = [t.create_group(f"Region {r}", parent=chain.id) for r in range(SITES // 10)]
    sites = [
        t.create_group(f"Site {s}", parent=regions[s // 10].id, device_tags=[("site", f"s{s}")])
        for s in range(SITES)
    ]
    gateway = t.create_device("Gateway 0", id="gw-0", tags=[("site", "s0")])
    t.create_devices([{"id": f"child-{i}", "name": f"Child {i}", "parent": gateway.id}
                      for i in range(10)])  # fmt: skip
    made = 11
    while made < devices:
        n = min(BATCH, devices - made)
        t.create_devices([
            {"id": f"d{made + i:07}", "name": f"Device {made + i}",
             "tags": [("site", f"s{(made + i) % SITES}"), ("kind", "meter")]}
            for i in range(n)
        ])  # fmt: skip
        made += n
    people = [
        t.create_user(f"user{i}@acme.example", first_name="User", last_name=str(i),
                      tags={"notify": "sms" if i % 2 else "email"})
        for i in range(users)
    ]  # fmt: skip
    for i, person in enumerate(people):
        t.add_member(sites[i % SITES].id if i >= len(regions) else regions[i].id, person.id)
    manager = people[0]
    urls = {
        "tenants (tree, usage charts)": "/",
        "tenant (group tree, counts)": f"/tenants/{acme.id}",
        "tenant devices, first page": f"/tenants/{acme.id}/devices",
        "tenant users, first page": f"/tenants/{acme.id}/users",
        "audit log, first page": f"/tenants/{acme.id}/audit",
        "group: a region (100k devices at 1M)": f"/groups/{regions[0].id}",
        "group: the root (every device)": f"/groups/{chain.id}",
        "user: a regional manager": f"/users/{manager.id}",
        "device: a gateway (child scan)": f"/devices/{gateway.id}",
        "device: whom to alert, notify=sms": "/devices/d0000100?tag=notify=sms",
        "test associations, by ids": f"/associations?user={manager.id}&device=d0000100",
        "test associations, device by name": f"/associations?user={manager.id}&device=Child 3",
    }
    return tn, urls


def measure(get: Callable[[str], int], url: str, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        status = get(url)
        times.append(time.perf_counter() - start)
        assert status == 200, (url, status)
    return statistics.median(times) * 1000, max(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    tn, urls = build(args.devices, args.users)
    built = time.perf_counter() - started
    operator = tn.management_tenant.admin_user_id
    client = TestClient(app(tn, authorize=lambda request: operator))
    print(f"built {args.devices:,} devices, {args.users:,} users, {SITES + 11} groups "
          f"in {built:.1f} s; {args.runs} runs per page")  # fmt: skip
    print("| page | median | slowest |\n| --- | ---: | ---: |")
    for name, url in urls.items():
        median, slowest = measure(lambda u: client.get(u).status_code, url, args.runs)
        print(f"| {name} | {median:.1f} ms | {slowest:.1f} ms |", flush=True)
    tn.close()


if __name__ == "__main__":
    main()
