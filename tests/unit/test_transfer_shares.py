"""Connectors and subscriptions in the document (DOMAIN.md sections 7 and 8): their place
in the canonical order, the security code only with ``include_secrets``, a new code for a
connector imported without one, what an export of one tenant leaves out, onboarding with
refs, and every bad share record refused by position with nothing written."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

import tenancy
from tenancy import InvalidDocument, Tenancy, WrongSecurityCode
from tenancy.errors import AlreadyExists, CrossTenantReference, InvalidValue, NotFound

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def clock() -> datetime:
    return NOW


@pytest.fixture
def tn() -> Iterator[Tenancy]:
    handle = tenancy.open(clock=clock)
    yield handle
    handle.close()


def populate(tn: Tenancy) -> dict[str, Any]:
    """Acme (with the subtenant Acme EU) shares a site with the service company Svc and a
    meter with Acme EU; Svc accepted and paused, Acme EU has not accepted yet."""
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example",
                            allow_subtenants=True)  # fmt: skip
    eu = tn.create_tenant(domain="acme-eu", name="Acme EU", admin_email="eu@acme.example",
                          parent=acme.id)  # fmt: skip
    svc = tn.create_tenant(domain="svc", name="Svc", admin_email="it@svc.example")
    a, s = tn.tenant(acme.id), tn.tenant(svc.id)
    site = a.create_group("Site", id="site")
    gen = a.create_device("Generator", id="gen", tags={"kind": "generator"})
    a.associate(site.id, device_ids=[gen.id])
    meter = a.create_device("Meter", id="meter")
    to_svc = a.create_connector("to svc", destination=svc.id, groups=[site.id],
                                tags=[("kind", "generator")], description="gens",
                                id="c-svc")  # fmt: skip
    to_eu = a.create_connector("to eu", destination=eu.id, devices=[meter.id], id="c-eu")
    a.suspend_connector(to_eu.id)
    tech = s.create_user("tech@svc.example", id="tech")
    root = s.create_group("Customers", id="customers")
    sub = s.accept_connector(to_svc.id, security_code=to_svc.security_code, name="Acme fleet",
                             id="s-svc")  # fmt: skip
    s.move_group(sub.group_id, parent=root.id)
    s.add_member(sub.group_id, tech.id)
    s.pause_subscription(sub.id)
    return {"acme": acme.id, "eu": eu.id, "svc": svc.id, "to_svc": to_svc, "to_eu": to_eu,
            "sub": sub, "tech": tech.id}  # fmt: skip


def export(tn: Tenancy, **options: Any) -> bytes:
    out = io.BytesIO()
    tn.export_to(out, **options)
    return out.getvalue()


def records(data: bytes) -> list[dict[str, Any]]:
    return json.loads(data)["records"]  # type: ignore[no-any-return]


def document(recs: list[dict[str, Any]]) -> io.BytesIO:
    body = {"header": {"format": "tenancy", "version": 2}, "records": recs}
    return io.BytesIO(json.dumps(body).encode())


# ---------------------------------------------------------------- the records


def test_shares_come_after_what_they_name_and_carry_no_code_unless_asked(tn: Tenancy) -> None:
    ids = populate(tn)
    data = export(tn)
    recs = records(data)
    kinds = [r["kind"] for r in recs]
    assert json.loads(data)["header"]["version"] == 2
    named = max(i for i, k in enumerate(kinds) if k in ("group", "device"))
    assert kinds.index("connector") > named
    assert kinds.index("subscription") > max(i for i, k in enumerate(kinds) if k == "connector")
    connectors = [r for r in recs if r["kind"] == "connector"]
    assert [c["id"] for c in connectors] == ["c-eu", "c-svc"]
    assert connectors[1] == {
        "kind": "connector", "id": "c-svc", "tenant": ids["acme"], "destination": ids["svc"],
        "name": "to svc", "description": "gens", "groups": ["site"],
        "tags": [["kind", "generator"]],
    }  # fmt: skip
    assert connectors[0]["status"] == "suspended"
    (sub,) = [r for r in recs if r["kind"] == "subscription"]
    assert sub == {
        "kind": "subscription", "id": "s-svc", "tenant": ids["svc"], "connector": "c-svc",
        "name": "Acme fleet", "group": ids["sub"].group_id, "status": "paused",
    }  # fmt: skip
    for code in (ids["to_svc"].security_code, ids["to_eu"].security_code):
        assert code.encode() not in data
        assert code.encode() not in export(tn, format="msgpack")
    with_codes = records(export(tn, include_secrets=True))
    assert {r["id"]: r["security_code"] for r in with_codes if r["kind"] == "connector"} == {
        "c-eu": ids["to_eu"].security_code, "c-svc": ids["to_svc"].security_code,
    }  # fmt: skip


def test_a_copy_with_the_codes_keeps_them_and_one_without_makes_new_ones(tn: Tenancy) -> None:
    ids = populate(tn)
    for secrets in (True, False):
        data = export(tn, include_secrets=secrets)
        with tenancy.open(clock=clock) as copy:
            copy.import_from(io.BytesIO(data))
            assert export(copy, include_secrets=secrets) == data
            copy.index.check_invariants()
            a, eu, svc = (copy.tenant(ids[k]) for k in ("acme", "eu", "svc"))
            codes = {c.id: c.security_code for c in a.connectors()}
            old = ids["to_eu"].security_code
            assert (codes["c-eu"] == old) is secrets
            assert len(codes["c-eu"]) == 32
            # the accepted share stays accepted, as it was
            assert svc.get_subscription("s-svc") == tn.tenant(ids["svc"]).get_subscription("s-svc")
            # the pending one is accepted with the copy's code only
            a.activate_connector("c-eu")
            if not secrets:
                with pytest.raises(WrongSecurityCode):
                    eu.accept_connector("c-eu", security_code=old, name="Meter")
            eu.accept_connector("c-eu", security_code=codes["c-eu"], name="Meter")


def test_an_export_of_one_tenant_leaves_out_the_shares_that_cross_its_edge(
    tn: Tenancy,
) -> None:
    ids = populate(tn)
    acme = records(export(tn, tenant=ids["acme"]))  # acme and acme-eu
    assert [r["id"] for r in acme if r["kind"] == "connector"] == ["c-eu"]  # not to svc
    assert not [r for r in acme if r["kind"] == "subscription"]
    svc = records(export(tn, tenant=ids["svc"]))
    assert not [r for r in svc if r["kind"] in ("connector", "subscription")]
    virtual = ids["sub"].group_id  # stays, an ordinary group of svc covering nothing
    assert next(r for r in svc if r.get("id") == virtual)["parent"] == "customers"
    assert {"kind": "membership", "group": virtual, "user": "tech"} in svc
    with tenancy.open(clock=clock) as copy:  # svc onboarded elsewhere: its own group now
        alone = export(tn, tenant=ids["svc"])
        copy.import_from(io.BytesIO(alone), parent=copy.management_tenant.id)
        assert copy.get_group(virtual).device_ids == frozenset()
        copy.tenant(ids["svc"]).associate(virtual, device_ids=[])
        copy.index.check_invariants()


def test_onboarding_with_refs_gives_new_ids_and_keeps_the_references(tn: Tenancy) -> None:
    mgmt = tn.management_tenant.id
    recs: list[dict[str, Any]] = [
        {"kind": "tenant", "ref": "maker", "domain": "maker", "name": "Maker",
         "admin_email": "it@maker.example", "allow_subtenants": True},
        {"kind": "tenant", "ref": "dealer", "parent": "maker", "domain": "dealer",
         "name": "Dealer", "admin_email": "it@dealer.example"},
        {"kind": "device", "ref": "gen", "name": "Generator"},
        {"kind": "group", "ref": "fleet", "name": "Fleet", "device_ids": ["gen"]},
        {"kind": "group", "ref": "shared", "tenant": "dealer", "name": "From Maker"},
        {"kind": "user", "ref": "tech", "tenant": "dealer", "email": "tech@dealer.example"},
        {"kind": "membership", "group": "shared", "user": "tech"},
        {"kind": "connector", "ref": "share", "destination": "dealer", "name": "Fleet",
         "groups": ["fleet"]},
        {"kind": "subscription", "ref": "sub", "tenant": "dealer", "connector": "share",
         "name": "From Maker", "group": "shared"},
    ]  # fmt: skip
    report = tn.import_from(document(recs), parent=mgmt)
    refs = report.refs
    assert report.counts["connector"] == report.counts["subscription"] == 1
    maker, dealer = tn.tenant(refs["maker"]), tn.tenant(refs["dealer"])
    (c,) = maker.connectors()
    assert c.id == refs["share"]
    assert c.id.startswith("c-")
    assert c.group_ids == {refs["fleet"]}
    assert c.destination_tenant_id == refs["dealer"]
    (s,) = dealer.subscriptions()
    assert (s.id, s.connector_id, s.group_id) == (refs["sub"], c.id, refs["shared"])
    assert tn.index.access.virtual_group(refs["shared"]) == s
    tn.index.check_invariants()


# ---------------------------------------------------------------- bad records


def _base() -> list[dict[str, Any]]:
    return [
        {"kind": "tenant", "id": "t-a", "domain": "maker", "name": "Maker",
         "admin_email": "it@maker.example", "allow_subtenants": True},
        {"kind": "tenant", "id": "t-b", "parent": "t-a", "domain": "dealer", "name": "Dealer",
         "admin_email": "it@dealer.example"},
        {"kind": "device", "id": "gen", "name": "Generator"},
        {"kind": "device", "id": "b-dev", "tenant": "t-b", "name": "Dealer's"},
        {"kind": "group", "id": "fleet", "name": "Fleet", "device_ids": ["gen"]},
        {"kind": "group", "id": "b-root", "tenant": "t-b", "name": "Root"},
        {"kind": "group", "id": "shared", "tenant": "t-b", "parent": "b-root", "name": "Shared"},
        {"kind": "group", "id": "b-rules", "tenant": "t-b", "name": "Rules",
         "device_tags": [[["site", "x"]]]},
        {"kind": "group", "id": "spare", "tenant": "t-b", "name": "Spare"},
        {"kind": "connector", "id": "c-1", "destination": "t-b", "name": "Fleet",
         "groups": ["fleet"], "devices": ["gen"]},
        {"kind": "subscription", "id": "s-1", "tenant": "t-b", "connector": "c-1",
         "name": "Fleet", "group": "shared"},
    ]  # fmt: skip


def _edited(at: str, **fields: Any) -> list[dict[str, Any]]:
    recs = _base()
    for r in recs:
        if r.get("id") == at:
            r.update(fields)
    return recs


def _added(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    recs = _base()
    for r in extra:
        kinds = [r["kind"] for r in recs]
        at = len(recs) if r["kind"] == "subscription" else kinds.index("subscription")
        recs.insert(at, r)
    return recs


CODE = "Zq3" * 11  # 33 URL-safe characters: a well-formed code

BAD: list[tuple[str, list[dict[str, Any]], type[Exception], str, str]] = [
    ("unknown source", _edited("c-1", tenant="t-nobody"), NotFound, "connector", "tenant"),
    ("unknown destination", _edited("c-1", destination="t-x"), NotFound, "connector",
     "destination"),
    ("destination is the source", _edited("c-1", destination="t-a"), InvalidValue,
     "connector", "destination"),
    ("filter names another tenant's group", _edited("c-1", groups=["b-root"]),
     CrossTenantReference, "connector", "groups"),
    ("filter names another tenant's device", _edited("c-1", devices=["b-dev"]),
     CrossTenantReference, "connector", "devices"),
    ("filter names an unknown group", _edited("c-1", groups=["nope"]), NotFound, "connector",
     "groups"),
    ("a malformed tag matcher", _edited("c-1", tags=[[None, None]]), InvalidValue, "connector",
     "tags"),
    ("a short security code", _edited("c-1", security_code="1234"), InvalidValue,
     "connector", "security_code"),
    ("a duplicate connector", _added({"kind": "connector", "id": "c-1", "destination": "t-b",
     "name": "Again", "devices": ["gen"]}), AlreadyExists, "connector", "id"),
    ("a subscription's group of another tenant", _edited("s-1", group="fleet"),
     CrossTenantReference, "subscription", "group"),
    ("a subscription in the source", _edited("s-1", tenant="t-a", group="fleet"),
     CrossTenantReference, "subscription", "connector"),
    ("a virtual group with tag rules", _edited("s-1", group="b-rules"), InvalidValue,
     "subscription", "group"),
    ("a virtual group with a child group", _edited("s-1", group="b-root"), InvalidValue,
     "subscription", "group"),
    ("an unknown connector", _edited("s-1", connector="c-9"), NotFound, "subscription",
     "connector"),
    ("a connector accepted twice", _added({"kind": "subscription", "id": "s-2",
     "tenant": "t-b", "connector": "c-1", "name": "Again", "group": "spare"}),
     AlreadyExists, "subscription", "connector"),
    ("a duplicate subscription id", _added(
        {"kind": "connector", "id": "c-2", "destination": "t-b", "name": "Two",
         "devices": ["gen"]},
        {"kind": "subscription", "id": "s-1", "tenant": "t-b", "connector": "c-2",
         "name": "Again", "group": "spare"}), AlreadyExists, "subscription", "id"),
    ("a group virtual twice", _added(
        {"kind": "connector", "id": "c-2", "destination": "t-b", "name": "Two",
         "devices": ["gen"]},
        {"kind": "subscription", "id": "s-2", "tenant": "t-b", "connector": "c-2",
         "name": "Again", "group": "shared"}), AlreadyExists, "subscription", "group"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("recs", "error", "kind", "field"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_a_bad_share_record_is_refused_by_position_and_nothing_is_written(
    tn: Tenancy, recs: list[dict[str, Any]], error: type[Exception], kind: str, field: str
) -> None:
    with tenancy.open(clock=clock) as fresh:  # the base document is good
        fresh.import_from(document(_base()), parent=fresh.management_tenant.id)
    before, log_before = tn.store.snapshot(), tn.audit_log(limit=10_000).items
    revision = tn.revision
    with pytest.raises(InvalidDocument) as refused:
        tn.import_from(document(recs), parent=tn.management_tenant.id)
    assert isinstance(refused.value.error, error)
    assert refused.value.kind == kind
    assert refused.value.field == field
    assert tn.revision == revision
    assert tn.store.snapshot() == before
    assert tn.audit_log(limit=10_000).items == log_before


def test_a_bad_code_is_never_echoed(tn: Tenancy) -> None:
    secret = "s3cret-but-too-short"
    with pytest.raises(InvalidDocument) as refused:
        tn.import_from(document(_edited("c-1", security_code=secret)),
                       parent=tn.management_tenant.id)  # fmt: skip
    shown = " ".join(map(str, (refused.value, refused.value.value, refused.value.rule,
                               refused.value.error, repr(refused.value))))  # fmt: skip
    assert secret not in shown
    good = tn.import_from(document(_edited("c-1", security_code=CODE)),
                          parent=tn.management_tenant.id)  # fmt: skip
    assert tn.tenant("t-a").get_connector("c-1").security_code == CODE
    assert good.counts["connector"] == 1


def test_the_management_tenant_is_never_a_source(tn: Tenancy) -> None:
    """In a whole store's document, a connector from the management tenant is refused."""
    populate(tn)
    recs = records(export(tn))
    management = next(r["id"] for r in recs if r["kind"] == "tenant" and "parent" not in r)
    for r in recs:
        if r["kind"] == "connector" and r["id"] == "c-eu":
            r["tenant"], r["devices"] = management, []
    with tenancy.open(clock=clock) as copy, pytest.raises(InvalidDocument) as refused:
        copy.import_from(document(recs))
    assert refused.value.kind == "connector"
    assert refused.value.field == "tenant"
    assert "management tenant" in refused.value.rule


def test_a_filter_naming_a_virtual_group_is_refused(tn: Tenancy) -> None:
    """A share never chains: no connector's filter names another share's virtual group."""
    recs = _base()
    recs.insert(10, {"kind": "connector", "id": "c-2", "tenant": "t-b", "destination": "t-a",
                    "name": "Chain", "groups": ["shared"]})  # fmt: skip
    with pytest.raises(InvalidDocument) as refused:
        tn.import_from(document(recs), parent=tn.management_tenant.id)
    assert refused.value.kind == "subscription"
    assert refused.value.field == "group"
