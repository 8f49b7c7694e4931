"""Usage statistics count the devices shared into a tenant separately (DOMAIN.md section
7, issue 16 item 5): per UTC day, with the day's peak, moved by the share's toggles, the
source's groups and devices, and either tenant's suspension; a commit that touches no
share counts nothing; a row written before the field existed still decodes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

import tenancy
from tenancy import Tenancy, UsageCounts, UsageDay
from tenancy.records import changes as ch
from tenancy.records.state import merge_usage
from tenancy.rules.usage import shared_devices

DAY = date(2026, 3, 1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tn(clock: Clock) -> Iterator[Tenancy]:
    with tenancy.open(clock=clock, usage_flush_interval=None) as handle:
        yield handle


class Share:
    def __init__(self, tn: Tenancy) -> None:
        self.tn = tn
        self.acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        self.svc = tn.create_tenant(domain="svc", name="Svc", admin_email="it@svc.example")
        self.src, self.dst = tn.tenant(self.acme.id), tn.tenant(self.svc.id)
        self.site = self.src.create_group("Site", device_tags=[("site", "sb")])
        gw = self.src.create_device("Gateway", id="gw", tags={"site": "sb", "kind": "gen"})
        self.src.create_device("Child", id="child", parent=gw.id, tags={"kind": "gen"})
        self.src.create_device("Other", id="other", tags={"site": "la"})
        self.connector = self.src.create_connector(
            "to svc", destination=self.svc.id, groups=[self.site.id], devices=["other"]
        )
        self.sub = self.dst.accept_connector(
            self.connector.id, security_code=self.connector.security_code, name="Acme"
        )

    def today(self, tenant_id: str | None = None) -> UsageDay:
        return self.tn.usage(tenant_id or self.svc.id)[-1]


@pytest.fixture
def share(tn: Tenancy) -> Share:
    return Share(tn)


def test_a_share_counts_its_devices_in_the_destination_only(share: Share) -> None:
    row = share.today()
    assert (row.shared_devices, row.peak_shared_devices) == (3, 3)  # gw, its child, other
    assert row.devices == 0  # the tenant's own devices are counted apart
    assert share.today(share.acme.id).shared_devices == 0
    assert share.tn.usage(share.acme.id)[-1].devices == 3


@pytest.mark.parametrize("stop", ["suspend", "pause", "suspend source", "suspend destination",
                                  "delete"])  # fmt: skip
def test_stopping_a_share_from_either_side_drops_the_count_and_keeps_the_peak(
    share: Share, stop: str
) -> None:
    tn = share.tn
    if stop == "suspend":
        share.src.suspend_connector(share.connector.id)
    elif stop == "pause":
        share.dst.pause_subscription(share.sub.id)
    elif stop == "suspend source":
        tn.suspend_tenant(share.acme.id)
    elif stop == "suspend destination":
        tn.suspend_tenant(share.svc.id)
    else:
        share.src.delete_connector(share.connector.id)
    row = share.today()
    assert (row.shared_devices, row.peak_shared_devices) == (0, 3)
    tn.flush_usage()
    stored = tn.index.usage_on(share.svc.id, DAY)
    assert stored is not None
    assert (stored.shared_devices, stored.peak_shared_devices) == (0, 3)


def test_the_sources_devices_and_groups_move_the_count(share: Share) -> None:
    share.src.create_device("New", id="new", tags={"site": "sb"})
    assert share.today().shared_devices == 4
    share.src.untag_device("gw", [("site", "sb")])  # gw and its child leave the site
    assert share.today().shared_devices == 2
    share.src.delete_device("other")
    row = share.today()
    assert (row.shared_devices, row.peak_shared_devices) == (1, 4)


def test_it_carries_to_the_next_day_and_is_stored(
    share: Share, clock: Clock, tmp_path: Path
) -> None:
    tn = share.tn
    tn.flush_usage()
    clock.now += timedelta(days=2)
    days = tn.usage(share.svc.id)
    assert [(d.day, d.shared_devices) for d in days] == [
        (DAY, 3), (DAY + timedelta(days=1), 3), (DAY + timedelta(days=2), 3),
    ]  # fmt: skip
    share.dst.create_user("new@svc.example")  # the day's first row starts at 3, not 0
    assert tn.index.usage_on(share.svc.id, DAY + timedelta(days=2)).shared_devices == 3  # type: ignore[union-attr]
    csv = tn.usage_csv(share.svc.id).splitlines()
    header = csv[0].split(",")
    assert header.index("shared_devices") + 1 == header.index("peak_shared_devices")
    assert csv[1].split(",")[header.index("shared_devices")] == "3"
    out = io.BytesIO()
    tn.export_to(out)  # and in the document
    assert b'"shared_devices":3' in out.getvalue()


def test_on_sqlite_the_count_survives_a_close(clock: Clock, tmp_path: Path) -> None:
    path = str(tmp_path / "u.db")
    with tenancy.open(path, clock=clock) as tn:
        share = Share(tn)
        share.dst.pause_subscription(share.sub.id)
        svc = share.svc.id
    with tenancy.open(path, clock=clock) as tn:
        row = tn.index.usage_on(svc, DAY)
        assert row is not None
        assert (row.shared_devices, row.peak_shared_devices) == (0, 3)


def test_a_commit_that_touches_no_share_counts_nothing(
    tn: Tenancy, monkeypatch: pytest.MonkeyPatch
) -> None:
    share = Share(tn)
    other = tn.create_tenant(domain="other", name="Other", admin_email="it@other.example")
    calls: list[str] = []
    real = shared_devices

    def spy(index: Any, tenant_id: str) -> set[str]:
        calls.append(tenant_id)
        return real(index, tenant_id)

    monkeypatch.setattr("tenancy.handle.recorder.shared_devices", spy)
    t = tn.tenant(other.id)
    for i in range(5):
        t.create_device(f"d{i}")
    t.create_group("G")
    share.dst.create_user("tech@svc.example")  # a destination write: not about the share
    share.dst.add_member(share.sub.group_id, share.dst.users()[-1].id)
    assert calls == []
    share.src.create_device("New", tags={"site": "sb"})  # a source's device: counted
    assert set(calls) == {share.svc.id}


def test_a_row_encoded_before_the_field_still_decodes() -> None:
    old_counts = msgspec.msgpack.encode([3, 1, 2, 0])  # UsageCounts was four numbers
    assert msgspec.msgpack.decode(old_counts, type=UsageCounts) == UsageCounts(3, 1, 2, 0)
    assert msgspec.msgpack.decode(old_counts, type=UsageCounts).shared_devices is None
    old_change = msgspec.json.encode({
        "type": "UsageRecorded", "tenant_id": "t1", "day": "2026-03-01",
        "counts": [3, 1, 2, 0], "peaks": [4, 1, 2, 0], "requests": [],
    })  # fmt: skip
    change = msgspec.json.decode(old_change, type=ch.Change)
    assert isinstance(change, ch.UsageRecorded)
    assert change.counts.shared_devices is None
    old_row = msgspec.msgpack.encode({"tenant_id": "t1", "day": "2026-03-01", "devices": 3})
    row = msgspec.msgpack.decode(old_row, type=UsageDay)
    assert (row.devices, row.shared_devices, row.peak_shared_devices) == (3, 0, 0)
    # a row keeps its shared count through a change that does not count it
    kept = merge_usage(
        msgspec.structs.replace(row, shared_devices=5, peak_shared_devices=6),
        ch.UsageRecorded(
            tenant_id="t1", day=DAY, counts=UsageCounts(4, 1, 2, 0), peaks=UsageCounts(4, 1, 2, 0)
        ),
    )
    assert (kept.devices, kept.shared_devices, kept.peak_shared_devices) == (4, 5, 6)


def test_a_device_shared_into_the_source_is_not_counted_again(share: Share) -> None:
    """A share never chains: Acme's own subscription, placed under the group Acme shares
    with Svc, adds to Acme's count, not to Svc's."""
    tn = share.tn
    third = tn.create_tenant(domain="third", name="Third", admin_email="it@third.example")
    t = tn.tenant(third.id)
    pump = t.create_device("Pump")
    c = t.create_connector("to acme", destination=share.acme.id, devices=[pump.id])
    sub = share.src.accept_connector(c.id, security_code=c.security_code, name="Third")
    share.src.move_group(sub.group_id, parent=share.site.id)
    assert share.today(share.acme.id).shared_devices == 1
    assert share.today().shared_devices == 3
