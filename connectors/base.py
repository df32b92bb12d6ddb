"""The one contract every carrier parser follows.

A parser takes the carrier's bytes and a context and returns `CarrierScan`s (and problems it
could work around). A payload that cannot be read raises `ParseError` with a reason; nothing
else may escape a parser, so callers can dead-letter bad input without guessing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal


class ConnectorError(Exception):
    """Root of everything the connectors package raises."""


class ParseError(ConnectorError):
    """The payload cannot be read; `reason` says why in words a carrier integrator understands."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownCarrier(ConnectorError):
    """No connector is registered under that name."""


@dataclass(frozen=True, slots=True)
class ParseContext:
    """What the ingest side knows about a payload besides its bytes."""

    carrier: str
    received_at_ms: int
    source: str = "webhook"


@dataclass(slots=True)
class CarrierScan:
    """One scan as the carrier reported it, with its time already converted to UTC.

    `code` stays the carrier's own code: mapping it to the canonical taxonomy is the normalize
    step's job, so that a mapping fix never needs a parser change.
    """

    event_id: str
    carrier: str
    tracking_number: str
    code: str
    description: str
    occurred_at_ms: int
    zone_assumed: bool = False
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    # The carrier's id for the shipment when its tracking number alone is not unique (FedEx
    # reuses numbers: trackingNumberUniqueId); "" otherwise. It keeps two shipments under one
    # number apart as parcels and never enters the event id (see scan_event_id).
    shipment_id: str = ""


# What a carrier's delivery estimate means; see connectors/README.md, "Carrier ETAs".
EtaKind = Literal["estimated", "scheduled", "appointment", "promised"]
ETA_KINDS: tuple[EtaKind, ...] = ("estimated", "scheduled", "appointment", "promised")


@dataclass(slots=True)
class CarrierEta:
    """The carrier's own delivery estimate for a parcel: a fact about the parcel, not a scan.

    `estimated_at_ms` is the carrier's single best estimate. When the carrier gives only a
    window, it is the window's end: carriers word windows as "delivered by", a delivery after
    the end is what they (and customers) call late, and the end is the one bound every window
    has (an open "before 18:00" has no start). `window_start_ms`/`window_end_ms` are 0 when the
    carrier gives no such bound. Times follow the zone rules; `zone_assumed` is True whenever
    any of them was read in an inferred or default zone, and a date alone is noon (rule 4).
    """

    tracking_number: str
    carrier: str
    estimated_at_ms: int
    window_start_ms: int = 0
    window_end_ms: int = 0
    kind: EtaKind = "estimated"
    zone_assumed: bool = False
    shipment_id: str = ""  # as on CarrierScan

    @classmethod
    def window(
        cls,
        tracking_number: str,
        carrier: str,
        start_ms: int,
        end_ms: int,
        kind: EtaKind = "estimated",
        zone_assumed: bool = False,
        shipment_id: str = "",
    ) -> CarrierEta:
        """An estimate given as a window (either bound may be 0 = open): the end, else the
        start, is the best estimate. The caller ensures at least one bound is set."""
        return cls(tracking_number, carrier, end_ms or start_ms, start_ms, end_ms, kind,
                   zone_assumed, shipment_id)  # fmt: skip


@dataclass(slots=True)
class Reject:
    """One bad item inside an otherwise good payload, so the pipeline can dead-letter just it.

    `fragment` is the item's original bytes when the parser has the slice (a CSV line, an X12
    segment loop) and its compact JSON re-encoding when it does not (json.loads keeps no
    offsets). `reason` is written for the carrier's integrator, like ParseError's.
    """

    reason: str
    fragment: bytes


@dataclass(slots=True)
class ParseResult:
    scans: list[CarrierScan] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    etas: list[CarrierEta] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


MINUTE_MS = 60_000


def scan_event_id(carrier: str, tracking_number: str, code: str, occurred_at_ms: int) -> str:
    """A deterministic id for a scan, the same from every source of the same carrier, so a
    re-sent, re-polled or cross-source copy of a scan deduplicates to one event.

    Built only from what two sources of one carrier agree on: carrier, parcel, the carrier's
    code (case and padding aside) and the minute, in UTC, the scan happened. Location text is
    left out (one API says "MEMPHIS, TN", another "Memphis TN US"), and so are seconds: one
    source rounds, another truncates, another has no seconds at all. Two different scans of a
    parcel with the same code in the same minute therefore share an id; no carrier scans a
    parcel twice with one code within a minute for different reasons. A carrier's shipment id
    (CarrierScan.shipment_id) stays out too: shipments that reuse a tracking number are months
    apart, so their scans never share a minute, and a source without the id still agrees.
    """
    minute = occurred_at_ms // MINUTE_MS
    key = f"{carrier}\x1f{tracking_number}\x1f{code.strip().upper()}\x1f{minute}"
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


# Lone surrogates (text no UTF-8 encoder accepts, so no Avro record or ClickHouse row could
# carry it) and control characters. Valid JSON can hold both as \u escapes: "x\udfff".
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def clean_text(value: str) -> str:
    """`value` with lone surrogates as U+FFFD and control characters (but tab and line
    breaks) as spaces: safe to encode anywhere downstream."""
    return _UNSAFE.sub(lambda m: "\ufffd" if m.group() >= "\ud800" else " ", value)


def _clean(node: Any) -> Any:
    if isinstance(node, str):
        return clean_text(node)
    if isinstance(node, list):
        return [_clean(item) for item in node]
    if isinstance(node, dict):
        return {clean_text(k): _clean(v) for k, v in node.items()}
    return node


# Where unsafe text in a decoded document can come from, in the payload's bytes: an escape of an
# unsafe character (\b and \f, which hold no "\u"; \u0000-\u001f, \u007f, \ud800-\udfff, the last
# told by their leading digits), or the character itself: a raw DEL, a raw surrogate (UTF-8
# ED A0-BF, which json.loads decodes with surrogatepass; any ED byte is taken), or any UTF-16
# or UTF-32 body (those always hold NUL bytes). Raw C0 controls need no check of their own:
# json.loads (strict) refuses them in strings and between tokens, and in a UTF-16/32 body the
# NULs already tell. A superset: finding one only means the document is walked.
_UNSAFE_ESCAPE = re.compile(rb"\\(?:[bf]|u(?:00[01]|007[fF]|[dD][89a-fA-F]))")


def _may_hold_unsafe_text(payload: bytes) -> bool:
    # `in` on bytes is a memchr-speed scan; most payloads pass all four in a few microseconds.
    if b"\x7f" in payload or b"\xed" in payload or b"\x00" in payload:
        return True
    return b"\\" in payload and _UNSAFE_ESCAPE.search(payload) is not None


def load_json(payload: bytes) -> Any:
    """The payload as JSON, its text made safe (`clean_text`), whatever the escaping. Whatever
    json.loads cannot read raises ParseError: bad syntax, bad UTF-8 (a ValueError), nesting too
    deep (RecursionError), an integer past Python's digit limit (a plain ValueError)."""
    try:
        document = json.loads(payload)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ParseError(f"not JSON: {exc}") from None
    # The walk costs ~4x json.loads itself, and almost no payload holds unsafe text: a payload
    # is walked only where its bytes say it may.
    if _may_hold_unsafe_text(payload):
        return _clean(document)
    return document


def load_json_object(payload: bytes) -> dict[str, Any]:
    document = load_json(payload)
    if not isinstance(document, dict):
        raise ParseError("expected a JSON object at the top level")
    return document


def text_value(value: Any) -> str:
    """A JSON string stripped, or a number as text (carriers send some codes and ids as
    either); anything else is ''."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def text_field(obj: Any, key: str) -> str:
    """`text_value` of obj[key], '' when obj is not an object or has no such key."""
    if not isinstance(obj, dict):
        return ""
    value = obj.get(key)
    # the hot path (~8 calls a scan), inlined: a string, or nothing
    if isinstance(value, str):
        return value.strip()
    return "" if value is None else text_value(value)
