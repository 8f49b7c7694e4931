"""The ``tenancy`` command: run a store from a terminal or a script.

    tenancy [--db URL] [--json] COMMAND ...

``--db`` defaults to the ``TENANCY_DB`` environment variable, then ``tenancy.db``; a command
never creates a store except ``tenancy init``. Global options may come before or after the
command. Exit codes: 0 success (for ``verify`` and ``check``: allowed), 1 denied, 2 usage
error, 3 not found, 4 any other refused operation. ``tenancy --help`` lists the commands;
docs/reference/cli.md is the reference.

The command is a thin layer on the public API: each command opens the store with
:func:`tenancy.open`, makes the calls an application would make, and prints the answer as
text or, with ``--json``, as JSON with sorted keys and sorted lists (the same bytes for the
same state).
"""

from tenancy.cli.main import main

__all__ = ["main"]
