"""Import and export (DOMAIN.md section 8): the document, its canonical bytes, the import as
one transaction that refuses a bad record by position and rule, onboarding, export by tag,
and who may."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

import tenancy
from tenancy import InvalidDocument, PermissionDenied, Tenancy
from tenancy.errors import AlreadyExists, CycleError, LimitExceeded, NotFound
from tenancy.transfer.frames import read_document
from tenancy.transfer.schema import DOCUMENT_VERSION, Document

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def clock() -> datetime:
    return NOW


@pytest.fixture
def tn() -> Iterator[Tenancy]:
    handle = tenancy.open(clock=clock)
    yield handle
    handle.close()


def populate(tn: Tenancy) -> dict[str, str]:
    acme = tn.create_tenant(
        domain="acme", name="Acme", admin_email="it@acme.example", allow_subtenants=True,
        properties={"crm": "42"}, options={("ui", "theme"): "dark"}, max_devices=100,
        subscriptions=["cockpit"],
    )  # fmt: skip
    sub = tn.create_tenant(domain="acme-eu", name="Acme EU", admin_email="eu@acme.example",
                           parent=acme.id)  # fmt: skip
    t = tn.tenant(acme.id)
    region = t.create_group("North", device_tags=[("region", "north")])
    site = t.create_group("San Bruno", parent=region.id, device_tags=[
        tenancy.all_of(("site", "sb"), ("kind", "generator")), (None, "sb")])  # fmt: skip
    gw = t.create_device("Gateway", id="gw-1", tags={"site": "sb"})
    gen = t.create_device("Generator", id="gen-1", tags=[("site", "sb"), ("kind", "generator")],
                          parent=gw.id)  # fmt: skip
    t.create_device("Pump", id="pump-1", tags={"region": "north", "customer": "leaving"})
    t.associate(region.id, device_ids=["pump-1"])
    boss = t.create_user("boss@acme.example", tags={"notify": "sms"}, first_name="Bo")
    ana = t.create_user("ana@acme.example", owner=boss.id)
    t.add_member(region.id, boss.id)
    t.add_member(site.id, ana.id)
    t.define_role("fleet", ["device:READ", "device:UPDATE"], kind="inventory")
    t.define_role("helpdesk", ["user_management:CREATE", "user_management:READ"])
    t.grant_role(boss.id, "helpdesk")
    t.grant_inventory_role(boss.id, "fleet", group=region.id)  # a sub-user's ceiling
    t.grant_inventory_role(ana.id, "fleet", group=site.id)
    t.grant_inventory_role(region.id, "operator", group=region.id, to="group")
    t.delegate(ana.id, boss.id)
    t.request_support(boss.id)
    tn.tenant(sub.id).create_device("EU meter", id="eu-1")
    tn.record_request(acme.id, "api", 5)
    tn.flush_usage()
    return {"acme": acme.id, "sub": sub.id, "gen": gen.id, "boss": boss.id, "ana": ana.id,
            "site": site.id, "region": region.id}  # fmt: skip


def export(tn: Tenancy, **options: Any) -> bytes:
    out = io.BytesIO()
    tn.export_to(out, **options)
    return out.getvalue()


def answers(tn: Tenancy) -> list[object]:
    index = tn.index
    users, devices = sorted(index.users), sorted(index.devices)
    out: list[object] = []
    for u in users:
        out.append([d.id for d in tn.devices_for(u, limit=10_000)])
        out.extend(
            (tn.verify(u, d), tn.check(u, "device:UPDATE", d), tn.explain(u, d)) for d in devices
        )
    out.extend([u.id for u in tn.users_for(d)] for d in devices)
    return out


# ---------------------------------------------------------------- the document


@pytest.mark.parametrize("format", ["json", "msgpack"])
def test_round_trip_gives_the_same_answers_and_the_same_bytes(tn: Tenancy, format: str) -> None:
    populate(tn)
    first = export(tn, format=format)
    with tenancy.open(clock=clock) as copy:
        report = copy.import_from(io.BytesIO(first))
        assert report.counts["device"] == 4
        assert report.counts["tenant"] == 3
        assert report.revision == copy.revision
        assert answers(copy) == answers(tn)
        assert export(copy, format=format) == first
        copy.index.check_invariants()


def test_json_is_one_json_value_with_one_record_per_line(tn: Tenancy) -> None:
    populate(tn)
    data = export(tn)
    document = json.loads(data)
    assert document["header"]["format"] == "tenancy"
    assert document["header"]["version"] == DOCUMENT_VERSION
    lines = data.decode().splitlines()
    assert len(lines) == len(document["records"]) + 2
    kinds = [r["kind"] for r in document["records"]]
    order = ["tenant", "role", "device", "group", "user", "membership", "role_grant",
             "inventory_grant", "delegation", "support_request", "connector", "subscription",
             "usage"]  # fmt: skip
    assert sorted(kinds, key=order.index) == kinds
    gen = next(r for r in document["records"] if r.get("id") == "gen-1")
    assert gen["tags"] == [["kind", "generator"], ["site", "sb"]]  # sorted
    assert gen["parent"] == "gw-1"


def test_a_reformatted_json_document_is_read_whole(tn: Tenancy) -> None:
    populate(tn)
    pretty = json.dumps(json.loads(export(tn)), indent=2).encode()
    with tenancy.open(clock=clock) as copy:
        copy.import_from(io.BytesIO(pretty))
        assert answers(copy) == answers(tn)


def test_paths_pick_the_format_from_the_suffix(tn: Tenancy, tmp_path: Path) -> None:
    populate(tn)
    tn.export_to(tmp_path / "store.msgpack")
    tn.export_to(str(tmp_path / "store.json"))
    assert (tmp_path / "store.msgpack").read_bytes()[:1] == b"\x00"
    assert (tmp_path / "store.json").read_bytes()[:1] == b"{"
    with tenancy.open(clock=clock) as copy:
        copy.import_from(tmp_path / "store.msgpack")
        assert answers(copy) == answers(tn)
    with pytest.raises(tenancy.InvalidValue) as missing:
        tn.import_from(tmp_path / "typo.json")
    assert missing.value.field == "path_or_fileobj"
    assert not (tmp_path / "typo.json").exists()


def test_the_published_schema_is_up_to_date() -> None:
    published = json.loads((ROOT / "docs/reference/document-schema.json").read_text())
    assert published == json.loads(json.dumps(tenancy.document_schema())), (
        "regenerate: python -c 'import json, tenancy; print(json.dumps(tenancy."
        "document_schema(), indent=2, sort_keys=True))' > docs/reference/document-schema.json"
    )


def test_a_later_version_and_a_cut_off_document_are_refused(tn: Tenancy) -> None:
    populate(tn)
    data = export(tn)
    now, next_ = (f'"version":{v}'.encode() for v in (DOCUMENT_VERSION, DOCUMENT_VERSION + 1))
    later = data.replace(now, next_, 1)
    assert later != data
    with pytest.raises(tenancy.InvalidValue, match=f"versions 1 to {DOCUMENT_VERSION}"):
        tenancy.open().import_from(io.BytesIO(later))
    cut = b"\n".join(data.split(b"\n")[:5])
    with pytest.raises(tenancy.InvalidValue, match="ends before"):
        tenancy.open().import_from(io.BytesIO(cut))
    packed = export(tn, format="msgpack")
    with pytest.raises(tenancy.InvalidValue, match="ends inside a frame"):
        tenancy.open().import_from(io.BytesIO(packed[:-10]))


def test_usage_and_audit_are_included_by_option(tn: Tenancy) -> None:
    ids = populate(tn)
    header, _ = read_document(io.BytesIO(export(tn, include_usage=False)))
    assert header.usage is False
    assert "usage" not in (header.counts or {})
    data = export(tn, include_audit=True)
    header, _ = read_document(io.BytesIO(data))
    source_log = tn.audit_log(limit=10_000).items
    assert header.counts is not None
    assert header.counts["audit"] == len(source_log)
    with tenancy.open(clock=clock) as copy:
        start = len(copy.audit_log(limit=10_000).items)  # its own initialisation
        copy.import_from(io.BytesIO(data))
        log = copy.audit_log(limit=10_000).items[start:]
        carried = [(r.revision, r.actor, r.action, r.target) for r in log[: len(source_log)]]
        assert carried == [(r.revision, r.actor, r.action, r.target) for r in source_log]
        own = log[len(source_log) :]
        assert {r.revision for r in own} == {copy.revision}  # the import's own records
        assert any(r.action == "DeviceCreated" and r.target == ids["gen"] for r in own)
        # Exported again, the copy's log is whole: its start, the carried records (with
        # the source's revisions, later than the copy's own) and the import's.
        again, _ = read_document(io.BytesIO(export(copy, include_audit=True)))
        assert again.counts is not None
        assert again.counts["audit"] == start + len(log)


# ---------------------------------------------------------------- all or nothing


def _records(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    document = json.loads(data)
    return document["header"], document["records"]


def _document(header: dict[str, Any], records: list[dict[str, Any]]) -> io.BytesIO:
    header = {k: v for k, v in header.items() if k != "counts"}
    return io.BytesIO(json.dumps({"header": header, "records": records}).encode())


def _tenant_document(tn: Tenancy, tenant: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return _records(export(tn, tenant=tenant))


def _edit(records: list[dict[str, Any]], record_id: str, **fields: Any) -> int:
    at = next(i for i, r in enumerate(records) if r.get("id") == record_id)
    records[at].update(fields)
    return at


@pytest.mark.parametrize(
    ("edit", "error", "rule"),
    [
        ({"parent": "no-such-gateway"}, NotFound, "existing device"),
        ({"parent": "gen-1"}, CycleError, "under itself"),
        ({"tags": [["site", ""]]}, tenancy.InvalidValue, "non-empty"),
        ({"name": "two\nlines"}, tenancy.InvalidValue, "control characters"),
        ({"name": 7}, tenancy.InvalidValue, "Expected `str`, got `int` - at `$.name`"),
        ({"id": "gw-1"}, AlreadyExists, "unique"),
    ],
)
def test_a_bad_record_is_named_and_nothing_is_written(
    tmp_path: Path, edit: dict[str, Any], error: type[Exception], rule: str
) -> None:
    """Two handles on one SQLite file: after a refused import, both answer as before."""
    path = str(tmp_path / "s.db")
    source = tenancy.open(clock=clock)
    ids = populate(source)
    header, records = _tenant_document(source, ids["acme"])
    for r in records:  # a new domain and new ids: only the edited record is wrong
        if r["kind"] == "tenant":
            r["domain"] = r["domain"].replace("acme", "acmo")
    at = _edit(records, "gen-1", **edit)
    with tenancy.open(path, clock=clock) as one, tenancy.open(path, clock=clock) as two:
        before = one.store.snapshot()
        log_before = one.audit_log(limit=10_000).items
        with pytest.raises(tenancy.InvalidValue) as refused:
            one.import_from(_document(header, records), parent=one.management_tenant.id)
        assert rule in str(refused.value)
        assert isinstance(refused.value, InvalidDocument)
        assert isinstance(refused.value.error, error)
        assert refused.value.position == at
        assert refused.value.kind == "device"
        assert f"record {at} of the document (device" in str(refused.value)
        assert one.store.snapshot() == before
        assert one.audit_log(limit=10_000).items == log_before
        two.catch_up()
        assert two.index.snapshot() == one.index.snapshot() == before
        assert one.revision == two.revision == before.revision


def test_a_broken_limit_names_the_record_and_the_limit(tn: Tenancy) -> None:
    ids = populate(tn)
    header, records = _tenant_document(tn, ids["acme"])
    for r in records:
        if r["kind"] == "tenant":
            r["domain"] += "x"
            r.pop("id")
    for r in records:
        if r["kind"] in ("device", "group", "user"):
            r.pop("id", None)
    records = _strip_references(records)
    first = next(r for r in records if r["kind"] == "tenant")
    first["max_devices"] = 1
    with pytest.raises(InvalidDocument) as refused:
        tn.import_from(_document(header, records), parent=tn.management_tenant.id)
    assert isinstance(refused.value.error, LimitExceeded)
    assert refused.value.kind == "device"
    assert refused.value.index == 1
    assert refused.value.rule == "max_devices is at most 1"


def _strip_references(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only tenants and reference-free devices: the others name ids the test removed."""
    return [
        {k: v for k, v in r.items() if k not in ("parent", "admin_user", "tenant")}
        for r in records
        if r["kind"] in ("tenant", "device") and (r["kind"] != "tenant" or "parent" in r)
    ][:1] + [
        {k: v for k, v in r.items() if k not in ("parent", "tenant")}
        for r in records
        if r["kind"] == "device"
    ]


def test_importing_into_a_store_in_use_refuses_conflicting_ids(tn: Tenancy) -> None:
    ids = populate(tn)
    data = export(tn, tenant=ids["acme"])
    with pytest.raises(InvalidDocument) as taken:
        tn.import_from(io.BytesIO(data))
    assert isinstance(taken.value.error, AlreadyExists)
    assert taken.value.position == 0
    with pytest.raises(tenancy.InvalidValue, match="empty store"):
        tn.import_from(io.BytesIO(export(tn)))


def test_a_deleted_tenant_comes_back_from_its_export(tn: Tenancy) -> None:
    ids = populate(tn)
    before = answers(tn)
    data = export(tn, tenant=ids["acme"])
    tn.delete_tenant(ids["acme"], cascade=True)
    report = tn.import_from(io.BytesIO(data))
    assert report.tenant_id == ids["acme"]
    assert answers(tn) == before


# ---------------------------------------------------------------- onboarding


ONBOARDING = {
    "header": {"format": "tenancy", "version": 1},
    "records": [
        {
            "kind": "tenant",
            "domain": "globex",
            "name": "Globex",
            "admin_email": "it@globex.example",
        },
        {"kind": "device", "ref": "gw", "name": "Gateway", "tags": [["site", "hq"]]},
        {"kind": "device", "name": "Sensor", "parent": "gw"},
        {"kind": "group", "ref": "hq", "name": "HQ", "device_tags": [[["site", "hq"]]]},
        {"kind": "user", "ref": "kim", "email": "kim@globex.example"},
        {"kind": "membership", "group": "hq", "user": "kim"},
    ],
}


def test_onboarding_generates_ids_and_provisions_the_admin(tn: Tenancy) -> None:
    reseller = tn.create_tenant(domain="reseller", name="R", admin_email="r@r.example",
                                allow_subtenants=True)  # fmt: skip
    report = tn.import_from(io.BytesIO(json.dumps(ONBOARDING).encode()), parent=reseller.id)
    globex = tn.get_tenant(report.tenant_id)  # type: ignore[arg-type]
    assert globex.parent_id == reseller.id
    assert globex.created_at == NOW
    kim = report.refs["kim"]
    assert sorted(d.name for d in tn.devices_for(kim)) == ["Gateway", "Sensor"]
    admin = tn.tenant(globex.id).get_user(globex.admin_user_id)  # type: ignore[arg-type]
    assert admin.email == "it@globex.example"
    assert tn.tenant(globex.id).roles_of(admin.id) == ["admin"]
    assert report.counts["provisioned_admin"] == 1
    with pytest.raises(InvalidDocument) as again:  # the domain is taken now
        tn.import_from(io.BytesIO(json.dumps(ONBOARDING).encode()), parent=reseller.id)
    assert again.value.position == 0
    assert again.value.field == "domain"


def test_a_suspended_or_closed_parent_refuses_onboarding(tn: Tenancy) -> None:
    closed = tn.create_tenant(domain="closed", name="C", admin_email="c@c.example")
    with pytest.raises(InvalidDocument, match="allow_subtenants"):
        tn.import_from(io.BytesIO(json.dumps(ONBOARDING).encode()), parent=closed.id)
    with pytest.raises(InvalidDocument) as unknown:
        tn.import_from(io.BytesIO(json.dumps(ONBOARDING).encode()), parent="t-none")
    assert isinstance(unknown.value.error, NotFound)


# ---------------------------------------------------------------- export by tag


def test_export_by_tag_takes_the_matching_devices_and_their_gateways(tn: Tenancy) -> None:
    ids = populate(tn)
    data = export(tn, tenant=ids["acme"], device_tags=[("kind", "generator")])
    header, records = _records(data)
    assert header["scope"] == {"tenant": ids["acme"], "device_tags": [[["kind", "generator"]]]}
    assert [r["kind"] for r in records] == ["tenant", "device", "device"]
    assert [r["id"] for r in records[1:]] == ["gw-1", "gen-1"]  # the gateway comes first
    assert "admin_user" not in records[0]
    assert "allow_subtenants" not in records[0]
    leaving = tn.create_tenant(domain="new-home", name="N", admin_email="n@n.example",
                               allow_subtenants=True)  # fmt: skip
    with tenancy.open() as other:  # the customer's new platform
        home = other.create_tenant(domain="home", name="H", admin_email="h@h.example",
                                   allow_subtenants=True)  # fmt: skip
        report = other.import_from(io.BytesIO(data), parent=home.id)
        assert report.counts["device"] == 2
        assert other.tenant(report.tenant_id).get_device("gen-1").parent_id == "gw-1"  # type: ignore[arg-type]
    with pytest.raises(tenancy.InvalidValue, match="tenant="):
        tn.export_to(io.BytesIO(), device_tags=[("kind", "generator")])
    assert leaving.id


# ---------------------------------------------------------------- who may


def test_who_may_export_and_import(tn: Tenancy) -> None:
    ids = populate(tn)
    platform = tn.as_user(tn.management_tenant.admin_user_id)  # type: ignore[arg-type]
    acme_admin = tn.as_user(tn.get_tenant(ids["acme"]).admin_user_id)  # type: ignore[arg-type]
    assert export(platform) == export(tn)
    assert export(acme_admin, tenant=ids["acme"]) == export(tn, tenant=ids["acme"])
    assert export(acme_admin, tenant=ids["sub"]) == export(tn, tenant=ids["sub"])
    with pytest.raises(PermissionDenied, match="management tenant"):
        export(acme_admin)
    with pytest.raises(PermissionDenied, match="tenant_management:ADMIN"):
        export(tn.as_user(ids["boss"]), tenant=ids["acme"])
    eu_admin = tn.as_user(tn.get_tenant(ids["sub"]).admin_user_id)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied, match="own tenant"):
        export(eu_admin, tenant=ids["acme"])
    onboarding = json.dumps(ONBOARDING).encode()
    with pytest.raises(PermissionDenied, match="below its own tenant"):
        eu_admin.import_from(io.BytesIO(onboarding), parent=ids["acme"])
    revision = tn.revision
    report = acme_admin.import_from(io.BytesIO(onboarding), parent=ids["acme"])
    assert report.revision == revision + 1
    [created] = [r for r in tn.audit_log(limit=10_000).items if r.action == "TenantCreated"
                 and r.revision == report.revision]  # fmt: skip
    assert created.actor == acme_admin.identity.name


def test_a_document_struct_round_trips_through_msgspec() -> None:
    document = msgspec.json.decode(json.dumps(ONBOARDING).encode(), type=Document)
    assert msgspec.json.decode(msgspec.json.encode(document), type=type(document)) == document


# ---------------------------------------------------------------- more refusals


def _onboarding(*records: dict[str, Any]) -> io.BytesIO:
    tenant = {"kind": "tenant", "domain": "globex", "name": "G", "admin_email": "g@g.example"}
    document = {"header": {"format": "tenancy", "version": 1}, "records": [tenant, *records]}
    return io.BytesIO(json.dumps(document).encode())


@pytest.mark.parametrize(
    ("records", "position", "rule"),
    [
        (
            [{"kind": "device", "id": "a", "name": "A", "parent": "b"},
             {"kind": "device", "id": "b", "name": "B", "parent": "a"}],
            1, "a gateway comes before its devices",
        ),
        (
            [{"kind": "group", "ref": "g", "name": "G", "parent": "g"}],
            1, "cannot be moved under itself",
        ),
        (
            [{"kind": "device", "id": "a", "name": "A"},
             {"kind": "device", "ref": "a", "name": "B"}],
            2, "refs are unique",
        ),
        (
            [{"kind": "group", "name": "G"}, {"kind": "device", "name": "D"}],
            2, "records come in this order of kinds",
        ),
        (
            [{"kind": "user", "email": "x@g.example"}, {"kind": "user", "email": "X@G.example"}],
            2, "emails are unique per tenant",
        ),
        (
            [{"kind": "user", "ref": "x", "email": "x@g.example"},
             {"kind": "role_grant", "user": "x", "role": "superuser"}],
            2, "existing global role",
        ),
    ],
)  # fmt: skip
def test_more_bad_records(
    tn: Tenancy, records: list[dict[str, Any]], position: int, rule: str
) -> None:
    before = tn.store.snapshot()
    with pytest.raises(InvalidDocument) as refused:
        tn.import_from(_onboarding(*records), parent=tn.management_tenant.id)
    assert refused.value.position == position
    assert rule in str(refused.value)
    assert tn.store.snapshot() == before


def test_a_header_that_announces_other_counts_is_refused(tn: Tenancy) -> None:
    populate(tn)
    header, records = _records(export(tn))
    document = {"header": header, "records": records[:-1]}
    with tenancy.open() as copy, pytest.raises(InvalidDocument, match="cut off or edited"):
        copy.import_from(io.BytesIO(json.dumps(document).encode()))


def test_a_record_of_another_tenant_is_a_cross_tenant_reference(tn: Tenancy) -> None:
    ids = populate(tn)
    header, records = _records(export(tn, tenant=ids["acme"]))
    tn.delete_tenant(ids["acme"], cascade=True)
    eu_meter = next(r for r in records if r.get("id") == "eu-1")
    eu_meter["parent"] = "gw-1"  # a gateway of acme, for a device of acme-eu
    order = [r for r in records if r is not eu_meter]
    order.insert(max(i for i, r in enumerate(order) if r["kind"] == "device") + 1, eu_meter)
    with pytest.raises(InvalidDocument) as refused:
        tn.import_from(_document(header, order))
    assert isinstance(refused.value.error, tenancy.CrossTenantReference)
    assert refused.value.record_id == "eu-1"


def test_a_domain_taken_by_another_process_meanwhile_refuses_the_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import validated against revision R; another handle commits first: the write
    validates again (recheck) on the newer state and refuses, writing nothing."""
    from tenancy.transfer import plan as plan_module

    path = str(tmp_path / "s.db")
    with tenancy.open(path, clock=clock) as one, tenancy.open(path, clock=clock) as two:
        original = plan_module.Planner.plan

        def plan_then_race(self: plan_module.Planner, records: Any) -> Any:
            planned = original(self, records)
            two.create_tenant(domain="globex", name="Other", admin_email="o@o.example")
            return planned

        monkeypatch.setattr(plan_module.Planner, "plan", plan_then_race)
        with pytest.raises(AlreadyExists) as taken:
            one.import_from(_onboarding(), parent=one.management_tenant.id)
        assert taken.value.field == "domain"
        one.catch_up()
        [other] = [t for t in one.index.tenants.values() if t.domain == "globex"]
        assert other.name == "Other"


@pytest.mark.parametrize("format", ["json", "msgpack", "reformatted"])
def test_a_record_of_the_wrong_type_is_named_in_every_layout(tn: Tenancy, format: str) -> None:
    ids = populate(tn)
    header, records = _records(export(tn, tenant=ids["acme"]))
    tn.delete_tenant(ids["acme"], cascade=True)
    at = _edit(records, "gen-1", tags="site=sb")
    if format == "msgpack":
        frames = [msgspec.msgpack.encode(header), msgspec.msgpack.encode(records)]
        data = b"".join(len(f).to_bytes(4, "big") + f for f in frames)
    else:
        data = json.dumps({"header": header, "records": records}, indent=2 if format
                          == "reformatted" else None).encode()  # fmt: skip
    with pytest.raises(InvalidDocument) as refused:
        tn.import_from(io.BytesIO(data))
    assert (refused.value.position, refused.value.kind, refused.value.record_id) == (
        at,
        "device",
        "gen-1",
    )
    assert refused.value.index == [r["kind"] for r in records[:at]].count("device")
    assert "Expected `array`" in refused.value.rule


def test_any_state_the_write_path_leaves_imports_back(tn: Tenancy) -> None:
    """Rules of an operation that later writes may undo (a delegate must hold
    user_management:CREATE when it is delegated to; only the management tenant sets
    allow_subtenants) are not asked of a restored state."""
    reseller = tn.create_tenant(domain="reseller", name="R", admin_email="r@r.example",
                                allow_subtenants=True)  # fmt: skip
    shop = tn.create_tenant(domain="shop", name="S", admin_email="s@s.example",
                            parent=reseller.id)  # fmt: skip
    tn.update_tenant(shop.id, allow_subtenants=True)  # the management tenant may
    t = tn.tenant(shop.id)
    owner, delegate = t.create_user("o@s.example"), t.create_user("d@s.example")
    t.grant_role(delegate.id, "business")
    t.delegate(owner.id, delegate.id)
    t.revoke_role(delegate.id, "business")  # the delegation stays
    whole = export(tn)
    with tenancy.open(clock=clock) as copy:
        copy.import_from(io.BytesIO(whole))
        assert export(copy) == whole
    data = export(tn, tenant=shop.id)
    tn.delete_tenant(shop.id)
    reseller_admin = tn.as_user(reseller.admin_user_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidDocument, match="only the management tenant sets"):
        reseller_admin.import_from(io.BytesIO(data))
    assert tn.import_from(io.BytesIO(data)).tenant_id == shop.id  # the application may
