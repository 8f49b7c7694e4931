"""Input limits and argument checks of the public calls (docs/reference/api.md, Input
limits): every string is capped, names have no control characters, and a bad argument is
refused with a TenancyError naming the argument (its ``field``) and the rule, changing
nothing. The seeded fuzzer (tests/property/test_fuzz.py) covers every method; these are
the reported cases and the exact bounds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import tenancy
from tenancy import InvalidValue, NotFound, Tenancy, TenancyError, TenantScope
from tenancy.rules.validate import MAX_EMAIL_LENGTH, MAX_NAME_LENGTH, MAX_TEXT_LENGTH
from tenancy.testing.fuzz import index_state


@pytest.fixture
def tn() -> Tenancy:
    return tenancy.open()


@pytest.fixture
def t(tn: Tenancy) -> TenantScope:
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
    return tn.tenant(acme.id)


def refused(tn: Tenancy, call: Callable[[], object], field: str) -> TenancyError:
    """The call raises a TenancyError naming ``field`` and a rule, and changes nothing."""
    before = (tn.revision, tn.store.snapshot(), tn.store.audit_log(limit=10_000))
    index_before = index_state(tn.index)
    with pytest.raises(TenancyError) as caught:
        call()
    assert caught.value.field == field, caught.value
    assert caught.value.rule
    assert (tn.revision, tn.store.snapshot(), tn.store.audit_log(limit=10_000)) == before
    assert index_state(tn.index) == index_before
    return caught.value


_COUNTER = iter(range(10**9))


def unique(prefix: str) -> str:
    """A fresh domain or email, so each write of a test makes a new record."""
    return f"{prefix}{next(_COUNTER)}"


def email_of(length: int) -> str:
    host = "@acme.example"
    return "a" * (length - len(host)) + host


# ---------------------------------------------------------------- length caps


def test_an_email_has_at_most_254_characters(tn: Tenancy, t: TenantScope) -> None:
    assert MAX_EMAIL_LENGTH == 254
    assert len(t.create_user(email_of(254)).email) == 254
    error = refused(tn, lambda: t.create_user(email_of(255)), "email")
    assert "254" in error.rule
    refused(tn, lambda: t.create_user("x" * 1_000_000 + "@acme.example"), "email")
    refused(tn, lambda: tn.create_tenant(domain="beta", name="B", admin_email=email_of(255)),
            "admin_email")  # fmt: skip


@pytest.mark.parametrize(
    ("write", "field"),
    [
        (lambda t, v: t.create_group(v), "name"),
        (lambda t, v: t.create_device(v), "name"),
        (lambda t, v: t.update_group(t.groups()[0].id, name=v), "name"),
        (lambda t, v: t._tenants.create_tenant(domain=unique("beta"), name=v,
                                          admin_email="a@b.example"), "name"),
        (lambda t, v: t._tenants.update_tenant(t.tenant_id, contact_name=v), "contact_name"),
        (lambda t, v: t._tenants.update_tenant(t.tenant_id, contact_phone=v), "contact_phone"),
        (lambda t, v: t.create_user(unique("u@a"), username=v), "username"),
        (lambda t, v: t.create_user(unique("u@a"), first_name=v), "first_name"),
        (lambda t, v: t.update_user(t.users()[0].id, last_name=v), "last_name"),
        (lambda t, v: t._tenants.define_policy(t.tenant_id, v, options=[("c", "k", "v")]), "name"),
        (lambda t, v: t._tenants.set_properties(t.tenant_id, {v: "1"}), "values"),
        (lambda t, v: t._tenants.subscribe(t.tenant_id, [v]), "applications"),
    ],
)  # fmt: skip
def test_names_have_at_most_255_characters_and_no_control_characters(
    tn: Tenancy, t: TenantScope, write: Callable[[TenantScope, str], Any], field: str
) -> None:
    assert MAX_NAME_LENGTH == 255
    t.create_group("First")
    write(t, "n" * 255)
    assert "255" in refused(tn, lambda: write(t, "m" * 256), field).rule
    refused(tn, lambda: write(t, "x" * 1_000_000), field)
    for bad in ("a\x00b", "two\nlines", "a\tb", "\x1b[2J", "a\x7fb", "a\u2028b"):
        assert "control" in refused(tn, partial(write, t, bad), field).rule
    write(t, "Zürich ☃ café")  # any printable text is a name


@pytest.mark.parametrize(
    ("write", "field"),
    [
        (lambda t, v: t.create_group("G", description=v), "description"),
        (lambda t, v: t._tenants.define_policy(t.tenant_id, "p", description=v,
                                          options=[("c", "k", "v")]), "description"),
        (lambda t, v: t._tenants.update_tenant(t.tenant_id, properties={"k": v}), "properties"),
        (lambda t, v: t._tenants.set_properties(t.tenant_id, {"k": v}), "values"),
        (lambda t, v: t._tenants.update_tenant(t.tenant_id, options=[("c", "k", v)]), "options"),
    ],
)  # fmt: skip
def test_descriptions_and_values_have_at_most_4096_characters(
    tn: Tenancy, t: TenantScope, write: Callable[[TenantScope, str], Any], field: str
) -> None:
    assert MAX_TEXT_LENGTH == 4096
    write(t, "line one\nline two\t" + "d" * 4077)  # 4,096, newlines and tabs allowed
    assert "4096" in refused(tn, lambda: write(t, "d" * 4097), field).rule
    refused(tn, lambda: write(t, "x" * 1_000_000), field)


# ---------------------------------------------------------------- the reported calls


def test_a_list_or_dict_where_an_id_goes_is_not_found(tn: Tenancy, t: TenantScope) -> None:
    user = t.create_user("ana@acme.example")
    group = t.create_group("G")
    assert isinstance(refused(tn, lambda: tn.get_tenant([]), "tenant_id"), NotFound)  # type: ignore[arg-type]
    refused(tn, lambda: t.add_member({}, user.id), "group_id")  # type: ignore[arg-type]
    refused(tn, lambda: t.add_member(group.id, []), "user_id")  # type: ignore[arg-type]
    refused(tn, lambda: tn.tenant({}), "tenant_id")  # type: ignore[arg-type]
    refused(tn, lambda: tn.as_user([]), "user_id")  # type: ignore[arg-type]
    refused(tn, lambda: t.create_group("H", parent=[]), "parent")  # type: ignore[arg-type]
    refused(tn, lambda: tn.explain([], "d"), "user_id")  # type: ignore[arg-type]
    refused(tn, lambda: tn.users_for({}), "device_id")  # type: ignore[arg-type]
    assert tn.verify([], {}) is False  # type: ignore[arg-type]  # the hot path: unknown


def test_a_record_where_an_id_goes_is_not_found(tn: Tenancy, t: TenantScope) -> None:
    group = t.create_group("G")
    user = t.create_user("ana@acme.example")
    refused(tn, lambda: t.add_member(group, user.id), "group_id")  # type: ignore[arg-type]
    refused(tn, lambda: t.delete_user(user), "user_id")  # type: ignore[arg-type]


def test_another_tenants_id_is_a_cross_tenant_reference(tn: Tenancy, t: TenantScope) -> None:
    beta = tn.tenant(tn.create_tenant(domain="beta", name="B", admin_email="a@b.example").id)
    device = beta.create_device("Theirs")
    group = t.create_group("Ours")
    error = refused(tn, lambda: t.associate(group.id, device_ids=[device.id]), "device_ids")
    assert isinstance(error, tenancy.CrossTenantReference)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda t, g: t.associate(g, device_ids=None), "device_ids"),
        (lambda t, g: t.associate(g, device_ids=5), "device_ids"),
        (lambda t, g: t.associate(g, device_ids=[[]]), "device_ids"),
        (lambda t, g: t.create_devices(None), "specs"),
        (lambda t, g: t.create_devices(5), "specs"),
        (lambda t, g: t.create_devices([1]), "specs"),
        (lambda t, g: t.create_devices(["name"]), "specs"),
        (lambda t, g: t.create_devices([{"name": "n", "colour": "red"}]), "specs"),
        (lambda t, g: t.create_devices([{"tags": ()}]), "name"),
        (lambda t, g: t.create_devices([{"name": "n", "parent": []}]), "parent"),
        (lambda t, g: t._tenants.set_options(t.tenant_id, 5), "values"),
        (lambda t, g: t._tenants.set_properties(t.tenant_id, None), "values"),
        (lambda t, g: t._tenants.update_tenant(t.tenant_id, properties=5), "properties"),
        (lambda t, g: t._tenants.update_tenant(t.tenant_id, subscriptions=None), "subscriptions"),
        (lambda t, g: t._tenants.update_tenant(t.tenant_id, retention_rules=5), "retention_rules"),
        (lambda t, g: t.define_role("r", None), "permissions"),
        (lambda t, g: t.define_role("r", 5), "permissions"),
        (lambda t, g: t.define_role("r", ["device:READ"], kind=[]), "kind"),
        (lambda t, g: t.delete_group(g, cascade="yes"), "cascade"),
        (lambda t, g: t.find_user(None), "email"),
        (lambda t, g: t.sub_users(t.record.admin_user_id, recursive=1), "recursive"),
        (lambda t, g: t.inventory_grants_of([]), "principal_id"),
        (lambda t, g: t.revoke_delegation([], "u"), "owner_id"),
    ],
)
def test_a_non_collection_or_wrong_type_names_its_argument(
    tn: Tenancy, t: TenantScope, call: Callable[[TenantScope, str], Any], field: str
) -> None:
    group = t.create_group("G")
    refused(tn, lambda: call(t, group.id), field)


def test_a_support_request_for_timedelta_max_is_refused(tn: Tenancy, t: TenantScope) -> None:
    admin = t.record.admin_user_id
    assert admin is not None
    error = refused(tn, lambda: t.request_support(admin, duration=timedelta.max), "duration")
    assert isinstance(error, InvalidValue)
    refused(tn, lambda: t.request_support(admin, duration=timedelta(0)), "duration")
    assert t.request_support(admin, duration=timedelta(days=3)).until is not None


@pytest.mark.parametrize("bad", ["5", 1.5, [], object()])
def test_at_least_and_fresh_of_the_wrong_type_are_refused(
    tn: Tenancy, t: TenantScope, bad: object
) -> None:
    user = t.create_user("ana@acme.example")
    device = t.create_device("D")
    refused(tn, lambda: tn.verify(user.id, device.id, at_least=bad), "at_least")  # type: ignore[arg-type]
    refused(tn, lambda: tn.check(user.id, "device:READ", device.id, at_least=bad), "at_least")  # type: ignore[arg-type]
    refused(tn, lambda: tn.devices_for(user.id, at_least=bad), "at_least")  # type: ignore[arg-type]
    refused(tn, lambda: tn.users_for(device.id, fresh=bad), "fresh")  # type: ignore[arg-type]
    refused(tn, lambda: tn.verify(user.id, device.id, at_least=10**9), "at_least")
    assert tn.verify(user.id, device.id, at_least=tn.revision) is False


def test_a_malformed_permission_names_the_permission(tn: Tenancy, t: TenantScope) -> None:
    user = t.create_user("ana@acme.example")
    device = t.create_device("D")
    refused(tn, lambda: tn.check(user.id, None, device.id), "permission")  # type: ignore[arg-type]
    for bad in (5, "device", "nothing:READ", ["device", "READ"], object()):
        refused(tn, partial(tn.check, user.id, bad, device.id), "permission")  # type: ignore[arg-type]
        refused(tn, partial(tn.devices_for, user.id, permission=bad), "permission")  # type: ignore[arg-type]
        refused(tn, partial(tn.explain, user.id, device.id, permission=bad), "permission")  # type: ignore[arg-type]


def test_an_acting_user_acts_for_its_own_tenant_only(tn: Tenancy, t: TenantScope) -> None:
    admin = t.record.admin_user_id
    assert admin is not None
    acting = tn.as_user(admin)
    error = refused(
        tn, lambda: acting.set_properties(t.tenant_id, {"k": "v"}, by=tn.management_tenant.id),
        "by",
    )  # fmt: skip
    assert isinstance(error, tenancy.PermissionDenied)


def test_a_refusal_names_the_field_in_its_message(tn: Tenancy, t: TenantScope) -> None:
    error = refused(tn, lambda: t.create_group("x" * 300), "name")
    assert str(error).startswith("invalid name 'xxx")
    assert "(302 characters)" in str(error)  # the value is shortened, not repeated


def test_after_seq_past_64_bits_is_refused_on_sqlite(tmp_path: Path) -> None:
    """Found by the fuzzer's full SQLite run: 10**30 reached SQLite as OverflowError."""
    with tenancy.open(str(tmp_path / "audit.db"), staleness=None) as tn:
        error = refused(tn, lambda: tn.audit_log(after_seq=10**30), "after_seq")
        assert "2**63 - 1" in error.rule
        assert tn.audit_log(after_seq=2**63 - 1).items == ()
