"""One call cannot wedge a SQLite file (issue 11, Deliver item 1): the file side of
tests/unit/test_wedge.py.

Before, ``create_group("x", device_tags=[AllOf(())])`` was committed and then broke every
handle on the file: the writer's next write raised, a second handle raised while
catching up (even writing to another tenant), and the file no longer opened (IndexError;
``AllOf((TagMatcher(5, 6),))`` gave msgspec.ValidationError at open). Each bad call now
raises InvalidValue on the writing handle, and the file stays whole for everyone: the
second handle writes, and a fresh open sees exactly what the handles see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

import tenancy
from tenancy import InvalidValue, Tenancy, all_of
from tenancy.handle.writer import Writer
from tenancy.records.changes import Change, TenantUpdated
from tenancy.records.model import MAX_INT
from tenancy.rules.access import SYSTEM, Identity
from tenancy.store.sqlite import SQLiteStore
from tests.unit._world import new_tenant
from tests.unit.test_wedge import BAD_RULES, _impossible

_IDS = [what for what, _, _ in BAD_RULES]


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "wedge.db")


@pytest.fixture
def handles(path: str) -> Iterator[tuple[Tenancy, Tenancy]]:
    first = tenancy.open(path, staleness=None)
    second = tenancy.open(path, staleness=None)
    yield first, second
    first.close()
    second.close()


def _file_state(tn: Tenancy) -> tuple[Any, ...]:
    return (tn.store.head(), tn.store.snapshot(), tuple(tn.audit_log(limit=10_000)))


def _assert_file_whole(path: str, first: Tenancy, second: Tenancy) -> None:
    """Both handles write (to two tenants), each sees the other's writes, and a fresh open
    of the file has exactly their index."""
    a = new_tenant(first, "after-first")
    b = new_tenant(second, "after-second")  # catches up on the first handle's commits
    b.create_group("g", device_tags=[all_of(("site", "sb"), ("kind", None))])
    a.create_device("d", tags=[("site", "sb"), ("kind", "gen")])  # catches up on the second
    first.catch_up()
    second.catch_up()
    assert first.index.snapshot() == second.index.snapshot() == first.store.snapshot()
    reopened = tenancy.open(path, staleness=None)
    try:
        assert reopened.revision == first.revision == second.revision
        assert reopened.index.snapshot() == first.index.snapshot()
        assert tuple(reopened.audit_log(limit=10_000)) == tuple(first.audit_log(limit=10_000))
    finally:
        reopened.close()


@pytest.mark.parametrize(("what", "make", "field"), BAD_RULES, ids=_IDS)
def test_a_bad_rule_leaves_the_file_whole(
    path: str,
    handles: tuple[Tenancy, Tenancy],
    what: str,
    make: Callable[[], object],
    field: str,
) -> None:
    first, second = handles
    t = new_tenant(first, "acme")
    g = t.create_group("g")
    second.catch_up()
    before = _file_state(first)
    calls: list[Callable[[], object]] = [
        lambda: t.create_group("x", device_tags=[make()]),  # type: ignore[list-item]
        lambda: t.associate(g.id, device_tags=[make()]),  # type: ignore[list-item]
    ]
    for call in calls:
        with pytest.raises(InvalidValue) as caught:
            call()
        assert caught.value.field == field
        assert _file_state(first) == _file_state(second) == before
    _assert_file_whole(path, first, second)


_IMPOSSIBLE = [what for what, _, _ in _impossible("t")]


@pytest.mark.parametrize("index", range(len(_IMPOSSIBLE)), ids=_IMPOSSIBLE)
def test_an_impossible_change_is_refused_by_the_file(
    path: str,
    handles: tuple[Tenancy, Tenancy],
    index: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should a facade check miss, the SQLite commit refuses the change before writing:
    nothing lands in the file, and neither handle (nor a fresh open) is wedged."""
    first, second = handles
    t = new_tenant(first, "acme")
    t.create_group("g", id="g")
    t.create_device("d", id="d", tags=[("site", "sb")])
    second.catch_up()
    what, change, field = _impossible(t.tenant_id)[index]
    real_write = Writer.write

    def forged_write(
        self: Writer, make: Callable[[], tuple[list[Change], Any]], identity: Identity = SYSTEM
    ) -> Any:
        return real_write(self, lambda: ([change], None), identity)

    before = _file_state(first)
    monkeypatch.setattr(Writer, "write", forged_write)
    with pytest.raises(InvalidValue) as caught:
        t.create_group("anything")
    monkeypatch.undo()
    assert caught.value.field == field, what
    assert _file_state(first) == _file_state(second) == before
    _assert_file_whole(path, first, second)


@pytest.mark.parametrize("bad", [10**30, 2**63, -1, True])
def test_a_limit_outside_the_int_range_leaves_the_file_whole(
    path: str, handles: tuple[Tenancy, Tenancy], bad: int
) -> None:
    first, second = handles
    t = new_tenant(first, "acme")
    second.catch_up()
    before = _file_state(first)
    with pytest.raises(InvalidValue) as caught:
        first.update_tenant(t.tenant_id, max_devices=bad)
    assert caught.value.field == "max_devices"
    # The store refuses it too, when a hand-built record reaches it directly.
    store = first.store
    forged = msgspec.structs.replace(t.record, max_devices=bad)
    with pytest.raises(InvalidValue) as caught:
        store.commit([TenantUpdated(tenant=forged)], expected_revision=store.head())
    assert caught.value.field == "max_devices"
    assert _file_state(first) == _file_state(second) == before
    assert first.update_tenant(t.tenant_id, max_devices=MAX_INT).max_devices == MAX_INT
    second.catch_up()
    assert second.get_tenant(t.tenant_id).max_devices == MAX_INT
    _assert_file_whole(path, first, second)


def test_a_bare_store_refuses_an_impossible_commit(path: str) -> None:
    """The wall is the adapter's own: a SQLiteStore used without a Tenancy handle refuses
    every impossible change, and the file still opens."""
    tenancy.open(path).close()
    store = SQLiteStore.from_url(path)
    try:
        head, snapshot = store.head(), store.snapshot()
        for what, change, field in _impossible(snapshot.tenants[0].id):
            with pytest.raises(InvalidValue) as caught:
                store.commit([change], expected_revision=head)
            assert caught.value.field == field, what
        assert (store.head(), store.snapshot()) == (head, snapshot)
    finally:
        store.close()
    tenancy.open(path).close()
