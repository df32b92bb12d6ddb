"""DHL Shipment Tracking - Unified API (`GET /track/shipments`) responses.

    {"shipments": [{"id": "00340434161234567890", "service": "parcel-de",
                    "status": {<event>},
                    "events": [{"timestamp": "2026-11-20T14:03:00", "statusCode": "delivered",
                                "status": "...", "description": "...",
                                "location": {"address": {"addressLocality": "Bonn",
                                                         "postalCode": "53113",
                                                         "countryCode": "DE"}}}, ...]}]}

Sources: developer.dhl.com/api-reference/shipment-tracking (OpenAPI 1.4.x) and the DHL developer
support articles 47001197243 (status codes) and 47001251141 (mixed `status` values).

Code: `statusCode`, the one enumerated field (pre-transit, transit, delivered, failure,
unknown). `status` and `description` are free text whose form varies with the DHL division that
answered ("a string with underscores; sometimes a plain sentence"), so they only feed the
description. The shipment-level `status` repeats the newest event; it becomes a scan only when
the shipment has no `events` (the "last checkpoint" view), and that is reported as a problem.
A not-found answer is an RFC 7807 body (`{"status": 404, "title": ..., "detail": ...}`): a
problem, not an error.

Zone rule: `timestamp` is a schema.org DateTime, `CCYY-MM-DDThh:mm:ss[Z|(+|-)hh:mm]`. With an
offset it is exact. Without one (most Parcel DE and eCommerce answers, e.g. the support
article's "2023-10-26T12:08:00") it is wall-clock time at the event location: we read it in the
zone of the event's country when that country has a single zone (table below), else UTC, and
always flag it `zone_assumed`.

Place quirks: `addressLocality` sometimes holds only the country ("Germany") and Express answers
write "HUB - CITY - COUNTRY"; both are split so city and country land in the right fields.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from connectors.base import (
    CarrierScan,
    ParseContext,
    ParseError,
    ParseResult,
    load_json,
    scan_event_id,
    text_value,
)
from connectors.places import city_name, country_code, postal_code
from connectors.times import parse_iso

MAPPING = "dhl"
CARRIER = "dhl"

# Countries DHL scans in most that keep one civil zone, so a naive local time is unambiguous
# once the country is known. Multi-zone countries (US, CA, BR, RU, AU, MX, ...) fall back to UTC.
_COUNTRY_ZONES: dict[str, str] = {
    "DE": "Europe/Berlin", "NL": "Europe/Amsterdam", "BE": "Europe/Brussels",
    "LU": "Europe/Luxembourg", "FR": "Europe/Paris", "AT": "Europe/Vienna",
    "CH": "Europe/Zurich", "IT": "Europe/Rome", "ES": "Europe/Madrid", "PL": "Europe/Warsaw",
    "CZ": "Europe/Prague", "DK": "Europe/Copenhagen", "SE": "Europe/Stockholm",
    "NO": "Europe/Oslo", "FI": "Europe/Helsinki", "GB": "Europe/London", "IE": "Europe/Dublin",
    "CN": "Asia/Shanghai", "HK": "Asia/Hong_Kong", "JP": "Asia/Tokyo", "KR": "Asia/Seoul",
    "SG": "Asia/Singapore", "IN": "Asia/Kolkata", "AE": "Asia/Dubai", "TR": "Europe/Istanbul",
    "IL": "Asia/Jerusalem", "ZA": "Africa/Johannesburg",
}  # fmt: skip
_UTC = ZoneInfo("UTC")


def parse(payload: bytes, ctx: ParseContext) -> ParseResult:
    document = load_json(payload)
    if not isinstance(document, dict):
        raise ParseError("expected a JSON object at the top level")
    result = ParseResult()
    if "shipments" not in document:
        if {"title", "detail"} & document.keys():  # RFC 7807 problem body, e.g. 404
            detail = text_value(document.get("detail")) or text_value(document.get("title"))
            status = text_value(document.get("status"))
            result.problems.append(f"request answered {status}: {detail}")
            return result
        raise ParseError('not a DHL tracking response: no "shipments"')
    shipments = document["shipments"]
    if not isinstance(shipments, list):
        raise ParseError('"shipments" must be a list')
    for index, shipment in enumerate(shipments):
        if not isinstance(shipment, dict):
            result.problems.append(f"shipments[{index}] is not an object")
            continue
        _shipment(shipment, index, result)
    if not shipments:
        result.problems.append("response holds no shipments")
    return result


def _shipment(shipment: dict[str, Any], index: int, result: ParseResult) -> None:
    tracking_number = text_value(shipment.get("id"))
    if not tracking_number:
        result.problems.append(f"shipments[{index}] has no id")
        return
    events = shipment.get("events")
    if not isinstance(events, list) or not events:
        status = shipment.get("status")
        result.problems.append(f"{tracking_number}: no events; used the shipment status")
        events = [status] if isinstance(status, dict) else []
    for position, event in enumerate(events):
        label = f"{tracking_number} events[{position}]"
        if not isinstance(event, dict):
            result.problems.append(f"{label} is not an object")
            continue
        scan = _scan(tracking_number, event, label, result)
        if scan is not None:
            result.scans.append(scan)


def _place(event: dict[str, Any]) -> tuple[str, str, str]:
    """(city, postal code, country) from location.address, untangling addressLocality."""
    location = event.get("location")
    address = location.get("address") if isinstance(location, dict) else None
    if not isinstance(address, dict):
        return "", "", ""
    country = country_code(text_value(address.get("countryCode")))
    parts = [part.strip() for part in text_value(address.get("addressLocality")).split(" - ")]
    parts = [part for part in parts if part]
    if parts:
        named = country_code(parts[-1])
        if len(named) == 2 and named != parts[-1].upper():  # the last part names a country
            country = country or named
            parts.pop()
    city = city_name(parts[-1] if parts else "")
    return city, postal_code(text_value(address.get("postalCode")), country), country


def _scan(
    tracking_number: str, event: dict[str, Any], label: str, result: ParseResult
) -> CarrierScan | None:
    code = text_value(event.get("statusCode"))
    if not code:
        result.problems.append(f"{label} has no statusCode")
        return None
    city, postal, country = _place(event)
    if not (city or postal or country):
        result.problems.append(f"{label} ({code}) has no location")
    assume = ZoneInfo(_COUNTRY_ZONES[country]) if country in _COUNTRY_ZONES else _UTC
    try:
        occurred_at_ms, zone_assumed = parse_iso(text_value(event.get("timestamp")), assume)
    except (ParseError, ValueError, OverflowError) as exc:
        result.problems.append(f"{label} ({code}) skipped: {exc}")
        return None
    description = text_value(event.get("description")) or text_value(event.get("status"))
    return CarrierScan(
        event_id=scan_event_id(CARRIER, tracking_number, code, occurred_at_ms),
        carrier=CARRIER,
        tracking_number=tracking_number,
        code=code,
        description=description,
        occurred_at_ms=occurred_at_ms,
        zone_assumed=zone_assumed,
        city=city,
        postal_code=postal,
        country=country,
    )
