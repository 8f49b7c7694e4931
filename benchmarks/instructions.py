"""Instructions per call of the hot paths, counted by valgrind (callgrind), not timed.

    python -m benchmarks.instructions              # this tree
    python -m benchmarks.instructions --python /other/tree/.venv/bin/python

Wall-clock timings on a shared two-core machine move by 10-50% from run to run; an
instruction count moves by well under 1% (callgrind counts what the CPU executes, whatever
else runs). So a before/after of a change that adds a few checks to a hot path is measured
here: the same small world (one tenant, 1,000 devices under a nested group, one member) is
built in a fresh interpreter twice, once with no calls and once with N calls of the
operation, and the difference divided by N is the cost of one call, setup excluded.
``PYTHONHASHSEED`` is fixed so both runs hash alike. Needs valgrind (Debian's package).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

OPERATIONS = {"verify": 40_000, "check": 40_000, "first_page": 2_000}

_WORLD = """
import sys, tenancy
tn = tenancy.open()
acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
t = tn.tenant(acme.id)
root = t.create_group("root")
t.create_group("site", parent=root.id, device_tags=[("site", "x")])
t.create_devices([{"name": f"d{i}", "tags": [("site", "x")]} for i in range(1000)])
user = t.create_user("u@acme.example")
t.add_member(root.id, user.id)
device = tn.devices_for(user.id, limit=100).items[5].id
n = int(sys.argv[2])
if sys.argv[1] == "verify":
    for _ in range(n): tn.verify(user.id, device)
elif sys.argv[1] == "check":
    for _ in range(n): tn.check(user.id, "device:READ", device)
else:
    for _ in range(n): tn.devices_for(user.id, limit=100)
"""


def instructions(python: str, operation: str, calls: int) -> int:
    """Instructions valgrind counted for the world plus ``calls`` calls of ``operation``."""
    out = subprocess.run(
        [
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
            python, "-c", _WORLD, operation, str(calls),
        ],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise RuntimeError(f"valgrind printed no count:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter to count")
    args = parser.parse_args()
    base = instructions(args.python, "verify", 0)
    for operation, calls in OPERATIONS.items():
        per_call = (instructions(args.python, operation, calls) - base) / calls
        print(f"{operation:<12} {per_call:>10,.0f} instructions per call")


if __name__ == "__main__":
    main()
