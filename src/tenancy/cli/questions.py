"""Commands that ask questions: verify, check, explain, devices-for, users-for, and the
reports (stats, audit). None of them writes."""

from __future__ import annotations

from datetime import datetime

import click

import tenancy
from tenancy.cli.output import page_size, parse_tag_options
from tenancy.cli.root import EXIT_DENIED, cli, state
from tenancy.records.model import Device, User

__all__: list[str] = []


@cli.command()
@click.argument("user_id")
@click.argument("device_id")
def verify(*, user_id: str, device_id: str) -> int:
    """May USER_ID see DEVICE_ID? Prints allowed (exit 0) or denied (exit 1); unknown ids
    are denied."""
    st = state()
    with st.open() as tn:
        allowed = tn.verify(user_id, device_id)
    st.out.emit({"allowed": allowed}, "allowed" if allowed else "denied")
    return 0 if allowed else EXIT_DENIED


@cli.command()
@click.argument("user_id")
@click.argument("permission")
@click.argument("device_id")
def check(*, user_id: str, permission: str, device_id: str) -> int:
    """May USER_ID do PERMISSION (such as device:READ) on DEVICE_ID? Prints allowed (exit 0)
    or denied (exit 1)."""
    st = state()
    with st.open() as tn:
        allowed = tn.check(user_id, permission, device_id)
    st.out.emit({"allowed": allowed}, "allowed" if allowed else "denied")
    return 0 if allowed else EXIT_DENIED


@cli.command()
@click.argument("user_id")
@click.argument("device_id")
@click.option(
    "--permission", metavar="PERMISSION", help="Also say which role grants it, or why none does."
)
def explain(*, user_id: str, device_id: str, permission: str | None) -> None:
    """Why USER_ID may or may not see DEVICE_ID: the reason, and the group path by name."""
    st = state()
    with st.open() as tn:
        why = tn.explain(user_id, device_id, permission=permission)
        names = [tn.get_group(g).name for g in why.path]
    lines = [("allowed: " if why.allowed else "denied: ") + why.reason]
    if names:
        lines.append("path: " + " > ".join(names))
    st.out.emit(
        {"allowed": why.allowed, "code": why.code, "reason": why.reason, "path": list(why.path),
         "role": why.role},
        lines,
    )  # fmt: skip


@cli.command("devices-for")
@click.argument("user_id")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="Keep devices matching every such tag (KEY=* any value, *=VALUE any key).",
)
@click.option(
    "--limit",
    type=int,
    callback=page_size,
    default=100,
    show_default=True,
    help="Devices on the page.",
)
@click.option("--after", metavar="CURSOR", help="The cursor a previous page printed.")
@click.option("--all", "every", is_flag=True, help="Every page, streamed, instead of one.")
def devices_for(
    *, user_id: str, tags: tuple[str, ...], limit: int, after: str | None, every: bool
) -> None:
    """The devices USER_ID sees, sorted by id: one page (then next: CURSOR), or --all."""
    st = state()
    tag_filter = parse_tag_options(tags) if tags else None
    with st.open() as tn:
        if every:
            found = tenancy.every_page(tn.devices_for, user_id, limit=limit, tags=tag_filter)
            st.out.emit_stream(found, _device_line)
            return
        page = tn.devices_for(user_id, limit=limit, after=after, tags=tag_filter)
    lines = [_device_line(d) for d in page.items]
    if page.next is not None:
        lines.append(f"next: {page.next}")
    st.out.emit({"items": list(page.items), "next": page.next}, lines)


def _device_line(d: Device) -> str:
    return f"{d.id}\t{d.name}"


@cli.command("users-for")
@click.argument("device_id")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="Keep users whose tags match every such tag (notify=sms: whom to alert).",
)
def users_for(*, device_id: str, tags: tuple[str, ...]) -> None:
    """Every user who sees DEVICE_ID, sorted by id: id, email."""
    st = state()
    with st.open() as tn:
        users = tn.users_for(device_id, tags=parse_tag_options(tags) if tags else None)
    st.out.emit(users, [_user_line(u) for u in users])


def _user_line(u: User) -> str:
    return f"{u.id}\t{u.email}"


@cli.command()
@click.argument("tenant_id")
@click.option(
    "--from",
    "start",
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="DATE",
    help="First day (YYYY-MM-DD, UTC); default: the tenant's creation.",
)
@click.option(
    "--to",
    "end",
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="DATE",
    help="Last day, included (YYYY-MM-DD, UTC); default: today.",
)
@click.option("--subtenants", is_flag=True, help="Every tenant below it too.")
def stats(
    *, tenant_id: str, start: datetime | None, end: datetime | None, subtenants: bool
) -> None:
    """Usage statistics of TENANT_ID, one CSV row per tenant and day (JSON: the records)."""
    st = state()
    first = None if start is None else start.date()
    last = None if end is None else end.date()
    with st.open() as tn:
        if st.out.as_json:
            st.out.emit(tn.usage(tenant_id, first, last, subtenants=subtenants), "")
        else:
            click.echo(tn.usage_csv(tenant_id, first, last, subtenants=subtenants), nl=False)


@cli.command()
@click.argument("tenant_id")
@click.option(
    "--limit",
    type=int,
    callback=page_size,
    default=100,
    show_default=True,
    help="Records on the page.",
)
@click.option("--after", metavar="CURSOR", help="The cursor a previous page printed.")
def audit(*, tenant_id: str, limit: int, after: str | None) -> None:
    """The audit log of TENANT_ID, oldest first, one page (then next: CURSOR)."""
    st = state()
    with st.open() as tn:
        tn.get_tenant(tenant_id)
        page = tn.audit_log(tenant=tenant_id, limit=limit, after=after)
    lines = [
        f"{r.seq}\t{r.at.isoformat()}\t{r.actor}\t{r.action}\t{r.target or '-'}" for r in page.items
    ]
    if page.next is not None:
        lines.append(f"next: {page.next}")
    st.out.emit({"items": list(page.items), "next": page.next}, lines)


@cli.command(hidden=True)
def tenants() -> None:
    """Every tenant (kept from 0.1's command line; ``tenant list`` is the command)."""
    st = state()
    with st.open() as tn:
        records = sorted(tn.tenants(), key=lambda t: t.id)  # as 0.1 printed them
    st.out.emit(records, [f"{t.id}\t{t.domain}\t{t.status}" for t in records])
