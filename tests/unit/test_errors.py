"""The error classes: one TenancyError hierarchy, each class also the fitting builtin, each
message naming the offending value and the rule."""

from __future__ import annotations

import pytest

import tenancy
from tenancy import (
    AlreadyExists,
    CrossTenantReference,
    CycleError,
    InUse,
    InvalidValue,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    StaleRevision,
    StoreError,
    TenancyError,
    TenantSuspended,
)


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (NotFound, LookupError),
        (AlreadyExists, ValueError),
        (InvalidValue, ValueError),
        (CycleError, ValueError),
        (CrossTenantReference, ValueError),
        (InUse, ValueError),
        (LimitExceeded, ValueError),
        (PermissionDenied, PermissionError),
        (TenantSuspended, PermissionError),
        (StaleRevision, RuntimeError),
        (StoreError, OSError),
    ],
)
def test_each_error_is_a_tenancy_error_and_the_fitting_builtin(
    error: type[TenancyError], builtin: type[Exception]
) -> None:
    """Code that does not know tenancy can still catch ``LookupError``, ``ValueError``..."""
    assert issubclass(error, TenancyError)
    assert issubclass(error, builtin)
    assert getattr(tenancy, error.__name__) is error


def test_cycles_and_cross_tenant_references_are_invalid_values() -> None:
    assert issubclass(CycleError, InvalidValue)
    assert issubclass(CrossTenantReference, InvalidValue)


@pytest.mark.parametrize(
    "exc",
    [
        NotFound("group", "g-1", where="tenant 't1'"),
        AlreadyExists("device", "d-1"),
        InvalidValue("-bad", "a tenant domain starts with a letter"),
        CycleError("group", "g-1", "g-2"),
        CrossTenantReference("device", "d-1", "t1", "t2"),
        InUse("group", "g-1", "it has subgroups"),
        LimitExceeded("max_devices", 11, 10),
        TenantSuspended("t2", "t1"),
        StaleRevision(3, 5),
    ],
    ids=lambda e: type(e).__name__,
)
def test_every_message_names_the_value_and_the_rule(exc: TenancyError) -> None:
    assert exc.rule
    assert exc.rule in str(exc)
    assert repr(exc.value) in str(exc)


def test_tenant_suspended_names_the_ancestor_that_blocks() -> None:
    exc = TenantSuspended("t-child", "t-parent")
    assert exc.tenant_id == "t-child"
    assert exc.suspended_id == "t-parent"
    assert "'t-parent'" in str(exc)


def test_a_write_naming_an_unknown_id_raises_not_found_which_is_a_lookup_error() -> None:
    tn = tenancy.open()
    with pytest.raises(LookupError, match="no-such-tenant"):
        tn.tenant("no-such-tenant")
