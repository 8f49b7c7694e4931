"""The facade by composition: a handle holds one writer and one identity, acting handles
are new handles on the same writer, and no handle class is a chain of mixins."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest

import tenancy
from tenancy.handle.access import AccessQueries
from tenancy.handle.delegate import delegated
from tenancy.handle.store_lookups import StoreLookups
from tenancy.handle.tenants import TenantLifecycle
from tenancy.handle.writer import Writer

HANDLE = Path(tenancy.__file__).parent / "handle"


def _world() -> tuple[tenancy.Tenancy, str, str, str]:
    tn = tenancy.open()
    acme = tn.create_tenant(domain="acme", name="Acme", admin_email="it@acme.example")
    t = tn.tenant(acme.id)
    site = t.create_group("Site", device_tags=[("site", "1")])
    t.create_device("Gen", id="gen", tags=[("site", "1")])
    ana = t.create_user("ana@acme.example")
    t.add_member(site.id, ana.id)
    assert acme.admin_user_id is not None
    return tn, acme.id, acme.admin_user_id, ana.id


def test_as_user_is_a_new_handle_on_the_same_writer() -> None:
    tn, _, admin, ana = _world()
    acting = tn.as_user(admin)
    assert type(acting) is tenancy.Tenancy
    assert acting is not tn
    assert acting._writer is tn._writer
    assert acting.identity.user_id == admin
    assert tn.identity.user_id is None
    assert acting.index is tn.index
    assert acting.verify(ana, "gen")


def test_closing_an_acting_handle_closes_nothing() -> None:
    tn, tenant_id, admin, ana = _world()
    tn.as_user(admin).close()
    tn.tenant(tenant_id).create_device("Gen 2", id="gen-2", tags=[("site", "1")])
    assert tn.verify(ana, "gen-2")


def test_a_writer_attribute_reassigned_later_is_seen_by_every_handle() -> None:
    """The old _Acting copied its base's __dict__: an attribute reassigned on the base
    afterwards diverged. Now there is one writer, so a new lock (as after a fork) or a new
    index (a rebuild) is every handle's at once, verify's views included."""
    tn, tenant_id, admin, ana = _world()
    acting = tn.as_user(admin)
    writer: Writer = tn._writer
    writer.lock = threading.RLock()
    old = tn.index
    writer.rebuild()
    assert tn.index is not old
    assert acting.index is tn.index
    assert acting._views is tn._views
    assert acting._views[2] is tn.index
    acting.tenant(tenant_id).create_device("Gen 3", id="gen-3", tags=[("site", "1")])
    assert tn.verify(ana, "gen-3")
    assert tn.check(ana, "device:READ", "gen-3")


def test_the_handle_classes_are_not_mixins() -> None:
    """Tenancy is one class over object; no handle module has a placeholder method
    (``raise NotImplementedError``)."""
    assert tenancy.Tenancy.__mro__ == (tenancy.Tenancy, object)
    for path in sorted(HANDLE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                name = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                assert not (isinstance(name, ast.Name) and name.id == "NotImplementedError"), (
                    f"{path.name}:{node.lineno} is a placeholder"
                )


def test_a_delegated_method_is_the_part_method_of_each_handle() -> None:
    """``delegated`` binds the part of the handle it is read from: an acting handle's
    ``suspend_tenant`` is authorised for its own identity, not the bare handle's."""
    tn, tenant_id, _admin, ana = _world()
    assert tenancy.Tenancy.create_tenant is TenantLifecycle.create_tenant
    assert tn.create_tenant.__self__ is tn._tenants  # type: ignore[attr-defined]
    acting = tn.as_user(ana)
    assert acting.create_tenant.__self__ is acting._tenants  # type: ignore[attr-defined]
    assert tenancy.Tenancy.explain.__doc__ == AccessQueries.explain.__doc__
    with pytest.raises(tenancy.PermissionDenied):
        acting.suspend_tenant(tenant_id)
    assert tn.get_tenant(tenant_id).status == "active"


def test_a_delegated_name_must_be_the_part_method_name() -> None:
    """The reference shows a delegated attribute as the part's method: the names agree
    (Python 3.11 wraps the TypeError of ``__set_name__`` in a RuntimeError)."""
    with pytest.raises((TypeError, RuntimeError)) as refused:

        class Facade:
            listing = delegated("_lookups", StoreLookups.tenants)

    error = refused.value.__cause__ or refused.value
    assert "delegates to a method named tenants" in str(error)
