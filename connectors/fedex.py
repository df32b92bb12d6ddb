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
without an offset is read in the scan location's zone (`times.zone_at`: state, postal code,
city; UTC when the place does not decide) and flagged `zone_assumed`; a date alone is noon
there, flagged.

Carrier ETAs (`ParseResult.etas`), per track result, from the same reference:
- `estimatedDeliveryTimeWindow.window` {begins, ends}: "the estimated window for time of
  delivery, may be periodically updated" -> kind `estimated`; without a window, the
  `dateAndTimes` entry of type ESTIMATED_DELIVERY.
- `standardTransitTimeWindow.window`: "the standard committed window of time by which the
  package is expected to be delivered" -> kind `promised`; else `dateAndTimes` COMMITMENT.
- `dateAndTimes` APPOINTMENT_DELIVERY -> kind `appointment`.
Window bounds without an offset are read in the destination's zone (destinationLocation,
recipientInformation or lastUpdatedDestinationAddress), flagged. FedEx writes a day-definite
commitment as local midnight ("ends": "2021-10-15T00:00:00-06:00" in the reference example):
a bound at exactly 00:00:00 is that day, read as noon like any date alone, and flagged.

Identity: FedEx reuses tracking numbers; `trackingNumberInfo.trackingNumberUniqueId` (for
example "12027~794612345670~FDEG") tells the shipments apart. `tracking_number` stays the
carrier number (the one merchants register and customers type); the unique id goes into
`shipment_id` on every scan and ETA of that shipment, so the pipeline can keep two shipments
under one number apart. It stays out of the event id (see `base.scan_event_id`).

Per-parcel errors (not found, empty scan list) and per-scan oddities (no location, unreadable
time: the scan is skipped) are reported in `problems`; only a body that is not a Track API
response at all raises `ParseError`.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from connectors.base import (
    CarrierEta,
    CarrierScan,
    EtaKind,
    ParseContext,
    ParseError,
    ParseResult,
    load_json_object,
    scan_event_id,
    text_field,
)
from connectors.places import place
from connectors.times import parse_iso, utc_ms, zone_at

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
    shipment = text_field(track.get("trackingNumberInfo"), "trackingNumberUniqueId")
    error = track.get("error")
    if error:
        result.problems.append(f"{number}: {_error(error)}")
    _etas(number, shipment, track, result)
    events = track.get("scanEvents")
    if not isinstance(events, list) or not events:
        if not error:
            result.problems.append(f"{number}: no scan events")
        return
    for index, event in enumerate(events):
        scan = _scan(number, event, f"{number} scanEvents[{index}]", result.problems)
        if scan is not None:
            scan.shipment_id = shipment
            result.scans.append(scan)


def _address(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _where(address: dict[str, Any]) -> tuple[str, str, str, str]:
    """(country, state, postal code, city) as the address writes them, read once per address:
    a scan needs them for its zone and again for its place."""
    return (text_field(address, "countryCode") or text_field(address, "countryName"),
            text_field(address, "stateOrProvinceCode"), text_field(address, "postalCode"),
            text_field(address, "city"))  # fmt: skip


def _zone(address: dict[str, Any]) -> tzinfo:
    return zone_at(*_where(address))


def _destination_zone(track: dict[str, Any]) -> tzinfo:
    location = _address(track.get("destinationLocation")).get("locationContactAndAddress")
    for address in (
        _address(_address(location).get("address")),
        _address(_address(track.get("recipientInformation")).get("address")),
        _address(track.get("lastUpdatedDestinationAddress")),
    ):
        if address:
            return _zone(address)
    return zone_at("")


# (kind, the time-window field, the dateAndTimes type that stands in when there is no window)
_ETA_SOURCES: tuple[tuple[EtaKind, str, str], ...] = (
    ("estimated", "estimatedDeliveryTimeWindow", "ESTIMATED_DELIVERY"),
    ("promised", "standardTransitTimeWindow", "COMMITMENT"),
    ("appointment", "", "APPOINTMENT_DELIVERY"),
)


def _etas(number: str, shipment: str, track: dict[str, Any], result: ParseResult) -> None:
    zone: tzinfo | None = None  # looked up for the first estimate: many results have none
    entries = track.get("dateAndTimes")
    dated = {text_field(entry, "type"): text_field(entry, "dateTime")
             for entry in (entries if isinstance(entries, list) else ())}  # fmt: skip
    for kind, window_field, date_type in _ETA_SOURCES:
        window = _address(_address(track.get(window_field)).get("window")) if window_field else {}
        begins, ends = text_field(window, "begins"), text_field(window, "ends")
        single = "" if begins or ends else dated.get(date_type, "")  # one instant, no window
        if not (begins or ends or single):
            continue
        if zone is None:
            zone = _destination_zone(track)
        try:
            (start, start_assumed), (end, end_assumed) = _bound(begins, zone), _bound(ends, zone)
            at, at_assumed = _bound(single, zone)
        except (ParseError, ValueError, OverflowError) as exc:
            result.problems.append(f"{number}: {kind} delivery {begins or single!r}: {exc}")
            continue
        if single:
            eta = CarrierEta(number, CARRIER, at, 0, 0, kind, at_assumed, shipment)
        else:
            assumed = start_assumed or end_assumed
            eta = CarrierEta.window(number, CARRIER, start, end, kind, assumed, shipment)
        result.etas.append(eta)


def _bound(text: str, zone: tzinfo) -> tuple[int, bool]:
    """(epoch ms, assumed) of one window bound; (0, False) when the bound is not given."""
    if not text:
        return 0, False
    at, assumed = parse_iso(text, zone)
    if len(text) > 10:
        moment = datetime.fromisoformat(text)
        if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
            return utc_ms(moment.replace(hour=12), zone)[0], True  # a day-definite date
    return at, assumed


def _scan(number: str, event: Any, where: str, problems: list[str]) -> CarrierScan | None:
    if not isinstance(event, dict):
        problems.append(f"{where} is not an object")
        return None
    code = (text_field(event, "eventType") or text_field(event, "derivedStatusCode")).upper()
    if not code:
        problems.append(f"{where} has no eventType")
        return None
    named_country, region, named_postal, named_city = _where(_address(event.get("scanLocation")))
    stamp = text_field(event, "date")
    try:
        occurred_at_ms, zone_assumed = parse_iso(
            stamp, zone_at(named_country, region, named_postal, named_city)
        )
    except (ParseError, ValueError, OverflowError) as exc:
        problems.append(f"{where} skipped: date {stamp!r}: {exc}")
        return None

    city, postal, country = place(named_city, named_postal, named_country)
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
        region=region,
        postal_code=postal,
        country=country,
    )
