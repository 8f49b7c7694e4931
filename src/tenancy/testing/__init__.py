"""Helpers for testing applications and store adapters built on tenancy.

- :mod:`tenancy.testing.clock`: a clock a test moves by hand (time-bounded grants).
- :mod:`tenancy.testing.contract`: the store conformance suite every adapter must pass.
- :mod:`tenancy.testing.fixtures`: what the suites share (store factories, sample history).
- :mod:`tenancy.testing.oracle`: a naive, from-scratch definition of reach to check against.
- :mod:`tenancy.testing.strategies`: Hypothesis strategies for records and operations.
- :mod:`tenancy.testing.workload`: seeded synthetic hierarchies (tests, demos, benchmarks).

Nothing here is imported by the library itself; the submodules need the ``testing`` extra
(``pip install "tenancy-iot[testing]"``: pytest and Hypothesis).
"""
