"""Small hand-built worlds for the unit tests of the reach rules."""

from __future__ import annotations

import attrs

import tenancy
from tenancy import Tenancy, TenantScope


def new_tenant(tn: Tenancy, domain: str, **fields: object) -> TenantScope:
    """A customer tenant below the management tenant, as a scope."""
    tenant = tn.create_tenant(
        domain=domain,
        name=domain.title(),
        admin_email=f"admin@{domain}.example",
        **fields,  # type: ignore[arg-type]
    )
    return tn.tenant(tenant.id)


@attrs.frozen
class Hospital:
    """A hierarchy to reason about by name:

    chain (member: ceo)
      north (member: regional)            associates tag rule region=north
        sb (member: site_manager)         associates device ids gen-1
        mp                                associates rule all_of(site=mp, kind=generator)
      south                               associates rule (None, "south")

    Devices: gen-1 (a gateway) > sensor-1 > probe-1; gen-2 {site=mp, kind=generator};
    pump-2 {site=mp, kind=pump}; gen-3 {zone=south}; lone (no tags, no group).
    Users: ceo, regional, site_manager, nobody (no group), off (disabled, member of chain).
    """

    tn: Tenancy
    t: TenantScope


def hospital(tn: Tenancy | None = None) -> Hospital:
    tn = tn or tenancy.open()
    t = new_tenant(tn, "hospital")
    t.create_group("Chain", id="chain")
    t.create_group("North", id="north", parent="chain", device_tags=[("region", "north")])
    t.create_group("San Bruno", id="sb", parent="north")
    t.create_group(
        "Menlo Park",
        id="mp",
        parent="north",
        device_tags=[tenancy.all_of(("site", "mp"), ("kind", "generator"))],
    )
    t.create_group("South", id="south", parent="chain", device_tags=[(None, "south")])
    t.create_device("Generator 1", id="gen-1", tags=[("site", "sb")])
    t.create_device("Sensor 1", id="sensor-1", parent="gen-1")
    t.create_device("Probe 1", id="probe-1", parent="sensor-1")
    t.create_device("Generator 2", id="gen-2", tags=[("site", "mp"), ("kind", "generator")])
    t.create_device("Pump 2", id="pump-2", tags=[("site", "mp"), ("kind", "pump")])
    t.create_device("Generator 3", id="gen-3", tags=[("zone", "south")])
    t.create_device("Lone", id="lone")
    t.associate("sb", device_ids=["gen-1"])
    for user, group in (
        ("ceo", "chain"),
        ("regional", "north"),
        ("site_manager", "sb"),
        ("off", "chain"),
    ):
        t.create_user(f"{user}@hospital.example", id=user, tags={"notify": "sms"})
        t.add_member(group, user)
    t.create_user("nobody@hospital.example", id="nobody")
    t.update_user("off", enabled=False)
    return Hospital(tn=tn, t=t)


def listed(tn: Tenancy, user_id: str, *, after: str | None = None, **filters: object) -> list[str]:
    """Every device id devices_for lists from ``after`` on, following the cursor through
    every page (of two, so that paging is exercised)."""
    seen: list[str] = []
    while True:
        page = tn.devices_for(user_id, limit=2, after=after, **filters)  # type: ignore[arg-type]
        seen.extend(d.id for d in page.items)
        if page.next is None:
            return seen
        after = page.next
