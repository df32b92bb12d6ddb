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
article's "2023-10-26T12:08:00") it is wall-clock time at the event location: it is read in the
zone of the event's place (`times.zone_at` with its country, region, postal code and city; UTC
when the place does not decide, as for a US event without a state) and always flagged
`zone_assumed`. Milliseconds, times without seconds and dates alone (noon) are read too.

Carrier ETAs (`ParseResult.etas`), per shipment, from the OpenAPI schema's
`estimatedTimeOfDelivery` (date-time) and `estimatedDeliveryTimeFrame` {`estimatedFrom`,
`estimatedThrough`}: one ETA of kind `estimated` (DHL revises it as the parcel moves), the
estimate itself when given, else the frame's end, with the frame as its window. Timestamps
without an offset are read in the zone of the shipment's `destination` address, flagged. DHL
writes an estimated day it knows no time for as that day's midnight: an estimate at exactly
00:00:00 is read as that date (noon, flagged), as for FedEx.

Place quirks: `addressLocality` sometimes holds only the country ("Germany") and Express answers
write "HUB - CITY - COUNTRY" or "CITY - STATE - COUNTRY"; they are split so city, region and
country land in the right fields.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from connectors.base import (
    CarrierEta,
    CarrierScan,
    ParseContext,
    ParseError,
    ParseResult,
    load_json,
    scan_event_id,
    text_value,
)
from connectors.places import city_name, country_code, postal_code
from connectors.times import parse_iso, utc_ms, zone_at

MAPPING = "dhl"
CARRIER = "dhl"


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
    _eta(tracking_number, shipment, result)
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


def _place(holder: dict[str, Any]) -> tuple[str, str, str, str]:
    """(city, region, postal code, country) of the `location.address` of an event, or of the
    `address` of a shipment's origin or destination, untangling addressLocality."""
    location = holder.get("location", holder)
    address = location.get("address") if isinstance(location, dict) else None
    if not isinstance(address, dict):
        return "", "", "", ""
    country = country_code(text_value(address.get("countryCode")))
    parts = [part.strip() for part in text_value(address.get("addressLocality")).split(" - ")]
    parts = [part for part in parts if part]
    region = ""
    if parts:
        named = country_code(parts[-1])
        if len(named) == 2 and named != parts[-1].upper():  # the last part names a country
            country = country or named
            parts.pop()
            last = parts[-1] if len(parts) > 1 else ""
            if 2 <= len(last) <= 3 and last.isalpha() and last.isupper():  # CITY - ST - USA
                region = parts.pop()
    city = city_name(parts[-1] if parts else "")
    return city, region, postal_code(text_value(address.get("postalCode")), country), country


def _zone(city: str, region: str, postal: str, country: str) -> tzinfo:
    return zone_at(country, region, postal, city)


def _eta(tracking_number: str, shipment: dict[str, Any], result: ParseResult) -> None:
    single = text_value(shipment.get("estimatedTimeOfDelivery"))
    frame = shipment.get("estimatedDeliveryTimeFrame")
    frame = frame if isinstance(frame, dict) else {}
    start, end = text_value(frame.get("estimatedFrom")), text_value(frame.get("estimatedThrough"))
    if not (single or start or end):
        return
    destination = shipment.get("destination")
    zone = _zone(*_place(destination if isinstance(destination, dict) else {}))
    try:
        (at, at_assumed), (first, first_assumed), (last, last_assumed) = (
            _estimate(single, zone), _bound(start, zone), _bound(end, zone))  # fmt: skip
    except (ParseError, ValueError, OverflowError) as exc:
        result.problems.append(f"{tracking_number}: estimated delivery: {exc}")
        return
    assumed = at_assumed or first_assumed or last_assumed
    eta = CarrierEta.window(tracking_number, CARRIER, first, last, "estimated", assumed)
    if at:
        eta.estimated_at_ms = at
    result.etas.append(eta)


def _bound(text: str, zone: tzinfo) -> tuple[int, bool]:
    """(epoch ms, assumed) of a timestamp; (0, False) when it is not given."""
    return parse_iso(text, zone) if text else (0, False)


def _estimate(text: str, zone: tzinfo) -> tuple[int, bool]:
    """As _bound, but an estimate at exactly midnight is that day (noon, flagged)."""
    if len(text) > 10:
        moment = datetime.fromisoformat(text)
        if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
            return utc_ms(moment.replace(hour=12), zone)[0], True
    return _bound(text, zone)


def _scan(
    tracking_number: str, event: dict[str, Any], label: str, result: ParseResult
) -> CarrierScan | None:
    code = text_value(event.get("statusCode"))
    if not code:
        result.problems.append(f"{label} has no statusCode")
        return None
    city, region, postal, country = _place(event)
    if not (city or postal or country):
        result.problems.append(f"{label} ({code}) has no location")
    try:
        occurred_at_ms, zone_assumed = parse_iso(
            text_value(event.get("timestamp")), _zone(city, region, postal, country)
        )
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
        region=region,
        postal_code=postal,
        country=country,
    )
