"""``tenancy review``: the reach a tenant's users gained and lost between two revisions."""

from __future__ import annotations

import click

from tenancy.cli.root import cli, state

__all__: list[str] = []


@cli.command()
@click.argument("tenant_id")
@click.option(
    "--from",
    "start",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="REV",
    help="The revision compared from (0: the empty store, before the first commit).",
)
@click.option(
    "--to",
    "end",
    type=click.IntRange(min=0),
    metavar="REV",
    help="The revision compared to; default: the store's head.",
)
def review(*, tenant_id: str, start: int, end: int | None) -> None:
    """The reach the users of TENANT_ID gained and lost from revision --from to --to:
    a summary line, then one line per pair (gained or lost, user id, device id), sorted
    (--json: the whole ReachDiff, with its counts per user and per device)."""
    st = state()
    with st.open() as tn:
        diff = tn.reach_diff(start, end, tenant=tenant_id)
    lines = [
        f"revision {diff.from_revision} to {diff.to_revision}: "
        f"{len(diff.gained)} gained, {len(diff.lost)} lost"
    ]
    lines += [f"gained\t{user}\t{device}" for user, device in diff.gained]
    lines += [f"lost\t{user}\t{device}" for user, device in diff.lost]
    st.out.emit(diff, lines)
