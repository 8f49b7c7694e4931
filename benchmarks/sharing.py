"""Reach through a cross-tenant share of 10,000 devices: its hot paths and its toggle.

    python -m benchmarks.sharing                 # instruction counts, then toggle timings
    python -m benchmarks.sharing --no-valgrind   # the toggle timings only

Two users reach the same 10,000 devices: one of the source tenant, a member of the group
that covers them, and one of the destination, a member of the subscription's virtual
group. ``verify`` and the first page of ``devices_for`` are counted in instructions by
callgrind, as in :mod:`benchmarks.instructions` (a fresh interpreter with and without N
calls; the difference over N), so the ratio of the two users is exact on a shared
machine. The targets (issue 16): the share-only user's cost is at most twice the
same-tenant user's.

Toggling the share (``suspend_connector`` then ``activate_connector``, each one commit on
the memory store: validation, audit records in both tenants, and the index moving 10,000
devices' covers) is timed on the wall clock, the median of several rounds; the target is
at most 20 ms per toggle.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

DEVICES = 10_000

_WORLD = """
import sys, tenancy
tn = tenancy.open()
mk = tn.create_tenant
src = mk(domain="acme", name="Acme", admin_email="it@acme.example")
dst = mk(domain="svc", name="Service Co", admin_email="it@svc.example")
s, d = tn.tenant(src.id), tn.tenant(dst.id)
root = s.create_group("root")
s.create_group("site", parent=root.id, device_tags=[("site", "x")])
s.create_devices([{"name": f"d{i}", "tags": [("site", "x")]} for i in range(DEVICES)])
local = s.create_user("u@acme.example")
s.add_member(root.id, local.id)
c = s.create_connector("share", destination=dst.id, groups=[root.id])
sub = d.accept_connector(c.id, security_code=c.security_code, name="Acme")
remote = d.create_user("u@svc.example")
d.add_member(sub.group_id, remote.id)
user = {"local": local.id, "remote": remote.id}[sys.argv[2]]
device = tn.devices_for(user, limit=100).items[5].id
n = int(sys.argv[3])
if sys.argv[1] == "verify":
    for _ in range(n): tn.verify(user, device)
else:
    for _ in range(n): tn.devices_for(user, limit=100)
""".replace("DEVICES", str(DEVICES))

OPERATIONS = {"verify": 40_000, "first_page": 2_000}


def instructions(operation: str, who: str, calls: int) -> int:
    """Instructions callgrind counted for the world plus ``calls`` calls by ``who``."""
    out = subprocess.run(
        [
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
            sys.executable, "-c", _WORLD, operation, who, str(calls),
        ],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise RuntimeError(f"valgrind printed no count:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def toggle_times(rounds: int = 15) -> tuple[float, float]:
    """Median milliseconds of one suspend and one activate of the 10,000-device share."""
    namespace: dict[str, object] = {}
    exec(_WORLD.split("user = ")[0], namespace)
    s = namespace["s"]
    c = namespace["c"]
    tn = namespace["tn"]
    remote = namespace["remote"]
    off, on = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        s.suspend_connector(c.id)  # type: ignore[attr-defined]
        off.append(time.perf_counter() - start)
        assert not tn.verify(remote.id, tn.devices_for(namespace["local"].id).items[0].id)  # type: ignore[attr-defined]
        start = time.perf_counter()
        s.activate_connector(c.id)  # type: ignore[attr-defined]
        on.append(time.perf_counter() - start)
    return statistics.median(off) * 1000, statistics.median(on) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-valgrind", action="store_true", help="time the toggle only")
    args = parser.parse_args()
    if not args.no_valgrind:
        base = {who: instructions("verify", who, 0) for who in ("local", "remote")}
        for operation, calls in OPERATIONS.items():
            per = {
                who: (instructions(operation, who, calls) - base[who]) / calls
                for who in ("local", "remote")
            }
            ratio = per["remote"] / per["local"]
            print(
                f"{operation:<12} same tenant {per['local']:>9,.0f}  through the share "
                f"{per['remote']:>9,.0f} instructions per call  ({ratio:.2f}x)"
            )
    off, on = toggle_times()
    print(f"toggle       suspend {off:.1f} ms  activate {on:.1f} ms  ({DEVICES:,} devices, median)")


if __name__ == "__main__":
    main()
