"""The rules of device recipes: what a name pattern may be, and what a recipe names.

Rule 1. A name pattern holds the placeholder ``{n}`` (once or more) and no other brace,
   so ``pattern.format(n=...)`` is the whole of its meaning (no format spec, no field of
   another name), and every name it makes passes the device-name validator.

Rule 2. The groups and the gateway a recipe names stay while it names them: deleting one
   is refused with InUse, naming the recipe, until the recipe is deleted. A recipe never
   points at a record that is gone, so what it creates is what it said when it was made
   (a recipe whose gateway went would otherwise make root devices, past a tenant's
   ``max_root_devices`` perhaps), and a document exported from any state imports again.
   :func:`check_deletions` holds it for every write, whichever method deletes.
"""

from __future__ import annotations

from collections.abc import Sequence

from tenancy.errors import InUse, InvalidValue
from tenancy.index.index import Index
from tenancy.records import changes as ch
from tenancy.records.recipes import PLACEHOLDER, Recipe
from tenancy.rules.validate import check_name

__all__ = ["check_deletions", "check_name_pattern", "recipes_of", "recipes_of_tenants"]

_DELETIONS = frozenset({ch.GroupDeleted, ch.DeviceDeleted})


def check_name_pattern(pattern: object, field: str = "name_pattern") -> str:
    """A recipe's name pattern (rule 1); InvalidValue naming ``field`` and the rule."""
    if not isinstance(pattern, str):
        raise InvalidValue(pattern, "a name pattern is a string holding {n}", field=field)
    rest = pattern.replace(PLACEHOLDER, "")
    if rest == pattern:
        raise InvalidValue(
            pattern, "a name pattern holds {n}, the number of each device", field=field
        )
    if "{" in rest or "}" in rest:
        raise InvalidValue(pattern, "a name pattern holds no brace but those of {n}", field=field)
    # The names it makes differ from it only in their digits, so the name of one number
    # stands for all of them but in length, which device_names checks at the ends.
    try:
        check_name("device", pattern.replace(PLACEHOLDER, "0"), field)
    except InvalidValue as error:
        raise InvalidValue(pattern, f"{error.rule}, nor does a name pattern", field=field) from None
    return pattern


def device_names(recipe: Recipe, start: int, count: int, field: str = "count") -> list[str]:
    """The names of devices ``start`` to ``start + count - 1`` of the recipe. Only the
    longest can break the device-name validator (its length): it is checked, naming
    ``field``. O(count)."""
    pattern = recipe.name_pattern
    names = [pattern.format(n=n) for n in range(start, start + count)]
    if names:
        try:
            check_name("device", max(names[0], names[-1], key=len))
        except InvalidValue as error:
            raise InvalidValue(
                max(names[0], names[-1], key=len), f"{error.rule} (recipe {recipe.id!r} made it)",
                field=field,
            ) from None  # fmt: skip
    return names


def recipes_of(index: Index, tenant_id: str) -> list[Recipe]:
    """The tenant's recipes, sorted by id. O(access records of the store)."""
    found = [r for r in index.access.of_tenant(tenant_id) if type(r) is Recipe]
    return sorted(found, key=lambda r: r.id)


def recipes_of_tenants(index: Index, tenant_ids: set[str]) -> list[Recipe]:
    """The recipes of these tenants, by tenant then id. O(access records of the store) for
    each tenant (a deletion touches one, as a rule)."""
    return [r for t in sorted(tenant_ids) for r in recipes_of(index, t)]


def check_deletions(index: Index, changes: Sequence[ch.Change]) -> None:
    """Refuse (rule 2) a commit deleting a group or a device a recipe names. Reads
    nothing of the index unless the commit deletes one. Runtime complexity: O(changes),
    and O(access records) for a commit that deletes groups or devices."""
    if _DELETIONS.isdisjoint(map(type, changes)):
        return
    groups = {c.group_id for c in changes if type(c) is ch.GroupDeleted}
    devices = {c.device_id for c in changes if type(c) is ch.DeviceDeleted}
    tenants = {
        record.tenant_id
        for record in (
            *(index.groups.get(g) for g in groups),
            *(index.devices.get(d) for d in devices),
        )
        if record is not None
    }
    removed = {  # a recipe the same commit deletes names nothing any more
        c.record.id for c in changes if type(c) is ch.AccessRemoved and type(c.record) is Recipe
    }
    for recipe in recipes_of_tenants(index, tenants):
        if recipe.id in removed:
            continue
        if recipe.parent_id in devices:
            raise InUse(
                "device", recipe.parent_id,
                f"recipe {recipe.id!r} creates devices under it; delete the recipe first",
                field="device_id",
            )  # fmt: skip
        named = sorted(g for g in recipe.group_ids if g in groups)
        if named:
            raise InUse(
                "group", named[0],
                f"recipe {recipe.id!r} associates its devices with it; delete the recipe "
                "first",
                field="group_id",
            )  # fmt: skip
