"""The store's encoding: a snapshot decodes devices with their tags left encoded at first."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenancy.records.model import Device
from tenancy.store import _codec

_text = st.text(alphabet="abcdé-0123", min_size=1, max_size=6)
_devices = st.builds(
    Device,
    id=_text.map(lambda t: f"d-{t}"),
    tenant_id=st.sampled_from(["t1", "t2"]),
    name=_text,
    tags=st.frozensets(st.tuples(_text, _text), max_size=4),
    parent_id=st.none() | _text.map(lambda t: f"d-{t}"),
)


def test_the_device_row_has_the_fields_of_a_device() -> None:
    """The row a snapshot decodes first must follow Device field for field (only the tags'
    type differs): a field added to Device and not to the row would be dropped."""
    row = {f.name: f.default for f in msgspec.structs.fields(_codec._DeviceRow)}
    device = {f.name: f.default for f in msgspec.structs.fields(Device)}
    assert list(row) == list(device)
    assert {k: v for k, v in row.items() if k != "tags"} == {
        k: v for k, v in device.items() if k != "tags"
    }


@given(st.lists(_devices, max_size=30))
def test_devices_decode_to_the_records_that_were_encoded(devices: list[Device]) -> None:
    shared: dict[Any, Any] = {}
    blobs = [_codec.encode_record(d) for d in devices]
    assert _codec.decode_sharing(Device, blobs, shared) == devices
    # A second batch sharing the same table decodes the same again.
    assert _codec.decode_sharing(Device, blobs, shared) == devices


def test_equal_tags_and_tenant_ids_are_one_object_across_batches() -> None:
    made = [
        Device(id=f"d-{i}", tenant_id="t-" + "1", name="x", tags=frozenset({("site", f"s{i % 2}")}))
        for i in range(6)
    ]
    shared: dict[Any, Any] = {}
    blobs = [_codec.encode_record(d) for d in made]
    devices = _codec.decode_sharing(Device, blobs[:3], shared)
    devices += _codec.decode_sharing(Device, blobs[3:], shared)
    assert devices == made
    assert len({id(d.tags) for d in devices}) == 2
    assert len({id(d.tenant_id) for d in devices}) == 1
    assert devices[0].tags is not made[0].tags  # decoded, not the encoder's objects


@pytest.mark.parametrize("blob_fields", [{"id": "d-1", "tenant_id": "t1", "name": "x"}])
def test_a_blob_without_tags_decodes_to_no_tags(blob_fields: dict[str, str]) -> None:
    """A field left at its default may be absent from a blob (an older writer)."""
    blob = msgspec.msgpack.encode(blob_fields)
    (device,) = _codec.decode_sharing(Device, [blob], {})
    assert device == Device(id="d-1", tenant_id="t1", name="x")
