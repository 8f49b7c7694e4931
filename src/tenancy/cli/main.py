"""``main``: from a command line to an exit status.

Importing this module imports every module of commands, so :data:`~tenancy.cli.root.cli`
knows them all.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from tenancy.cli import (
    feed,
    model_files,
    questions,
    recipes,
    records,
    review,
    serve,
    transfer,
)
from tenancy.cli.root import EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_USAGE, StoreMissing, cli
from tenancy.errors import NotFound, TenancyError

__all__ = ["hoist_global_options", "main"]

COMMAND_MODULES = (feed, model_files, questions, recipes, records, review, serve, transfer)
"""The modules whose decorators put their commands on ``cli``."""

# Options that belong to the root group and may also follow the command.
_GLOBAL_FLAGS = frozenset({"--json"})
_GLOBAL_VALUES = frozenset({"--db"})


def hoist_global_options(argv: Sequence[str]) -> list[str]:
    """Move ``--db URL``, ``--db=URL`` and ``--json`` found after the command to the front,
    where click expects them, so ``tenancy verify U D --json`` works as the contract says.
    Everything after a bare ``--`` is left alone."""
    front: list[str] = []
    rest: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg in _GLOBAL_FLAGS:
            front.append(arg)
        elif arg in _GLOBAL_VALUES and i + 1 < len(args):
            front.extend(args[i : i + 2])
            i += 1
        elif arg.split("=", 1)[0] in _GLOBAL_VALUES and "=" in arg:
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tenancy`` command; returns the exit status."""
    args = hoist_global_options(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args=args, prog_name="tenancy", standalone_mode=False)
    except click.UsageError as error:
        error.show()
        return EXIT_USAGE
    except click.exceptions.Exit as done:  # --help, --version
        return done.exit_code
    except click.Abort:
        click.echo("tenancy: aborted", err=True)
        return EXIT_REFUSED
    except StoreMissing as missing:
        click.echo(
            f"tenancy: no store at {str(missing)!r} (tenancy init creates one; --db or "
            "TENANCY_DB names another)",
            err=True,
        )
        return EXIT_NOT_FOUND
    except NotFound as error:
        click.echo(f"tenancy: {error}", err=True)
        return EXIT_NOT_FOUND
    except TenancyError as error:
        click.echo(f"tenancy: {error}", err=True)
        return EXIT_REFUSED
    except BrokenPipeError:  # `tenancy device list T | head`: the reader left, fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return result if isinstance(result, int) else 0
