"""A large commit (an import, a bulk creation) taken in by building the index anew.

Applying a commit change by change costs what each change touches (rule 5 of
:mod:`tenancy.index.index`); building an index from a snapshot costs less per record (the
bulk load of a cold open: each list made whole, each equal set made once). So a commit
with at least as many changes as the index holds records, and at least
:data:`BULK_CHANGES` (:func:`is_large`), is taken in by :func:`rebuilt`: the records of
the index with the commit's changes on them (what
:class:`~tenancy.records.state.RecordState` says they mean), given to :meth:`Index.build
<tenancy.index.index.Index.build>`. That is the index applying the commit must leave:
:meth:`Index.check_invariants <tenancy.index.index.Index.check_invariants>` holds any
index to what a build from its records gives.
"""

from __future__ import annotations

from tenancy.index.index import Index
from tenancy.records import changes as ch
from tenancy.records.state import RecordState

__all__ = ["BULK_CHANGES", "is_large", "rebuilt"]

BULK_CHANGES = 10_000
"""The fewest changes a commit has for :func:`rebuilt` to build a new index; below it an
apply costs little whatever the index."""


def _size(index: Index) -> int:
    return len(index.tenants) + len(index.groups) + len(index.devices) + len(index.users)


def is_large(index: Index, commit: ch.Commit) -> bool:
    """Whether ``commit`` is taken in by :func:`rebuilt` rather than applied. O(1)."""
    changes = len(commit.changes)
    return changes >= BULK_CHANGES and changes >= _size(index)


def rebuilt(index: Index, commit: ch.Commit) -> Index:
    """The index after ``commit`` (the next revision of ``index``), built anew from the
    records of ``index`` and the commit's changes; ``index`` itself is left as it was.
    Runtime complexity: O(records of the index and the commit)."""
    assert commit.revision == index.revision + 1, (commit.revision, index.revision)
    state = RecordState(index.snapshot())
    devices, users, memberships = state.devices, state.users, state.memberships
    apply = state.apply
    # The kinds an import is made of, written straight into the state (what
    # RecordState.apply does with them); every other change through it.
    for change in commit.changes:
        if type(change) is ch.DeviceCreated:
            devices[change.device.id] = change.device
        elif type(change) is ch.UserCreated:
            users[change.user.id] = change.user
        elif type(change) is ch.MemberAdded:
            memberships.add((change.group_id, change.user_id))
        else:
            apply(change)
            # It may have replaced a table (a deletion filters memberships into a new set).
            devices, users, memberships = state.devices, state.users, state.memberships
    state.revision = commit.revision
    snapshot = state.snapshot()
    del state
    return Index.build(snapshot)
