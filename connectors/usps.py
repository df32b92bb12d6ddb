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
in the spec's example), exact; else `eventTimestamp` is read in the zone of the event's place
(`times.zone_at` with country, state, ZIP Code and city; UTC when the place says nothing) and
flagged `zone_assumed`. ISO forms without seconds, with milliseconds and dates alone (the spec's
EventDate; noon, flagged) are all read.

Place rule: domestic scans often leave `eventCountry` empty; a scan with a state or ZIP Code but
no country is taken as US (USPS only reports states and ZIP Codes for US scans). The ZIP Code is
`eventZIP` in the spec's first release and `eventZIPCode` in release 3.2: either is read.

Carrier ETAs (`ParseResult.etas`), from the spec's delivery expectation fields, top level
(Tracking 3.0: `expectedDeliveryTimeStamp`, `predictedDeliveryTimeStamp`, ...) or grouped in
`deliveryDateExpectation` (release 3.2); the group wins where both say something:
- `expectedDeliveryDate` (+ `expectedDeliveryTime`) or `expectedDeliveryTimeStamp`: the date
  USPS expects to deliver on -> kind `scheduled`. With a date alone, `endOfDay` ("the estimated
  timeframe by when the carrier will attempt to deliver", a clock time) is the window's end.
- `predictedDeliveryDate` with `predictedDeliveryWindowStartTime`/`EndTime`, or
  `predictedDeliveryTimeStamp`: USPS's forecast -> kind `estimated`.
- `guaranteedDeliveryDate` / `guaranteedDeliveryTimeStamp` (Priority Mail Express): the
  guarantee -> kind `promised`. The spec also allows text ("2 Business Days"), which names no
  instant and is skipped.
Window times are read as "14:00", "14:00:00" or "2:00 pm"; a full timestamp is read as one.
Times without an offset are read in the zone of the destination (`destinationCity`, `State`,
`ZIP`/`ZIPCode`, `destinationCountryCode`), else UTC, and flagged.
"""

from __future__ import annotations

import re
from datetime import UTC, tzinfo
from typing import Any

from connectors.base import (
    CarrierEta,
    CarrierScan,
    EtaKind,
    ParseContext,
    ParseError,
    ParseResult,
    load_json,
    scan_event_id,
    text_field,
)
from connectors.places import place
from connectors.times import parse_iso, parse_offset, zone_at

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
    _etas(number, item, result)
    if not isinstance(events, list) or not events:
        if not error:
            result.problems.append(f"{number}: no tracking events")
        return
    for position, event in enumerate(events):
        scan = _scan(number, event, f"{number} trackingEvents[{position}]", result.problems)
        if scan is not None:
            result.scans.append(scan)


def _zone(country: str, region: str, zip_code: str, city: str) -> tuple[str, tzinfo]:
    """(country, the zone to read the place's local times in); see the place rule above."""
    country = country or ("US" if region or zip_code else "")
    return country, zone_at(country, region, zip_code, city)


def _when(event: dict[str, Any], zone: tzinfo) -> tuple[int, bool]:
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
    return parse_iso(local, zone)


# Delivery expectation fields per kind: (kind, date, clock time, window start, window end,
# timestamp). Window bounds, else the timestamp, else date and time, else the date alone.
_ETA_FIELDS: tuple[tuple[EtaKind, str, str, str, str, str], ...] = (
    ("scheduled", "expectedDeliveryDate", "expectedDeliveryTime", "", "",
     "expectedDeliveryTimeStamp"),
    ("estimated", "predictedDeliveryDate", "", "predictedDeliveryWindowStartTime",
     "predictedDeliveryWindowEndTime", "predictedDeliveryTimeStamp"),
    ("promised", "guaranteedDeliveryDate", "", "", "", "guaranteedDeliveryTimeStamp"),
)  # fmt: skip
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:\s*([AaPp])\.?[Mm]\.?)?$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _clock(text: str) -> str:
    """'14:00', '14:00:00', '2:00 pm', '2:00 P.M.' -> 'HH:MM:SS'; ParseError otherwise."""
    match = _CLOCK.match(text.strip())
    if not match:
        raise ParseError(f"unreadable clock time {text!r}")
    hour, minute, second, half = match.groups()
    hours = int(hour)
    if half:  # 12:xx am is just after midnight, 12:xx pm just after noon
        hours = hours % 12 + (12 if half in "Pp" else 0)
    return f"{hours:02d}:{minute}:{second or '00'}"


def _at(day: str, clock: str, zone: tzinfo) -> tuple[int, bool]:
    """(ms, assumed) of a date and a clock time; a clock field holding a whole timestamp is
    read as one. A bound that is not given is (0, False)."""
    if not clock:
        return 0, False
    if _DAY.match(clock):
        return parse_iso(clock, zone)
    return parse_iso(f"{day[:10]}T{_clock(clock)}", zone)


def _eta(number: str, kind: EtaKind, names: tuple[str, ...], fields: dict[str, Any],
         zone: tzinfo) -> CarrierEta | None:  # fmt: skip
    day_field, time_field, start_field, end_field, stamp_field = names
    day, stamp = text_field(fields, day_field), text_field(fields, stamp_field)
    start, end = text_field(fields, start_field), text_field(fields, end_field)
    clock = text_field(fields, time_field)
    if kind == "scheduled" and not (stamp or clock):
        end = text_field(fields, "endOfDay")  # a date alone: attempted by the end of that day
    day = day or stamp
    if not _DAY.match(day):
        return None  # nothing, or the guarantee as text ("2 Business Days"): no instant
    if start or end:
        (first, first_assumed), (last, last_assumed) = _at(day, start, zone), _at(day, end, zone)
        assumed = first_assumed or last_assumed
        return CarrierEta.window(number, CARRIER, first, last, kind, assumed)
    if stamp:
        at, assumed = parse_iso(stamp, zone)
    else:
        at, assumed = _at(day, clock, zone) if clock else parse_iso(day, zone)
    return CarrierEta(number, CARRIER, at, 0, 0, kind, assumed)


def _destination_zone(item: dict[str, Any]) -> tzinfo:
    _, zone = _zone(text_field(item, "destinationCountryCode") or
                    text_field(item, "destinationCountry"), text_field(item, "destinationState"),
                    text_field(item, "destinationZIP") or text_field(item, "destinationZIPCode"),
                    text_field(item, "destinationCity"))  # fmt: skip
    return zone


def _etas(number: str, item: dict[str, Any], result: ParseResult) -> None:
    grouped = item.get("deliveryDateExpectation")
    fields = {**item, **grouped} if isinstance(grouped, dict) else item
    zone: tzinfo | None = None
    for kind, *names in _ETA_FIELDS:
        day_field, stamp_field = names[0], names[4]
        if not _DAY.match(text_field(fields, day_field) or text_field(fields, stamp_field)):
            continue  # as in _eta: no instant; most responses have no expectation at all
        if zone is None:
            zone = _destination_zone(item)
        try:
            eta = _eta(number, kind, tuple(names), fields, zone)
        except (ParseError, ValueError, OverflowError) as exc:
            result.problems.append(f"{number}: {kind} delivery: {exc}")
            continue
        if eta is not None:
            result.etas.append(eta)


def _scan(number: str, event: Any, where: str, problems: list[str]) -> CarrierScan | None:
    if not isinstance(event, dict):
        problems.append(f"{where} is not an object")
        return None
    code = text_field(event, "eventCode").upper()
    if not code:
        problems.append(f"{where} has no eventCode")
        return None
    region = text_field(event, "eventState")
    zip_code = text_field(event, "eventZIP") or text_field(event, "eventZIPCode")
    raw_city = text_field(event, "eventCity")
    country, zone = _zone(text_field(event, "eventCountry"), region, zip_code, raw_city)
    try:
        occurred_at_ms, zone_assumed = _when(event, zone)
    except (ParseError, ValueError, OverflowError) as exc:
        problems.append(f"{where} skipped: unreadable timestamp: {exc}")
        return None

    city, postal, country = place(raw_city, zip_code, country)
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
