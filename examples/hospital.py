"""The hospital chain of the tenancy webinar, modelled with the public API of tenancy.

Kanarra makes generators and sells them, with a monitoring application, to hospital chains.
In each chain, a facilities manager at a site sees the generators at that site, a regional
manager every site of the region, the global manager every site of the chain, and Kanarra's
support technician every customer's generators.

Run it with ``make demo``, or::

    python examples/hospital.py [--db PATH | --memory]

The data lives in a SQLite file (``hospital.db`` in the current directory by default). The
first run creates it; later runs find everything by tenant domain, group name, email and
device serial number, write nothing, and print the same answers.

How the support technician sees every customer (a decision, within DOMAIN.md's rules):
reach never crosses tenants except through explicit sharing, which is not built yet, and
support sessions (acting as a customer's user) are a later feature. So Kanarra, which runs
the application, provisions its technician in every customer tenant it onboards: a user
with the same email in each customer (emails are unique per tenant only), a member of the
root group "Kanarra Support" that sits above the customer's own global group. The
technician's view is the union of what these accounts reach, and a customer ends it by
removing one membership.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import tenancy
from tenancy import Device, Explanation, Group, Tenancy, Tenant, TenantScope, User

# ------------------------------------------------------------------ the example's data

MAKER_DOMAIN = "kanarra"
MAKER_NAME = "Kanarra Generators"
SUPPORT_GROUP = "Kanarra Support"
TECHNICIAN_EMAIL = "sam.okafor@kanarra.example"
PAGE_SIZE = 5
"""Small on purpose: the device lists below are read page by page with the cursor."""
N = TypeVar("N")


@dataclass(frozen=True)
class Site:
    name: str
    tag: str
    """The value of the device tag ``site``: the site's group associates every device
    carrying it, so a new generator is onboarded by tagging it, not by editing groups."""
    generators: int


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    email: str
    role: str
    group: str
    """The name of the one group the person is a member of."""
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class Customer:
    domain: str
    name: str
    serial_base: int
    """Generators get the serial numbers KG-<serial_base + 1>, KG-<serial_base + 2>, ..."""
    regions: tuple[tuple[str, tuple[Site, ...]], ...]
    people: tuple[Person, ...]

    def sites(self) -> list[Site]:
        return [site for _, sites in self.regions for site in sites]


TECHNICIAN = Person(
    "Sam", "Okafor", TECHNICIAN_EMAIL, "Kanarra support technician", SUPPORT_GROUP,
    tags=(("notify", "pager"),),
)  # fmt: skip

ANA = Person(
    "Ana", "Silva", "ana.silva@tektonhealth.example", "facilities manager at San Bruno",
    "San Bruno", tags=(("notify", "sms"), ("phone", "+1 555 0101")),
)  # fmt: skip
RAJ = Person(
    "Raj", "Patel", "raj.patel@tektonhealth.example",
    "regional facilities manager, California Northern", "California Northern",
    tags=(("notify", "email"),),
)  # fmt: skip
GRACE = Person(
    "Grace", "Liu", "grace.liu@tektonhealth.example", "global facilities manager",
    "Tekton Health", tags=(("notify", "sms"), ("phone", "+1 555 0199")),
)  # fmt: skip

TEKTON = Customer(
    domain="tekton-health",
    name="Tekton Health",
    serial_base=10000,
    regions=(
        ("California Northern", (
            Site("San Bruno", "san-bruno", 4),
            Site("Oakland", "oakland", 2),
            Site("Sacramento", "sacramento", 2),
        )),
        ("California Southern", (
            Site("Los Angeles", "los-angeles", 3),
            Site("San Diego", "san-diego", 2),
        )),
    ),
    people=(ANA, RAJ, GRACE, TECHNICIAN),
)  # fmt: skip

MERCY = Customer(
    domain="mercy-valley",
    name="Mercy Valley Hospitals",
    serial_base=20000,
    regions=(("Central Valley", (Site("Fresno", "fresno", 2),)),),
    people=(
        Person("Lena", "Brooks", "lena.brooks@mercyvalley.example",
               "facilities manager at Fresno", "Fresno"),
        TECHNICIAN,
    ),
)  # fmt: skip

CUSTOMERS = (TEKTON, MERCY)


# ------------------------------------------------------------------ setup: find or create


def ensure_tenant(tn: Tenancy, *, domain: str, name: str, parent: str, subtenants: bool) -> Tenant:
    """The tenant with this domain; created (with its first admin user) when missing."""
    found = tn.find_tenant(domain)
    if found is not None:
        return found
    return tn.create_tenant(
        domain=domain,
        name=name,
        admin_email=f"admin@{domain}.example",
        parent=parent,
        allow_subtenants=subtenants,
    )


def ensure_group(
    t: TenantScope,
    name: str,
    *,
    parent: str | None,
    device_tags: Sequence[tuple[str, str]] = (),
    description: str = "",
) -> Group:
    """The group with this name under ``parent``, created when missing."""
    for group in t.groups():
        if group.name == name and group.parent_id == parent:
            # associate() writes nothing when the group already has these rules.
            return t.associate(group.id, device_tags=device_tags) if device_tags else group
    return t.create_group(name, parent=parent, device_tags=device_tags, description=description)


def ensure_generators(t: TenantScope, customer: Customer) -> None:
    """Every generator of the customer, tagged with its site; the missing ones are created
    in one transaction."""
    existing = {d.id for d in tenant_devices(t)}
    missing = [spec for spec in generator_specs(customer) if spec["id"] not in existing]
    if missing:
        t.create_devices(missing)


def tenant_devices(t: TenantScope) -> list[Device]:
    """Every device of the tenant, page by page."""
    devices: list[Device] = []
    after = None
    while True:
        page = t.devices(limit=PAGE_SIZE, after=after)
        devices.extend(page.items)
        if page.next is None:
            return devices
        after = page.next


def generator_specs(customer: Customer) -> list[dict[str, object]]:
    specs: list[dict[str, object]] = []
    for site in customer.sites():
        for number in range(1, site.generators + 1):
            serial = f"KG-{customer.serial_base + len(specs) + 1}"
            specs.append(
                {
                    "id": serial,
                    "name": f"{site.name} generator {number}",
                    "tags": [("site", site.tag), ("model", "KG-500")],
                }
            )
    return specs


def ensure_user(t: TenantScope, person: Person) -> User:
    return t.find_user(person.email) or t.create_user(
        person.email,
        first_name=person.first_name,
        last_name=person.last_name,
        tags=person.tags,
    )


def set_up(tn: Tenancy) -> None:
    """Build (or find) the whole example. Every step is idempotent, so a run that was
    interrupted half-way is completed by the next one."""
    maker = ensure_tenant(
        tn, domain=MAKER_DOMAIN, name=MAKER_NAME, parent=tn.management_tenant.id, subtenants=True
    )
    for customer in CUSTOMERS:
        record = ensure_tenant(
            tn, domain=customer.domain, name=customer.name, parent=maker.id, subtenants=False
        )
        t = tn.tenant(record.id)
        ensure_generators(t, customer)
        support = ensure_group(
            t,
            SUPPORT_GROUP,
            parent=None,
            description="Kanarra's support technicians: every device of this customer",
        )
        top = ensure_group(t, customer.name, parent=support.id, description="the whole chain")
        groups = {support.name: support, top.name: top}
        for region_name, sites in customer.regions:
            region = ensure_group(t, region_name, parent=top.id)
            groups[region.name] = region
            for site in sites:
                groups[site.name] = ensure_group(
                    t, site.name, parent=region.id, device_tags=[("site", site.tag)]
                )
        for person in customer.people:
            user = ensure_user(t, person)
            t.add_member(groups[person.group].id, user.id)  # writes nothing if already one


# ------------------------------------------------------------------ reading it back


def all_devices(tn: Tenancy, user_id: str) -> list[Device]:
    """Every device the user reaches, read page by page with the cursor."""
    devices: list[Device] = []
    after = None
    while True:
        page = tn.devices_for(user_id, limit=PAGE_SIZE, after=after)
        devices.extend(page.items)
        if page.next is None:
            return devices
        after = page.next


def scope_of(tn: Tenancy, customer: Customer) -> TenantScope:
    record = tn.find_tenant(customer.domain)
    assert record is not None, f"set_up() created {customer.domain}"
    return tn.tenant(record.id)


def account(tn: Tenancy, customer: Customer, person: Person) -> User:
    user = scope_of(tn, customer).find_user(person.email)
    assert user is not None, f"set_up() created {person.email}"
    return user


def device_named(t: TenantScope, name: str) -> Device:
    return next(d for d in tenant_devices(t) if d.name == name)


def tag_value(tags: frozenset[tuple[str, str]], key: str) -> str:
    """The first value of ``key`` among a device's or a user's tags."""
    return next((v for k, v in sorted(tags) if k == key), "?")


def heading(title: str) -> None:
    print()
    print(f"== {title} ==")


def print_tree(
    roots: Sequence[N],
    children: Callable[[N], Sequence[N]],
    label: Callable[[N], str],
    note: Callable[[N], str] | None = None,
) -> None:
    """Print a forest one node a line, with branches, and an optional note per node."""

    def show(node: N, prefix: str, branch: str, inner: str) -> None:
        line = f"{prefix}{branch}{label(node)}"
        text = note(node) if note is not None else ""
        print(f"{line:<34}{text}" if text else line)
        kids = children(node)
        for position, kid in enumerate(kids):
            last = position == len(kids) - 1
            show(kid, prefix + inner, "└── " if last else "├── ", "    " if last else "│   ")

    for root in roots:
        show(root, "", "", "")


def print_tenants(tn: Tenancy) -> None:
    heading("Tenants")
    print_tree(
        [tn.management_tenant],
        lambda tenant: sorted(tn.subtenants(tenant.id), key=lambda c: c.name),
        lambda tenant: f"{tenant.name} ({tenant.domain})",
    )
    print(
        f"{MAKER_NAME} runs the application; each hospital chain is its subtenant, so no "
        "user of one\nchain can ever reach a device of another."
    )


def print_groups(tn: Tenancy, customer: Customer) -> None:
    t = scope_of(tn, customer)
    heading(f"Groups of {customer.name} (members, and the tag rule of each site)")
    children: dict[str | None, list[Group]] = {}
    for group in sorted(t.groups(), key=lambda g: g.name):
        children.setdefault(group.parent_id, []).append(group)
    members: dict[str, list[str]] = {}
    for user in t.users():
        for group in tn.groups_for(user.id, inherited=False):
            members.setdefault(group.id, []).append(f"{user.first_name} {user.last_name}")

    def note(group: Group) -> str:
        rules = ", ".join(
            " and ".join(f"{m.key}={m.value}" for m in rule) for rule in sorted(group.device_tags)
        )
        notes = [f"devices tagged {rules}"] if rules else []
        if group.id in members:
            notes.append("members: " + ", ".join(sorted(members[group.id])))
        return "; ".join(notes)

    print_tree(children.get(None, []), lambda g: children.get(g.id, []), lambda g: g.name, note)


def print_device_list(devices: Iterable[Device], customer: Customer, indent: str = "  ") -> None:
    """Devices grouped by site, in the customer's site order."""
    by_site: dict[str, list[str]] = {}
    for device in devices:
        by_site.setdefault(tag_value(device.tags, "site"), []).append(device.id)
    for site in customer.sites():
        if site.tag in by_site:
            print(f"{indent}{site.name + ':':<13}{' '.join(by_site.pop(site.tag))}")
    for tag, ids in sorted(by_site.items()):  # none expected: devices of unknown sites
        print(f"{indent}site={tag}: {' '.join(ids)}")


def print_views(tn: Tenancy) -> None:
    heading("What each user sees (devices_for, sorted by serial number)")
    for person in TEKTON.people:
        if person is TECHNICIAN:
            continue
        devices = all_devices(tn, account(tn, TEKTON, person).id)
        print(f"{person.name}, {person.role}: {len(devices)} devices")
        print_device_list(devices, TEKTON)
    views = [(c, all_devices(tn, account(tn, c, TECHNICIAN).id)) for c in CUSTOMERS]
    total = sum(len(devices) for _, devices in views)
    print(f"{TECHNICIAN.name}, {TECHNICIAN.role}: {total} devices in {len(views)} customers")
    for customer, devices in views:
        print(f"  {customer.name} ({len(devices)}), as a member of its {SUPPORT_GROUP} group:")
        print_device_list(devices, customer, indent="    ")


def describe(t: TenantScope, explanation: Explanation) -> None:
    """Print an explanation with group names next to the ids."""
    print(f"  code:        {explanation.code}")
    print(f"  reason:      {explanation.reason}")
    if explanation.path:
        names = " > ".join(f"{t.get_group(g).name} ({g})" for g in explanation.path)
        print(f"  path:        {names}")
    association = explanation.association
    if association is not None:
        group = t.get_group(association.group_id).name
        if association.kind == "device_id":
            how = f"its device id {association.device_id}"
        else:
            rule = " and ".join(f"{m.key or '*'}={m.value or '*'}" for m in association.rule or ())
            how = f"the tag rule {rule}"
        via = f", via gateway {' > '.join(association.via)}" if association.via else ""
        print(f"  association: {group} associates {association.device_id} by {how}{via}")


def print_verify(tn: Tenancy) -> None:
    t = scope_of(tn, TEKTON)
    sb_generator = device_named(t, "San Bruno generator 2")
    la_generator = device_named(t, "Los Angeles generator 1")

    heading("verify that passes, and why (explain)")
    user = account(tn, TEKTON, RAJ)
    allowed = tn.verify(user.id, sb_generator.id)
    print(f"verify({RAJ.name}, {sb_generator.id} '{sb_generator.name}') -> {allowed}")
    print(f"  {RAJ.name} is a member of {RAJ.group}; San Bruno is below it (access adopts upward).")
    describe(t, tn.explain(user.id, sb_generator.id))

    heading("verify that fails, and why (explain)")
    user = account(tn, TEKTON, ANA)
    allowed = tn.verify(user.id, la_generator.id)
    print(f"verify({ANA.name}, {la_generator.id} '{la_generator.name}') -> {allowed}")
    describe(t, tn.explain(user.id, la_generator.id))


def print_alerts(tn: Tenancy) -> None:
    t = scope_of(tn, TEKTON)
    generator = device_named(t, "San Bruno generator 2")
    heading("Whom to alert when a generator fails (users_for)")
    everyone = sorted(tn.users_for(generator.id), key=lambda u: (u.first_name, u.last_name))
    names = ", ".join(f"{u.first_name} {u.last_name}" for u in everyone)
    print(f"{generator.id} '{generator.name}' is reached by {len(everyone)} users: {names}")
    by_sms = tn.users_for(generator.id, tags=[("notify", "sms")])
    for user in sorted(by_sms, key=lambda u: (u.first_name, u.last_name)):
        phone = tag_value(user.tags, "phone")
        print(f"  text {user.first_name} {user.last_name} at {phone} (user tag notify=sms)")


# ------------------------------------------------------------------ main


def open_store(db: Path | None) -> tuple[Tenancy, str]:
    """A handle on the SQLite file ``db`` (created if missing), or on a new in-memory store
    when ``db`` is None."""
    if db is None:
        return tenancy.open(), "in memory (nothing is kept)"
    return tenancy.open(str(db)), f"{db} (SQLite)"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--db", type=Path, default=Path("hospital.db"), help="SQLite file (default: hospital.db)"
    )
    where.add_argument("--memory", action="store_true", help="use an in-memory store")
    args = parser.parse_args(argv)

    tn, label = open_store(None if args.memory else args.db)
    with tn:
        before = tn.revision
        set_up(tn)
        wrote = (
            f"the example was already there at revision {tn.revision}; this run wrote nothing"
            if tn.revision == before
            else f"this run wrote the example in revisions {before + 1} to {tn.revision}"
        )
        print("Kanarra generators at hospital chains: the example of the tenancy webinar")
        print(f"store: {label}; {wrote}")
        print_tenants(tn)
        print(
            f"Support: {TECHNICIAN.name} has an account in every customer tenant, a member "
            f"of its root\ngroup '{SUPPORT_GROUP}'. Reach never crosses tenants, so this is "
            "how Kanarra's support\nsees every customer until support sessions exist."
        )
        print_groups(tn, TEKTON)
        print_views(tn)
        print_verify(tn)
        print_alerts(tn)


if __name__ == "__main__":
    main()
