from __future__ import annotations

import json
from io import BytesIO

import pytest
from fastavro import parse_schema, schemaless_reader

from pipeline.codec import SCHEMA_ORDER, SCHEMAS_DIR, AvroCodec, CodecError
from pipeline.ingestion.publisher import raw_envelope
from pipeline.records import DeadLetter, to_avro
from tests.unit.tracking.test_parcels import SHIPMENT, scan
from tools.simulator import simulate
from tracking.events import from_columns, to_columns
from tracking.orders import OrderState
from tracking.parcels import PartitionState, process_batch
from tracking.state import ParcelState


def sample_records() -> dict[str, dict]:
    out = process_batch(
        PartitionState(), [scan("P1", "a", "delivered", 1_000)], [SHIPMENT], now_ms=5_000
    )
    event = out.new_events[0].to_record()
    damaged = process_batch(
        PartitionState(), [scan("P1", "x", "exception", 2_000, "damaged")], [SHIPMENT], now_ms=6_000
    )
    order = OrderState("O1")
    order.apply(out.order_updates[0], now_ms=7_000)
    return {
        "ParcelException": to_avro(damaged.exceptions[0]),
        "OrderParcelUpdate": to_avro(out.order_updates[0]),
        "OrderState": order.to_record(),
        "ModelSnapshot": {
            "name": "eta",
            "partition": 3,
            "model": b"x\x9c\xab\xae\x05\x00\x01u\x00\xf9",
            "updated_at": 1,
        },
        "Address": {"city": "Oslo", "region": "", "postal_code": "0150", "country": "NO"},
        "RawCarrierEvent": raw_envelope(
            "acme", "generic", b'{"x": 1}', "test", "P1", {"k": "v"}, 1
        ),
        "ShipmentRegistered": SHIPMENT,
        "TrackingEvent": event,
        "TrackingEventBatch": to_columns([out.new_events[0], out.new_events[0]]),
        "ParcelState": out.changed[0].to_record(),
        "Notification": to_avro(out.notifications[0]),
        "DeadLetter": to_avro(DeadLetter("bad", "parse", "t", 0, 7, None, None, None, b"\x00", 9)),
    }


@pytest.mark.parametrize("name", SCHEMA_ORDER)
def test_every_schema_round_trips_through_the_wire_format(name: str) -> None:
    codec = AvroCodec()
    record = sample_records()[name]
    data = codec.encode(name, record)
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == codec.ids[name]
    assert codec.decode(data) == (name, record)


def test_parcel_state_survives_the_changelog_encoding() -> None:
    codec = AvroCodec()
    record = sample_records()["ParcelState"]
    restored = ParcelState.from_record(
        codec.decode_as("ParcelState", codec.encode("ParcelState", record))
    )
    assert restored.to_record() == record


def test_every_schema_is_documented() -> None:
    for name in SCHEMA_ORDER:
        assert json.loads((SCHEMAS_DIR / f"{name}.avsc").read_text()).get("doc"), name


def test_readers_without_our_codec_can_decode() -> None:
    """A consumer using plain fastavro (after skipping 5 header bytes) reads our messages."""
    codec = AvroCodec()
    named: dict = {}
    parsed = {
        name: parse_schema(
            json.loads((SCHEMAS_DIR / f"{name}.avsc").read_text()), named_schemas=named
        )
        for name in SCHEMA_ORDER
    }
    data = codec.encode("Notification", sample_records()["Notification"])
    record = schemaless_reader(BytesIO(data[5:]), parsed["Notification"], None)
    assert record["kind"] == "delivered"
    assert record["occurred_at"].year == 1970, "logical types give consumers datetimes"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "shorter"),
        (b"\x01\x00\x00\x00\x01x", "magic"),
        (b"\x00\x00\x00\x03\xe7x", "unknown schema id"),
        (b"\x00\x00\x00\x00\x02\xff", "bad RawCarrierEvent"),
    ],
)
def test_foreign_bytes_raise_codec_error(data: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        AvroCodec().decode(data)


def test_simulated_feed_encodes() -> None:
    codec = AvroCodec()
    simulation = simulate(20, seed=1)
    for shipment in simulation.shipments:
        codec.encode("ShipmentRegistered", shipment)
    assert simulation.manifest.parcels == 20


def test_columnar_batch_round_trips_to_the_same_events() -> None:
    codec = AvroCodec()
    events = process_batch(
        PartitionState(),
        [scan("P1", "a", "picked_up", 1), scan("P2", "b", "delivered", 2)],
        [],
        now_ms=3,
    ).new_events
    decoded = codec.decode_as(
        "TrackingEventBatch", codec.encode("TrackingEventBatch", to_columns(events))
    )
    assert from_columns(decoded) == events


def test_null_and_unencodable_values_are_codec_errors() -> None:
    codec = AvroCodec()
    with pytest.raises(CodecError, match="no value"):
        codec.decode(None)
    record = sample_records()["Notification"]
    record["message"] = "x\udfff"
    with pytest.raises(CodecError, match="cannot encode Notification"):
        codec.encode("Notification", record)
