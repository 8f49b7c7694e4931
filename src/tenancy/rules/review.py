"""Access review (DOMAIN.md section 9), the pure part: a tenant's reach pairs on an index,
the change log replayed into a :class:`~tenancy.ReachDiff`, and the CSV report of who
reaches what and holds which role. The facade's part
:class:`~tenancy.handle.review.AccessReview` reads the store and authorises; nothing here
does I/O.

Rules:

Rule 1. A tenant's reach pairs at a state are (user, device) for every user of the tenant
   and every device :func:`~tenancy.rules.reach.devices_for` lists for it on the index of
   that state: the public definition of reach, so a review never disagrees with a query
   (a device another tenant shares is in it once the index holds it). A tenant that does
   not exist at a state has no pairs there.

Rule 2. The two states are rebuilt by replaying the change log from its start (an empty
   snapshot at revision 0) into a fresh index, taking the pairs when the index reaches
   ``from_revision`` and again at ``to_revision``. The live index is never touched.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import datetime

from tenancy.errors import NotFound
from tenancy.index.index import Index
from tenancy.records.changes import Commit, Revision
from tenancy.records.review import Pair, ReachDiff
from tenancy.records.snapshot import Snapshot
from tenancy.rules.reach import MAX_PAGE_SIZE, devices_for

__all__ = ["REVIEW_COLUMNS", "access_review_csv", "reach_pairs", "replay_diff"]

REVIEW_COLUMNS = (
    "user_id",
    "email",
    "enabled",
    "reach_count",
    "global_roles",
    "inventory_grants",
    "delegations",
    "memberships",
    "expires",
)
"""The columns of :func:`access_review_csv`, in order."""


def reach_pairs(index: Index, tenant_id: str) -> set[Pair]:
    """Rule 1: every (user, device) pair of the tenant's users on ``index``. Runtime
    complexity: O(users + pairs), a page of devices at a time."""
    pairs: set[Pair] = set()
    for user_id in index.users_of_tenant(tenant_id):
        pairs.update((user_id, device_id) for device_id in _reached(index, user_id))
    return pairs


def _reached(index: Index, user_id: str) -> list[str]:
    found: list[str] = []
    after: str | None = None
    while True:
        page = devices_for(index, user_id, limit=MAX_PAGE_SIZE, after=after)
        found.extend(d.id for d in page.items)
        if page.next is None:
            return found
        after = page.next


def replay_diff(
    commits: Iterable[Commit],
    tenant_id: str,
    from_revision: Revision,
    to_revision: Revision,
    *,
    known: bool = False,
    head_at: datetime | None = None,
) -> ReachDiff:
    """Rule 2: replay ``commits`` (the log from revision 1 on, in order; those past
    ``to_revision`` are not read) into a fresh index and diff the tenant's pairs at the two
    revisions, ``0 <= from_revision <= to_revision`` (the caller checked them against the
    log's head). NotFound, naming ``tenant``, when the tenant exists at neither revision
    and is not ``known`` otherwise (the caller's index holds it now).

    A membership with a window counts at a revision as it did when that revision was
    committed (its ``Commit.at``; a commit without a time, at the last time before it), and
    at ``to_revision`` at ``head_at`` when given (the handle's clock now, for a review up
    to the head): so a membership that ended between the two is lost.
    Runtime complexity: O(commits up to ``to_revision`` x what each touches + pairs)."""
    index = Index.build(Snapshot())
    before: set[Pair] | None = None
    existed = False
    at: datetime | None = None
    if from_revision == 0:
        before = reach_pairs(index, tenant_id)
    if to_revision > 0:
        for commit in commits:
            index.apply_commit(commit)
            at = commit.at or at
            if at is not None:
                index.retime(at)
            if index.revision == from_revision:
                before = reach_pairs(index, tenant_id)
                existed = tenant_id in index.tenants
            if index.revision == to_revision:
                break
    if head_at is not None:
        index.retime(head_at)
    # The caller checked both revisions against the head, so the log reaches them.
    assert before is not None, from_revision
    assert index.revision == to_revision, (index.revision, to_revision)
    existed = existed or tenant_id in index.tenants
    if not (existed or known):
        where = f"the log at revision {from_revision} or {to_revision}"
        raise NotFound("tenant", tenant_id, where=where, field="tenant")
    return ReachDiff.between(
        before, reach_pairs(index, tenant_id), tenant_id=tenant_id,
        from_revision=from_revision, to_revision=to_revision,
    )  # fmt: skip


# ---------------------------------------------------------------- the report


def access_review_csv(index: Index, tenant_id: str, now: datetime) -> str:
    """The report of :meth:`Tenancy.access_review_csv <tenancy.Tenancy.access_review_csv>`
    on ``index`` at ``now``: a header (:data:`REVIEW_COLUMNS`), then one row per user of
    the tenant, sorted by id. Lists in a cell are sorted and joined with ``"; "``; times
    are ISO 8601. A grant with a window is followed by what it is at ``now`` (rule 3 below);
    ``memberships`` lists the groups the user is a direct member of, windows as grants'
    (an expired membership is still listed: it is a record until removed); ``expires`` is
    the earliest end still to come among the user's role grants, inventory grants,
    delegations and memberships. Runtime complexity: O(users x log users + pairs + grants).

    Rule 3. A time-bounded grant (DOMAIN.md section 9) reads ``NAME starts at FROM`` before
    its window, ``NAME until UNTIL`` inside a window that ends (``NAME starts at FROM until
    UNTIL`` before one that does), ``NAME expired at UNTIL`` after it; a grant without a
    window, or inside one that never ends, is ``NAME`` alone.
    """
    access = index.access
    sink = _Sink()
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(REVIEW_COLUMNS)
    inventory_windows = access.inventory_windows
    for user_id in sorted(index.users_of_tenant(tenant_id)):
        user = index.users[user_id]
        ends: list[datetime] = []
        role_windows = access.role_windows_of(user_id)
        roles = [
            _windowed(role, *role_windows.get(role, _OPEN), now, ends)
            for role in access.global_roles_of(user_id)
        ]
        grants: list[str] = []
        for kind, principal in (
            ("user", user_id),
            *(("group", g) for g in index.groups_of_user(user_id)),
        ):
            via = "" if kind == "user" else f" via {principal}"
            for role, group in access.inventory_of(kind, principal):
                window = inventory_windows.get((kind, principal, role, group), _OPEN)
                grants.append(_windowed(f"{role}@{group}{via}", *window, now, ends))
        delegations = [
            _windowed(d.owner_id, d.valid_from, d.until, now, ends)
            for d in (access.delegation(owner, user_id) for owner in access.delegators_of(user_id))
            if d is not None
        ]
        terms = {t.group_id: t for t in index.terms_of_user(user_id)}
        memberships = [
            _windowed(g, *((terms[g].valid_from, terms[g].valid_until) if g in terms else _OPEN),
                      now, ends)
            for g in {*index.groups_of_user(user_id), *terms}
        ]  # fmt: skip
        writer.writerow(
            [
                user_id,
                user.email,
                "true" if user.enabled else "false",
                len(_reached(index, user_id)),
                "; ".join(sorted(roles)),
                "; ".join(sorted(grants)),
                "; ".join(sorted(delegations)),
                "; ".join(sorted(memberships)),
                min(ends).isoformat() if ends else "",
            ]
        )
    return "".join(sink.parts)


_OPEN: tuple[None, None] = (None, None)


def _windowed(
    name: str,
    valid_from: datetime | None,
    valid_until: datetime | None,
    now: datetime,
    ends: list[datetime],
) -> str:
    """Rule 3: ``name`` and what its window is at ``now``; an end still to come goes into
    ``ends``."""
    text = name
    if valid_from is not None and now < valid_from:
        text += f" starts at {valid_from.isoformat()}"
    if valid_until is not None:
        if now < valid_until:
            text += f" until {valid_until.isoformat()}"
            ends.append(valid_until)
        else:
            text += f" expired at {valid_until.isoformat()}"
    return text


class _Sink:
    """A write() target for csv.writer that keeps the text in memory."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)
