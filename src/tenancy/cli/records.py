"""Commands that create, show and change records: init, tenant, group, device, user,
member. Each makes the calls of the public API an application would make."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import click
import msgspec

import tenancy
from tenancy.cli.output import parse_tag_options
from tenancy.cli.root import State, cli, state
from tenancy.records.model import Device, Group, Tenant
from tenancy.records.tags import parse_filter, rule_matches

__all__: list[str] = []


def _tenant_line(t: Tenant) -> str:
    return f"{t.id}\t{t.domain}\t{t.status}\t{t.name}"


def exact_tags(values: tuple[str, ...]) -> list[tuple[str, str]]:
    """``--tag k=v`` of a record (a device's or a user's own tags): no wildcards."""
    pairs = parse_tag_options(values)
    for key, value in pairs:
        if key is None or value is None:
            raise click.BadParameter("a record's tag is KEY=VALUE, without *", param_hint="--tag")
    return pairs  # type: ignore[return-value]


# ---------------------------------------------------------------- init


@cli.command()
def init() -> None:
    """Create the store named by --db (a SQLite file is created; a PostgreSQL schema is
    migrated). An existing store is left as it is."""
    st = state()
    with st.open(create=True) as tn:
        st.out.emit(
            {"db": st.db, "revision": tn.revision}, f"store {st.db} at revision {tn.revision}"
        )


# ---------------------------------------------------------------- tenants


@cli.group()
def tenant() -> None:
    """Create, list, show, suspend, activate and delete tenants."""


@tenant.command("create")
@click.argument("domain")
@click.option("--name", required=True, help="The tenant's display name.")
@click.option("--admin-email", required=True, help="Email of the tenant's first admin user.")
@click.option(
    "--parent",
    metavar="TENANT_ID",
    help="Create it below this tenant (default: the management tenant).",
)
@click.option(
    "--allow-subtenants", is_flag=True, help="Let the new tenant have tenants of its own."
)
@click.option("--id", "tenant_id", metavar="ID", help="The new tenant's id (default: generated).")
def tenant_create(
    *, domain: str, name: str, admin_email: str, parent: str | None, allow_subtenants: bool,
    tenant_id: str | None,
) -> None:  # fmt: skip
    """Create a tenant with domain DOMAIN (unique in the store) and its first admin user."""
    st = state()
    with st.open() as tn:
        t = tn.create_tenant(
            domain=domain, name=name, admin_email=admin_email, parent=parent,
            allow_subtenants=allow_subtenants, id=tenant_id,
        )  # fmt: skip
        st.out.emit(t, t.id)


@tenant.command("list")
def tenant_list() -> None:
    """Every tenant of the store, parents first: id, domain, status, name."""
    st = state()
    with st.open() as tn:
        records = tn.tenants()
        st.out.emit(records, [_tenant_line(t) for t in records])


@tenant.command("show")
@click.argument("tenant_id")
def tenant_show(*, tenant_id: str) -> None:
    """Every field of tenant TENANT_ID."""
    st = state()
    with st.open() as tn:
        t = tn.get_tenant(tenant_id)
        fields = _tenant_fields(t)
        st.out.emit(t, [f"{k}: {v}" for k, v in fields])


def _tenant_fields(t: Tenant) -> list[tuple[str, object]]:
    """The fields of a tenant record worth a line each, in declaration order."""
    return [(k, v) for k, v in msgspec.structs.asdict(t).items() if v not in ((), None, "")]


@tenant.command("suspend")
@click.argument("tenant_id")
def tenant_suspend(*, tenant_id: str) -> None:
    """Suspend TENANT_ID: it and every tenant below it reach nothing until activated."""
    st = state()
    with st.open() as tn:
        t = tn.suspend_tenant(tenant_id)
        st.out.emit(t, _tenant_line(t))


@tenant.command("activate")
@click.argument("tenant_id")
def tenant_activate(*, tenant_id: str) -> None:
    """Activate the suspended tenant TENANT_ID again."""
    st = state()
    with st.open() as tn:
        t = tn.activate_tenant(tenant_id)
        st.out.emit(t, _tenant_line(t))


@tenant.command("delete")
@click.argument("tenant_id")
@click.option(
    "--cascade",
    is_flag=True,
    help="Delete its subtenants too (refused without it when it has any).",
)
def tenant_delete(*, tenant_id: str, cascade: bool) -> None:
    """Delete TENANT_ID and every record it holds, irreversibly."""
    st = state()
    with st.open() as tn:
        tn.delete_tenant(tenant_id, cascade=cascade)
        st.out.emit({"deleted": tenant_id}, f"deleted {tenant_id}")


# ---------------------------------------------------------------- groups


@cli.group()
def group() -> None:
    """Create groups and show a tenant's group tree."""


@group.command("create")
@click.argument("tenant_id")
@click.argument("name")
@click.option(
    "--parent", metavar="GROUP_ID", help="Create it below this group (default: a root group)."
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="Associate the devices with this tag (KEY=* any value, *=VALUE any key); repeatable.",
)
@click.option(
    "--device",
    "devices",
    multiple=True,
    metavar="DEVICE_ID",
    help="Associate this device by id; repeatable.",
)
@click.option("--description", default="", help="A description of the group.")
@click.option("--id", "group_id", metavar="ID", help="The new group's id (default: generated).")
def group_create(
    *, tenant_id: str, name: str, parent: str | None, tags: tuple[str, ...],
    devices: tuple[str, ...], description: str, group_id: str | None,
) -> None:  # fmt: skip
    """Create group NAME in tenant TENANT_ID, associating devices by tag and by id."""
    st = state()
    with st.open() as tn:
        g = tn.tenant(tenant_id).create_group(
            name, parent=parent, description=description, device_ids=devices,
            device_tags=parse_tag_options(tags), id=group_id,
        )  # fmt: skip
        st.out.emit(g, g.id)


@group.command("tree")
@click.argument("tenant_id")
def group_tree(*, tenant_id: str) -> None:
    """The group tree of tenant TENANT_ID, indented, children sorted by name then id."""
    st = state()
    with st.open() as tn:
        tn.get_tenant(tenant_id)  # NotFound for an unknown tenant, not an empty tree
        groups = tn.tenant(tenant_id).groups()
        rows = list(_walk(groups))
        st.out.emit(
            [{"depth": depth, "group": g} for depth, g in rows],
            [f"{'  ' * depth}{g.name}\t{g.id}" for depth, g in rows],
        )


def _walk(groups: list[Group]) -> Iterator[tuple[int, Group]]:
    children: dict[str | None, list[Group]] = {}
    for g in groups:
        children.setdefault(g.parent_id, []).append(g)
    for kids in children.values():
        kids.sort(key=lambda g: (g.name, g.id))
    stack = [(0, g) for g in reversed(children.get(None, []))]
    while stack:
        depth, g = stack.pop()
        yield depth, g
        stack.extend((depth + 1, c) for c in reversed(children.get(g.id, [])))


# ---------------------------------------------------------------- devices


@cli.group()
def device() -> None:
    """Create and list devices."""


@device.command("create")
@click.argument("tenant_id")
@click.argument("name")
@click.option("--id", "device_id", metavar="ID", help="The new device's id (default: generated).")
@click.option(
    "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag of the device; repeatable."
)
@click.option(
    "--parent", metavar="DEVICE_ID", help="Its gateway: the device follows it into every group."
)
def device_create(
    *, tenant_id: str, name: str, device_id: str | None, tags: tuple[str, ...], parent: str | None
) -> None:
    """Create device NAME in tenant TENANT_ID."""
    st = state()
    with st.open() as tn:
        d = tn.tenant(tenant_id).create_device(
            name, tags=exact_tags(tags), id=device_id, parent=parent
        )
        st.out.emit(d, d.id)


@device.command("list")
@click.argument("tenant_id")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="Keep the devices matching every such tag (KEY=* any value, *=VALUE any key).",
)
def device_list(*, tenant_id: str, tags: tuple[str, ...]) -> None:
    """Every device of tenant TENANT_ID, sorted by id: id, name, tags. Streams page by page,
    so a tenant of millions of devices never sits in memory."""
    st = state()
    rule = parse_filter(parse_tag_options(tags)) if tags else None
    with st.open() as tn:
        tn.get_tenant(tenant_id)
        scope = tn.tenant(tenant_id)
        found: Iterator[Device] = tenancy.every_page(scope.devices, limit=1000)
        if rule is not None:
            found = (d for d in found if rule_matches(rule, d.tags))
        st.out.emit_stream(found, device_line)


def device_line(d: Device) -> str:
    tags = ",".join(f"{k}={v}" for k, v in sorted(d.tags))
    return f"{d.id}\t{d.name}\t{tags}"


# ---------------------------------------------------------------- users and members


@cli.group()
def user() -> None:
    """Create users."""


@user.command("create")
@click.argument("tenant_id")
@click.argument("email")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="A tag of the user (such as notify=sms); repeatable.",
)
@click.option("--first-name", default="", help="The user's first name.")
@click.option("--last-name", default="", help="The user's last name.")
@click.option("--id", "user_id", metavar="ID", help="The new user's id (default: generated).")
def user_create(
    *, tenant_id: str, email: str, tags: tuple[str, ...], first_name: str, last_name: str,
    user_id: str | None,
) -> None:  # fmt: skip
    """Create a user with EMAIL (unique in its tenant, ignoring case) in tenant TENANT_ID."""
    st = state()
    with st.open() as tn:
        u = tn.tenant(tenant_id).create_user(
            email, tags=exact_tags(tags), first_name=first_name, last_name=last_name,
            id=user_id,
        )  # fmt: skip
        st.out.emit(u, u.id)


@cli.group()
def member() -> None:
    """Add users to groups and remove them."""


def _instant(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO 8601 instant (``2026-12-04T17:00:00+01:00``, ``2026-12-04T16:00Z``, or a day,
    ``2026-12-04``); without an offset it is UTC. Anything else is a usage error (exit 2)."""
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or time") from None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def _membership(
    st: State, verb: str, group_id: str, user_id: str, *,
    valid_from: datetime | None = None, valid_until: datetime | None = None,
) -> None:  # fmt: skip
    with st.open() as tn:
        scope = tn.tenant(tn.get_group(group_id).tenant_id)
        window: dict[str, str] = {}
        if verb == "add":
            scope.add_member(group_id, user_id, valid_from=valid_from, valid_until=valid_until)
            window = {
                name: instant.isoformat()
                for name, instant in (("valid_from", valid_from), ("valid_until", valid_until))
                if instant is not None
            }
        else:
            scope.remove_member(group_id, user_id)
        text = (
            f"added {user_id} to {group_id}"
            + "".join(f", {k.removeprefix('valid_')} {v}" for k, v in window.items())
            if verb == "add"
            else f"removed {user_id} from {group_id}"
        )
        st.out.emit({"group_id": group_id, "user_id": user_id, verb: True, **window}, text)


@member.command("add")
@click.argument("group_id")
@click.argument("user_id")
@click.option(
    "--from", "valid_from", callback=_instant, metavar="ISO8601", default=None,
    help="The membership counts from this instant on (ISO 8601; without an offset, UTC).",
)  # fmt: skip
@click.option(
    "--until", "valid_until", callback=_instant, metavar="ISO8601", default=None,
    help="The membership counts until this instant, excluded (ISO 8601; without an offset, "
    "UTC). Adding an existing member sets its window; neither option: it counts always.",
)  # fmt: skip
def member_add(
    *, group_id: str, user_id: str, valid_from: datetime | None, valid_until: datetime | None
) -> None:
    """Make USER_ID a member of GROUP_ID: it reaches every device the group covers (between
    --from and --until when given)."""
    _membership(state(), "add", group_id, user_id, valid_from=valid_from, valid_until=valid_until)


@member.command("remove")
@click.argument("group_id")
@click.argument("user_id")
def member_remove(*, group_id: str, user_id: str) -> None:
    """End USER_ID's membership of GROUP_ID."""
    _membership(state(), "remove", group_id, user_id)
