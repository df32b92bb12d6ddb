"""USPS Tracking API v3 responses (GET /tracking/v3/tracking/{n}?expand=DETAIL) -> `CarrierScan`s.

Shape, from the USPS "Package Tracking and Notification" OpenAPI spec (developer.usps.com,
TrackingDetails / TrackingEvent, events in reverse chronological order):

    {"trackingNumber": "9400...",
     "trackingEvents": [
        {"eventType": "Delivered, In/At Mailbox", "eventCode": "01",
         "eventTimestamp": "2024-04-05T12:55:00",
         "GMTTimestamp": "2024-04-05T16:55:00.000Z", "GMTOffset": "-4:00",
         "eventCity": "FALMOUTH", "eventState": "MA", "eventZIP": "02540", "eventCountry": ""}]}

One GET answers for one number; a JSON array of such objects (a batch) is accepted too. A
number USPS cannot answer for comes back as the spec's ErrorMessage, {"error": {"code",
"message", "errors": [...]}}, alone or as an array item: a problem, not a failure.

Code: `eventCode`, the Pub 199 Appendix G-4 scan event code ("01", "OF", "MA", ...). It is a
string and must stay one: "01" and "1" are different keys, so a numeric code is not re-padded.

Time rule: `eventTimestamp` is wall-clock time at the scan location with no offset. The spec's
`GMTTimestamp` (UTC) wins when present, exact; else `eventTimestamp` with `GMTOffset` ("-7:00"
in the spec's example), exact; else `eventTimestamp` read as UTC and flagged `zone_assumed`.

Place rule: domestic scans often leave `eventCountry` empty; a scan with a state or ZIP Code but
no country is taken as US (USPS only reports states and ZIP Codes for US scans).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from connectors.base import (
    CarrierScan,
    ParseContext,
    ParseError,
    ParseResult,
    load_json,
    scan_event_id,
    text_field,
)
from connectors.places import place
from connectors.times import parse_iso, parse_offset

MAPPING = "usps"
CARRIER = "usps"


def parse(payload: bytes, ctx: ParseContext) -> ParseResult:
    document = load_json(payload)
    items = document if isinstance(document, list) else [document]
    if not all(isinstance(item, dict) and _is_tracking(item) for item in items):
        raise ParseError("not a USPS tracking response: expected TrackingDetails object(s)")
    result = ParseResult()
    for index, item in enumerate(items):
        _item(item, index, result)
    if not items:
        result.problems.append("response holds no tracking results")
    return result


def _is_tracking(item: dict[str, Any]) -> bool:
    return "trackingNumber" in item or "trackingEvents" in item or "error" in item


def _item(item: dict[str, Any], index: int, result: ParseResult) -> None:
    number = text_field(item, "trackingNumber")
    error = item.get("error")
    if error:
        detail = " ".join(filter(None, (text_field(error, "code"), text_field(error, "message"))))
        result.problems.append(f"{number or f'item[{index}]'}: {detail or 'error'}")
    events = item.get("trackingEvents")
    if not number:
        if not error:
            result.problems.append(f"item[{index}] has no trackingNumber")
        return
    if not isinstance(events, list) or not events:
        if not error:
            result.problems.append(f"{number}: no tracking events")
        return
    for position, event in enumerate(events):
        scan = _scan(number, event, f"{number} trackingEvents[{position}]", result.problems)
        if scan is not None:
            result.scans.append(scan)


def _when(event: dict[str, Any]) -> tuple[int, bool]:
    gmt = text_field(event, "GMTTimestamp")
    if gmt:
        occurred_at_ms, assumed = parse_iso(gmt, UTC)
        # GMT needs no zone: naive is still exact; only a date without a time is a guess.
        return occurred_at_ms, assumed and "T" not in gmt.upper() and " " not in gmt
    local = text_field(event, "eventTimestamp")
    offset = text_field(event, "GMTOffset")
    if offset:
        occurred_at_ms, assumed = parse_iso(local, parse_offset(offset))
        return occurred_at_ms, assumed and "T" not in local.upper() and " " not in local
    return parse_iso(local)


def _scan(number: str, event: Any, where: str, problems: list[str]) -> CarrierScan | None:
    if not isinstance(event, dict):
        problems.append(f"{where} is not an object")
        return None
    code = text_field(event, "eventCode").upper()
    if not code:
        problems.append(f"{where} has no eventCode")
        return None
    try:
        occurred_at_ms, zone_assumed = _when(event)
    except (ParseError, ValueError, OverflowError) as exc:
        problems.append(f"{where} skipped: unreadable timestamp: {exc}")
        return None

    region, zip_code = text_field(event, "eventState"), text_field(event, "eventZIP")
    # A state or ZIP Code without a country is a domestic scan (see the place rule above).
    country = text_field(event, "eventCountry") or ("US" if region or zip_code else "")
    city, postal, country = place(text_field(event, "eventCity"), zip_code, country)
    if not (city or postal or region):
        problems.append(f"{where} ({code}) has no location")
    return CarrierScan(
        event_id=scan_event_id(CARRIER, number, code, occurred_at_ms),
        carrier=CARRIER,
        tracking_number=number,
        code=code,
        description=text_field(event, "eventType"),
        occurred_at_ms=occurred_at_ms,
        zone_assumed=zone_assumed,
        city=city,
        region=region,
        postal_code=postal,
        country=country,
    )
