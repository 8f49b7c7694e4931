"""Time-bounded memberships (DOMAIN.md section 9): the term of a membership.

A membership is a pair (group, user); most never end. One that counts only for a while
carries a :class:`MembershipTerm`, an access-table record beside the pair, kept like the
role grants of :mod:`tenancy.records.grants`: a
:class:`~tenancy.records.changes.AccessSet` puts one (in the same commit as its
``MemberAdded``, or alone to change the window of an existing membership), and an
:class:`~tenancy.records.changes.AccessRemoved` takes it away (the membership is then
unbounded). Removing the membership, its group or its user removes its term in the same
commit. The write paths (``add_member``, an import) never write a term without its
membership; a hand-built commit that did would make the index count that membership
(the store's wall, ``check_changes``, checks types and windows only).

The pair stays the record of the membership; the term only says when it counts
(:func:`tenancy.records.window.in_window`). So a store keeps a bounded membership without a
new column, and an expired one stays listed among the group's members until removed.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

__all__ = ["MembershipTerm"]


class MembershipTerm(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """The membership of ``user_id`` in ``group_id`` counts while ``valid_from <= now <
    valid_until`` (aware datetimes; a missing bound is open on that side)."""

    tenant_id: str
    group_id: str
    user_id: str
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.group_id}/{self.user_id}"
