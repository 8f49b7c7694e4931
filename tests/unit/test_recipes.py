"""Device recipes (DOMAIN.md section 8): named templates of a tenant, and devices bulk-created
from one in one transaction, counted against the limits before anything is written.

Each refusal names its field, value and rule and changes nothing (store, index, revision,
audit log); recipes live in the generic access table, so they survive a reopen of a SQLite
file and go with their tenant; what a recipe names cannot be deleted under it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

import tenancy
from tenancy import (
    AlreadyExists,
    CrossTenantReference,
    InUse,
    InvalidValue,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    Recipe,
    SafetyLimits,
    Tenancy,
    TenancyError,
    TenantScope,
)
from tenancy.index.index import Index

Opener = Callable[..., Tenancy]


@pytest.fixture(params=["memory", "sqlite"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    handles: list[Tenancy] = []

    def open_(**options: object) -> Tenancy:
        if request.param == "memory":
            handle = tenancy.open(None, **options)
        else:
            handle = tenancy.open(str(tmp_path / f"t{len(handles)}.db"), staleness=None, **options)
        handles.append(handle)
        return handle

    yield open_
    for handle in handles:
        handle.close()


def acme(tn: Tenancy, **fields: object) -> TenantScope:
    t = tn.create_tenant(
        domain="acme",
        name="Acme",
        admin_email="admin@acme.example",
        **fields,  # type: ignore[arg-type]
    )
    return tn.tenant(t.id)


def unchanged(
    tn: Tenancy, error: type[TenancyError], field: str, write: Callable[[], object]
) -> TenancyError:
    """``write`` raises ``error`` naming ``field`` (and a rule) and changes nothing."""
    revision, snapshot = tn.revision, tn.store.snapshot()
    audit = tn.audit_log(limit=10_000).items
    with pytest.raises(error) as caught:
        write()
    assert caught.value.field == field, caught.value
    assert caught.value.rule
    assert (tn.revision, tn.store.snapshot(), tn.audit_log(limit=10_000).items) == (
        revision, snapshot, audit,
    )  # fmt: skip
    return caught.value


# ---------------------------------------------------------------- the API.md example


def test_the_example_of_the_api_sketch(opener: Opener) -> None:
    tn = opener()
    t = acme(tn)
    r = t.create_recipe("generator", name="Generator {n}", tags=[("kind", "generator")])
    assert isinstance(r, Recipe)
    assert (r.name, r.name_pattern, r.tags) == ("generator", "Generator {n}",
                                                frozenset({("kind", "generator")}))  # fmt: skip
    before = tn.revision
    devices = t.create_devices_from_recipe(r.id, count=1000, start=1)
    assert tn.revision == before + 1  # one transaction
    assert [d.name for d in devices[:2]] == ["Generator 1", "Generator 2"]
    assert devices[-1].name == "Generator 1000"
    assert len({d.id for d in devices}) == 1000
    assert all(d.tags == {("kind", "generator")} and d.parent_id is None for d in devices)
    assert all(tn.get_device(d.id) == d for d in devices)
    assert t.recipes() == [r]
    assert t.get_recipe(r.id) == r


def test_name_pattern_is_also_taken_by_its_own_name(opener: Opener) -> None:
    t = acme(opener())
    r = t.create_recipe("pump", name_pattern="Pump {n}")
    assert t.create_devices_from_recipe(r.id, count=1, start=0)[0].name == "Pump 0"


def test_parent_and_groups_are_given_to_every_device_in_the_same_commit(opener: Opener) -> None:
    tn = opener()
    t = acme(tn)
    gw = t.create_device("Gateway")
    site, region = t.create_group("Site"), t.create_group("Region")
    r = t.create_recipe("sensor", name="S-{n}", parent=gw.id, groups=[site.id, region.id])
    assert r.group_ids == {site.id, region.id}
    assert r.parent_id == gw.id
    before = tn.revision
    devices = t.create_devices_from_recipe(r.id, count=5, start=10)
    assert tn.revision == before + 1
    ids = {d.id for d in devices}
    for g in (site, region):
        assert t.get_group(g.id).device_ids == ids
    assert {d.id for d in t.child_devices(gw.id)} == ids
    [commit] = tn.changes(after=before)
    kinds = [type(c).__name__ for c in commit.changes if type(c).__name__ != "UsageRecorded"]
    assert kinds == ["Associated", "Associated"] + ["DeviceCreated"] * 5  # groups first
    user = t.create_user("fm@acme.example")
    t.add_member(site.id, user.id)
    assert all(tn.verify(user.id, d) for d in ids)
    tn.index.check_invariants()  # the associations named devices still to come: all whole


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("Generator", "holds {n}"),
        ("Generator {m}", "holds {n}"),
        ("Gen {n} {x}", "no brace"),
        ("Gen {n:04d}", "holds {n}"),
        ("Gen {{n}}", "no brace"),
        ("Gen {n}}", "no brace"),
        ("Gen\t{n}", "control characters"),
        ("x" * 255 + "{n}", "at most 255"),
        (5, "a string"),
        (None, "a string"),
    ],
)
def test_a_bad_pattern_is_refused_naming_it(opener: Opener, pattern: object, why: str) -> None:
    tn = opener()
    t = acme(tn)
    error = unchanged(tn, InvalidValue, "name",
                      lambda: t.create_recipe("r", name=pattern))  # type: ignore[arg-type]  # fmt: skip
    assert why in error.rule
    assert error.value == pattern
    unchanged(tn, InvalidValue, "name_pattern",
              lambda: t.create_recipe("r", name_pattern=pattern))  # type: ignore[arg-type]  # fmt: skip


def test_the_pattern_is_given_once(opener: Opener) -> None:
    tn = opener()
    t = acme(tn)
    unchanged(tn, InvalidValue, "name_pattern", lambda: t.create_recipe("r"))
    unchanged(tn, InvalidValue, "name_pattern",
              lambda: t.create_recipe("r", name="A {n}", name_pattern="B {n}"))  # fmt: skip


def test_bad_references_and_values_are_refused_naming_them(opener: Opener) -> None:
    tn = opener()
    t = acme(tn)
    other = tn.tenant(tn.create_tenant(domain="beta", name="Beta", admin_email="a@b.example").id)
    foreign_device, foreign_group = other.create_device("D"), other.create_group("G")
    unchanged(tn, NotFound, "parent", lambda: t.create_recipe("r", name="{n}", parent="nope"))
    unchanged(tn, CrossTenantReference, "parent",
              lambda: t.create_recipe("r", name="{n}", parent=foreign_device.id))  # fmt: skip
    unchanged(tn, NotFound, "groups", lambda: t.create_recipe("r", name="{n}", groups=["nope"]))
    unchanged(tn, CrossTenantReference, "groups",
              lambda: t.create_recipe("r", name="{n}", groups=[foreign_group.id]))  # fmt: skip
    unchanged(tn, InvalidValue, "groups", lambda: t.create_recipe("r", name="{n}", groups="g"))
    unchanged(tn, InvalidValue, "tags", lambda: t.create_recipe("r", name="{n}", tags=[("k",)]))  # type: ignore[list-item]
    unchanged(tn, InvalidValue, "recipe_name", lambda: t.create_recipe(" ", name="{n}"))
    unchanged(tn, InvalidValue, "id", lambda: t.create_recipe("r", name="{n}", id=" x"))
    r = t.create_recipe("r", name="{n}", id="r-1")
    unchanged(tn, AlreadyExists, "id", lambda: t.create_recipe("s", name="{n}", id="r-1"))
    unchanged(tn, AlreadyExists, "recipe_name", lambda: t.create_recipe("r", name="x{n}"))
    other.create_recipe("r", name="{n}")  # names are unique per tenant only
    bad_counts: tuple[object, ...] = (0, -1, 1.5, True, "3", 2**64)
    for count in bad_counts:

        def make(c: object = count) -> object:
            return t.create_devices_from_recipe(r.id, count=c)  # type: ignore[arg-type]

        unchanged(tn, InvalidValue, "count", make)
    unchanged(
        tn, InvalidValue, "start", lambda: t.create_devices_from_recipe(r.id, count=1, start=-1)
    )
    unchanged(tn, NotFound, "recipe_id", lambda: t.create_devices_from_recipe("nope", count=1))
    foreign = other.recipes()[0]
    unchanged(tn, CrossTenantReference, "recipe_id",
              lambda: t.create_devices_from_recipe(foreign.id, count=1))  # fmt: skip
    unchanged(tn, CrossTenantReference, "recipe_id", lambda: t.delete_recipe(foreign.id))
    unchanged(tn, NotFound, "recipe_id", lambda: t.get_recipe("nope"))


def test_a_name_past_the_device_name_length_is_refused_before_anything(opener: Opener) -> None:
    tn = opener()
    t = acme(tn)
    r = t.create_recipe("long", name="x" * 250 + "{n}")
    assert t.create_devices_from_recipe(r.id, count=1, start=99_999)[0].name.endswith("99999")
    error = unchanged(
        tn, InvalidValue, "count", lambda: t.create_devices_from_recipe(r.id, count=2, start=99_999)
    )
    assert "255" in error.rule
    assert r.id in error.rule


# ---------------------------------------------------------------- limits, before anything


def test_the_tenant_limits_refuse_before_anything_is_written(opener: Opener) -> None:
    tn = opener()
    t = acme(tn, max_devices=10, max_root_devices=5)
    gw = t.create_device("Gateway")
    roots = t.create_recipe("roots", name="R{n}")
    children = t.create_recipe("kids", name="K{n}", parent=gw.id)
    error = unchanged(tn, LimitExceeded, "count",
                      lambda: t.create_devices_from_recipe(roots.id, count=5))  # fmt: skip
    assert isinstance(error, LimitExceeded)
    assert error.limit == "max_root_devices"
    assert error.value == 6  # the count the write would reach
    error = unchanged(tn, LimitExceeded, "count",
                      lambda: t.create_devices_from_recipe(children.id, count=10))  # fmt: skip
    assert isinstance(error, LimitExceeded)
    assert error.limit == "max_devices"
    # a count in the billions is refused at once, never built
    unchanged(tn, LimitExceeded, "count",
              lambda: t.create_devices_from_recipe(children.id, count=10**12))  # fmt: skip
    assert len(t.create_devices_from_recipe(children.id, count=9)) == 9


def test_the_store_safety_limits_refuse_too(opener: Opener) -> None:
    tn = opener(limits=SafetyLimits(max_devices_per_tenant=100, max_device_depth=2))
    t = acme(tn)
    top = t.create_device("Top")
    mid = t.create_device("Mid", parent=top.id)
    deep = t.create_recipe("deep", name="D{n}", parent=mid.id)
    error = unchanged(tn, LimitExceeded, "count",
                      lambda: t.create_devices_from_recipe(deep.id, count=1))  # fmt: skip
    assert isinstance(error, LimitExceeded)
    assert error.limit == "max_device_depth"
    flat = t.create_recipe("flat", name="F{n}")
    error = unchanged(tn, LimitExceeded, "count",
                      lambda: t.create_devices_from_recipe(flat.id, count=99))  # fmt: skip
    assert isinstance(error, LimitExceeded)
    assert error.limit == "max_devices_per_tenant"
    assert len(t.create_devices_from_recipe(flat.id, count=98)) == 98


# ---------------------------------------------------------------- what a recipe names


def test_a_group_or_gateway_a_recipe_names_cannot_be_deleted_under_it(opener: Opener) -> None:
    tn = opener()
    t = acme(tn)
    region = t.create_group("Region")
    site = t.create_group("Site", parent=region.id)
    gw = t.create_device("Gateway")
    hub = t.create_device("Hub", parent=gw.id)
    r = t.create_recipe("r", name="N{n}", parent=hub.id, groups=[site.id])
    error = unchanged(tn, InUse, "group_id", lambda: t.delete_group(site.id))
    assert error.value == site.id
    assert r.id in error.rule
    unchanged(tn, InUse, "group_id", lambda: t.delete_group(region.id, cascade=True))
    unchanged(tn, InUse, "device_id", lambda: t.delete_device(hub.id))
    unchanged(tn, InUse, "device_id", lambda: t.delete_device(gw.id, cascade=True))
    t.delete_recipe(r.id)
    assert t.recipes() == []
    t.delete_device(gw.id, cascade=True)
    t.delete_group(region.id, cascade=True)


def test_devices_made_from_a_recipe_stay_when_it_is_deleted(opener: Opener) -> None:
    t = acme(opener())
    r = t.create_recipe("r", name="N{n}")
    made = t.create_devices_from_recipe(r.id, count=3)
    t.delete_recipe(r.id)
    with pytest.raises(NotFound):
        t.get_recipe(r.id)
    assert [t.get_device(d.id) for d in made] == made


def test_deleting_the_tenant_takes_its_recipes(opener: Opener) -> None:
    tn = opener()
    t = acme(tn)
    t.create_recipe("r", name="N{n}", groups=[t.create_group("G").id])
    tn.delete_tenant(t.tenant_id)
    assert not [r for r in tn.store.snapshot().access if isinstance(r, Recipe)]
    assert not [r for r in tn.index.access.sorted_records() if isinstance(r, Recipe)]


# ---------------------------------------------------------------- durability


def test_recipes_survive_a_reopen_of_the_file(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")
    with tenancy.open(path) as tn:
        t = acme(tn)
        g = t.create_group("G")
        r = t.create_recipe("gen", name="Gen {n}", tags={"kind": "gen"}, groups=[g.id])
        tenant_id = t.tenant_id
    with tenancy.open(path) as tn:
        t = tn.tenant(tenant_id)
        assert t.recipes() == [r]
        made = t.create_devices_from_recipe(r.id, count=3)
        rebuilt = Index.build(tn.store.snapshot())
        assert rebuilt.access.record("Recipe", r.id) == r
        rebuilt.check_invariants()
    with tenancy.open(path) as tn:
        assert tn.tenant(tenant_id).get_group(g.id).device_ids == {d.id for d in made}
        tn.tenant(tenant_id).delete_recipe(r.id)
    with tenancy.open(path) as tn:
        assert tn.tenant(tenant_id).recipes() == []


# ---------------------------------------------------------------- acting users and the audit log


def test_acting_users_need_device_create_and_device_admin(opener: Opener) -> None:
    tn = opener()
    t = acme(tn)
    g = t.create_group("G")
    reader = t.create_user("reader@acme.example")
    t.grant_role(reader.id, "readonly")
    maker = t.create_user("maker@acme.example")
    t.define_role("maker", ["device:CREATE"])
    t.grant_role(maker.id, "maker")
    boss = t.create_user("boss@acme.example")
    t.grant_role(boss.id, "business")
    as_reader = tn.as_user(reader.id).tenant(t.tenant_id)
    as_maker = tn.as_user(maker.id).tenant(t.tenant_id)
    as_boss = tn.as_user(boss.id).tenant(t.tenant_id)
    unchanged(tn, PermissionDenied, "", lambda: as_reader.create_recipe("r", name="{n}"))
    plain = as_maker.create_recipe("plain", name="P{n}")
    grouped = as_boss.create_recipe("grouped", name="G{n}", groups=[g.id])
    assert len(as_maker.create_devices_from_recipe(plain.id, count=2)) == 2
    unchanged(tn, PermissionDenied, "",  # associating with a group takes group:UPDATE
              lambda: as_maker.create_devices_from_recipe(grouped.id, count=2))  # fmt: skip
    unchanged(
        tn, PermissionDenied, "", lambda: as_reader.create_devices_from_recipe(plain.id, count=1)
    )
    unchanged(tn, PermissionDenied, "", lambda: as_maker.delete_recipe(plain.id))
    assert len(as_boss.create_devices_from_recipe(grouped.id, count=2)) == 2
    as_boss.delete_recipe(plain.id)
    other = tn.tenant(tn.create_tenant(domain="beta", name="Beta", admin_email="a@b.example").id)
    foreign = other.create_recipe("f", name="F{n}")
    unchanged(tn, CrossTenantReference, "recipe_id",
              lambda: as_boss.create_devices_from_recipe(foreign.id, count=1))  # fmt: skip
    in_other = tn.as_user(boss.id).tenant(other.tenant_id)
    unchanged(tn, PermissionDenied, "",
              lambda: in_other.create_devices_from_recipe(foreign.id, count=1))  # fmt: skip
    unchanged(tn, PermissionDenied, "", lambda: in_other.create_recipe("mine", name="M{n}"))


def test_recipe_writes_are_audited_under_the_recipe(opener: Opener) -> None:
    tn = opener()
    t = acme(tn)
    boss = t.create_user("boss@acme.example")
    t.grant_role(boss.id, "business")
    r = tn.as_user(boss.id).tenant(t.tenant_id).create_recipe("r", name="N{n}")
    t.delete_recipe(r.id)
    records = [a for a in tn.audit_log(tenant=t.tenant_id, limit=1000).items if a.target == r.id]
    assert [(a.action, a.actor) for a in records] == [("AccessSet", boss.id),
                                                      ("AccessRemoved", "system")]  # fmt: skip
    assert records[0].after["name_pattern"] == "N{n}"
    assert records[0].before is None
    assert records[1].before["id"] == r.id
    assert records[1].after is None


def test_the_index_keeps_recipes_out_of_every_answer(opener: Opener) -> None:
    tn = opener()
    t = acme(tn)
    g = t.create_group("G")
    u = t.create_user("u@acme.example")
    t.add_member(g.id, u.id)
    r = t.create_recipe("r", name="N{n}", groups=[g.id])
    assert tn.index.access.referring_to_group(g.id) == []
    assert tn.index.access.referring_to_user(u.id) == []
    assert tn.index.access.record("Recipe", r.id) == r
    tn.index.check_invariants()
    t.delete_user(u.id)  # a recipe is no access record of a user
    assert t.recipes() == [r]


# ---------------------------------------------------------------- the document


def _document(records: list[Any], version: int = 2) -> io.BytesIO:
    tenant = {"kind": "tenant", "domain": "globex", "name": "Globex",
              "admin_email": "it@globex.example"}  # fmt: skip
    header = {"format": "tenancy", "version": version}
    return io.BytesIO(msgspec.json.encode({"header": header, "records": [tenant, *records]}))


def test_recipes_go_out_and_in_with_their_tenant(opener: Opener) -> None:
    source = opener()
    t = acme(source)
    gw = t.create_device("Gateway", id="gw")
    g = t.create_group("Site", id="site")
    r = t.create_recipe("gen", name="Gen {n}", tags={"kind": "gen"}, parent=gw.id,
                        groups=[g.id], id="r-gen")  # fmt: skip
    out = io.BytesIO()
    source.export_to(out, tenant=t.tenant_id, include_usage=False)
    lines = out.getvalue().decode().splitlines()
    assert lines[-2].rstrip(",") == (
        f'{{"kind":"recipe","id":"r-gen","tenant":"{t.tenant_id}","name":"gen",'
        '"name_pattern":"Gen {n}","tags":[["kind","gen"]],"parent":"gw","groups":["site"]}'
    )
    copy = opener()
    mgmt = copy.management_tenant.id
    copy.update_tenant(mgmt, allow_subtenants=True)
    report = copy.import_from(io.BytesIO(out.getvalue()), parent=mgmt)
    assert report.counts["recipe"] == 1
    assert report.tenant_id is not None
    assert copy.tenant(report.tenant_id).recipes() == [r]
    made = copy.tenant(report.tenant_id).create_devices_from_recipe(r.id, count=2)
    assert copy.get_group("site").device_ids == {d.id for d in made}


def test_a_document_may_leave_a_recipes_id_out_and_refer_by_ref(opener: Opener) -> None:
    tn = opener()
    records = [
        {"kind": "device", "ref": "gw", "name": "Gateway"},
        {"kind": "group", "ref": "all", "name": "All"},
        {"kind": "recipe", "name": "gen", "name_pattern": "Gen {n}", "parent": "gw",
         "groups": ["all"]},
    ]  # fmt: skip
    report = tn.import_from(_document(records), parent=tn.management_tenant.id)
    assert report.tenant_id is not None
    [r] = tn.tenant(report.tenant_id).recipes()
    assert r.parent_id == report.refs["gw"]
    assert r.group_ids == frozenset({report.refs["all"]})
    assert r.id.startswith("r-")


@pytest.mark.parametrize(
    ("record", "field", "version"),
    [
        ({"name_pattern": "Gen"}, "name_pattern", 2),
        ({"name_pattern": "Gen {x}"}, "name_pattern", 2),
        ({"parent": "nope"}, "parent", 2),
        ({"groups": ["nope"]}, "groups", 2),
        ({"id": " r"}, "id", 2),
        ({}, "version", 1),
    ],
)
def test_a_bad_recipe_record_is_refused_by_its_position(
    opener: Opener, record: dict[str, object], field: str, version: int
) -> None:
    tn = opener()
    before = tn.store.snapshot()
    bad = {"kind": "recipe", "name": "gen", "name_pattern": "Gen {n}", **record}
    with pytest.raises(tenancy.InvalidDocument) as caught:
        tn.import_from(_document([bad], version), parent=tn.management_tenant.id)
    assert (caught.value.position, caught.value.kind, caught.value.field) == (1, "recipe", field)
    assert tn.store.snapshot() == before


def test_two_recipes_of_one_name_or_id_are_refused(opener: Opener) -> None:
    tn = opener()
    one = {"kind": "recipe", "name": "gen", "name_pattern": "Gen {n}", "id": "r-1"}
    for other, field in (({**one, "id": "r-2"}, "name"), ({**one, "name": "other"}, "id")):
        with pytest.raises(tenancy.InvalidDocument) as caught:
            tn.import_from(_document([one, other]), parent=tn.management_tenant.id)
        assert (caught.value.position, caught.value.field) == (2, field)
    existing = acme(tn).create_recipe("mine", name="M{n}").id
    with pytest.raises(tenancy.InvalidDocument) as caught:
        tn.import_from(_document([{**one, "id": existing}]), parent=tn.management_tenant.id)
    assert isinstance(caught.value.error, AlreadyExists)
