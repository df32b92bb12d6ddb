"""FedEx Track API v1 responses (POST /track/v1/trackingnumbers) -> `CarrierScan`s.

Shape, from the Track API v1 reference on developer.fedex.com (response schema and example):

    {"transactionId": "...",
     "output": {"completeTrackResults": [
        {"trackingNumber": "794...",
         "trackResults": [
            {"trackingNumberInfo": {"trackingNumber": "794...", "carrierCode": "FDXE"},
             "error": {"code": "TRACKING.TRACKINGNUMBER.NOTFOUND", "message": "..."},
             "scanEvents": [
                {"date": "2018-02-02T12:01:00-07:00", "eventType": "PU",
                 "eventDescription": "Picked Up", "derivedStatusCode": "PU",
                 "exceptionCode": "", "exceptionDescription": "",
                 "scanLocation": {"city": "SEATTLE", "stateOrProvinceCode": "WA",
                                  "postalCode": "98101", "countryCode": "US"}}]}]}]}}

A request FedEx rejects as a whole comes back as {"errors": [{"code", "message"}]} instead.

Code: `eventType` (PU, AR, DP, OD, DL, DE, ...: the "Tracking Status Codes" table), falling back
to `derivedStatusCode` when a scan has none. The exception code is not folded into the code:
the normalizer looks codes up exactly, so "DE:08" would turn every undocumented combination
into `unknown`; it goes into the description instead, where people read it.

Time rule: `date` is ISO 8601 with the scan location's UTC offset, so it is exact. A `date`
without an offset is read as UTC and flagged `zone_assumed`; a date alone as noon UTC, flagged.

Per-parcel errors (not found, empty scan list) and per-scan oddities (no location, unreadable
time: the scan is skipped) are reported in `problems`; only a body that is not a Track API
response at all raises `ParseError`.
"""

from __future__ import annotations

from typing import Any

from connectors.base import (
    CarrierScan,
    ParseContext,
    ParseError,
    ParseResult,
    load_json_object,
    scan_event_id,
    text_field,
)
from connectors.places import place
from connectors.times import parse_iso

MAPPING = "fedex"
CARRIER = "fedex"


def parse(payload: bytes, ctx: ParseContext) -> ParseResult:
    document = load_json_object(payload)
    result = ParseResult()
    output = document.get("output")
    if output is None:
        errors = document.get("errors")
        if not isinstance(errors, list):
            raise ParseError('not a FedEx Track response: no "output" and no "errors"')
        result.problems.extend(f"request rejected: {_error(error)}" for error in errors)
        return result
    complete = output.get("completeTrackResults") if isinstance(output, dict) else None
    if not isinstance(complete, list):
        raise ParseError("output.completeTrackResults must be a list")

    for index, entry in enumerate(complete):
        where = f"completeTrackResults[{index}]"
        if not isinstance(entry, dict):
            result.problems.append(f"{where} is not an object")
            continue
        track_results = entry.get("trackResults")
        if not isinstance(track_results, list):
            result.problems.append(f"{where}.trackResults is missing")
            continue
        requested = text_field(entry, "trackingNumber")
        for position, track in enumerate(track_results):
            label = f"{where}.trackResults[{position}]"
            if isinstance(track, dict):
                _parcel(track, requested, label, result)
            else:
                result.problems.append(f"{label} is not an object")
    if not complete:
        result.problems.append("response holds no track results")
    return result


def _error(error: Any) -> str:
    return f"{text_field(error, 'code') or '?'} {text_field(error, 'message')}".strip()


def _parcel(track: dict[str, Any], fallback_number: str, where: str, result: ParseResult) -> None:
    # The per-result number wins: one requested number can resolve to several shipments.
    number = text_field(track.get("trackingNumberInfo"), "trackingNumber") or fallback_number
    if not number:
        result.problems.append(f"{where} has no tracking number")
        return
    error = track.get("error")
    if error:
        result.problems.append(f"{number}: {_error(error)}")
    events = track.get("scanEvents")
    if not isinstance(events, list) or not events:
        if not error:
            result.problems.append(f"{number}: no scan events")
        return
    for index, event in enumerate(events):
        scan = _scan(number, event, f"{number} scanEvents[{index}]", result.problems)
        if scan is not None:
            result.scans.append(scan)


def _scan(number: str, event: Any, where: str, problems: list[str]) -> CarrierScan | None:
    if not isinstance(event, dict):
        problems.append(f"{where} is not an object")
        return None
    code = (text_field(event, "eventType") or text_field(event, "derivedStatusCode")).upper()
    if not code:
        problems.append(f"{where} has no eventType")
        return None
    stamp = text_field(event, "date")
    try:
        occurred_at_ms, zone_assumed = parse_iso(stamp)
    except (ParseError, ValueError, OverflowError) as exc:
        problems.append(f"{where} skipped: date {stamp!r}: {exc}")
        return None

    location = event.get("scanLocation")
    if not isinstance(location, dict):
        location = {}
    city, postal, country = place(
        text_field(location, "city"),
        text_field(location, "postalCode"),
        text_field(location, "countryCode") or text_field(location, "countryName"),
    )
    if not (city or postal or country):
        problems.append(f"{where} ({code}) has no scan location")

    description = text_field(event, "eventDescription")
    exception = " ".join(filter(None, (text_field(event, "exceptionCode"),
                                       text_field(event, "exceptionDescription"))))  # fmt: skip
    if exception:
        description = f"{description} ({exception})" if description else exception
    return CarrierScan(
        event_id=scan_event_id(CARRIER, number, code, occurred_at_ms),
        carrier=CARRIER,
        tracking_number=number,
        code=code,
        description=description,
        occurred_at_ms=occurred_at_ms,
        zone_assumed=zone_assumed,
        city=city,
        region=text_field(location, "stateOrProvinceCode"),
        postal_code=postal,
        country=country,
    )
