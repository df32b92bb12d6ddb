from __future__ import annotations

import json
import struct
from io import BytesIO

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from pipeline.codec import COMPACT, COMPACT_MAGIC, SCHEMA_ORDER, SCHEMAS_DIR, AvroCodec, CodecError
from pipeline.ingestion.publisher import raw_envelope
from pipeline.records import DeadLetter, to_avro
from tests.unit.tracking.test_parcels import SHIPMENT, scan
from tools.simulator import simulate
from tracking.events import TrackingEta, TrackingEvent, etas_from_columns, from_columns, to_columns
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
    estimate = TrackingEta("P2", "fedex", 90_000, 80_000, 90_000, "estimated", True,
                           "12027~794612345670~FDEG", 4_000, "raw", "test")  # fmt: skip
    carried = process_batch(
        PartitionState(), [scan("P2", "b", "picked_up", 3_000)], [], now_ms=4_000, etas=[estimate]
    )
    order = OrderState("O1")
    order.apply(out.order_updates[0], now_ms=7_000)
    return {
        "ParcelException": to_avro(damaged.exceptions[0]),
        "OrderParcelUpdate": to_avro(out.order_updates[0]),
        "OrderParcelUpdateBatch": {"updates": [to_avro(out.order_updates[0])] * 2},
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
        "TrackingEventBatch": to_columns([out.new_events[0], out.new_events[0]], [estimate]),
        "ParcelState": carried.changed[0].to_record(),
        "Notification": to_avro(out.notifications[0]),
        "DeadLetter": to_avro(DeadLetter("bad", "parse", "t", 0, 7, None, None, None, b"\x00", 9)),
    }


@pytest.mark.parametrize("name", SCHEMA_ORDER)
def test_every_schema_round_trips_through_the_wire_format(name: str) -> None:
    codec = AvroCodec()
    record = sample_records()[name]
    data = codec.encode(name, record)
    if name in COMPACT:  # internal: MessagePack of the record its .avsc documents
        assert data[0] == COMPACT_MAGIC and data[1] == COMPACT.index(name)
    else:
        assert data[0] == 0 and int.from_bytes(data[1:5], "big") == codec.ids[name]
    assert codec.decode(data) == (name, record)


def _avro_encode(codec: AvroCodec, name: str, record: dict) -> bytes:
    body = BytesIO()
    body.write(b"\x00" + codec.ids[name].to_bytes(4, "big"))
    schemaless_writer(body, codec.schemas[name], record)
    return body.getvalue()


def test_an_avro_events_batch_of_an_older_worker_still_decodes() -> None:
    codec = AvroCodec()
    record = sample_records()["TrackingEventBatch"]
    assert codec.decode(_avro_encode(codec, "TrackingEventBatch", record))[1] == record


def test_parcel_state_survives_the_changelog_encoding() -> None:
    codec = AvroCodec()
    record = sample_records()["ParcelState"]
    restored = ParcelState.from_record(
        codec.decode_as("ParcelState", codec.encode("ParcelState", record))
    )
    assert restored.to_record() == record


def test_the_sample_state_carries_a_carrier_eta() -> None:
    record = sample_records()["ParcelState"]
    assert (record["carrier_eta"], record["carrier_eta_low"], record["eta_source"]) == (
        90_000,
        80_000,
        "carrier",
    )


# Fields added after these schemas first went on a topic: a message written before them must
# still decode, with the fields' defaults, by a reader that resolves writer to reader schema.
ADDED_FIELDS = {
    "TrackingEventBatch": {"etas", "shipment_id"},
    "TrackingEvent": {"shipment_id"},
    "ParcelState": {"eta_source", "carrier_eta", "carrier_eta_low", "carrier_eta_high",
                    "carrier_eta_kind", "carrier_eta_received_at", "carrier_eta_first",
                    "eta_first"},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ADDED_FIELDS))
def test_messages_written_before_the_new_fields_decode_with_their_defaults(name: str) -> None:
    named: dict = {}
    current = {}
    for schema in SCHEMA_ORDER:
        raw = json.loads((SCHEMAS_DIR / f"{schema}.avsc").read_text())
        current[schema] = raw
        parsed = parse_schema(raw, named_schemas=named)
        if schema == name:
            reader = parsed
    old_raw = dict(current[name])
    old_raw["fields"] = [f for f in old_raw["fields"] if f["name"] not in ADDED_FIELDS[name]]
    old = parse_schema(old_raw, named_schemas=dict(named))
    record = sample_records()[name]
    old_record = {k: v for k, v in record.items() if k not in ADDED_FIELDS[name]}
    body = BytesIO()
    schemaless_writer(body, old, old_record)
    body.seek(0)
    decoded = schemaless_reader(body, old, reader)
    for field in ADDED_FIELDS[name]:
        default = next(f["default"] for f in current[name]["fields"] if f["name"] == field)
        assert decoded[field] == default, field
    if name == "TrackingEventBatch":
        assert etas_from_columns(decoded) == [] and from_columns(decoded) == from_columns(record)
    elif name == "TrackingEvent":
        assert TrackingEvent.from_record(decoded).shipment_id == ""
    else:
        assert ParcelState.from_record(decoded).carrier_eta_ms is None


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
    assert etas_from_columns(decoded) == []


def test_columnar_batch_round_trips_the_carrier_estimates() -> None:
    codec = AvroCodec()
    etas = [
        TrackingEta("P1", "fedex", 9, 0, 9, "estimated", False, "", 3, "r1", "poll"),
        TrackingEta("P2", "dhl", 7, 5, 0, "promised", True, "s2", 4, "r2", "webhook"),
    ]
    record = to_columns([], etas)
    decoded = codec.decode_as("TrackingEventBatch", codec.encode("TrackingEventBatch", record))
    assert etas_from_columns(decoded) == etas and from_columns(decoded) == []


def test_null_and_unencodable_values_are_codec_errors() -> None:
    codec = AvroCodec()
    with pytest.raises(CodecError, match="no value"):
        codec.decode(None)
    record = sample_records()["Notification"]
    record["message"] = "x\udfff"
    with pytest.raises(CodecError, match="cannot encode Notification"):
        codec.encode("Notification", record)


@pytest.mark.parametrize("old_id", [5, 6])
def test_messages_of_an_earlier_schema_version_still_decode(old_id: int) -> None:
    """A changed schema gets a new id; what was written with the old one resolves into the
    current schema, new fields taking their defaults (schemas/history/)."""
    codec = AvroCodec()
    path = next((SCHEMAS_DIR / "history").glob(f"{old_id}.*.avsc"))
    name = path.stem.split(".", 1)[1]
    named: dict = {}
    parse_schema(json.loads((SCHEMAS_DIR / "Address.avsc").read_text()), named_schemas=named)
    old = parse_schema(json.loads(path.read_text()), named_schemas=named)
    current = codec.decode(codec.encode(name, sample_records()[name]))[1]
    old_fields = {f["name"] for f in json.loads(path.read_text())["fields"]}
    out = BytesIO()
    out.write(struct.pack(">bI", 0, old_id))
    schemaless_writer(out, old, {k: v for k, v in current.items() if k in old_fields})
    decoded_name, record = codec.decode(out.getvalue())
    assert decoded_name == name and codec.ids[name] != old_id
    assert {k: record[k] for k in old_fields} == {k: current[k] for k in old_fields}
    assert set(record) == set(current), "fields added since take their defaults"
