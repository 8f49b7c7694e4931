"""The answer of an access review: the reach gained and lost between two states.

A :class:`ReachDiff` compares two sets of (user id, device id) pairs, whatever produced
them: :meth:`Tenancy.reach_diff <tenancy.Tenancy.reach_diff>` takes them from the change log
at two revisions, :meth:`Tenancy.what_if <tenancy.Tenancy.what_if>` from proposed writes.
It knows nothing of the index or the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from collections.abc import Set as AbstractSet

import msgspec

from tenancy.records.changes import Revision

__all__ = ["Pair", "ReachDiff"]

Pair = tuple[str, str]
"""A (user id, device id) pair: the user reaches the device."""


class ReachDiff(msgspec.Struct, frozen=True, kw_only=True):
    """The reach gained and lost between two states of one tenant: the pairs (user id,
    device id) reached after but not before (``gained``) and before but not after
    (``lost``), each list sorted, with their counts per user and per device (dicts whose
    keys are sorted; a user or device with no pair gained is not a key of ``gained_by_user``).
    ``from_revision`` and ``to_revision`` are the two states compared; ``tenant_id`` the
    tenant whose users' reach it is. Build one with :meth:`between`."""

    tenant_id: str
    from_revision: Revision
    to_revision: Revision
    gained: list[Pair]
    lost: list[Pair]
    gained_by_user: dict[str, int]
    lost_by_user: dict[str, int]
    gained_by_device: dict[str, int]
    lost_by_device: dict[str, int]

    @classmethod
    def between(
        cls,
        before: AbstractSet[Pair],
        after: AbstractSet[Pair],
        *,
        tenant_id: str,
        from_revision: Revision,
        to_revision: Revision,
    ) -> ReachDiff:
        """The diff from the pairs ``before`` to the pairs ``after``. Runtime complexity:
        O(p log p) for the p pairs of the two sets.

        >>> d = ReachDiff.between({("ana", "gen-1")}, {("ana", "gen-2"), ("bo", "gen-2")},
        ...                       tenant_id="t1", from_revision=3, to_revision=5)
        >>> d.gained, d.lost, d.gained_by_device
        ([('ana', 'gen-2'), ('bo', 'gen-2')], [('ana', 'gen-1')], {'gen-2': 2})
        """
        return cls._of(
            sorted(after - before), sorted(before - after), tenant_id, from_revision,
            to_revision,
        )  # fmt: skip

    @classmethod
    def _of(
        cls, gained: list[Pair], lost: list[Pair], tenant_id: str, from_revision: Revision,
        to_revision: Revision,
    ) -> ReachDiff:  # fmt: skip
        return cls(
            tenant_id=tenant_id, from_revision=from_revision, to_revision=to_revision,
            gained=gained, lost=lost,
            gained_by_user=_counts(u for u, _ in gained), lost_by_user=_counts(u for u, _ in lost),
            gained_by_device=_counts(d for _, d in gained),
            lost_by_device=_counts(d for _, d in lost),
        )  # fmt: skip

    @classmethod
    def of(
        cls,
        gained: AbstractSet[Pair],
        lost: AbstractSet[Pair],
        *,
        tenant_id: str,
        from_revision: Revision,
        to_revision: Revision,
    ) -> ReachDiff:
        """The diff of the pairs ``gained`` and those ``lost`` (two disjoint sets), when
        only the pairs that changed are known (a what-if looks at nothing else). Runtime
        complexity: O(p log p) for the p pairs.

        >>> ReachDiff.of({("bo", "gen-2")}, set(), tenant_id="", from_revision=4,
        ...              to_revision=4).gained_by_user
        {'bo': 1}
        """
        assert gained.isdisjoint(lost), "a pair is gained or lost, not both"
        return cls._of(sorted(gained), sorted(lost), tenant_id, from_revision, to_revision)


def _counts(keys: Iterable[str]) -> dict[str, int]:
    counted = Counter(keys)
    return {key: counted[key] for key in sorted(counted)}
