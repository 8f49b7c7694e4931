"""The seeded fuzzer over every public method (tenancy.testing.fuzz): no builtin exception
escapes a public call on bad input, every refusal names the argument and the rule, and a
refused call changes nothing (store snapshot, index, audit log, revision).

The default run makes about 15,000 calls on the memory store (every bad value on the bare
handle and its tenant scope, a seeded sample of 12 per argument on the handles acting as a
user and as support) and about 1,350 on SQLite (a sample of 2 per argument everywhere).
``TENANCY_FUZZ=full`` tries every bad value everywhere, on both stores (about 28,000 calls
each); ``TENANCY_FUZZ_SEED`` picks the seed of the samples.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tenancy import InvalidValue, TenantScope
from tenancy.index.index import Index
from tenancy.records.snapshot import Snapshot
from tenancy.testing import fuzz

SEED = int(os.environ.get("TENANCY_FUZZ_SEED", "0"))
FULL = os.environ.get("TENANCY_FUZZ") == "full"


@pytest.fixture(scope="module")
def outcome() -> fuzz.Outcome:
    return fuzz.run(SEED, acting_sample=None if FULL else 12)


def test_every_public_method_and_argument_has_a_recipe() -> None:
    """A method (or keyword argument) added later fails here until it gets a recipe, so it
    is fuzzed like the others."""
    assert fuzz.missing_recipes() == []


def test_a_method_without_a_recipe_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def rename_everything(self: TenantScope, name: str) -> None:
        raise AssertionError("never called")

    monkeypatch.setattr(TenantScope, "rename_everything", rename_everything, raising=False)
    assert fuzz.missing_recipes() == ["TenantScope.rename_everything"]


def test_thousands_of_calls_and_no_untyped_error_no_unnamed_field_no_state_change(
    outcome: fuzz.Outcome,
) -> None:
    assert outcome.calls >= (20_000 if FULL else 12_000)
    assert outcome.succeeded > 1_000  # valid-but-odd values are accepted too
    assert outcome.refused > 10_000
    unexpected = [f"{call}: {problem}" for call, problem in outcome.failures]
    assert not unexpected, f"{len(unexpected)} failures:\n" + "\n".join(unexpected[:40])


def test_on_sqlite_too(tmp_path: Path) -> None:
    """A seeded sample of 2 bad values per argument on every surface, each world a new
    SQLite file: the codec and the SQL layer hold the same rule (about 1,350 calls)."""
    found = fuzz.run(SEED, sample=None if FULL else 2, acting_sample=None, directory=str(tmp_path))
    assert found.calls >= (20_000 if FULL else 1_000)
    unexpected = [f"{call}: {problem}" for call, problem in found.failures]
    assert not unexpected, f"{len(unexpected)} failures:\n" + "\n".join(unexpected[:40])


def test_the_calls_are_deterministic() -> None:
    def labels(seed: int) -> list[tuple[str, str, str, str]]:
        return [c[:4] for c in fuzz.calls(seed, 12)]

    assert labels(3) == labels(3)
    assert labels(3) != labels(4)  # the seed picks the acting handles' sample


# ---------------------------------------------------------------- the fuzzer has teeth


def test_a_builtin_exception_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    original = TenantScope.get_group

    def get_group(self: TenantScope, group_id: str) -> Any:
        if not isinstance(group_id, str):
            raise TypeError("unhashable")
        return original(self, group_id)

    monkeypatch.setattr(TenantScope, "get_group", get_group)
    found = fuzz.run(acting_sample=2, methods={"get_group"})
    problems = {problem for call, problem in found.failures if call.param == "group_id"}
    assert any(p.startswith("untyped TypeError") for p in problems), problems


def test_an_error_naming_another_field_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    original = TenantScope.get_user

    def get_user(self: TenantScope, user_id: str) -> Any:
        if not isinstance(user_id, str):
            raise InvalidValue(user_id, "a made-up rule", field="email")
        return original(self, user_id)

    monkeypatch.setattr(TenantScope, "get_user", get_user)
    found = fuzz.run(acting_sample=2, methods={"get_user"})
    assert found.failures
    assert all("names field 'email'" in problem for _, problem in found.failures)


def test_a_refusal_that_changed_state_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    original = TenantScope.update_group

    def update_group(self: TenantScope, group_id: str, **fields: Any) -> Any:
        original(self, self.groups()[0].id, name="Renamed")  # a write, then a refusal
        raise InvalidValue(group_id, "refused after writing", field="group_id")

    monkeypatch.setattr(TenantScope, "update_group", update_group)
    found = fuzz.run(acting_sample=1, methods={"update_group"})
    changed = [problem for _, problem in found.failures if "state changed" in problem]
    assert changed, found.failures[:3]


def test_an_accepted_value_the_store_cannot_read_back_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A write that is accepted but breaks a later read (here: a snapshot holding a group
    named with a snowman no longer loads) is reported against the call that let it in."""
    build = Index.build.__func__  # type: ignore[attr-defined]

    def poisoned_build(cls: type[Index], snapshot: Snapshot) -> Index:
        if any("☃" in group.name for group in snapshot.groups):
            raise RuntimeError("a snowman poisons the load")
        return build(cls, snapshot)  # type: ignore[no-any-return]

    monkeypatch.setattr(Index, "build", classmethod(poisoned_build))
    found = fuzz.run(acting_sample=1, methods={"update_group"})
    poisoned = [str(call) for call, problem in found.failures if "read it back" in problem]
    assert "TenantScope.update_group(name=<unicode>)" in poisoned, found.failures[:3]
