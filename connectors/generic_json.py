"""The parcelstream generic JSON webhook: the format small carriers and aggregators post to us.

    {"carrier": "acme-express",
     "events": [{"tracking_number": "1Z...", "code": "DL", "description": "Delivered",
                 "occurred_at": "2026-11-20T14:03:00+01:00",
                 "location": {"city": "Berlin", "postal_code": "10115", "country": "DE"}}]}

A single event object (without the "events" list) is accepted too. One bad event (not an
object, a required field missing, an unreadable time) does not cost the others: it goes to
`ParseResult.rejects` with its reason and its compact JSON (json.loads keeps no byte offsets),
and the good events are kept. A body in which every event is bad, or that is not an object
with an events list, raises ParseError with the (first) reason: there is nothing to keep, and
the whole body is dead-lettered. Time rule: ISO 8601 with an
offset is exact; a timestamp without one is taken as UTC and flagged `zone_assumed`; a date
alone is taken as noon UTC (the middle of the day errs least either way) and flagged too.
"""

from __future__ import annotations

import json
from typing import Any

from connectors.base import (
    CarrierScan,
    ParseContext,
    ParseError,
    ParseResult,
    Reject,
    load_json,
    scan_event_id,
)
from connectors.places import place
from connectors.times import parse_iso

MAPPING = "generic"


def parse(payload: bytes, ctx: ParseContext) -> ParseResult:
    document = load_json(payload)
    if not isinstance(document, dict):
        raise ParseError("expected a JSON object at the top level")
    carrier = document.get("carrier") or ctx.carrier
    if not isinstance(carrier, str) or not carrier:
        raise ParseError("no carrier named in the payload or the request")
    events = document.get("events", [document] if "tracking_number" in document else None)
    if not isinstance(events, list):
        raise ParseError('expected an "events" list or a single event object')

    result = ParseResult()
    for index, event in enumerate(events):
        try:
            if not isinstance(event, dict):
                raise ParseError(f"events[{index}] is not an object")
            result.scans.append(_scan(carrier, event, index))
        except ParseError as exc:
            result.rejects.append(Reject(exc.reason, _fragment(event)))
    if not events:
        result.problems.append("payload holds no events")
    elif not result.scans:
        raise ParseError(result.rejects[0].reason)
    return result


def _fragment(event: Any) -> bytes:
    try:
        return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:  # a lone surrogate ("\\ud800" in the body): keep it escaped
        return json.dumps(event, separators=(",", ":")).encode()
    except RecursionError:  # nesting json.loads took but dumps cannot repeat
        return repr(event).encode("utf-8", "backslashreplace")


def _text(event: dict[str, Any], key: str, index: int, required: bool = False) -> str:
    value = event.get(key)
    if type(value) is str and (not required or value):  # the hot path: a plain string
        return value.strip() if value[:1].isspace() or value[-1:].isspace() else value
    if value is None:
        if required:
            raise ParseError(f"events[{index}].{key} is missing")
        return ""
    if not isinstance(value, str | int):
        raise ParseError(f"events[{index}].{key} must be a string")
    text = str(value).strip()
    if required and not text:
        raise ParseError(f"events[{index}].{key} is empty")
    return text


def _scan(carrier: str, event: dict[str, Any], index: int) -> CarrierScan:
    tracking_number = _text(event, "tracking_number", index, required=True)
    code = _text(event, "code", index, required=True)
    try:
        occurred_at_ms, zone_assumed = parse_iso(_text(event, "occurred_at", index, required=True))
    except ParseError as exc:
        if exc.reason.startswith(f"events[{index}]"):
            raise
        raise ParseError(f"events[{index}].occurred_at: {exc.reason}") from None
    location = event.get("location") or {}
    if not isinstance(location, dict):
        raise ParseError(f"events[{index}].location must be an object")
    city, postal, country = place(
        _text(location, "city", index),
        _text(location, "postal_code", index),
        _text(location, "country", index),
    )
    return CarrierScan(
        event_id=scan_event_id(carrier, tracking_number, code, occurred_at_ms),
        carrier=carrier,
        tracking_number=tracking_number,
        code=code,
        description=_text(event, "description", index),
        occurred_at_ms=occurred_at_ms,
        zone_assumed=zone_assumed,
        city=city,
        region=_text(location, "region", index),
        postal_code=postal,
        country=country,
    )
