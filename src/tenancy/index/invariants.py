"""The index's derived tables checked against an index built anew from its records.

:meth:`Index.check_invariants <tenancy.index.index.Index.check_invariants>` builds
``fresh`` from the index's snapshot, brings it to the same instant, and hands both here
(and to :func:`tenancy.index.timeline.check_invariants` for the time tables): every rule of
:mod:`tenancy.index.index` is a table that must come out the same. For tests only:
O(everything), and it reads the tables' private names, as the index's own modules do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tenancy.index.tables import IndexTables

__all__ = ["as_sets", "check_derived"]


def check_derived(index: IndexTables, fresh: IndexTables) -> None:
    """Assert that every derived table of ``index`` equals that of ``fresh``, and that
    equal sets are interned once with the right reference counts (rule 4)."""
    assert _nonempty(fresh._timed_reach) == _nonempty(index._timed_reach), "timed reach"
    assert fresh._blocked == index._blocked, (fresh._blocked, index._blocked)
    assert _nonempty(fresh._cover) == _nonempty(index._cover), "rule 2: covers"
    assert as_sets(fresh._covered) == as_sets(index._covered), "rule 2: covered"
    assert as_sets(fresh._direct) == as_sets(index._direct), "rule 1: direct"
    assert _nonempty(fresh._reach) == _nonempty(index._reach), "rule 3: reach"
    assert fresh._live == index._live, "rule S1: live shares"
    assert as_sets(fresh._live_from) == as_sets(index._live_from), "rule S1: by source"
    assert _nonempty(fresh._share_part) == _nonempty(index._share_part), "rule S3: parts"
    assert fresh._muted == index._muted, "members who reach nothing"
    assert as_sets(fresh._members) == as_sets(index._members), "memberships"
    assert fresh._access._records == index._access._records, "access records"
    assert as_sets(fresh._access._sub_users) == as_sets(index._access._sub_users), "owners"
    assert as_sets(fresh._access._user_roles) == as_sets(index._access._user_roles), "roles"
    assert as_sets(fresh._access._inventory) == as_sets(index._access._inventory), "grants"
    assert as_sets(fresh._devices_by_tag) == as_sets(index._devices_by_tag), "tag index"
    assert as_sets(fresh._tag_shapes) == as_sets(index._tag_shapes), "tag shapes"
    assert as_sets(fresh._rules_by_key) == as_sets(index._rules_by_key), "rule index"
    assert fresh._emails == index._emails, "email index"
    assert fresh._domains == index._domains, "domain index"
    assert _nonzero(fresh._root_devices) == _nonzero(index._root_devices), "root devices"
    for name in ("_tenant_groups", "_tenant_devices", "_tenant_users", "_device_children"):
        assert as_sets(getattr(fresh, name)) == as_sets(getattr(index, name)), name
    # Rule 4: every interned set is shared, and counts match the references held.
    references: dict[frozenset[str], int] = defaultdict(int)
    for table in (index._cover, index._reach, index._timed_reach):
        for value in table.values():
            assert value is index._sets._sets[value], "an equal set was stored twice"
            references[value] += 1
    assert dict(references) == dict(index._sets._counts), "interned reference counts"


def _nonzero(table: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in table.items() if v}


def _nonempty(table: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    return {k: v for k, v in table.items() if v}


def as_sets(table: Mapping[Any, Iterable[Any]]) -> dict[Any, frozenset[Any]]:
    """A table of collections as comparable frozensets, leaving out empty entries."""
    return {k: frozenset(v) for k, v in table.items() if v}
