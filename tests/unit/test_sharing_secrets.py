"""The security code of a connector (DOMAIN.md section 7, issue 16 item 3): 128 bits or
more from :mod:`secrets`, compared in constant time through :func:`hmac.compare_digest`,
and never shown where it does not belong: the audit log, an export without
``include_secrets``, an error message or an error's ``value``, the repr and str of
records, the command line, the admin page."""

from __future__ import annotations

import hmac
import io
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from starlette.testclient import TestClient

import tenancy
from tenancy import Connector, Tenancy, TenancyError, WrongSecurityCode
from tenancy.cli import main
from tenancy.testing import fuzz
from tenancy.web import app

SHARING = (
    "create_connector", "suspend_connector", "activate_connector", "delete_connector",
    "accept_connector", "pause_subscription", "resume_subscription", "delete_subscription",
    "connectors", "subscriptions", "get_connector", "get_subscription",
)  # fmt: skip


class Share:
    """A store with a share from Acme to Svc: offered, refused once, accepted, toggled on
    both sides, and a second connector still pending."""

    def __init__(self, tn: Tenancy) -> None:
        self.tn = tn
        self.acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        self.svc = tn.create_tenant(domain="svc", name="Svc", admin_email="it@svc.example")
        src, dst = tn.tenant(self.acme.id), tn.tenant(self.svc.id)
        site = src.create_group("Site")
        gen = src.create_device("Generator")
        src.associate(site.id, device_ids=[gen.id])
        self.connector = src.create_connector("to svc", destination=self.svc.id,
                                              groups=[site.id])  # fmt: skip
        self.pending = src.create_connector("later", destination=self.svc.id, devices=[gen.id])
        with pytest.raises(WrongSecurityCode):
            dst.accept_connector(self.connector.id, security_code=self.pending.security_code,
                                 name="Acme")  # fmt: skip
        self.sub = dst.accept_connector(self.connector.id,
                                        security_code=self.connector.security_code,
                                        name="Acme")  # fmt: skip
        src.suspend_connector(self.connector.id)
        src.activate_connector(self.connector.id)
        dst.pause_subscription(self.sub.id)
        dst.resume_subscription(self.sub.id)
        self.codes = [self.connector.security_code, self.pending.security_code]

    def assert_hidden(self, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        for code in self.codes:
            assert code.encode() not in data


@pytest.fixture
def share() -> Iterator[Share]:
    with tenancy.open() as tn:
        yield Share(tn)


# ---------------------------------------------------------------- entropy, constant time


def test_codes_have_128_bits_or_more_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []
    real = secrets.token_urlsafe

    def spy(nbytes: int | None = None) -> str:
        asked.append(0 if nbytes is None else nbytes)
        return real(nbytes)

    monkeypatch.setattr(secrets, "token_urlsafe", spy)
    with tenancy.open() as tn:
        acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
        svc = tn.create_tenant(domain="svc", name="Svc", admin_email="it@svc.example")
        t = tn.tenant(acme.id)
        device = t.create_device("Generator")
        made = [t.create_connector(f"c{i}", destination=svc.id, devices=[device.id])
                for i in range(40)]  # fmt: skip
    assert asked
    assert all(n * 8 >= 128 for n in asked)
    codes = [c.security_code for c in made]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22,}", c) for c in codes)
    assert tenancy.ids.new_security_code() != tenancy.ids.new_security_code()
    assert len(tenancy.ids.new_security_code()) * 6 >= 128


def test_the_code_is_compared_through_hmac_compare_digest(
    share: Share, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    dst = share.tn.tenant(share.svc.id)
    with pytest.raises(WrongSecurityCode):
        dst.accept_connector(share.pending.id, security_code="a wrong guess", name="Later")
    assert compared == [(b"a wrong guess", share.pending.security_code.encode())]
    dst.accept_connector(share.pending.id, security_code=share.pending.security_code,
                         name="Later")  # fmt: skip
    assert len(compared) == 2
    # the decision is compare_digest's: a comparison that says no refuses the right code
    other = share.tn.tenant(share.acme.id).create_connector(
        "third", destination=share.svc.id, devices=list(share.pending.device_ids)
    )
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: False)
    with pytest.raises(WrongSecurityCode):
        dst.accept_connector(other.id, security_code=other.security_code, name="Third")


# ---------------------------------------------------------------- never shown


def test_never_in_the_audit_log(share: Share) -> None:
    tn = share.tn
    records = tn.audit_log(limit=10_000).items
    assert {"AccessSet", "AccessRemoved", "ConnectorAcceptRefused"} - {
        r.action for r in records
    } == {"AccessRemoved"}
    for r in records:
        share.assert_hidden(msgspec.json.encode([r.before, r.after, r.target]))
        share.assert_hidden(repr(r))
    tn.tenant(share.acme.id).delete_connector(share.connector.id)
    for tenant in (share.acme.id, share.svc.id, None):
        for r in tn.audit_log(tenant=tenant, limit=10_000).items:
            share.assert_hidden(msgspec.json.encode([r.before, r.after]))


def test_never_in_an_export_without_the_option(share: Share) -> None:
    for options in ({}, {"tenant": share.acme.id}, {"format": "msgpack"},
                    {"include_audit": True}):  # fmt: skip
        out = io.BytesIO()
        share.tn.export_to(out, **options)
        share.assert_hidden(out.getvalue())
    out = io.BytesIO()
    share.tn.export_to(out, include_secrets=True)
    assert all(code.encode() in out.getvalue() for code in share.codes)


def test_never_in_the_repr_or_str_of_records(share: Share) -> None:
    src = share.tn.tenant(share.acme.id)
    for c in src.connectors():
        assert c.security_code in share.codes  # the source reads it
        for shown in (repr(c), str(c), repr([c]), str({c.id: c}), f"{c}", f"{c!r}"):
            share.assert_hidden(shown)
            assert "<hidden>" in shown
    share.assert_hidden(repr(share.sub))
    for scope in (share.svc.id, share.tn.management_tenant.id):  # without the code there
        for c in share.tn.tenant(scope).connectors() or [
            share.tn.tenant(scope).get_connector(share.connector.id)
        ]:
            assert c.security_code == ""


def _shown(error: TenancyError) -> str:
    parts = [str(error), repr(error), repr(error.value), str(error.rule), repr(error.args)]
    cause = getattr(error, "error", None)
    if cause is not None:
        parts.append(repr(cause))
    return "\n".join(parts)


def test_never_in_an_error_message_of_a_refused_share_write() -> None:
    """Every sharing method of every surface, with each bad value of the fuzzer, and the
    accept with every wrong code: no message, value, rule or args shows a code of the
    store, nor a string given as the security code."""
    w = fuzz.build_world()
    scanned = 0
    try:
        for surface, method, param, _label, value in fuzz.calls(0, None, methods=SHARING):
            recipe = fuzz.RECIPES[method]
            args = {n: p.valid(w) for n, p in recipe.items() if p.valid(w) is not fuzz.OMIT}
            try:
                args[param] = value(w)
            except TenancyError:
                continue
            given = args.get("security_code")
            codes = [
                r.security_code for r in w.tn.store.snapshot().access if isinstance(r, Connector)
            ]
            revision = w.tn.revision
            try:
                fuzz._invoke(w.surfaces[surface], method, args)
            except TenancyError as error:
                shown = _shown(error)
                scanned += 1
                for code in codes:
                    assert code not in shown, f"{surface}.{method}({param}=)"
                if isinstance(given, str) and len(given.strip()) >= 5 and param == "security_code":
                    assert given not in shown, f"{surface}.{method} echoed the code given"
            if w.tn.revision != revision:
                w.tn.close()
                w = fuzz.build_world()
    finally:
        w.tn.close()
    assert scanned > 500


def test_never_in_the_command_line_audit(
    share: Share, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "s.db")
    with tenancy.open(path) as copy:
        copy.close()
    data = io.BytesIO()
    share.tn.export_to(data, include_secrets=True)
    with tenancy.open(path) as copy:
        copy.import_from(io.BytesIO(data.getvalue()))
    for tenant in (share.acme.id, share.svc.id):
        for flags in ([], ["--json"]):
            assert main(["--db", path, *flags, "audit", tenant, "--limit", "1000"]) == 0
            share.assert_hidden(capsys.readouterr().out)
    out = tmp_path / "doc.json"
    assert main(["--db", path, "export", "-o", str(out)]) == 0
    share.assert_hidden(out.read_bytes())
    assert main(["--db", path, "export", "--include-secrets", "-o", str(out)]) == 0
    codes = {r.get("security_code") for r in json.loads(out.read_bytes())["records"]}
    assert set(share.codes) <= codes
    capsys.readouterr()


def test_never_on_the_admin_page(share: Share) -> None:
    tn = share.tn
    admin = tn.management_tenant.admin_user_id
    client = TestClient(app(tn, authorize=lambda request: admin))
    urls = ["/", f"/groups/{share.sub.group_id}"]
    for tenant in (share.acme.id, share.svc.id):
        urls += [f"/tenants/{tenant}", f"/tenants/{tenant}/audit"]
    for url in urls:
        page = client.get(url)
        assert page.status_code == 200, url
        share.assert_hidden(page.text)
