"""The sample tenant the framework recipes serve: one site, two devices, two users.

Ana is a plain member of the site (the default member role, viewer: she reads its
devices); Olga is a member with the operator role there too (she may rename them). The
pump is at another site, which neither reaches.
"""

from __future__ import annotations

from dataclasses import dataclass

import tenancy

__all__ = ["World", "device_json", "seed"]


@dataclass(frozen=True)
class World:
    tenant_id: str
    site_id: str
    generator_id: str
    pump_id: str
    viewer_id: str
    operator_id: str


def seed(tn: tenancy.Tenancy) -> World:
    """Create the sample tenant on ``tn`` (a handle of the application itself)."""
    acme = tn.create_tenant(domain="acme", name="Acme Health", admin_email="it@acme.example")
    t = tn.tenant(acme.id)
    site = t.create_group("San Bruno", device_tags=[("site", "san-bruno")])
    generator = t.create_device("Generator 7", tags=[("site", "san-bruno")])
    pump = t.create_device("Pump 2", tags=[("site", "fresno")])
    ana = t.create_user("ana@acme.example")
    olga = t.create_user("olga@acme.example")
    t.add_member(site.id, ana.id)
    t.add_member(site.id, olga.id)
    t.grant_inventory_role(olga.id, "operator", group=site.id)
    return World(acme.id, site.id, generator.id, pump.id, ana.id, olga.id)


def device_json(device: tenancy.Device) -> dict[str, object]:
    """A device as a JSON object (tags sorted, so equal devices give equal bytes)."""
    return {
        "id": device.id,
        "name": device.name,
        "tags": sorted([key, value] for key, value in device.tags),
    }
