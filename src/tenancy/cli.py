"""The command line: the read-side questions of tenancy, asked of a store file.

    tenancy --db app.db tenants
    tenancy --db app.db verify USER DEVICE        # exit status 0 when allowed, 1 when not
    tenancy --db app.db explain USER DEVICE
    tenancy --db app.db devices-for USER [--limit N] [--after CURSOR]
    tenancy --db app.db users-for DEVICE
    tenancy --db app.db serve [--host 127.0.0.1] [--port 8080]   # the admin page (web extra)

It is a thin layer on the public API (``tenancy.open`` and the handle's queries); output is
plain text, one record per line, or JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import msgspec

import tenancy
from tenancy.errors import TenancyError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tenancy", description="Ask which devices a user may see, and why."
    )
    parser.add_argument(
        "--db", required=True, help="store to open: a SQLite file path or sqlite:///path"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("tenants", help="list every tenant")
    verify = commands.add_parser("verify", help="may USER see DEVICE? exit 0 if so, 1 if not")
    explain = commands.add_parser("explain", help="why USER may or may not see DEVICE")
    for sub in (verify, explain):
        sub.add_argument("user")
        sub.add_argument("device")
    devices_for = commands.add_parser("devices-for", help="one page of the devices USER sees")
    devices_for.add_argument("user")
    devices_for.add_argument("--limit", type=int, default=100)
    devices_for.add_argument("--after", default=None, help="the cursor a previous page printed")
    users_for = commands.add_parser("users-for", help="every user who sees DEVICE")
    users_for.add_argument("device")
    serve = commands.add_parser("serve", help="the admin page, behind a token printed once")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (8080)")
    serve.add_argument(
        "--allow-writes",
        action="store_true",
        help="add the forms that write (as the management tenant's admin)",
    )
    return parser


def _emit(args: argparse.Namespace, value: object, text: str) -> None:
    if args.json:
        print(json.dumps(msgspec.to_builtins(value), sort_keys=True))
    else:
        print(text)


def _serve(args: argparse.Namespace) -> int:
    try:
        from tenancy.web.serve import serve  # noqa: PLC0415 (the optional web extra)
    except ImportError as missing:  # the web extra is not installed
        print(f"tenancy: serve needs the web extra (pip install 'tenancy[web]'): {missing}",
              file=sys.stderr)  # fmt: skip
        return 2
    return serve(args.db, host=args.host, port=args.port, allow_writes=args.allow_writes)


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(args)
    with tenancy.open(args.db) as tn:
        if args.command == "tenants":
            records = [tn.get_tenant(t) for t in sorted(tn.index.tenants)]
            _emit(args, records, "\n".join(f"{t.id}\t{t.domain}\t{t.status}" for t in records))
        elif args.command == "verify":
            allowed = tn.verify(args.user, args.device)
            _emit(args, {"allowed": allowed}, "allowed" if allowed else "denied")
            return 0 if allowed else 1
        elif args.command == "explain":
            why = tn.explain(args.user, args.device)
            lines = [("allowed: " if why.allowed else "denied: ") + why.reason]
            if why.path:
                lines.append("path: " + " > ".join(tn.index.groups[g].name for g in why.path))
            _emit(args, {"allowed": why.allowed, "code": why.code, "reason": why.reason,
                         "path": list(why.path)}, "\n".join(lines))  # fmt: skip
        elif args.command == "devices-for":
            page = tn.devices_for(args.user, limit=args.limit, after=args.after)
            lines = [f"{d.id}\t{d.name}" for d in page.items]
            if page.next is not None:
                lines.append(f"next: {page.next}")
            _emit(args, {"items": list(page.items), "next": page.next}, "\n".join(lines))
        elif args.command == "users-for":
            users = tn.users_for(args.device)
            _emit(args, users, "\n".join(f"{u.id}\t{u.email}" for u in users))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tenancy`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except TenancyError as error:
        print(f"tenancy: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
