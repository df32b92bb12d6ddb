"""Avro in the Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro body;
and two compact internal formats, told apart by their first byte:

- `COMPACT_MAGIC`, a type byte (the position in `COMPACT`), MessagePack: the records that only
  our own stages exchange (event batches on events and tracked-events, batches of order
  updates, order state). The Avro encode and decode of a columnar batch cost ~15 µs a scan
  in fastavro, of an order update and its order's state ~50 µs; msgspec's MessagePack costs
  ~1 µs for the same dicts, which keep the shape their .avsc documents.
- tracking/state_codec.py's parcel state (the parcel-state changelog), which reads here as the
  ParcelState record, so its consumers (the ClickHouse sink) need no second decoder.

Both topics are internal: nothing outside parcelstream reads them.

Avro schemas are parsed once (fastavro, schemaless). Ids come from `schemas/registry.json` by
default so the pipeline runs with nothing but a broker; with a Schema Registry URL each schema
is registered under its record name (RecordNameStrategy, since batch topics carry one type
whatever the topic) and the registry's ids are used instead.
"""

from __future__ import annotations

import json
import struct
import urllib.request
from io import BytesIO
from pathlib import Path
from typing import Any

import msgspec
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import expand_schema

from tracking import state_codec

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"
MAGIC = 0
COMPACT_MAGIC = 0x42  # "B"
_HEADER = struct.Struct(">bI")
# Message types that travel in the compact format; append only (the position is on the wire).
COMPACT = ("TrackingEventBatch", "OrderParcelUpdateBatch", "OrderState")
_COMPACT_HEADERS = {name: bytes([COMPACT_MAGIC, index]) for index, name in enumerate(COMPACT)}
_msgpack_encode = msgspec.msgpack.Encoder().encode
_msgpack_decode = msgspec.msgpack.Decoder(dict[str, Any]).decode

# Named types must be parsed before the schemas that refer to them.
SCHEMA_ORDER = (
    "Address",
    "RawCarrierEvent",
    "ShipmentRegistered",
    "TrackingEvent",
    "TrackingEventBatch",
    "ParcelState",
    "Notification",
    "DeadLetter",
    "ParcelException",
    "OrderParcelUpdate",
    "OrderParcelUpdateBatch",
    "OrderState",
    "ModelSnapshot",
)


class CodecError(Exception):
    """Bytes that are not a message of ours (bad magic byte, unknown schema id, bad body)."""


def _without_logical_types(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_without_logical_types(v) for v in node]
    return node


def load_schemas(schemas_dir: Path = SCHEMAS_DIR, logical_types: bool = True) -> dict[str, Any]:
    """Short name -> parsed schema. Without logical types, timestamps read as epoch-ms ints:
    the encoding is the same, and the hot path never pays for datetime objects."""
    named: dict[str, Any] = {}
    parsed: dict[str, Any] = {}
    for name in SCHEMA_ORDER:
        raw = json.loads((schemas_dir / f"{name}.avsc").read_text())
        if not logical_types:
            raw = _without_logical_types(raw)
        parsed[name] = parse_schema(raw, named_schemas=named)
    return parsed


def load_history(schemas_dir: Path = SCHEMAS_DIR) -> dict[int, tuple[str, Any]]:
    """Old id -> (short name, parsed writer schema, no logical types) of every earlier version
    kept in schemas/history/<id>.<Name>.avsc."""
    named: dict[str, Any] = {}
    parse_schema(
        _without_logical_types(json.loads((schemas_dir / "Address.avsc").read_text())),
        named_schemas=named,
    )  # fmt: skip - history schemas may name the shared Address
    history = {}
    for path in sorted((schemas_dir / "history").glob("*.avsc")):
        old_id, name = path.stem.split(".", 1)
        raw = _without_logical_types(json.loads(path.read_text()))
        history[int(old_id)] = (name, parse_schema(raw, named_schemas=dict(named)))
    return history


def local_schema_ids(schemas_dir: Path = SCHEMAS_DIR) -> dict[str, int]:
    table = json.loads((schemas_dir / "registry.json").read_text())
    return {full.split(".")[-1]: int(i) for full, i in table.items() if not full.startswith("_")}


def registry_schema_ids(url: str, schemas: dict[str, Any], timeout: float = 10.0) -> dict[str, int]:
    """Register every schema (idempotent on the registry's side) and return the ids it assigned."""
    ids: dict[str, int] = {}
    for name, schema in schemas.items():
        subject = f"parcelstream.{name}"
        body = json.dumps({"schema": json.dumps(expand_schema(schema))}).encode()
        request = urllib.request.Request(
            f"{url.rstrip('/')}/subjects/{subject}/versions",
            data=body,
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            ids[name] = int(json.loads(response.read())["id"])
    return ids


class AvroCodec:
    """Encodes and decodes every message type the pipeline puts on a topic."""

    def __init__(self, schema_registry_url: str | None = None, schemas_dir: Path = SCHEMAS_DIR):
        self.schemas = load_schemas(schemas_dir)
        self.ids = (
            registry_schema_ids(schema_registry_url, self.schemas)
            if schema_registry_url
            else local_schema_ids(schemas_dir)
        )
        missing = set(self.schemas) - set(self.ids)
        if missing:
            raise CodecError(f"no schema id for {sorted(missing)}")
        plain = load_schemas(schemas_dir, logical_types=False)
        # id -> (name, writer schema, reader schema): an earlier version of a schema is read
        # with Avro schema resolution into the current one (new fields take their defaults).
        self._by_id: dict[int, tuple[str, Any, Any]] = {
            old_id: (name, writer, plain[name])
            for old_id, (name, writer) in load_history(schemas_dir).items()
        }
        self._by_id.update({self.ids[name]: (name, plain[name], None) for name in self.schemas})
        self._headers = {name: _HEADER.pack(MAGIC, self.ids[name]) for name in self.schemas}

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        """The wire-format message; CodecError when the record does not fit the schema (a
        missing field, a wrong type, text that is not valid Unicode)."""
        compact = _COMPACT_HEADERS.get(name)
        if compact is not None:
            try:
                return compact + _msgpack_encode(record)
            except (TypeError, ValueError, UnicodeError) as exc:
                raise CodecError(f"cannot encode {name}: {type(exc).__name__}: {exc}") from None
        out = BytesIO()
        out.write(self._headers[name])
        try:
            schemaless_writer(out, self.schemas[name], record)
        except Exception as exc:  # noqa: BLE001 - fastavro raises many types for bad records
            raise CodecError(f"cannot encode {name}: {type(exc).__name__}: {exc}") from None
        return out.getvalue()

    def decode(self, data: bytes | None) -> tuple[str, dict[str, Any]]:
        """(short schema name, record) of a wire-format message; timestamps as epoch-ms ints."""
        if not isinstance(data, bytes):
            raise CodecError(
                "message has no value (null)" if data is None else "value is not bytes"
            )
        if len(data) < _HEADER.size:
            raise CodecError(f"message of {len(data)} bytes is shorter than the wire header")
        first = data[0]
        if first == COMPACT_MAGIC:
            if data[1] >= len(COMPACT):
                raise CodecError(f"unknown compact message type {data[1]}")
            name = COMPACT[data[1]]
            try:
                return name, _msgpack_decode(data[2:])
            except (msgspec.DecodeError, ValueError) as exc:
                raise CodecError(f"bad {name} body: {exc}") from None
        if first == state_codec.FORMAT:
            try:
                return "ParcelState", state_codec.record(data)
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                raise CodecError(f"bad parcel state: {exc}") from None
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise CodecError(f"magic byte {magic} is not the Confluent wire format's 0")
        try:
            name, writer, reader = self._by_id[schema_id]
        except KeyError:
            raise CodecError(f"unknown schema id {schema_id}") from None
        try:
            record = schemaless_reader(BytesIO(data[_HEADER.size :]), writer, reader)
        except Exception as exc:  # noqa: BLE001 - fastavro raises many types for bad bodies
            raise CodecError(f"bad {name} body: {type(exc).__name__}: {exc}") from None
        return name, record  # type: ignore[return-value]

    def decode_as(self, expected: str, data: bytes) -> dict[str, Any]:
        name, record = self.decode(data)
        if name != expected:
            raise CodecError(f"expected a {expected}, got a {name}")
        return record
