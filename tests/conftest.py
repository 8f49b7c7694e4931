"""Hypothesis profiles for every test directory.

``ci`` (the default) is what CI runs: every property and state machine, 100 examples each,
so that ``make test`` stays within about 15 minutes on a two-core machine. Pick another
with TENANCY_HYPOTHESIS_PROFILE: ``dev`` for a quick local pass, ``full`` for the 200
examples CI ran until the state machines grew time and what-if (run it before a release),
``thorough`` for a long hunt; TENANCY_HYPOTHESIS_EXAMPLES
overrides the number of examples of whichever profile is loaded, e.g.
``TENANCY_HYPOTHESIS_EXAMPLES=5000 .venv/bin/pytest tests/property``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=100,
    stateful_step_count=50,
    deadline=None,  # a shared 2-core machine pauses; a slow example is not a bug
    suppress_health_check=[HealthCheck.too_slow],  # same reason
)
settings.register_profile("dev", settings.get_profile("ci"), max_examples=25)
settings.register_profile("full", settings.get_profile("ci"), max_examples=200)
settings.register_profile(
    "thorough", settings.get_profile("ci"), max_examples=2000, stateful_step_count=100
)

_profile = os.environ.get("TENANCY_HYPOTHESIS_PROFILE", "ci")
_examples = os.environ.get("TENANCY_HYPOTHESIS_EXAMPLES")
if _examples:
    settings.register_profile(
        f"{_profile}+examples", settings.get_profile(_profile), max_examples=int(_examples)
    )
    _profile = f"{_profile}+examples"
settings.load_profile(_profile)
