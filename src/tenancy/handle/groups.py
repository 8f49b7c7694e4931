"""Group writes inside one tenant, a part of TenantScope: create, rename, move, delete,
associate and dissociate.

Virtual groups (the doors of cross-tenant shares, :mod:`tenancy.rules.sharing` rule 3) are
groups like any other here, except that they never get associations or child groups, and
are deleted only with their subscription; deleting a group named by a connector's filter
drops it from the filter in the same commit (rule 4).
"""

from __future__ import annotations

from collections.abc import Iterable

from tenancy import ids as _ids
from tenancy.errors import CycleError, InUse, InvalidValue
from tenancy.handle.lookups import TenantRecords
from tenancy.records import changes as ch
from tenancy.records.changes import Change
from tenancy.records.model import Group, parse_rules
from tenancy.records.tags import RulesInput
from tenancy.rules.limits import check_group_move, check_group_rules, check_new_group
from tenancy.rules.sharing import filter_drops
from tenancy.rules.validate import (
    UNSET,
    as_id_tuple,
    check_bool,
    check_name,
    check_text,
    named,
    replace,
)

__all__ = ["GroupAdmin"]

_VIRTUAL = (
    "a virtual group covers exactly what its connector shares: it has no associations and "
    "no child groups"
)


class GroupAdmin(TenantRecords):
    """The group writes of one tenant scope (see the module docstring)."""

    def _device_ids(self, raw: Iterable[str]) -> frozenset[str]:
        device_ids = as_id_tuple(raw, "device_ids")
        for did in device_ids:
            self._device(did, "device_ids")
        return frozenset(device_ids)

    def _group_parent(self, parent: str | None) -> str | None:
        if parent is not None:
            self._group(parent, "parent")
            if self._index.access.virtual_group(parent) is not None:
                raise InvalidValue(parent, _VIRTUAL, field="parent")
        return parent

    def _not_virtual(self, group_id: str, field: str) -> None:
        if self._index.access.virtual_group(group_id) is not None:
            raise InvalidValue(group_id, _VIRTUAL, field=field)

    def create_group(
        self,
        name: str,
        *,
        parent: str | None = None,
        description: str = "",
        device_ids: Iterable[str] = (),
        device_tags: RulesInput = (),
        id: str | None = None,
    ) -> Group:
        """Create a group named ``name``, optionally below ``parent`` and already associating
        devices by id (``device_ids``) and by tag rule (``device_tags``, [tag
        shapes](scope.md#tag-shapes)), with a ``description``; ``id`` is generated unless given.
        A virtual group (of a subscription) takes no child groups. Returns the
        :class:`~tenancy.Group`. Runtime complexity: O(devices it associates x depth).
        """

        def make() -> tuple[list[Change], Group]:
            self._writable()
            group = Group(
                id=self._new_id("group", id, self._index.groups, _ids.new_group_id),
                tenant_id=self.tenant_id,
                name=check_name("group", name),
                description=check_text("description", description),
                parent_id=self._group_parent(parent),
                device_ids=self._device_ids(device_ids),
                device_tags=named("device_tags", parse_rules, device_tags),
            )
            check_new_group(self._writer.limits, self._index, self.tenant_id, group.parent_id)
            check_group_rules(self._writer.limits, len(group.device_tags))
            return [ch.GroupCreated(group=group)], group

        return self._write(make)

    def update_group(self, group_id: str, *, name: str = UNSET, description: str = UNSET) -> Group:
        """Give the group ``group_id`` a new ``name`` or ``description`` (the other stays); no
        answer about reach changes. Runtime complexity: O(its device ids and rules), one commit."""

        def make() -> tuple[list[Change], Group]:
            self._writable()
            old = self.get_group(group_id)
            new_name = old.name if name is UNSET else check_name("group", name)
            new_description = (
                old.description if description is UNSET else check_text("description", description)
            )
            new = replace(old, name=new_name, description=new_description)
            if new == old:
                return [], old
            return [
                ch.GroupUpdated(group_id=group_id, name=new_name, description=new_description)
            ], new

        return self._write(make)

    def move_group(self, group_id: str, parent: str | None) -> Group:
        """Put the group ``group_id`` (with its whole subtree) under ``parent``, or make it a
        root with None. CycleError if ``parent`` is the group or below it; a virtual group may
        move under the tenant's own groups but takes no child groups. Runtime complexity:
        O(subtree x depth + devices it covers)."""

        def make() -> tuple[list[Change], Group]:
            self._writable()
            old = self.get_group(group_id)
            self._group_parent(parent)
            if self._index.would_cycle(group_id, parent):
                raise CycleError("group", group_id, parent, field="parent")
            if old.parent_id == parent:
                return [], old
            check_group_move(self._writer.limits, self._index, group_id, parent)
            return [ch.GroupMoved(group_id=group_id, parent_id=parent)], replace(
                old, parent_id=parent
            )

        return self._write(make)

    def delete_group(self, group_id: str, *, cascade: bool = False) -> None:
        """Delete the group ``group_id``, its memberships, associations and the role grants on
        it; with ``cascade`` its subgroups too (refused with InUse without it when it has any).
        Runtime complexity: O(subtree x (devices covered x depth + members + grants)), one
        commit."""

        def make() -> tuple[list[Change], None]:
            self._writable()
            self.get_group(group_id)
            index = self._index
            if index.has_child_groups(group_id) and not check_bool("cascade", cascade):
                raise InUse(
                    "group", group_id, "it has subgroups; pass cascade=True to delete them too",
                    field="group_id",
                )  # fmt: skip
            check_bool("cascade", cascade)  # also when it has none: a bad value is refused
            subtree = list(index.groups_below(group_id, include_self=True))
            access = index.access
            for g in subtree:
                subscription = access.virtual_group(g)
                if subscription is not None:
                    raise InUse(
                        "group", g, f"it is the virtual group of subscription "
                        f"{subscription.id!r}; delete the subscription instead",
                        field="group_id",
                    )  # fmt: skip
            changes: list[Change] = filter_drops(index, group_ids=subtree)
            changes += [
                ch.AccessRemoved(record=r)  # grants on the group or held through it go first
                for g in subtree
                for r in access.referring_to_group(g)
            ]
            changes.extend(ch.GroupDeleted(group_id=g) for g in reversed(subtree))
            changes += [  # after their groups, as delete_user's (tenancy.records.terms)
                ch.AccessRemoved(record=r) for g in subtree for r in index.terms_of_group(g)
            ]
            return changes, None

        self._write(make)

    def associate(
        self, group_id: str, *, device_ids: Iterable[str] = (), device_tags: RulesInput = ()
    ) -> Group:
        """Add device ids (``device_ids``) and tag rules (``device_tags``) to the associations of
        the group ``group_id`` (never of a virtual group: InvalidValue). Runtime complexity:
        O(devices newly associated x depth)."""

        def make() -> tuple[list[Change], Group]:
            self._writable()
            old = self.get_group(group_id)
            self._not_virtual(group_id, "group_id")
            ids = self._device_ids(device_ids) - old.device_ids
            rules = named("device_tags", parse_rules, device_tags) - old.device_tags
            new = replace(old, device_ids=old.device_ids | ids, device_tags=old.device_tags | rules)
            if not ids and not rules:
                return [], old
            if rules:  # a group over a lowered limit may still lose rules or gain ids
                check_group_rules(self._writer.limits, len(new.device_tags))
            return [ch.Associated(group_id=group_id, device_ids=ids, device_tags=rules)], new

        return self._write(make)

    def dissociate(
        self, group_id: str, *, device_ids: Iterable[str] = (), device_tags: RulesInput = ()
    ) -> Group:
        """Remove device ids (``device_ids``) and tag rules (``device_tags``) from the
        associations of the group ``group_id`` (ones it does not have are ignored). Runtime
        complexity: O(devices dissociated x depth)."""

        def make() -> tuple[list[Change], Group]:
            self._writable()
            old = self.get_group(group_id)
            ids = self._device_ids(device_ids) & old.device_ids
            rules = named("device_tags", parse_rules, device_tags) & old.device_tags
            new = replace(old, device_ids=old.device_ids - ids, device_tags=old.device_tags - rules)
            if not ids and not rules:
                return [], old
            return [ch.Dissociated(group_id=group_id, device_ids=ids, device_tags=rules)], new

        return self._write(make)
