"""The tenant-edit rule (tenancy.rules.tenant_rules), asked by both the facade's tenant
commands and the authorisation of an acting user's commit: the two agree field by field."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from tenancy import Tenant
from tenancy.rules.tenant_rules import (
    MANAGEMENT_FIELDS,
    OWN_FIELDS,
    changed_fields,
    edit_refusal,
    editors,
    may_edit,
)

_AT = datetime(2026, 1, 1, tzinfo=UTC)
MGMT = "t-mgmt"
PARENT = "t-parent"
CHILD = Tenant(id="t-child", domain="child", name="Child", parent_id=PARENT, created_at=_AT)
FIELDS = [f.name for f in msgspec.structs.fields(Tenant)]


@pytest.mark.parametrize("field", FIELDS)
def test_who_may_edit_each_field(field: str) -> None:
    """The management tenant edits everything; the parent all but allow_subtenants; the
    tenant itself only its own fields; any other tenant nothing."""
    management = {MGMT}
    assert may_edit(MGMT, CHILD, field, management=management)
    assert may_edit(PARENT, CHILD, field, management=management) is (field not in MANAGEMENT_FIELDS)
    assert may_edit(CHILD.id, CHILD, field, management=management) is (field in OWN_FIELDS)
    assert not may_edit("t-other", CHILD, field, management=management)


def test_the_own_fields_are_fields_of_a_tenant() -> None:
    """A misspelt field name would silently allow nothing."""
    assert set(FIELDS) >= OWN_FIELDS | MANAGEMENT_FIELDS
    assert "the tenant itself" in editors("name")
    assert editors("max_devices") == "its parent or the management tenant"
    assert editors("allow_subtenants") == "the management tenant"


def test_a_change_record_is_judged_by_the_same_rule() -> None:
    """edit_refusal on a whole record agrees with may_edit on each changed field."""
    management = {MGMT}
    renamed = msgspec.structs.replace(CHILD, name="New name")
    limited = msgspec.structs.replace(CHILD, max_devices=5)
    opened = msgspec.structs.replace(CHILD, allow_subtenants=True)
    assert changed_fields(CHILD, renamed) == {"name"}
    assert edit_refusal(CHILD.id, CHILD, renamed, management=management) is None
    assert edit_refusal(CHILD.id, CHILD, limited, management=management) is not None
    assert edit_refusal(PARENT, CHILD, limited, management=management) is None
    assert edit_refusal(PARENT, CHILD, opened, management=management) is not None
    assert edit_refusal(MGMT, CHILD, opened, management=management) is None
    assert edit_refusal("t-other", CHILD, CHILD, management=management) is not None
    for actor in (MGMT, PARENT, CHILD.id, "t-other"):
        for new in (renamed, limited, opened):
            by_field = all(
                may_edit(actor, CHILD, f, management=management) for f in changed_fields(CHILD, new)
            )
            assert (edit_refusal(actor, CHILD, new, management=management) is None) is by_field
