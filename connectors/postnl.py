"""PostNL Shipping Status API v2 (`/shipment/v2/status/barcode|reference/...`) responses.

    {"CurrentStatus" | "CompleteStatus": {"Shipment": {...} | [{...}, ...]},
     "Warnings": [{"Code": "...", "Message": "..."}]}
    Shipment: {"Barcode", "MainBarcode",
               "Status": {"TimeStamp": "07-11-2022 19:10:28", "StatusCode": "1",
                          "StatusDescription", "PhaseCode", "PhaseDescription"},
               "Event": [{"Code": "A01", "Description", "LocationCode", "TimeStamp", ...}],
               "OldStatus" (REST) / "OldStatuses" (SOAP): [{"TimeStamp", "StatusCode", ...}]}

Sources: developer.postnl.nl ShippingStatus API reference and "T & T status codes" (status
codes 1-99 in phases 1 Collectie, 2 Sortering, 3 Distributie, 4 Afgeleverd, 99 n.v.t., and
the event codes, each documented with the status it belongs to); PostNL's own SDK models
(postnl-ecommerce-sdk: CompleteStatusShipment, Event, OldStatus, Status).

Code: the event code (`Event[].Code`, e.g. "I01", or "01A" in the older form) for each event,
and the status code (`Status` + `OldStatus[]`, e.g. "11") for a status newer than every event of
its shipment. The sets are disjoint (letters+digits vs digits), so one mapping file holds both.
Status codes are written "1" and "01" in the docs; leading zeros are dropped.

Statuses: every response carries `Status`, and a status sums up an event at a coarser grain
("11" delivered for the event "I01", at the event's time). Its code differs from the event's,
so its event id does too, and emitting every status would count each milestone twice. A status
is a scan of its own only when it is newer than the shipment's newest readable event: that is
the case it is evidence for (the events stop at out for delivery, `Status` says delivered).
With no readable events at all (a CurrentStatus answer), every status is a scan. A status
repeated in `OldStatus` gets the same event id and deduplicates downstream.

Zone rule: `TimeStamp` is "dd-MM-yyyy HH:mm:ss" (the updated-shipments call also sends ISO
"2022-11-08T04:15:00") with no zone and no zone documented; "dd-MM-yyyy HH:mm" without seconds
is read too. It is Dutch wall-clock time, read in Europe/Amsterdam (zoneinfo resolves
CET/CEST) and flagged `zone_assumed`.

Carrier ETA (`ParseResult.etas`): `Expectation` {"ETAFrom", "ETATo"} is PostNL's delivery
window, revised as the parcel moves: one ETA of kind `estimated`, the window's end its best
estimate (`CarrierEta.window`). Its times have no zone either; they are the receiver's wall
clock, read in the zone of the delivery address (`Address` of type 09, delivery address, else
01, receiver: `times.zone_at` on its country, postal code and city), else Europe/Amsterdam, and
flagged.

Places: a scan carries only `LocationCode`, PostNL's internal depot number; no city, postal code
or country is given per scan, and none is guessed.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from connectors.base import (
    CarrierEta,
    CarrierScan,
    ParseContext,
    ParseError,
    ParseResult,
    load_json,
    scan_event_id,
)
from connectors.times import parse_iso, parse_local
from connectors.zones import zone_for

MAPPING = "postnl"
CARRIER = "postnl"
_AMSTERDAM = ZoneInfo("Europe/Amsterdam")
_SECTIONS = ("CurrentStatus", "CompleteStatus")
_DELIVERY_ADDRESS_TYPES = ("09", "01")  # delivery address, receiver


def parse(payload: bytes, ctx: ParseContext) -> ParseResult:
    document = load_json(payload)
    if not isinstance(document, dict):
        raise ParseError("expected a JSON object at the top level")
    result = ParseResult()
    notices = [document.get(key) for key in ("Warnings", "Errors")]
    for notice in (item for group in notices if isinstance(group, list) for item in group):
        if isinstance(notice, dict):
            text = _text(notice.get("Message")) or _text(notice.get("Description"))
            code = _text(notice.get("Code"))
            result.problems.append(f"PostNL {code}: {text}" if code else f"PostNL: {text}")
    sections = [document[key] for key in _SECTIONS if key in document]
    if not sections:
        if result.problems:
            return result
        raise ParseError("not a PostNL shipping status response: no CurrentStatus/CompleteStatus")
    for section in sections:
        if not isinstance(section, dict):
            raise ParseError("CurrentStatus/CompleteStatus must be an object")
        shipments = section.get("Shipment")
        if isinstance(shipments, dict):  # one shipment is sent as an object, several as a list
            shipments = [shipments]
        if not isinstance(shipments, list):
            result.problems.append("status section holds no Shipment")
            continue
        for index, shipment in enumerate(shipments):
            if isinstance(shipment, dict):
                _shipment(shipment, index, result)
            else:
                result.problems.append(f"Shipment[{index}] is not an object")
    return result


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value] if isinstance(value, dict) else []


def _shipment(shipment: dict[str, Any], index: int, result: ParseResult) -> None:
    barcode = _text(shipment.get("Barcode")) or _text(shipment.get("MainBarcode"))
    if not barcode:
        result.problems.append(f"Shipment[{index}] has no Barcode")
        return
    events = _list(shipment.get("Event"))
    old = _list(shipment.get("OldStatus")) + _list(shipment.get("OldStatuses"))
    statuses = [status for status in [shipment.get("Status"), *old] if isinstance(status, dict)]
    if not events and not statuses:
        result.problems.append(f"{barcode}: no events and no status")
    _expectation(barcode, shipment, result)
    event_scans = []
    for position, event in enumerate(events):
        label = f"{barcode} Event[{position}]"
        scan = _entry(barcode, event, "Code", label, result)
        if scan is not None:
            if not _text(event.get("LocationCode")):
                result.problems.append(f"{label} ({scan.code}) has no location")
            event_scans.append(scan)
    result.scans += event_scans
    # a status at or before the newest event only repeats an event (module docstring)
    newest = max((scan.occurred_at_ms for scan in event_scans), default=None)
    for position, status in enumerate(statuses):
        label = f"{barcode} Status[{position}]"
        scan = _entry(barcode, status, "StatusCode", label, result, after=newest)
        if scan is not None:
            result.scans.append(scan)


def _entry(
    barcode: str,
    entry: Any,
    code_key: str,
    label: str,
    result: ParseResult,
    after: int | None = None,
) -> CarrierScan | None:
    if not isinstance(entry, dict):
        result.problems.append(f"{label} is not an object")
        return None
    return _scan(barcode, entry, code_key, label, result, after)


def _time(text: str, zone: tzinfo = _AMSTERDAM) -> tuple[int, bool]:
    if "T" in text:  # ISO from the updated-shipments call; exact only if it has an offset
        return parse_iso(text, zone)
    day, _, clock = text.partition(" ")
    clock_format = "%H:%M" if len(clock.strip()) == 5 else "%H:%M:%S"
    return parse_local(day, clock, assume=zone, date_format="%d-%m-%Y", time_format=clock_format)


def _delivery_zone(shipment: dict[str, Any]) -> tzinfo:
    addresses = [a for a in _list(shipment.get("Address")) if isinstance(a, dict)]
    by_type = {_text(a.get("AddressType")): a for a in reversed(addresses)}  # the first wins
    address = next((by_type[t] for t in _DELIVERY_ADDRESS_TYPES if t in by_type), {})
    country, postal = _text(address.get("CountryCode")), _text(address.get("Zipcode"))
    return zone_for(country, "", postal, _text(address.get("City"))) or _AMSTERDAM


def _expectation(barcode: str, shipment: dict[str, Any], result: ParseResult) -> None:
    expectation = shipment.get("Expectation")
    if not isinstance(expectation, dict):
        return
    since, until = _text(expectation.get("ETAFrom")), _text(expectation.get("ETATo"))
    if not (since or until):
        return
    zone = _delivery_zone(shipment)
    try:
        start, start_assumed = _time(since, zone) if since else (0, False)
        end, end_assumed = _time(until, zone) if until else (0, False)
    except (ParseError, ValueError, OverflowError) as exc:
        result.problems.append(f"{barcode} Expectation skipped: {exc}")
        return
    result.etas.append(CarrierEta.window(barcode, CARRIER, start, end, "estimated",
                                         start_assumed or end_assumed))  # fmt: skip


def _scan(
    barcode: str,
    entry: dict[str, Any],
    code_key: str,
    label: str,
    result: ParseResult,
    after: int | None = None,
) -> CarrierScan | None:
    """The entry as a scan; None (and a problem) when it cannot be one, and None when it is
    not newer than `after` (a status that repeats an event: it is not built at all)."""
    code = _text(entry.get(code_key)) or _text(entry.get("Code"))
    if code.isdigit():
        code = code.lstrip("0") or "0"
    if not code:
        result.problems.append(f"{label} has no code")
        return None
    stamp = _text(entry.get("TimeStamp")) or _text(entry.get("Timestamp"))
    try:
        occurred_at_ms, zone_assumed = _time(stamp)
    except (ParseError, ValueError, OverflowError) as exc:
        result.problems.append(f"{label} ({code}) skipped: {exc}")
        return None
    if after is not None and occurred_at_ms <= after:
        return None
    description = _text(entry.get("Description")) or _text(entry.get("StatusDescription"))
    return CarrierScan(
        event_id=scan_event_id(CARRIER, barcode, code, occurred_at_ms),
        carrier=CARRIER,
        tracking_number=barcode,
        code=code,
        description=description,
        occurred_at_ms=occurred_at_ms,
        zone_assumed=zone_assumed,
    )
