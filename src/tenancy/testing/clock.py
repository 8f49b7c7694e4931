"""A clock a test moves by hand, for the time-bounded grants of DOMAIN.md section 9.

>>> from datetime import datetime, timedelta, timezone
>>> import tenancy
>>> from tenancy.testing.clock import ManualClock
>>> clock = ManualClock(datetime(2026, 12, 4, 9, tzinfo=timezone.utc))
>>> tn = tenancy.open(clock=clock)
>>> clock.advance(timedelta(hours=8))
>>> tn.clock().isoformat()
'2026-12-04T17:00:00+00:00'
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["ManualClock"]


class ManualClock:
    """Returns ``now`` when called; :meth:`set` and :meth:`advance` move it, either way.
    Give it to ``tenancy.open(clock=...)`` (or ``Tenancy(store, clock=...)``); handles that
    share one see the same instant, as processes with synchronised clocks do."""

    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("a ManualClock tells aware datetimes")
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        """Move to ``now`` (earlier or later)."""
        if now.tzinfo is None:
            raise ValueError("a ManualClock tells aware datetimes")
        self.now = now

    def advance(self, by: timedelta) -> None:
        """Move by ``by`` (negative: back)."""
        self.now += by
