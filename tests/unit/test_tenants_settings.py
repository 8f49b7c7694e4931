"""A tenant's settings (DOMAIN.md section 6): custom properties, options, tenant policies
applied at creation, subscriptions and default subscriptions inherited down the tree.

Every test runs on the memory store and on a SQLite file; the last tests reopen the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import tenancy
from tenancy import (
    InvalidValue,
    NotFound,
    PermissionDenied,
    RetentionRule,
    Tenancy,
    Tenant,
    TenantPolicy,
    TenantSuspended,
)


@pytest.fixture(params=["memory", "sqlite"])
def tn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tenancy]:
    if request.param == "memory":
        handle = tenancy.open()
    else:
        handle = tenancy.open(str(tmp_path / "t.db"), staleness=None)
    yield handle
    handle.close()


def make(tn: Tenancy, domain: str, *, parent: str | None = None, **fields: object) -> Tenant:
    return tn.create_tenant(
        domain=domain,
        name=domain.title(),
        admin_email=f"admin@{domain}.example",
        parent=parent,
        **fields,  # type: ignore[arg-type]
    )


DAYS_90 = RetentionRule(maximum_age_days=90, data_type="measurement")
DAYS_30 = RetentionRule(maximum_age_days=30, data_type="alarm")


# ---------------------------------------------------------------- custom properties


def test_custom_properties_are_free_key_value_pairs(tn: Tenancy) -> None:
    acme = make(tn, "acme", properties={"external_ref": "CRM-42", "tier": "gold"})
    assert acme.properties == (("external_ref", "CRM-42"), ("tier", "gold"))
    assert acme.get_property("external_ref") == "CRM-42"
    assert acme.get_property("missing") is None
    assert acme.get_property("missing", "-") == "-"


def test_set_properties_merges_and_none_removes(tn: Tenancy) -> None:
    acme = make(tn, "acme", properties=[("a", "1"), ("b", "2")])
    new = tn.set_properties(acme.id, {"b": "3", "c": "4", "a": None})
    assert new.properties == (("b", "3"), ("c", "4"))
    assert tn.update_tenant(acme.id, properties={"z": "26"}).properties == (("z", "26"),)


def test_properties_are_set_by_the_parent_or_the_management_tenant(tn: Tenancy) -> None:
    reseller = make(tn, "reseller", allow_subtenants=True)
    customer = make(tn, "customer", parent=reseller.id)
    with pytest.raises(PermissionDenied, match="properties"):
        tn.set_properties(customer.id, {"external_ref": "mine"}, by=customer.id)
    assert tn.set_properties(customer.id, {"external_ref": "R-1"}, by=reseller.id).properties
    with pytest.raises(PermissionDenied):
        tn.update_tenant(customer.id, properties={}, by=customer.id)


@pytest.mark.parametrize("bad", [{"": "x"}, {" k": "x"}, {"k": 3}, "k=v", [("k",)]])
def test_bad_properties_are_refused(tn: Tenancy, bad: object) -> None:
    with pytest.raises(InvalidValue):
        make(tn, "acme", properties=bad)
    assert tn.find_tenant("acme") is None


# ---------------------------------------------------------------- options


def test_options_map_category_and_key_to_a_value(tn: Tenancy) -> None:
    acme = make(
        tn, "acme", options={("alarm", "type.mapping"): "critical", ("sms", "provider"): "x"}
    )
    assert acme.get_option("alarm", "type.mapping") == "critical"
    assert acme.get_option("sms", "nothing") is None
    assert acme.options == (("alarm", "type.mapping", "critical"), ("sms", "provider", "x"))
    triples = make(tn, "triples", options=[("a", "k", "1"), ("a", "k", "2")])
    assert triples.options == (("a", "k", "2"),)


def test_set_options_merges_and_the_tenant_may_set_its_own(tn: Tenancy) -> None:
    acme = make(tn, "acme", options={("a", "k"): "1", ("a", "j"): "0"})
    new = tn.set_options(acme.id, {("a", "k"): "2", ("b", "k"): "3", ("a", "j"): None}, by=acme.id)
    assert new.options == (("a", "k", "2"), ("b", "k", "3"))
    with pytest.raises(InvalidValue):
        tn.set_options(acme.id, {("a",): "x"})  # type: ignore[dict-item]
    with pytest.raises(InvalidValue):
        tn.set_options(acme.id, {("", "k"): "x"})


# ---------------------------------------------------------------- policies


def test_a_policy_is_a_named_bundle_of_options_and_retention_rules(tn: Tenancy) -> None:
    reseller = make(tn, "reseller", allow_subtenants=True)
    policy = tn.define_policy(
        reseller.id,
        "standard",
        description="Our usual customer",
        options={("sms", "provider"): "acme-sms"},
        retention_rules=[DAYS_90],
        by=reseller.id,
    )
    assert policy == TenantPolicy(
        name="standard",
        description="Our usual customer",
        options=(("sms", "provider", "acme-sms"),),
        retention_rules=(DAYS_90,),
    )
    assert tn.policies(reseller.id) == [policy]
    assert tn.get_tenant(reseller.id).get_policy("standard") == policy
    with pytest.raises(InvalidValue, match="at least one option or retention rule"):
        tn.define_policy(reseller.id, "empty")
    with pytest.raises(InvalidValue):
        tn.define_policy(reseller.id, "bad", retention_rules=[RetentionRule(maximum_age_days=0)])


def test_a_policy_is_applied_at_creation(tn: Tenancy) -> None:
    reseller = make(tn, "reseller", allow_subtenants=True)
    tn.define_policy(
        reseller.id,
        "standard",
        options={("sms", "provider"): "acme-sms", ("ui", "theme"): "dark"},
        retention_rules=[DAYS_90],
    )
    customer = make(tn, "customer", parent=reseller.id, policy="standard")
    assert customer.policy == "standard"
    assert customer.options == (("sms", "provider", "acme-sms"), ("ui", "theme", "dark"))
    assert customer.retention_rules == (DAYS_90,)
    mine = make(
        tn,
        "own-way",
        parent=reseller.id,
        policy="standard",
        options={("ui", "theme"): "light"},
        retention_rules=[DAYS_30],
    )
    assert mine.get_option("ui", "theme") == "light"
    assert mine.get_option("sms", "provider") == "acme-sms"
    assert mine.retention_rules == (DAYS_30,)


def test_a_policy_is_found_at_the_parent_or_above(tn: Tenancy) -> None:
    mgmt = tn.management_tenant.id
    tn.define_policy(mgmt, "platform", options={("a", "k"): "platform"})
    tn.define_policy(mgmt, "shadowed", options={("a", "k"): "from management"})
    reseller = make(tn, "reseller", allow_subtenants=True)
    tn.define_policy(reseller.id, "shadowed", options={("a", "k"): "from reseller"})
    assert [p.name for p in tn.policies(reseller.id, inherited=True)] == ["platform", "shadowed"]
    assert make(tn, "one", parent=reseller.id, policy="platform").get_option("a", "k") == (
        "platform"
    )
    assert make(tn, "two", parent=reseller.id, policy="shadowed").get_option("a", "k") == (
        "from reseller"
    )
    with pytest.raises(NotFound, match="tenant policy"):
        make(tn, "three", parent=reseller.id, policy="nobody-defined-it")
    assert tn.find_tenant("three") is None


def test_editing_or_deleting_a_policy_changes_no_existing_tenant(tn: Tenancy) -> None:
    mgmt = tn.management_tenant.id
    tn.define_policy(mgmt, "p", options={("a", "k"): "1"})
    before = make(tn, "before", policy="p")
    tn.define_policy(mgmt, "p", options={("a", "k"): "2"})
    assert [p.options for p in tn.policies(mgmt)] == [(("a", "k", "2"),)]
    assert make(tn, "after", policy="p").get_option("a", "k") == "2"
    tn.delete_policy(mgmt, "p")
    assert tn.policies(mgmt) == []
    assert tn.get_tenant(before.id).get_option("a", "k") == "1"
    assert tn.get_tenant(before.id).policy == "p"
    with pytest.raises(NotFound):
        tn.delete_policy(mgmt, "p")


def test_policies_are_defined_by_the_tenant_itself_or_above(tn: Tenancy) -> None:
    reseller = make(tn, "reseller", allow_subtenants=True)
    other = make(tn, "other")
    with pytest.raises(PermissionDenied):
        tn.define_policy(reseller.id, "p", options={("a", "k"): "v"}, by=other.id)
    tn.define_policy(reseller.id, "p", options={("a", "k"): "v"}, by=reseller.id)
    with pytest.raises(PermissionDenied):
        tn.delete_policy(reseller.id, "p", by=other.id)


# ---------------------------------------------------------------- subscriptions


def test_a_new_subtenant_gets_its_parents_default_subscriptions(tn: Tenancy) -> None:
    mgmt = tn.management_tenant.id
    assert tn.default_subscriptions(mgmt) == frozenset()
    tn.update_tenant(mgmt, default_subscriptions=["administration", "cockpit"])
    reseller = make(tn, "reseller", allow_subtenants=True)
    assert reseller.subscriptions == {"administration", "cockpit"}
    assert reseller.default_subscriptions is None
    assert tn.default_subscriptions(reseller.id) == {"administration", "cockpit"}
    explicit = make(tn, "explicit", subscriptions=["cockpit"])
    assert explicit.subscriptions == {"cockpit"}


def test_a_tenant_inherits_default_subscriptions_unless_it_overrides_them(tn: Tenancy) -> None:
    mgmt = tn.management_tenant.id
    tn.update_tenant(mgmt, default_subscriptions=["cockpit"])
    reseller = make(tn, "reseller", allow_subtenants=True)
    middle = make(tn, "middle", parent=reseller.id, allow_subtenants=True)
    tn.update_tenant(reseller.id, default_subscriptions=["billing", "fleet"], by=reseller.id)
    assert tn.default_subscriptions(reseller.id) == {"billing", "fleet"}
    assert tn.default_subscriptions(middle.id) == {"billing", "fleet"}  # nearest override
    assert make(tn, "leaf", parent=middle.id).subscriptions == {"billing", "fleet"}
    tn.update_tenant(reseller.id, default_subscriptions=[], by=reseller.id)
    assert tn.default_subscriptions(middle.id) == frozenset()  # an empty override is one
    # Turning the override off returns to the inherited list, and follows it.
    tn.update_tenant(reseller.id, default_subscriptions=None, by=reseller.id)
    assert tn.get_tenant(reseller.id).default_subscriptions is None
    assert tn.default_subscriptions(reseller.id) == {"cockpit"}
    tn.update_tenant(mgmt, default_subscriptions=["cockpit", "maps"])
    assert tn.default_subscriptions(middle.id) == {"cockpit", "maps"}


def test_a_policy_option_sets_the_new_tenants_default_subscriptions(tn: Tenancy) -> None:
    mgmt = tn.management_tenant.id
    tn.define_policy(
        mgmt,
        "reseller",
        options={
            ("configuration", "default.tenant.applications"): "administration, cockpit",
            ("configuration", "default.tenant.microservices"): "sms-gateway",
        },
    )
    reseller = make(tn, "reseller", allow_subtenants=True, policy="reseller")
    assert reseller.default_subscriptions == frozenset({"administration", "cockpit", "sms-gateway"})
    assert make(tn, "customer", parent=reseller.id).subscriptions == {
        "administration",
        "cockpit",
        "sms-gateway",
    }
    plain = make(tn, "plain", allow_subtenants=True)
    assert plain.default_subscriptions is None


def test_subscribe_unsubscribe_and_is_subscribed(tn: Tenancy) -> None:
    reseller = make(tn, "reseller", allow_subtenants=True)
    customer = make(tn, "customer", parent=reseller.id)
    assert not tn.is_subscribed(customer.id, "cockpit")
    tn.subscribe(customer.id, ["cockpit", "fleet"], by=reseller.id)
    assert tn.is_subscribed(customer.id, "cockpit")
    tn.unsubscribe(customer.id, ["cockpit", "never-had-it"])
    assert not tn.is_subscribed(customer.id, "cockpit")
    assert tn.get_tenant(customer.id).subscriptions == {"fleet"}
    assert not tn.is_subscribed("t00000000", "fleet")  # unknown tenant: False, no error
    with pytest.raises(PermissionDenied, match="subscriptions"):
        tn.subscribe(customer.id, ["premium"], by=customer.id)
    assert tn.update_tenant(customer.id, subscriptions=["x"]).subscriptions == {"x"}


def test_is_subscribed_is_false_while_suspended_and_back_after(tn: Tenancy) -> None:
    acme = make(tn, "acme", subscriptions=["cockpit"])
    tn.suspend_tenant(acme.id)
    assert not tn.is_subscribed(acme.id, "cockpit")
    assert tn.get_tenant(acme.id).subscriptions == {"cockpit"}  # kept, just not usable
    with pytest.raises(TenantSuspended):
        tn.subscribe(acme.id, ["more"])
    tn.activate_tenant(acme.id)
    assert tn.is_subscribed(acme.id, "cockpit")


@pytest.mark.parametrize("bad", ["cockpit", ["a,b"], [""], [" cockpit"]])
def test_bad_application_names_are_refused(tn: Tenancy, bad: object) -> None:
    acme = make(tn, "acme")
    with pytest.raises(InvalidValue):
        tn.subscribe(acme.id, bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------- durability


def test_every_setting_survives_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    with tenancy.open(path, staleness=None) as tn:
        mgmt = tn.management_tenant.id
        tn.update_tenant(mgmt, default_subscriptions=["cockpit"])
        tn.define_policy(mgmt, "gold", options={("a", "k"): "v"}, retention_rules=[DAYS_90])
        acme = make(
            tn,
            "acme",
            allow_subtenants=True,
            policy="gold",
            properties={"external_ref": "CRM-1"},
            max_devices=100,
            max_root_devices=10,
            contact_phone="+1 555 0100",
        )
        tn.update_tenant(acme.id, default_subscriptions=["fleet"])
        acme = tn.subscribe(acme.id, ["maps"])
        management = tn.management_tenant
    with tenancy.open(path, staleness=None) as again:
        assert again.get_tenant(acme.id) == acme
        assert again.management_tenant == management
        assert again.default_subscriptions(acme.id) == {"fleet"}
        assert again.is_subscribed(acme.id, "maps")
        assert again.policies(mgmt)[0].retention_rules == (DAYS_90,)
