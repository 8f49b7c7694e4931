"""Store-wide look-ups (issue 15 item 3): ``tenants()`` parents first; ``get_user``,
``get_device``, ``get_group`` whatever the tenant (ids are unique store-wide), NotFound
naming the argument otherwise; ``find_users`` in every tenant, ignoring case; a tenant
scope's ``users()`` and ``groups()`` as lists, or pages given ``limit=``/``after=``;
``every_page`` over any listing. Acting handles read as the tenant scope's reads do, and
reads during concurrent writes see each write whole or not at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tenancy
from tenancy import InvalidValue, NotFound, Page, Tenancy

JOIN = 10.0


@pytest.fixture(params=["memory", "sqlite"])
def tn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tenancy]:
    target = None if request.param == "memory" else str(tmp_path / "lookups.db")
    with tenancy.open(target) as handle:
        yield handle


def _tree(tn: Tenancy) -> dict[str, tenancy.Tenant]:
    """management > (t00000001 acme > (t00000005 acme-us, t00000004 acme-eu), t00000002 beta)"""
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example",
                            allow_subtenants=True, id="t00000001")  # fmt: skip
    beta = tn.create_tenant(domain="beta", name="Beta", admin_email="it@beta.example",
                            id="t00000002")  # fmt: skip
    us = tn.create_tenant(domain="acme-us", name="US", admin_email="us@acme.example",
                          parent=acme.id, id="t00000005")  # fmt: skip
    eu = tn.create_tenant(domain="acme-eu", name="EU", admin_email="eu@acme.example",
                          parent=acme.id, id="t00000004")  # fmt: skip
    return {"acme": acme, "beta": beta, "us": us, "eu": eu}


# ---------------------------------------------------------------- tenants


def test_tenants_lists_every_tenant_parents_first(tn: Tenancy) -> None:
    _tree(tn)
    tenants = tn.tenants()
    assert [t.domain for t in tenants] == ["management", "acme", "acme-eu", "acme-us", "beta"]
    position = {t.id: n for n, t in enumerate(tenants)}
    assert all(t.parent_id is None or position[t.parent_id] < n for n, t in enumerate(tenants))
    assert tenants == [tn.get_tenant(t.id) for t in tenants]
    tn.delete_tenant("t00000001", cascade=True)
    assert [t.domain for t in tn.tenants()] == ["management", "beta"]


# ---------------------------------------------------------------- by id, store-wide


def test_records_are_found_by_id_whatever_their_tenant(tn: Tenancy) -> None:
    tree = _tree(tn)
    a, b = tn.tenant(tree["acme"].id), tn.tenant(tree["beta"].id)
    gen = a.create_device("Gen", id="gen-1", tags=[("site", "sb")])
    site = a.create_group("Site", id="site", device_ids=["gen-1"], device_tags=[("site", "x")])
    ana = b.create_user("ana@beta.example", id="ana")
    assert tn.get_device("gen-1") == gen == a.get_device("gen-1")
    assert tn.get_group("site") == site == a.get_group("site")
    assert tn.get_user("ana") == ana == b.get_user("ana")
    eu_admin = tree["eu"].admin_user_id
    assert eu_admin is not None
    assert tn.get_user(eu_admin).tenant_id == tree["eu"].id


@pytest.mark.parametrize(
    ("method", "field"),
    [("get_user", "user_id"), ("get_device", "device_id"), ("get_group", "group_id")],
)
@pytest.mark.parametrize("bad", ["no-such-id", "", None, 5, ["gen-1"], {"id": 1}])
def test_an_unknown_id_is_not_found_naming_the_argument(
    tn: Tenancy, method: str, field: str, bad: object
) -> None:
    _tree(tn)
    with pytest.raises(NotFound) as caught:
        getattr(tn, method)(bad)
    assert caught.value.field == field
    assert caught.value.rule


def test_a_deleted_record_is_not_found(tn: Tenancy) -> None:
    t = tn.tenant(_tree(tn)["acme"].id)
    t.create_device("Gen", id="gen")
    t.create_group("G", id="g")
    u = t.create_user("u@acme.example")
    t.delete_device("gen")
    t.delete_group("g")
    t.delete_user(u.id)
    for call in (lambda: tn.get_device("gen"), lambda: tn.get_group("g"),
                 lambda: tn.get_user(u.id)):  # fmt: skip
        with pytest.raises(NotFound):
            call()


# ---------------------------------------------------------------- find_users


def test_find_users_looks_in_every_tenant_ignoring_case(tn: Tenancy) -> None:
    tree = _tree(tn)
    made = [
        tn.tenant(tree[name].id).create_user(email, id=uid)
        for name, email, uid in [
            ("beta", "Ana@Example.com", "u-2"),
            ("acme", "ana@example.com", "u-3"),
            ("eu", "ANA@EXAMPLE.COM", "u-1"),
            ("us", "bob@example.com", "u-4"),
        ]
    ]
    found = tn.find_users("ana@EXAMPLE.com")
    assert [u.id for u in found] == ["u-1", "u-2", "u-3"]  # sorted by id
    assert found == sorted(made[:3], key=lambda u: u.id)
    assert tn.find_users("nobody@example.com") == []
    assert tn.find_users("") == []


@pytest.mark.parametrize("bad", [None, 5, ["a@b.example"], b"a@b.example"])
def test_find_users_refuses_a_non_string(tn: Tenancy, bad: object) -> None:
    with pytest.raises(InvalidValue) as caught:
        tn.find_users(bad)  # type: ignore[arg-type]
    assert caught.value.field == "email"


# ---------------------------------------------------------------- acting handles


def test_acting_handles_read_as_the_tenant_scopes_reads_do(tn: Tenancy) -> None:
    """Reads are not authorised (writes are): a user of one tenant looking up another
    tenant's records gets what the tenant scope's reads give it."""
    tree = _tree(tn)
    a, b = tn.tenant(tree["acme"].id), tn.tenant(tree["beta"].id)
    ana = a.create_user("ana@acme.example")
    bob = b.create_user("bob@beta.example")
    b.create_device("Gen", id="gen-b")
    b.create_group("G", id="g-b")
    me = tn.as_user(ana.id)
    scope = me.tenant(tree["beta"].id)
    assert me.get_user(bob.id) == scope.get_user(bob.id) == tn.get_user(bob.id)
    assert me.get_device("gen-b") == scope.get_device("gen-b")
    assert me.get_group("g-b") == scope.get_group("g-b")
    assert me.tenants() == tn.tenants()
    assert me.find_users("BOB@beta.example") == [bob]


# ---------------------------------------------------------------- pages of users and groups


def test_users_and_groups_stay_lists_and_page_when_asked(tn: Tenancy) -> None:
    t = tn.tenant(_tree(tn)["acme"].id)
    for n in range(7):
        t.create_user(f"user{n}@acme.example", id=f"u{n}")
        t.create_group(f"G{n}", id=f"g{n}")
    everyone = t.users()
    assert isinstance(everyone, list)
    assert [u.id for u in everyone][-7:] == [f"u{n}" for n in range(7)]
    assert isinstance(t.groups(), list)
    assert len(t.groups()) == 7
    listings: list[tuple[Callable[..., Any], list[str]]] = [
        (t.users, [u.id for u in everyone]),
        (t.groups, [f"g{n}" for n in range(7)]),
    ]
    for listing, expected in listings:
        first = listing(limit=3)
        assert isinstance(first, Page)
        assert len(first) == 3
        assert first.next is not None
        ids, after = [], None
        while True:
            page = listing(limit=3, after=after)
            ids += [r.id for r in page]
            after = page.next
            if after is None:
                break
        assert ids == expected
        assert [r.id for r in listing(after=None)] == expected  # after alone: a page of 100
        assert listing(limit=len(expected)).next is None


def test_a_cursor_belongs_to_its_listing(tn: Tenancy) -> None:
    tree = _tree(tn)
    a, b = tn.tenant(tree["acme"].id), tn.tenant(tree["beta"].id)
    for n in range(3):
        a.create_user(f"u{n}@acme.example")
        a.create_group(f"G{n}")
        b.create_user(f"u{n}@beta.example")
    users_cursor = a.users(limit=1).next
    groups_cursor = a.groups(limit=1).next
    assert users_cursor is not None
    assert groups_cursor is not None
    for call in (
        lambda: a.groups(limit=1, after=users_cursor),  # another listing
        lambda: b.users(limit=1, after=users_cursor),  # another tenant's
        lambda: a.devices(after=groups_cursor),
        lambda: a.users(after="u1"),  # a bare id
    ):
        with pytest.raises(InvalidValue) as caught:
            call()
        assert caught.value.field == "after"
    for bad in (0, 10_001, True, 2.0, "5", None):
        with pytest.raises(InvalidValue) as caught:
            a.users(limit=bad)  # type: ignore[arg-type]
        assert caught.value.field == "limit"


# ---------------------------------------------------------------- every_page


def test_every_page_walks_every_listing(tn: Tenancy) -> None:
    t = tn.tenant(_tree(tn)["acme"].id)
    site = t.create_group("Site", device_tags=[("site", "sb")])
    t.create_devices([{"name": f"D{n}", "id": f"d{n:02}", "tags": [("site", "sb")]}
                      for n in range(12)])  # fmt: skip
    ana = t.create_user("ana@acme.example", id="ana")
    t.add_member(site.id, ana.id)
    everything = [f"d{n:02}" for n in range(12)]
    assert [d.id for d in tenancy.every_page(t.devices, limit=5)] == everything
    assert [d.id for d in tenancy.every_page(tn.devices_for, ana.id, limit=5)] == everything
    assert [d.id for d in tenancy.every_page(tn.devices_in, site.id, limit=4)] == everything
    assert [u.id for u in tenancy.every_page(t.users, limit=1)] == [u.id for u in t.users()]
    assert [g.id for g in tenancy.every_page(t.groups, limit=1)] == [site.id]
    records = list(tenancy.every_page(tn.audit_log, tenant=t.tenant_id, limit=7))
    assert [r.seq for r in records] == sorted(r.seq for r in records)
    assert len(records) == len(tn.audit_log(tenant=t.tenant_id, limit=10_000))
    after = t.devices(limit=5).next
    assert [d.id for d in tenancy.every_page(t.devices, limit=5, after=after)] == everything[5:]


def test_every_page_raises_at_once_on_a_bad_argument(tn: Tenancy) -> None:
    t = tn.tenant(_tree(tn)["acme"].id)
    with pytest.raises(InvalidValue) as caught:
        tenancy.every_page(t.devices, limit=0)  # not iterated: the first page is read here
    assert caught.value.field == "limit"
    with pytest.raises(InvalidValue) as caught:
        tenancy.every_page(_listing_of_lists)
    assert caught.value.field == "listing"


def _listing_of_lists(*, after: str | None = None) -> list[str]:
    return ["not", "a", "page"]


def test_every_page_gives_each_item_once_while_others_are_written(tn: Tenancy) -> None:
    t = tn.tenant(_tree(tn)["acme"].id)
    t.create_devices([{"name": f"D{n}", "id": f"d{n:02}"} for n in range(10)])
    walk = tenancy.every_page(t.devices, limit=3)
    seen = [next(walk).id for _ in range(3)]
    t.create_device("Behind", id="d00a")  # behind the walk's position: not given
    t.create_device("Ahead", id="d99")  # ahead of it: given
    t.delete_device("d05")  # deleted ahead: not given
    seen += [d.id for d in walk]
    assert seen == [f"d{n:02}" for n in range(10) if n != 5] + ["d99"]


# ---------------------------------------------------------------- reads during writes


def test_look_ups_during_writes_see_each_write_whole(tn: Tenancy) -> None:
    """A group gains and loses two device ids in one write each, a user's email changes
    case and back: every read sees both ids or neither, and the user under its email."""
    t = tn.tenant(_tree(tn)["acme"].id)
    t.create_devices([{"name": f"D{n}", "id": f"d{n}"} for n in range(2)])
    group = t.create_group("G", id="g")
    user = t.create_user("flip@acme.example", id="flip")
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for n in range(150):
                t.associate(group.id, device_ids=["d0", "d1"])
                t.dissociate(group.id, device_ids=["d0", "d1"])
                t.update_user(user.id, email="FLIP@acme.example" if n % 2 else "flip@acme.example")
                t.create_user(f"extra{n}@acme.example")
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            stop.set()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    reads = 0
    while not stop.is_set() or reads < 50:
        assert tn.get_group("g").device_ids in (frozenset(), frozenset({"d0", "d1"}))
        assert [u.id for u in tn.find_users("flip@ACME.example")] == ["flip"]
        assert tn.get_user("flip").email.casefold() == "flip@acme.example"
        page = t.users(limit=10_000)
        assert len({u.id for u in page}) == len(page)
        assert len(tn.tenants()) == 5
        reads += 1
        if reads > 100_000:  # pragma: no cover - a bound, never reached
            break
    writer.join(JOIN)
    assert not writer.is_alive()
    assert not errors
    assert len(t.users(limit=10_000)) == len(t.users()) == 152  # admin, flip, 150 extras
