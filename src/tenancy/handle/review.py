"""The handle's access review (DOMAIN.md section 9): :meth:`AccessReview.reach_diff`, the
reach a tenant's users gained and lost between two revisions, replayed from the change log;
and :meth:`AccessReview.access_review_csv`, who reaches what and holds which role now. The
computation is :mod:`tenancy.rules.review`'s; this part checks the arguments, authorises
and reads the store.

Who may read a review: the bare handle (the application itself), any tenant; an acting
user (:meth:`~tenancy.Tenancy.as_user`, a support session) its own tenant's only, with
``audit:READ``, the permission that reads the tenant's audit log: a review tells what the
audit trail tells, who was given what. The same check as :meth:`~tenancy.Tenancy.audit_log`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from tenancy.errors import InvalidValue, NotFound, StaleRevision
from tenancy.handle.acting import audit_tenant
from tenancy.handle.writer import Writer
from tenancy.records.changes import Commit, Revision
from tenancy.records.review import ReachDiff
from tenancy.rules.access import Identity
from tenancy.rules.review import access_review_csv, replay_diff
from tenancy.store.protocol import FeedStore, Store

__all__ = ["AccessReview"]

_CHUNK = 1_000
"""Commits read from the store at a time while replaying (memory: one chunk of commits,
plus the replayed index)."""


class AccessReview:
    """The access review of a :class:`~tenancy.Tenancy` handle, a part it holds."""

    def __init__(self, writer: Writer, identity: Identity) -> None:
        self._writer = writer
        self._identity = identity

    def reach_diff(
        self, from_revision: int, to_revision: int | None = None, *, tenant: str
    ) -> ReachDiff:
        """The reach the users of ``tenant`` gained and lost from revision ``from_revision``
        to ``to_revision`` (default: the store's head), as a :class:`~tenancy.ReachDiff`: the
        pairs (user id, device id) sorted, with their counts per user and per device. A
        tenant that did not exist at a revision has no pairs there (created in between: all
        its reach is gained); NotFound when it exists at neither and not now either (a deleted
        tenant's past can be reviewed, a typo is refused).

        Replayed from the start of the log: a fresh index is built from an empty snapshot
        and every commit from revision 1 to ``to_revision`` is applied to it, the pairs
        taken at both revisions (the handle's own index is not touched, and the store is
        read, so every process's commits count). So the store must keep its whole log: on
        one with a ``retention`` that has dropped its start, InvalidValue naming
        ``from_revision`` says where the log starts now. InvalidValue too for a revision that
        is not an int from 0 to the head, or ``from_revision`` past ``to_revision``. A
        handle acting as a user reviews its own tenant only, with ``audit:READ`` (see the
        module). Runtime complexity: O(log length + pairs): every commit up to
        ``to_revision`` applied once, as its write applied it, plus the tenant's reach
        pairs listed twice.

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        >>> t = tn.tenant(acme.id)
        >>> site = t.create_group("San Bruno", device_tags=[("site", "sb")])
        >>> gen = t.create_device("Generator 7", tags=[("site", "sb")], id="gen-7")
        >>> ana = t.create_user("ana@acme.example", id="ana")
        >>> before = tn.revision
        >>> t.add_member(site.id, ana.id)
        >>> diff = tn.reach_diff(before, tenant=acme.id)
        >>> diff.gained, diff.lost, diff.gained_by_user
        ([('ana', 'gen-7')], [], {'ana': 1})
        """
        if not isinstance(tenant, str):
            raise InvalidValue(tenant, "tenant is a tenant id (a string)", field="tenant")
        store = self._writer.store
        head = store.head()
        start = _revision(from_revision, "from_revision", head)
        end = head if to_revision is None else _revision(to_revision, "to_revision", head)
        if start > end:
            raise InvalidValue(
                from_revision,
                f"from_revision is at most to_revision ({end}): a review looks forward",
                field="from_revision",
            )
        index = self._writer.index
        audit_tenant(index, self._identity, tenant, self._writer.clock())
        try:
            return replay_diff(
                _log(store, end), tenant, start, end, known=tenant in index.tenants,
                head_at=self._writer.clock() if to_revision is None else None,
            )  # fmt: skip
        except StaleRevision as stale:
            kept = store.capabilities.retention
            keeps = (
                "" if kept is None
                else f": it keeps the last {kept:,} revisions, so it starts after revision "
                f"{max(stale.actual - kept, 0)}"
            )  # fmt: skip
            raise InvalidValue(
                from_revision,
                "a review replays the change log from revision 0, and this store's log no "
                f"longer reaches back that far{keeps}",
                field="from_revision",
            ) from stale

    def access_review_csv(self, *, tenant: str) -> str:
        """Who reaches what and holds which role in ``tenant`` now, as CSV text: a header,
        then one row per user of the tenant sorted by id, with the columns ``user_id``,
        ``email``, ``enabled`` (``true``/``false``), ``reach_count`` (the devices it reaches),
        ``global_roles``, ``inventory_grants`` (``role@group``, and ``role@group via G`` for
        one held by a group G it is a direct member of), ``delegations`` (the owners whose
        hierarchy it manages), ``memberships`` (the groups it is a direct member of, one whose
        window ended included) and ``expires``: the earliest end still to come among its
        role grants, inventory grants, delegations and memberships (ISO 8601; empty when
        none). A grant or membership
        with a window (``valid_from``, ``valid_until``) is written with what it is by the
        handle's clock: ``NAME starts at FROM`` before it, ``NAME until UNTIL`` inside one that
        ends (``NAME starts at FROM until UNTIL`` before such a window), ``NAME expired at
        UNTIL`` after it; ``NAME`` alone without a window, as in ``readonly until
        2026-03-06T17:00:00+00:00`` or ``ana expired at 2026-03-06T17:00:00+00:00`` (a
        delegation's NAME is its owner). Lists in a cell are sorted and joined with ``"; "``;
        lines end with ``\\n``: the same state and clock give the same text. NotFound for an
        unknown tenant; a handle acting as a user reads its own tenant only, with
        ``audit:READ``. It reads this handle's index, under the writer's lock (writes wait for
        it). Runtime complexity: O(users x log users + pairs + grants) of the tenant.

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        >>> t = tn.tenant(acme.id)
        >>> site = t.create_group("San Bruno", device_tags=[("site", "sb")])
        >>> gen = t.create_device("Generator 7", tags=[("site", "sb")])
        >>> ana = t.create_user("ana@acme.example", id="ana")
        >>> t.add_member(site.id, ana.id)
        >>> header, *rows = tn.access_review_csv(tenant=acme.id).splitlines()
        >>> print(header)
        user_id,email,enabled,reach_count,global_roles,inventory_grants,delegations,memberships,expires
        >>> print(rows[0].replace(site.id, "SITE")); print(rows[1].split(",", 1)[1])
        ana,ana@acme.example,true,1,,,,SITE,
        it@acme.example,true,0,admin,,,,
        """
        if not isinstance(tenant, str):
            raise InvalidValue(tenant, "tenant is a tenant id (a string)", field="tenant")
        with self._writer.lock:
            self._writer.retime()  # memberships with a window, as they count now
            index = self._writer.index
            if tenant not in index.tenants:
                raise NotFound("tenant", tenant, field="tenant")
            now = self._writer.clock()
            audit_tenant(index, self._identity, tenant, now)
            return access_review_csv(index, tenant, now)


def _revision(value: object, field: str, head: Revision) -> Revision:
    if type(value) is not int or not 0 <= value <= head:
        raise InvalidValue(
            value, f"{field} is a revision: an int from 0 to the store's head, {head}", field=field
        )
    return value


def _log(store: Store, end: Revision) -> Iterator[Commit]:
    """The commits from revision 1 to ``end``, in order, a chunk at a time when the store
    has the feed's bounded read."""
    if not store.capabilities.feed:
        yield from store.changes_since(0)[:end]
        return
    feed = cast(FeedStore, store)
    after = 0
    while after < end:
        batch = feed.commits_after(after, min(_CHUNK, end - after))
        if not batch:
            return
        yield from batch
        after = batch[-1].revision
