"""Poison for every input topic, and what the pipeline must do with each message.

Per topic (raw, shipments, events, order-updates): bytes that are not Avro, an empty and a null
value, an unknown schema id, a truncated body, a valid record of another type, and the topic's
own record with a lone surrogate in each string field in turn. Avro strings are UTF-8, which
has no lone surrogates, so those arrive as the bytes a careless producer writes for one
(Python's "surrogatepass", b"\\xed\\xbf\\xbf").

On raw, also the carrier formats themselves: every fixture in tests/fixtures/<format>/ with a
lone surrogate appended to each text value in turn (JSON as the escape "\\udfff", valid JSON;
XML as the character reference &#xDFFF;; CSV and X12 as the surrogatepass bytes), an unknown
payload format, and a valid 900 KB payload.

What must happen is not guessed: it is worked out here with the pipeline's own codec and
connectors. A message the codec cannot read as the topic's type must be dead-lettered; a raw
envelope whose payload the connector cannot parse must be dead-lettered; one it parses must
have every scan stored.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastavro.schema import expand_schema

import connectors
from connectors import ParseContext
from pipeline.codec import AvroCodec, CodecError
from pipeline.ingestion.publisher import raw_envelope
from pipeline.topics import EVENTS, ORDER_UPDATES, RAW, SHIPMENTS, TopicSpec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SURROGATE = "\udfff"
SURROGATE_BYTES = SURROGATE.encode("utf-8", "surrogatepass")
# What each stage accepts on its topic (pipeline/runtime/*.py); anything else is poison.
ACCEPTS = {
    RAW: ("RawCarrierEvent",),
    SHIPMENTS: ("TrackingEventBatch", "ShipmentRegistered"),
    EVENTS: ("TrackingEventBatch", "ShipmentRegistered"),
    ORDER_UPDATES: ("OrderParcelUpdateBatch", "OrderParcelUpdate"),
}
OWN_TYPE = {
    RAW: "RawCarrierEvent",
    SHIPMENTS: "ShipmentRegistered",
    EVENTS: "TrackingEventBatch",
    ORDER_UPDATES: "OrderParcelUpdate",
}
OTHER_TYPE = {  # a valid record the topic's stage does not take
    RAW: "ShipmentRegistered",
    SHIPMENTS: "RawCarrierEvent",
    EVENTS: "RawCarrierEvent",
    ORDER_UPDATES: "ShipmentRegistered",
}
BIG_PAYLOAD_BYTES = 900 * 1024
RECEIVED_AT_MS = 1_795_000_000_000  # fixed, so the expectation and the worker parse alike


@dataclass
class Poison:
    kind: str
    topic: TopicSpec
    value: bytes | None
    dead_letter: bool  # must be dead-lettered; otherwise must be processed
    scan_ids: set[str] = field(default_factory=set)  # raw only: the scans it must store
    payload: bytes | None = None  # what the dead letter must carry as its bytes
    rejects: int = 0  # raw only: bad items of a good payload, each dead-lettered on its own
    partition: int = -1  # set once produced
    offset: int = -1


# --- records of any schema --------------------------------------------------------------------


def _sample(schema: Any, names: dict[str, Any], counter: list[int]) -> Any:
    """A valid value of `schema`, with a different string in every string field."""
    if isinstance(schema, list):  # union: the first non-null branch, so strings are present
        branch = next((s for s in schema if s != "null"), "null")
        return _sample(branch, names, counter)
    if isinstance(schema, str):
        if schema in names:
            return _sample(names[schema], names, counter)
        counter[0] += 1
        return {
            "null": None, "boolean": True, "int": 1, "long": 1_795_000_000_000, "float": 1.0,
            "double": 1.0, "bytes": b"bytes", "string": f"s{counter[0]:04d}",
        }[schema]  # fmt: skip
    kind = schema["type"]
    if kind == "record":
        names[schema["name"]] = names[f"{schema.get('namespace', '')}.{schema['name']}"] = schema
        return {f["name"]: _sample(f["type"], names, counter) for f in schema["fields"]}
    if kind == "enum":
        return schema["symbols"][0]
    if kind == "array":
        return [_sample(schema["items"], names, counter)]
    if kind == "map":
        return {"k": _sample(schema["values"], names, counter)}
    if kind == "fixed":
        return b"\0" * schema["size"]
    return _sample(kind, names, counter)


def sample_record(codec: AvroCodec, name: str) -> dict[str, Any]:
    return dict(_sample(expand_schema(codec.schemas[name]), {}, [0]))


def _string_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _string_paths(item, (*path, i))


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(value: Any, path: tuple[Any, ...], new: Any) -> None:
    _get(value, path[:-1])[path[-1]] = new


def with_surrogate_bytes(codec: AvroCodec, name: str, record: dict[str, Any]) -> Iterator[bytes]:
    """The record encoded once per string field, that field ending in a lone surrogate's
    bytes. fastavro cannot encode one, so a 3-byte marker is encoded and swapped for the 3
    surrogate bytes (same length: the Avro length prefix stays right)."""
    marker = "~Q~"
    for path in _string_paths(record):
        mutated = copy.deepcopy(record)
        _set(mutated, path, _get(mutated, path) + marker)
        encoded = codec.encode(name, mutated)
        assert encoded.count(marker.encode()) == 1, path
        yield encoded.replace(marker.encode(), SURROGATE_BYTES)


# --- carrier payloads with lone surrogates ----------------------------------------------------


def _json_variants(body: bytes) -> Iterator[bytes]:
    document = json.loads(body)
    for path in _string_paths(document):
        mutated = copy.deepcopy(document)
        _set(mutated, path, _get(mutated, path) + SURROGATE)
        yield json.dumps(mutated, ensure_ascii=True).encode()  # "\udfff": valid JSON


def _xml_variants(body: bytes) -> Iterator[bytes]:
    # A lone surrogate is no XML character; a producer escaping one writes this reference.
    for match in re.finditer(rb">([^<]*\S[^<]*)<", body):
        yield body[: match.end(1)] + b"&#xDFFF;" + body[match.end(1) :]


def _csv_variants(body: bytes) -> Iterator[bytes]:
    text = body.decode("utf-8-sig")
    delimiter = ";" if text.splitlines()[0].count(";") > text.splitlines()[0].count(",") else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    for r in range(1, len(rows)):
        for c in range(len(rows[r])):
            mutated = [list(row) for row in rows]
            mutated[r][c] += SURROGATE
            out = io.StringIO()
            csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(mutated)
            yield out.getvalue().encode("utf-8", "surrogatepass")


def _x12_variants(body: bytes) -> Iterator[bytes]:
    element = body[3:4]  # ISA's fourth byte is the element separator, by definition
    for match in re.finditer(re.escape(element) + rb"([^" + re.escape(element) + rb"~\n|]+)", body):
        yield body[: match.end(1)] + SURROGATE_BYTES + body[match.end(1) :]


VARIANTS = {".json": _json_variants, ".xml": _xml_variants, ".csv": _csv_variants,
            ".edi": _x12_variants}  # fmt: skip


def fixture_payloads() -> Iterator[tuple[str, str, bytes]]:
    """(format, fixture name, payload) with one lone surrogate, for every text value of every
    fixture of every format."""
    for folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.name.endswith(".expected.json") or path.suffix not in VARIANTS:
                continue
            for payload in VARIANTS[path.suffix](path.read_bytes()):
                yield folder.name, path.name, payload


def big_payload() -> bytes:
    """A valid generic payload of 900 KB: many scans of many parcels, padded with whitespace
    (which JSON allows) to the byte."""
    events: list[str] = []
    size = len('{"carrier": "acme-express", "events": []}')
    while True:
        i = len(events)
        at = f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z"
        event = json.dumps({"tracking_number": f"BIG{i // 4:07d}", "code": "AF",
                            "description": f"arrived at facility {i}", "occurred_at": at,
                            "location": {"city": "Memphis", "country": "US"}})  # fmt: skip
        if size + len(event) + 2 > BIG_PAYLOAD_BYTES:
            break
        events.append(event)
        size += len(event) + 2
    body = ('{"carrier": "acme-express", "events": [' + ", ".join(events) + "]}").encode()
    return body + b" " * (BIG_PAYLOAD_BYTES - len(body))


# --- the whole poison set and its expectation -------------------------------------------------


def _expect_record(codec: AvroCodec, topic: TopicSpec, kind: str, value: bytes | None) -> Poison:
    try:
        if value is None:
            raise CodecError("null value")
        name, _ = codec.decode(value)
        if name not in ACCEPTS[topic]:
            raise CodecError(f"unexpected {name}")
    except CodecError:
        return Poison(kind, topic, value, dead_letter=True, payload=value or b"")
    return Poison(kind, topic, value, dead_letter=False)


def _expect_raw(codec: AvroCodec, kind: str, fmt: str, carrier: str, payload: bytes) -> Poison:
    envelope = raw_envelope(carrier, fmt, payload, "poison", received_at_ms=RECEIVED_AT_MS)
    value = codec.encode("RawCarrierEvent", envelope)
    try:
        result = connectors.parse(fmt, payload, ParseContext(carrier, RECEIVED_AT_MS, "poison"))
    except Exception:  # noqa: BLE001 - whatever the connector raises, the stage must isolate
        return Poison(kind, RAW, value, dead_letter=True, payload=payload)
    scans = {s.event_id for s in result.scans}
    return Poison(kind, RAW, value, False, scans, payload, rejects=len(result.rejects))


def build(codec: AvroCodec) -> list[Poison]:
    poison: list[Poison] = []
    for topic in ACCEPTS:
        own = codec.encode(OWN_TYPE[topic], sample_record(codec, OWN_TYPE[topic]))
        simple: list[tuple[str, bytes | None]] = [
            ("not avro", b"this is not avro \x00\xff\xfe"),
            ("empty value", b""),
            ("null value", None),
            ("unknown schema id", b"\x00" + (9999).to_bytes(4, "big") + own[5:]),
            ("truncated body", own[: len(own) // 2]),
            ("wrong record type",
             codec.encode(OTHER_TYPE[topic], sample_record(codec, OTHER_TYPE[topic]))),
        ]  # fmt: skip
        poison += [_expect_record(codec, topic, kind, value) for kind, value in simple]
        record = sample_record(codec, OWN_TYPE[topic])
        for value in with_surrogate_bytes(codec, OWN_TYPE[topic], record):
            poison.append(_expect_record(codec, topic, "lone surrogate in a string field", value))
    for fmt, name, payload in fixture_payloads():
        poison.append(_expect_raw(codec, f"lone surrogate in {fmt}/{name}", fmt, fmt, payload))
    poison.append(_expect_raw(codec, "unknown payload format", "nope", "nope", b"{}"))
    poison.append(_expect_raw(codec, "900 KB payload", "generic", "acme-express", big_payload()))
    return poison
