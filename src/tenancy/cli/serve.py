"""``tenancy serve``: the admin page (tenancy.web, the ``web`` extra) on the store."""

from __future__ import annotations

import click

from tenancy.cli.root import EXIT_USAGE, cli, state

__all__: list[str] = []


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65_535), default=8080, show_default=True,
              help="Port to listen on.")  # fmt: skip
@click.option("--allow-writes", is_flag=True,
              help="Add the forms that suspend and activate tenants, add and remove members "
              "and tag devices (audited as the management tenant's first admin).")  # fmt: skip
def serve(*, host: str, port: int, allow_writes: bool) -> int:
    """Start the admin page on the store and print its address, with a random access token,
    once; serve until interrupted (Ctrl-C)."""
    st = state()
    try:
        from tenancy.web.serve import serve as run  # noqa: PLC0415  (the optional web extra)
    except ImportError as missing:
        click.echo(
            f"tenancy: serve needs the web extra (pip install 'tenancy-iot[web]'): {missing}",
            err=True,
        )
        return EXIT_USAGE
    with st.open():  # a missing store is an error here too, never a new file
        pass
    return run(st.db, host=host, port=port, allow_writes=allow_writes)
