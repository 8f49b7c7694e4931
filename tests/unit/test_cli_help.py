"""Every command, argument and option of the command line has help text, and global
options may come anywhere before a bare ``--``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from tenancy.cli.main import hoist_global_options
from tenancy.cli.root import cli


def commands(group: click.Group = cli, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}".strip()
        yield path, command
        if isinstance(command, click.Group):
            yield from commands(command, path)


@pytest.mark.parametrize(("path", "command"), list(commands()), ids=str)
def test_every_command_documents_every_argument(path: str, command: click.Command) -> None:
    assert command.help, f"tenancy {path} has no help"
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"tenancy {path} {param.opts[0]} has no help"
        elif isinstance(param, click.Argument):
            assert param.human_readable_name in command.help, (
                f"tenancy {path}: say what {param.human_readable_name} is in the help"
            )


def test_global_options_are_hoisted_to_the_front() -> None:
    assert hoist_global_options(["verify", "u", "d", "--json", "--db", "x.db"]) == [
        "--json", "--db", "x.db", "verify", "u", "d",
    ]  # fmt: skip
    assert hoist_global_options(["verify", "--db=x.db", "u"]) == ["--db=x.db", "verify", "u"]
    assert hoist_global_options(["tenant", "create", "--", "--json"]) == [
        "tenant", "create", "--", "--json",
    ]  # fmt: skip


def test_the_reference_page_lists_every_command() -> None:
    """docs/reference/cli.md is kept true: a row for every command, naming its options."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "cli.md").read_text()
    rows = {line.split("`")[1].split(" [")[0]: line for line in page.splitlines()
            if line.startswith("| `")}  # fmt: skip
    for path, command in commands():
        if command.hidden or isinstance(command, click.Group):
            continue
        row = next((r for key, r in rows.items() if key == path or key.startswith(f"{path} ")),
                   None)  # fmt: skip
        assert row is not None, f"docs/reference/cli.md has no row for `tenancy {path}`"
        for param in command.params:
            if isinstance(param, click.Option) and param.opts[0] not in ("--help", "-h"):
                assert param.opts[0] in row, f"cli.md: `{path}` does not name {param.opts[0]}"
