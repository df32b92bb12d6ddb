"""UPS Track API v1 responses (GET /api/track/v1/details/{inquiryNumber}) -> `CarrierScan`s.

Shape, from the UPS Tracking API OpenAPI spec (developer.ups.com, TrackApiResponse; published as
Tracking.yaml in github.com/UPS-API/api-documentation):

    {"trackResponse": {"shipment": [
        {"inquiryNumber": "1Z...",
         "warnings": [{"code": "TW0001", "message": "Tracking Information Not Found"}],
         "package": [
            {"trackingNumber": "1Z...",
             "activity": [
                {"date": "20210210", "time": "071356",
                 "gmtDate": "20210210", "gmtTime": "121356", "gmtOffset": "-05:00",
                 "status": {"type": "X", "code": "SR", "statusCode": "003",
                            "description": "Your package was released by the customs agency."},
                 "location": {"address": {"city": "Wayne", "stateProvince": "NJ",
                                          "postalCode": "07470", "countryCode": "US"}}}]}]}]}}

A rejected request comes back as {"response": {"errors": [{"code", "message"}]}}.

Code: `status.statusCode`, zero-padded to three digits ("011"): the spec calls it "the activity
package detail status code" and the Tracking appendix ("Status/Description Codes") gives each
one a customer-facing meaning, so it maps one-to-one. When an activity has no statusCode the
one- or two-letter `status.type` (D, I, M, MV, X, P, O, RS, ...) is used instead; the two sets
never collide. The two-letter `status.code` (SR, FS, ...) is kept only in the description.

Time rule: `date` (YYYYMMDD) and `time` (HHMMSS) are wall-clock time at the scan location. The
spec's `gmtDate`/`gmtTime` (UTC) win when present, exact; else `date`+`time` with `gmtOffset`,
exact; else `date`+`time` read in the zone of the activity's address (`times.zone_at` with its
country, state, postal code and city; UTC when the address says nothing), flagged
`zone_assumed` (no time: noon, flagged). The spec's example writes gmtTime unpadded ("74700"),
responses seen in the field "20:04:35": both are read, and so are "14:35" (no seconds),
"14:35:00.250" (milliseconds, dropped) and ISO dates ("2026-11-20"). A time without colons is
always HHMMSS with its leading zeros dropped ("4700" is 00:47:00), as the spec's example writes it.

Carrier ETAs (`ParseResult.etas`), per package, from the same spec (Package.deliveryDate,
Package.deliveryTime):
- `deliveryDate` entries {type, date}: RDD "Rescheduled Delivery Date", else SDD "Scheduled
  Delivery Date" -> kind `scheduled`, a date alone (noon, flagged). DEL "Delivered Date" is no
  estimate: the delivery itself is an activity.
- `deliveryTime` {type, startTime, endTime} on that day: EDW "Estimated Delivery Window" and IDW
  "Imminent Delivery Window" -> `estimated`; CDW "Confirmed Delivery Window" -> `appointment`
  (the window UPS confirmed to the receiver); CMT "Commit Time", endTime only -> `promised`.
  EOD "End of Day" says no more than the scheduled date; DEL is the delivery time.
Those dates and times carry no zone: they are read in the zone of the package's DESTINATION
address (`packageAddress`), else UTC, and always flagged.
"""

from __future__ import annotations

from datetime import tzinfo
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
from connectors.times import parse_local, zone_at

MAPPING = "ups"
CARRIER = "ups"


def parse(payload: bytes, ctx: ParseContext) -> ParseResult:
    document = load_json_object(payload)
    result = ParseResult()
    track = document.get("trackResponse")
    if track is None:
        errors = _dict(document.get("response")).get("errors")
        if not isinstance(errors, list):
            raise ParseError('not a UPS Track response: no "trackResponse" and no errors')
        result.problems.extend(f"request rejected: {_message(error)}" for error in errors)
        return result
    shipments = _dict(track).get("shipment")
    if not isinstance(shipments, list):
        raise ParseError("trackResponse.shipment must be a list")

    for index, shipment in enumerate(shipments):
        if not isinstance(shipment, dict):
            result.problems.append(f"shipment[{index}] is not an object")
            continue
        inquiry = text_field(shipment, "inquiryNumber")
        label = inquiry or f"shipment[{index}]"
        warnings = shipment.get("warnings")
        for warning in warnings if isinstance(warnings, list) else ():
            result.problems.append(f"{label}: {_message(warning)}")
        packages = shipment.get("package")
        if not isinstance(packages, list) or not packages:
            if not warnings:
                result.problems.append(f"{label}: no packages")
            continue
        for position, package in enumerate(packages):
            _package(package, inquiry, f"{label} package[{position}]", result)
    if not shipments:
        result.problems.append("response holds no shipments")
    return result


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _message(error: Any) -> str:
    return f"{text_field(error, 'code') or '?'} {text_field(error, 'message')}".strip()


def _package(package: Any, inquiry: str, where: str, result: ParseResult) -> None:
    if not isinstance(package, dict):
        result.problems.append(f"{where} is not an object")
        return
    number = text_field(package, "trackingNumber") or inquiry
    if not number:
        result.problems.append(f"{where} has no tracking number")
        return
    _etas(number, package, result)
    activities = package.get("activity")
    if not isinstance(activities, list) or not activities:
        result.problems.append(f"{number}: no activity")
        return
    for index, activity in enumerate(activities):
        scan = _scan(number, activity, f"{number} activity[{index}]", result.problems)
        if scan is not None:
            result.scans.append(scan)


def _code(status: dict[str, Any]) -> str:
    detail = text_field(status, "statusCode")
    if detail.isdigit():
        return detail.zfill(3)  # the appendix lists "3", the API sends "003": one key for both
    return (detail or text_field(status, "type")).upper()


def _clock(value: str) -> str:
    """'20:04:35', '200435', the unpadded '74700', '14:35' and '14:35:00.250' -> 'HHMMSS'."""
    text = value.strip().partition(".")[0]
    if ":" in text:
        parts = text.split(":")
        if 2 <= len(parts) <= 3 and all(p.isdigit() and len(p) <= 2 for p in parts):
            return "".join(p.zfill(2) for p in (*parts, "00")[:3])
        return value
    return text.zfill(6) if text.isdigit() else value


def _day(value: str) -> str:
    """'20261120' and the ISO '2026-11-20' -> 'YYYYMMDD'."""
    text = value.strip()
    return text.replace("-", "") if len(text) == 10 and text[4:5] == text[7:8] == "-" else text


def _local(day: str, clock: str, offset: str | None, zone: tzinfo) -> tuple[int, bool]:
    return parse_local(_day(day), _clock(clock), offset, zone, date_format="%Y%m%d",
                       time_format="%H%M%S")  # fmt: skip


def _where(address: dict[str, Any]) -> tuple[str, str, str, str]:
    """(country, state, postal code, city) as the address writes them, read once per address:
    a scan needs them for its zone and again for its place."""
    return (text_field(address, "countryCode") or text_field(address, "country"),
            text_field(address, "stateProvince"), text_field(address, "postalCode"),
            text_field(address, "city"))  # fmt: skip


def _zone(address: dict[str, Any]) -> tzinfo:
    return zone_at(*_where(address))


def _when(activity: dict[str, Any], where: tuple[str, str, str, str]) -> tuple[int, bool]:
    gmt_date, gmt_time = text_field(activity, "gmtDate"), text_field(activity, "gmtTime")
    if gmt_date and gmt_time:
        return _local(gmt_date, gmt_time, "+00:00", zone_at(""))
    offset = text_field(activity, "gmtOffset") or None
    zone = zone_at("") if offset else zone_at(*where)  # it only matters without an offset
    return _local(text_field(activity, "date"), text_field(activity, "time"), offset, zone)


# deliveryTime.type -> the kind of estimate its window is (see the module docstring)
_WINDOW_KINDS: dict[str, EtaKind] = {
    "EDW": "estimated", "IDW": "estimated", "CDW": "appointment", "CMT": "promised",
}  # fmt: skip


def _destination_zone(package: dict[str, Any]) -> tzinfo:
    addresses = package.get("packageAddress")
    for entry in addresses if isinstance(addresses, list) else ():
        if text_field(entry, "type").upper() == "DESTINATION":
            return _zone(_dict(_dict(entry).get("address")))
    return zone_at("")


def _etas(number: str, package: dict[str, Any], result: ParseResult) -> None:
    entries = package.get("deliveryDate")
    dates = {text_field(entry, "type").upper(): text_field(entry, "date")
             for entry in (entries if isinstance(entries, list) else ())}  # fmt: skip
    day = dates.get("RDD") or dates.get("SDD")
    if not day:
        return
    zone = _destination_zone(package)
    try:
        at, _ = _local(day, "", None, zone)
    except (ParseError, ValueError, OverflowError) as exc:
        result.problems.append(f"{number}: delivery date {day!r}: {exc}")
        return
    result.etas.append(CarrierEta(number, CARRIER, at, 0, 0, "scheduled", True))
    window = _dict(package.get("deliveryTime"))
    kind = _WINDOW_KINDS.get(text_field(window, "type").upper())
    start, end = text_field(window, "startTime"), text_field(window, "endTime")
    if kind is None or not (start or end):
        return
    try:
        start_ms = _local(day, start, None, zone)[0] if start else 0
        end_ms = _local(day, end, None, zone)[0] if end else 0
    except (ParseError, ValueError, OverflowError) as exc:
        result.problems.append(f"{number}: delivery time {start!r}-{end!r}: {exc}")
        return
    result.etas.append(CarrierEta.window(number, CARRIER, start_ms, end_ms, kind, True))


def _scan(number: str, activity: Any, where: str, problems: list[str]) -> CarrierScan | None:
    if not isinstance(activity, dict):
        problems.append(f"{where} is not an object")
        return None
    status = _dict(activity.get("status"))
    code = _code(status)
    if not code:
        problems.append(f"{where} has no status code or type")
        return None
    named = _where(_dict(_dict(activity.get("location")).get("address")))
    try:
        occurred_at_ms, zone_assumed = _when(activity, named)
    except (ParseError, ValueError, OverflowError) as exc:
        problems.append(f"{where} skipped: unreadable date/time: {exc}")
        return None

    named_country, region, named_postal, named_city = named
    city, postal, country = place(named_city, named_postal, named_country)
    if not (city or postal or country):
        problems.append(f"{where} ({code}) has no location")

    description = text_field(status, "description")
    activity_code = text_field(status, "code")
    if activity_code:
        description = f"{description} [{activity_code}]" if description else activity_code
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
