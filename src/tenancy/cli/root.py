"""The root of the command line: the global options, the store they name, the exit codes.

Commands live in the modules beside this one (``tenancy.cli.records`` for tenants, groups,
devices, users and members; ``tenancy.cli.questions`` for the queries and reports); their
decorators add them to :data:`cli`, and :mod:`tenancy.cli.main` imports them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

import tenancy
from tenancy.cli.output import Output

__all__ = [
    "EXIT_DENIED",
    "EXIT_NOT_FOUND",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "State",
    "StoreMissing",
    "cli",
    "state",
]

EXIT_DENIED = 1
"""``verify`` or ``check`` answered no."""
EXIT_USAGE = 2
"""A command line click could not parse: an unknown command or option, a missing argument."""
EXIT_NOT_FOUND = 3
"""An id (or the store file) that does not exist."""
EXIT_REFUSED = 4
"""Any other operation the library refused; the message names the value and the rule."""

DEFAULT_DB = "tenancy.db"


class StoreMissing(Exception):
    """A command other than ``init`` named a store file that does not exist."""


class State:
    """What the global options decided, handed to every command."""

    def __init__(self, db: str, as_json: bool) -> None:
        self.db = db
        self.out = Output(as_json)

    @contextmanager
    def open(self, *, create: bool = False) -> Iterator[tenancy.Tenancy]:
        """The store named by ``--db``, closed afterwards. A file path that does not exist
        is an error (:class:`StoreMissing`) unless ``create``: a typo never makes a store."""
        if not create and _is_file_target(self.db) and not Path(_file_path(self.db)).exists():
            raise StoreMissing(self.db)
        tn = tenancy.open(self.db, staleness=None)
        try:
            yield tn
        finally:
            tn.close()


def _is_file_target(target: str) -> bool:
    return "://" not in target or target.startswith("sqlite:///")


def _file_path(target: str) -> str:
    return target.removeprefix("sqlite:///") if target.startswith("sqlite:///") else target


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--db",
    envvar="TENANCY_DB",
    default=DEFAULT_DB,
    show_default=True,
    metavar="URL",
    help="The store: a SQLite file path, sqlite:///path or postgresql://... "
    "Defaults to the TENANCY_DB environment variable, then tenancy.db.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (sorted keys and lists).")
@click.version_option(tenancy.__version__, "--version", prog_name="tenancy")
@click.pass_context
def cli(ctx: click.Context, db: str, as_json: bool) -> None:
    """Which devices may each user see, and why: run a tenancy store."""
    ctx.obj = State(db, as_json)


def state() -> State:
    """The current command's :class:`State`."""
    return click.get_current_context().find_object(State)  # type: ignore[return-value]
