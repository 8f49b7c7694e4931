"""``tenancy test FILE...``: run model test files (see :mod:`tenancy.testing.model`)."""

from __future__ import annotations

import click

from tenancy.cli.root import EXIT_DENIED, cli, state
from tenancy.testing.model import run_model

__all__: list[str] = []


@cli.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def test_models(*, files: tuple[str, ...]) -> int:
    """Run the model test FILES (TOML or JSON: a document and assertions on verify, check,
    devices_for, users_for and explain). Prints each failure with the explanation; exits 1
    when any assertion fails. The store is built in memory: --db is not used."""
    st = state()
    reports = [run_model(path) for path in files]
    st.out.emit(
        [{"path": r.path, "ran": r.ran, "failures": list(r.failures)} for r in reports],
        [r.summary() for r in reports],
    )
    return 0 if all(r.passed for r in reports) else EXIT_DENIED
