"""What-if (DOMAIN.md section 9): :meth:`WhatIf.what_if` runs proposed writes on a
throwaway handle and answers the reach they would add and remove, committing nothing.

How (see :mod:`tenancy.index.overlay` for the overlay and the diff):

Rule W1. The throwaway handle is a :class:`~tenancy.Tenancy` on a :class:`Rehearsal`, a
   writer whose index is an overlay of the real one and whose :meth:`Rehearsal.commit`
   reaches no store. Everything else is the real write path (:meth:`Writer.write
   <tenancy.handle.writer.Writer.write>`): the command validates itself, the deletion
   checks, authorisation for the same identity as the calling handle, the usage stamp and
   the audit records are made as for a real write, then the changes are applied to the
   overlay. So a write refused for real is refused here, with the same error.

Rule W2. Nothing is kept: no store commit, no audit record or usage count written, no
   change in the feed, the real index untouched (the overlay writes to itself only), the
   usage counters a fresh recorder's that is dropped with the overlay.

Rule W3. The rehearsal holds the real writer's lock from its catch-up to its answer: the
   base it reads through cannot move under it, other threads' writes wait for it, and
   readers of the real handle, which take no lock, read the real index, which it never
   writes. ``fn`` must use the handle it is given: a write through the real handle inside
   ``fn`` would change the base under the overlay. The throwaway handle refuses writes once
   ``what_if`` has returned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tenancy.errors import InvalidValue, NotFound
from tenancy.handle.acting import audit_tenant
from tenancy.handle.recorder import UsageRecorder
from tenancy.handle.writer import Writer
from tenancy.index.index import Index
from tenancy.index.overlay import overlay_of, reach_changes
from tenancy.records.changes import Change, Commit, Revision
from tenancy.records.model import AuditRecord
from tenancy.records.review import ReachDiff
from tenancy.rules.access import Identity
from tenancy.store.protocol import Beside

__all__ = ["Rehearsal", "WhatIf"]


class Rehearsal(Writer):
    """A writer whose commits reach only an overlay of ``real``'s index (rule W1). It
    shares ``real``'s store for reading, its clock, limits, support duration and lock."""

    def __init__(self, real: Writer) -> None:  # no super().__init__: it would load the store
        self.support_duration = real.support_duration
        self.limits = real.limits
        self.usage = UsageRecorder(real.clock, None)  # rule W2: counts die with it
        self.write_timeout = real.write_timeout
        self.store = real.store  # read by audit_log, changes and export; never written
        self.clock = real.clock
        self.lock = real.lock
        self.closed = False
        self.rebuild_needed = False
        self.views = []
        self.index = overlay_of(real.index)
        self.follower = None
        self._staleness = None
        self.label = f"what-if-{id(self):x}"
        self.commits = 0

    def commit(
        self,
        changes: list[Change],
        expected: Revision,
        audit: list[AuditRecord],
        beside: Beside | None = None,
    ) -> Revision:
        """Rule W2: nothing is stored; the next revision is the overlay's own (``beside``
        is never started: :meth:`apply` applies the commit to the overlay)."""
        if self.closed:
            raise InvalidValue(
                "what_if", "the handle what_if gives fn writes only while fn runs",
                field="fn",
            )  # fmt: skip
        self.commits += 1
        return expected + 1

    def apply(self, commit: Commit) -> bool:
        """Apply to the overlay, change by change (a bulk rebuild would copy the index)."""
        self.index.apply_commit(commit)
        return True

    def catch_up(self) -> Revision:
        """Nothing to catch up: the real writer's lock is held since the rehearsal began
        (rule W3), so no commit can land under the overlay."""
        return self.index.revision

    def rebuild(self) -> None:
        """Never: the overlay is thrown away whole when a write fails (nothing to repair)."""
        raise AssertionError("a rehearsal's overlay is never rebuilt")

    def follow(self, label: str) -> None:
        """Never: a rehearsal follows no store (``label`` unused)."""
        raise AssertionError("a rehearsal follows no store")

    def close(self) -> None:
        """End the rehearsal: later writes are refused, the store stays open."""
        self.closed = True


class WhatIf:
    """The what-if of a :class:`~tenancy.Tenancy` handle, a part it holds. ``handle_on``
    makes a handle of the facade's class on a writer, for the same identity."""

    def __init__(
        self, writer: Writer, identity: Identity, handle_on: Callable[[Writer], Any]
    ) -> None:
        self._writer = writer
        self._identity = identity
        self._handle_on = handle_on

    def what_if(self, fn: Callable[[Any], object], *, tenant: str | None = None) -> ReachDiff:
        """The reach the writes of ``fn`` would add and remove, without making them.

        ``fn`` is called with a throwaway :class:`~tenancy.Tenancy` handle (``w``) acting
        as this handle does; its writes validate and apply as usual, limits and permissions
        included, and an error one raises comes out of ``what_if`` as it would from the real
        call, with nothing kept. Nothing reaches the store, this handle's index, the audit
        log, the usage counters or the change feed; other threads reading this handle see
        nothing of it. Writes of other threads wait until ``what_if`` returns; ``fn`` must
        write through ``w``, never through this handle. ``w``'s queries answer from the
        state after its writes (its store-wide reads, such as ``audit_log``, read the real
        store).

        The answer is a :class:`~tenancy.ReachDiff`: the (user id, device id) pairs gained
        and lost, sorted, and their counts per user and per device, by the rule of
        :meth:`~tenancy.Tenancy.verify`. ``tenant``: only the pairs of that tenant's users
        (not its subtenants'), and ``tenant_id`` says it; None (the default) every user of
        every tenant, with ``tenant_id`` ``""``. A handle acting as a user sees its own
        tenant's users only, with ``audit:READ`` (as :meth:`~tenancy.Tenancy.reach_diff`);
        NotFound for a tenant that exists neither now nor after ``fn``. ``from_revision``
        and ``to_revision`` are both this handle's revision: the state compared against,
        and nothing committed after it.

        Runtime complexity: O(what the writes touch), as the real writes, each table entry
        they read or write copied once into an overlay of the index (never the index
        itself), plus O(touched devices x members of the groups their cover gained or lost
        + touched users x devices of the groups their reach gained or lost) for the diff.

        >>> import tenancy
        >>> tn = tenancy.open()
        >>> acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        >>> t = tn.tenant(acme.id)
        >>> west = t.create_group("West", id="west")
        >>> site = t.create_group("San Bruno", parent=west.id, device_tags=[("site", "sb")])
        >>> gen = t.create_device("Generator 7", tags=[("site", "sb")], id="gen-7")
        >>> ana = t.create_user("ana@acme.example", id="ana")
        >>> t.add_member(west.id, ana.id)
        >>> diff = tn.what_if(lambda w: w.tenant(acme.id).move_group(site.id, parent=None))
        >>> diff.lost, diff.lost_by_user, diff.gained
        ([('ana', 'gen-7')], {'ana': 1}, [])
        >>> tn.get_group(site.id).parent_id, tn.verify(ana.id, gen.id)
        ('west', True)
        """
        if not callable(fn):
            raise InvalidValue(fn, "fn is a callable taking the throwaway handle", field="fn")
        if tenant is not None and not isinstance(tenant, str):
            raise InvalidValue(tenant, "tenant is a tenant id (a string), or None", field="tenant")
        real = self._writer
        with real.lock:
            real.catch_up()
            real.retime()  # time-bounded grants as they count now, in base and overlay
            base = real.index
            chosen = audit_tenant(base, self._identity, tenant, real.clock())
            rehearsal = Rehearsal(real)
            try:
                fn(self._handle_on(rehearsal))
            finally:
                rehearsal.close()
            overlay: Index = rehearsal.index
            if chosen is not None and chosen not in base.tenants and chosen not in overlay.tenants:
                raise NotFound("tenant", chosen, field="tenant")
            gained, lost = reach_changes(base, overlay, chosen)
            revision = base.revision
        return ReachDiff.of(
            gained, lost, tenant_id="" if chosen is None else chosen,
            from_revision=revision, to_revision=revision,
        )  # fmt: skip
