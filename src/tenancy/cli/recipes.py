"""``tenancy recipe create`` and ``tenancy device create-many``: a tenant's device recipes,
and devices bulk-created from one in one transaction (with a progress bar on a terminal)."""

from __future__ import annotations

import click

from tenancy import Recipe
from tenancy.cli.progress import progress
from tenancy.cli.records import device, device_line, exact_tags
from tenancy.cli.root import cli, state

__all__: list[str] = []


def _recipe_line(r: Recipe) -> str:
    tags = ",".join(f"{k}={v}" for k, v in sorted(r.tags))
    return f"{r.id}\t{r.name}\t{r.name_pattern}\t{tags}"


@cli.group()
def recipe() -> None:
    """Create, list and delete a tenant's device recipes."""


@recipe.command("create")
@click.argument("tenant_id")
@click.argument("name")
@click.option(
    "--name-pattern",
    required=True,
    metavar="PATTERN",
    help="The name of each device, with {n} for its number (such as 'Generator {n}').",
)
@click.option(
    "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag of every device; repeatable."
)
@click.option("--parent", metavar="DEVICE_ID", help="The gateway every device goes under.")
@click.option(
    "--group",
    "groups",
    multiple=True,
    metavar="GROUP_ID",
    help="A group that associates every device by id; repeatable.",
)
@click.option("--id", "recipe_id", metavar="ID", help="The new recipe's id (default: generated).")
def recipe_create(
    *, tenant_id: str, name: str, name_pattern: str, tags: tuple[str, ...], parent: str | None,
    groups: tuple[str, ...], recipe_id: str | None,
) -> None:  # fmt: skip
    """Create the device recipe NAME (unique in its tenant) in tenant TENANT_ID: a template
    that ``device create-many`` makes devices from."""
    st = state()
    with st.open() as tn:
        r = tn.tenant(tenant_id).create_recipe(
            name, name_pattern=name_pattern, tags=exact_tags(tags), parent=parent, groups=groups,
            id=recipe_id,
        )  # fmt: skip
        st.out.emit(r, r.id)


@recipe.command("list")
@click.argument("tenant_id")
def recipe_list(*, tenant_id: str) -> None:
    """Every device recipe of tenant TENANT_ID, sorted by id: id, name, pattern, tags."""
    st = state()
    with st.open() as tn:
        tn.get_tenant(tenant_id)
        records = tn.tenant(tenant_id).recipes()
        st.out.emit(records, [_recipe_line(r) for r in records])


@recipe.command("delete")
@click.argument("tenant_id")
@click.argument("recipe_id")
def recipe_delete(*, tenant_id: str, recipe_id: str) -> None:
    """Delete the recipe RECIPE_ID of tenant TENANT_ID; the devices made from it stay."""
    st = state()
    with st.open() as tn:
        tn.tenant(tenant_id).delete_recipe(recipe_id)
        st.out.emit({"deleted": recipe_id}, f"deleted {recipe_id}")


@device.command("create-many")
@click.argument("tenant_id")
@click.option(
    "--recipe", "recipe_id", required=True, metavar="RECIPE_ID", help="The recipe to follow."
)
@click.option("--count", required=True, type=int, help="How many devices to create.")
@click.option(
    "--start", default=1, show_default=True, type=int, help="The number {n} of the first device."
)
def device_create_many(*, tenant_id: str, recipe_id: str, count: int, start: int) -> None:
    """Create --count devices of tenant TENANT_ID from a recipe, in one transaction (all or
    none, counted against the limits first): numbered from --start, named by the recipe's
    pattern. Prints the new devices (id, name, tags), in number order."""
    st = state()
    with st.open() as tn:
        scope = tn.tenant(tenant_id)
        # One transaction, so nothing to count while it runs: the bar (on a terminal only)
        # shows that it is working and for how long, and ends full when it has committed.
        with progress(f"create-many {count}", None) as bar:
            made = scope.create_devices_from_recipe(recipe_id, count=count, start=start)
            bar.advance(len(made))
        st.out.emit_stream(made, device_line)
