"""One interpreter per concern, and none silent (issue 12, item 3).

Each place that gives the change records a meaning (the index, RecordState, the SQLite
store's rows, authorisation, the audit records, the usage counts, the store's wall) must
handle every type of the Change union, and must refuse any other type with InvalidValue
naming it, rather than drop its meaning: a type one of them handled and another ignored
would let the index, the store and the audit log disagree, or let a write through unchecked.
"""

from __future__ import annotations

import contextlib
import sqlite3
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

import tenancy
from tenancy.errors import InvalidValue, PermissionDenied
from tenancy.index.index import Index
from tenancy.records import changes as ch
from tenancy.records.state import RecordState
from tenancy.rules.access import Identity, authorize
from tenancy.rules.audit import audit_records
from tenancy.rules.usage import count_deltas
from tenancy.store._sqlite_apply import ChangeWriter
from tenancy.store.memory import MemoryStore
from tenancy.store.sqlite import SQLiteStore
from tenancy.testing.fixtures import SAMPLE_TIME, sample_commits

CHANGE_TYPES: tuple[type[Any], ...] = typing.get_args(ch.Change)


class Forged(ch._Change, frozen=True):
    """A subclass of the change base that is no change type."""

    device_id: str


class Stranger(msgspec.Struct, frozen=True, tag=True):
    """A Struct from elsewhere, shaped like a change."""

    device_id: str


def test_the_sample_history_uses_every_change_type() -> None:
    """sample_commits says it uses every change type; the tests below rely on it."""
    used = {type(change) for commit in sample_commits() for change in commit}
    assert used == set(CHANGE_TYPES)
    base = ch._Change
    exported = {getattr(ch, n) for n in ch.__all__}
    assert {t for t in exported if isinstance(t, type) and issubclass(t, base)} == set(
        CHANGE_TYPES
    ), "every change class of tenancy.records.changes is in the Change union"


def test_every_interpreter_handles_every_change_type(tmp_path: Path) -> None:
    """The sample history, which uses every type, is fed change by change to each
    interpreter, at the state before it: none refuses a change type (a rule may deny a
    change, which means it was understood)."""
    index = Index()
    state = RecordState()
    memory = MemoryStore()
    sqlite = SQLiteStore(tmp_path / "s.db")
    root = Identity(user_id="u-root")
    handled: dict[str, set[type[Any]]] = {"authorize": set()}
    for revision, changes in enumerate(sample_commits(), start=1):
        ch.check_changes(changes)
        count_deltas(changes, index)
        audit_records(index, changes, actor="system", at=SAMPLE_TIME, revision=revision)
        if "u-root" in index.users:
            for change in changes:
                with contextlib.suppress(PermissionDenied):
                    authorize(index, root, [change], SAMPLE_TIME)
                handled["authorize"].add(type(change))
        memory.commit(changes, expected_revision=revision - 1)
        sqlite.commit(changes, expected_revision=revision - 1)
        state.apply_commit(revision, changes)
        index.apply_commit(ch.Commit(revision=revision, changes=tuple(changes)))
    assert handled["authorize"] == set(CHANGE_TYPES)
    assert sqlite.snapshot() == memory.snapshot() == state.snapshot()
    assert index.snapshot() == state.snapshot()
    index.check_invariants()
    sqlite.close()


def _interpreters(tmp_path: Path) -> dict[str, Callable[[Any], object]]:
    """Each interpreter, ready to be handed one change on a live state."""
    tn = tenancy.open()
    admin = tn.management_tenant.admin_user_id
    assert admin is not None
    conn = sqlite3.connect(":memory:")
    sqlite = SQLiteStore(tmp_path / "s.db")
    return {
        "Index.apply": lambda c: Index().apply([c]),
        "RecordState.apply": lambda c: RecordState().apply(c),
        "the SQLite rows": lambda c: ChangeWriter(None)._apply_one(conn, c),
        "SQLiteStore.commit": lambda c: sqlite.commit([c], expected_revision=0),
        "MemoryStore.commit": lambda c: MemoryStore().commit([c], expected_revision=0),
        "authorize": lambda c: authorize(tn.index, Identity(user_id=admin), [c], SAMPLE_TIME),
        "audit_records": lambda c: audit_records(
            tn.index, [c], actor="system", at=SAMPLE_TIME, revision=9
        ),
        "count_deltas": lambda c: count_deltas([c], tn.index),
        "check_changes": lambda c: ch.check_changes([c]),
    }


@pytest.mark.parametrize("make", [Forged, Stranger], ids=["subclass of the base", "a Struct"])
@pytest.mark.parametrize(
    "name",
    [
        "Index.apply",
        "RecordState.apply",
        "the SQLite rows",
        "SQLiteStore.commit",
        "MemoryStore.commit",
        "authorize",
        "audit_records",
        "count_deltas",
        "check_changes",
    ],
)
def test_every_interpreter_refuses_an_unknown_change_type(
    tmp_path: Path, name: str, make: type[Any]
) -> None:
    """InvalidValue naming the type, field "changes"; never a silent no-op."""
    interpret = _interpreters(tmp_path)[name]
    with pytest.raises(InvalidValue) as raised:
        interpret(make(device_id="d-1"))
    assert raised.value.field == "changes"
    assert make.__name__ in raised.value.rule


def test_an_unknown_change_never_reaches_the_store() -> None:
    """The store's wall refuses it before anything is written: the head does not move."""
    tn = tenancy.open()
    before = tn.revision
    forged: Any = Forged(device_id="d-1")
    with pytest.raises(InvalidValue):
        tn.store.commit([forged], expected_revision=before)
    assert tn.store.head() == before
