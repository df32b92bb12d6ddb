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
from typing import Any


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


@dataclass(slots=True)
class ParseResult:
    scans: list[CarrierScan] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def scan_event_id(
    carrier: str, tracking_number: str, code: str, occurred_at_ms: int, location: str = ""
) -> str:
    """A deterministic id for a scan, so a re-sent or re-polled scan deduplicates to one event.

    Built from what identifies a scan physically (who, which parcel, what, when, where), not
    from arrival metadata, which differs on every redelivery.
    """
    key = f"{carrier}\x1f{tracking_number}\x1f{code}\x1f{occurred_at_ms}\x1f{location}"
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


def load_json(payload: bytes) -> Any:
    """The payload as JSON, its text made safe (`clean_text`). Whatever json.loads cannot read
    raises ParseError: bad syntax, bad UTF-8 (a ValueError), nesting too deep (RecursionError),
    an integer past Python's digit limit (a plain ValueError)."""
    try:
        document = json.loads(payload)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ParseError(f"not JSON: {exc}") from None
    # Only a \u escape can smuggle unsafe text past json.loads (raw control characters are
    # a syntax error, and the bytes are UTF-8), so payloads without one cost nothing here.
    return _clean(document) if b"\\u" in payload else document


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
    return text_value(obj.get(key) if isinstance(obj, dict) else None)
