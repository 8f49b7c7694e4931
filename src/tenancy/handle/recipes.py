"""Device recipes of one tenant: keep them, and bulk-create devices from one, a part of
TenantScope (DOMAIN.md section 8).

A recipe is a :class:`~tenancy.records.recipes.Recipe` record of the generic access table
(see its module); its rules are :mod:`tenancy.rules.recipes`. Creating devices from one
is one commit: every device (ids generated, names from the pattern) and one association
by id per group it names, counted against the limits before a device is built. The
public methods' documentation is on :class:`~tenancy.handle.scope.TenantScope`.
"""

from __future__ import annotations

from collections.abc import Iterable

from tenancy import ids as _ids
from tenancy.errors import (
    AlreadyExists,
    CrossTenantReference,
    InvalidValue,
    LimitExceeded,
    NotFound,
    with_field,
)
from tenancy.handle.lookups import TenantRecords
from tenancy.index.index import Index
from tenancy.records import changes as ch
from tenancy.records.changes import Change
from tenancy.records.model import Device, parse_tags
from tenancy.records.recipes import Recipe
from tenancy.records.tags import TagsInput
from tenancy.rules.limits import NewDevices
from tenancy.rules.recipes import check_name_pattern, device_names, recipes_of
from tenancy.rules.validate import UNSET, as_id_tuple, check_int, check_name, named

__all__ = ["RecipeBook"]

_KIND = Recipe.__name__
"""The kind of a recipe's row in the access table (its type name, as every record's)."""


class RecipeBook(TenantRecords):
    """The device recipes of one tenant: the part of a
    :class:`~tenancy.handle.scope.TenantScope` it hands those calls to."""

    # ------------------------------------------------------------ looking up

    def _recipe(self, recipe_id: object, field: str) -> Recipe:
        try:
            found = (
                self._index.access.record(_KIND, recipe_id) if isinstance(recipe_id, str) else None
            )
        except TypeError:  # pragma: no cover - a str subclass with a broken hash
            found = None
        if not isinstance(found, Recipe):
            raise NotFound("recipe", recipe_id, where=f"tenant {self.tenant_id!r}", field=field)
        if found.tenant_id != self.tenant_id:
            raise CrossTenantReference(
                "recipe", recipe_id, found.tenant_id, self.tenant_id, field=field
            )
        return found

    def get_recipe(self, recipe_id: str) -> Recipe:
        """The :class:`~tenancy.Recipe` ``recipe_id``; NotFound unless it is a recipe of this
        tenant (CrossTenantReference for another tenant's). Runtime complexity: O(1)."""
        return self._recipe(recipe_id, "recipe_id")

    def recipes(self) -> list[Recipe]:
        """Every device recipe of the tenant, sorted by id (seq-checked, as :meth:`groups`).
        Runtime complexity: O(access records of the store)."""
        return self._queries._read(recipes_of, self.tenant_id)

    # ------------------------------------------------------------ writing

    def create_recipe(
        self,
        recipe_name: str,
        *,
        name: str = UNSET,
        name_pattern: str = UNSET,
        tags: TagsInput = (),
        parent: str | None = None,
        groups: Iterable[str] = (),
        id: str | None = None,
    ) -> Recipe:
        """Keep a device recipe named ``recipe_name`` (unique in the tenant): a template that
        :meth:`create_devices_from_recipe` makes devices from. ``name`` is the name pattern of
        its devices, as ``create_recipe("generator", name="Generator {n}")`` writes it
        (``name_pattern`` is the same argument under the record's own name; give one): it
        holds ``{n}``, the number of each device, and no other brace. Every device gets
        ``tags`` ([tag shapes](scope.md#tag-shapes)), goes under the gateway ``parent`` (a
        device id, or None), and is associated by id with each of ``groups`` (group ids).
        While a recipe names a group or a device, deleting that one is refused (InUse).
        ``id`` is generated unless given. Returns the :class:`~tenancy.Recipe`. An acting user
        needs ``device:CREATE``. Runtime complexity: O(tags + groups + access records), one
        commit.

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="a@a.example")
        >>> t = tn.tenant(acme.id)
        >>> r = t.create_recipe("generator", name="Generator {n}", tags=[("kind", "gen")])
        >>> [d.name for d in t.create_devices_from_recipe(r.id, count=3, start=7)]
        ['Generator 7', 'Generator 8', 'Generator 9']
        """

        def make() -> tuple[list[Change], Recipe]:
            self._writable()
            recipe = Recipe(
                id=self._new_recipe_id(id),
                tenant_id=self.tenant_id,
                name=self._free_name(check_name("recipe", recipe_name, "recipe_name")),
                name_pattern=_pattern(name, name_pattern),
                tags=named("tags", parse_tags, tags),
                parent_id=None if parent is None else self._device(parent, "parent").id,
                group_ids=self._group_ids(groups),
            )
            return [ch.AccessSet(record=recipe)], recipe

        return self._write(make)

    def delete_recipe(self, recipe_id: str) -> None:
        """Delete a recipe (the devices made from it stay)."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            return [ch.AccessRemoved(record=self._recipe(recipe_id, "recipe_id"))], None

        self._write(make)

    def create_devices_from_recipe(
        self, recipe_id: str, *, count: int, start: int = 1
    ) -> list[Device]:
        """Create ``count`` devices (at least 1) from the recipe ``recipe_id`` in one
        transaction: numbers ``start`` (an int, 0 or more; 1 by default) to ``start + count -
        1``, each named by the recipe's pattern with its number, with the recipe's tags, under
        its gateway, with generated ids, and associated by id with its groups in the same
        commit. Counted against the tenant's device limits and the store's safety limits
        before a device is built: past one, LimitExceeded and nothing is created. Returns the
        devices, in number order. An acting user needs ``device:CREATE``, and
        ``group:UPDATE`` when the recipe names groups. Runtime complexity: O(count x (tags x
        matching rules + groups) x depth), one commit."""

        def make() -> tuple[list[Change], list[Device]]:
            self._writable()
            recipe = self._recipe(recipe_id, "recipe_id")
            check_int("count", count, minimum=1)
            check_int("start", start)
            tenant = self.tenant_id
            parent = recipe.parent_id
            if parent is not None:
                self._device(parent, "recipe_id")  # kept while the recipe names it
            counter = NewDevices(self._writer.limits, self._index, self.record)
            try:  # refused before a single device is built; the count is what is too many
                counter.add_many(count, parent)
            except LimitExceeded as error:
                raise with_field(error, "count") from None
            names = device_names(recipe, start, count)
            devices = [
                Device(id=i, tenant_id=tenant, name=n, tags=recipe.tags, parent_id=parent)
                for i, n in zip(_new_device_ids(self._index, count), names, strict=True)
            ]
            # The associations go first, naming devices still to come (as an import lists
            # a group before its devices): each device, added in one batch, then finds its
            # groups once, where an association after them would re-derive every device.
            ids = frozenset(d.id for d in devices)
            changes: list[Change] = [
                ch.Associated(group_id=g, device_ids=ids, device_tags=frozenset())
                for g in sorted(recipe.group_ids)
            ]
            changes.extend(ch.DeviceCreated(device=d) for d in devices)
            return changes, devices

        return self._write(make)

    # ------------------------------------------------------------ validation helpers

    def _new_recipe_id(self, given: str | None) -> str:
        access = self._index.access
        if given is None:
            new = _ids.new_recipe_id()
            while access.record(_KIND, new) is not None:
                new = _ids.new_recipe_id()
            return new
        _ids.check_id("recipe", given)
        if access.record(_KIND, given) is not None:
            raise AlreadyExists("recipe", given, field="id")
        return given

    def _free_name(self, name: str) -> str:
        if any(r.name == name for r in recipes_of(self._index, self.tenant_id)):
            raise AlreadyExists(
                "recipe name", name, rule="recipe names are unique per tenant",
                field="recipe_name",
            )  # fmt: skip
        return name

    def _group_ids(self, groups: Iterable[str]) -> frozenset[str]:
        group_ids = as_id_tuple(groups, "groups")
        for gid in group_ids:
            self._group(gid, "groups")
        return frozenset(group_ids)


def _pattern(name: object, name_pattern: object) -> str:
    """The name pattern, given as ``name=`` (as shared/API.md writes it) or ``name_pattern=``
    (the record's field, the command line's ``--name-pattern``): once, not twice."""
    if name is not UNSET and name_pattern is not UNSET:
        raise InvalidValue(
            name_pattern, "give the name pattern once: as name= or as name_pattern=",
            field="name_pattern",
        )  # fmt: skip
    if name is not UNSET:
        return check_name_pattern(name, "name")
    if name_pattern is UNSET:
        raise InvalidValue(
            None, "a recipe needs its name pattern (name= or name_pattern=)", field="name_pattern"
        )
    return check_name_pattern(name_pattern)


def _new_device_ids(index: Index, count: int) -> list[str]:
    """``count`` new device ids no device has (nor another of them)."""
    existing = index.devices
    made: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        new = _ids.new_device_id()
        if new not in existing and new not in made:
            made.add(new)
            out.append(new)
    return out
