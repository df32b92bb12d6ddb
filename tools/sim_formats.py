"""Simulated scans -> the bytes each carrier really sends, so the demo feed exercises every parser.

`ENCODERS` is keyed by the connector registry's format names (connectors.REGISTRY): every
registered format has an encoder here or is named in `NOT_SIMULATED`, and a unit test holds
the two to the registry. What a scan means and which codes each carrier has for it live in
tools/sim_scan.py; the postal operators' encoders in tools/sim_formats_post.py.

Encoders are deterministic per scan (a scan's bytes never depend on the rest of its bundle), so
a re-sent scan parses to the same event id, and every format carries the time exactly: offsets
or GMT fields where the format has them, X12 zone codes, the CSV utc_offset column, zone names
or the clock time in the zone the parser assumes (FedEx, UPS, USPS and CSV: the zone it infers
from the place the payload names, `times.zone_at`, with the offset stated in the repeated hour).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from connectors.times import zone_at
from tools import sim_formats_post
from tools.sim_scan import (
    CODES,
    REASON_GAPS,
    SIM_CODES,
    SimScan,
    by_parcel,
    carrier_code,
    civil_time,
    compact_json,
    control_id,
    describe,
    estimate_after,
    intended,
    off_midnight,
    offset_text,
    speaks,
    wall_time,
)

__all__ = [
    "CODES",
    "ENCODERS",
    "NOT_SIMULATED",
    "REASON_GAPS",
    "SIM_CODES",
    "SimScan",
    "broken_payload",
    "encode",
    "intended",
    "speaks",
]

Encoder = Callable[[str, Sequence[SimScan]], bytes]


def _place_time(scan: SimScan, country: str, region: str, postal: str) -> tuple[datetime, bool]:
    """The clock time at the scan's place in the zone the parser infers from what the payload
    says of the place (`times.zone_at`), and whether that clock time alone names the instant
    (False in the repeated autumn hour: the encoder then states the offset)."""
    return civil_time(scan, zone_at(country, region, postal, scan.city))


def _offset(moment: datetime, pad: bool = True) -> str:
    """The UTC offset of an aware time as '-05:00' (pad) or '-5:00'."""
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
    sign, hours, rest = "-" if minutes < 0 else "+", abs(minutes) // 60, abs(minutes) % 60
    return f"{sign}{hours:02d}:{rest:02d}" if pad else f"{sign}{hours}:{rest:02d}"


def _generic(carrier: str, scans: Sequence[SimScan]) -> bytes:
    def event(s: SimScan) -> dict[str, Any]:
        wall = wall_time(s)
        stamp = wall.isoformat() if s.zone_given else wall.replace(tzinfo=None).isoformat()
        return {"tracking_number": s.tracking_number, "code": s.code,
                "description": f"scan {s.code}", "occurred_at": stamp,
                "location": {"city": s.city, "postal_code": s.postal_code,
                             "country": s.country}}  # fmt: skip

    return compact_json({"carrier": carrier, "events": [event(s) for s in scans]})


_FEDEX_WINDOW = timedelta(hours=4)


def _fedex_window(newest: SimScan) -> dict[str, Any] | None:
    """The estimatedDeliveryTimeWindow FedEx would show after `newest` (`estimate_after`), as a
    4-hour window ending at the estimate (the connector reads a window's end as the estimate),
    at the scan's UTC offset so the bounds are exact."""
    estimate = estimate_after("fedex", newest)
    if estimate is None:
        return None
    zone = timezone(timedelta(hours=newest.utc_offset_hours if newest.zone_given else 0))
    end = estimate.astimezone(zone)
    begin = off_midnight(end - _FEDEX_WINDOW)
    return {"window": {"begins": begin.isoformat(), "ends": off_midnight(end).isoformat()},
            "type": "ESTIMATED_DELIVERY"}  # fmt: skip


def _fedex(carrier: str, scans: Sequence[SimScan]) -> bytes:
    def event(s: SimScan) -> dict[str, Any]:
        code = carrier_code("fedex", s)
        why = "" if code not in ("DE", "SE") else describe("generic", s.code)
        if s.zone_given:
            stamp = wall_time(s).isoformat()
        else:  # the parser reads a date without an offset in the scan location's zone
            wall, alone = _place_time(s, s.country, s.region, s.postal_code)
            # in the repeated autumn hour the offset says which pass
            stamp = wall.replace(tzinfo=None).isoformat() if alone else wall.isoformat()
        return {"date": stamp, "eventType": code, "eventDescription": describe("fedex", code),
                "derivedStatusCode": code, "exceptionCode": "", "exceptionDescription": why,
                "scanLocation": {"city": s.city.upper(), "stateOrProvinceCode": s.region,
                                 "postalCode": s.postal_code,
                                 "countryCode": s.country}}  # fmt: skip

    def result(number: str, group: list[SimScan]) -> dict[str, Any]:
        track: dict[str, Any] = {
            "trackingNumberInfo": {"trackingNumber": number, "carrierCode": "FDXE"},
            "scanEvents": [event(s) for s in group],
        }
        window = _fedex_window(group[0])  # the newest scan in this response
        if window is not None:
            track["estimatedDeliveryTimeWindow"] = window
        return {"trackingNumber": number, "trackResults": [track]}

    results = [result(number, group) for number, group in by_parcel(scans, newest_first=True)]
    return compact_json({"transactionId": control_id(scans, 32),
                  "output": {"completeTrackResults": results}})  # fmt: skip


_UPS_TYPES = {"delivered": "D", "exception": "X", "info_received": "M"}


def _ups(carrier: str, scans: Sequence[SimScan]) -> bytes:
    def activity(s: SimScan) -> dict[str, Any]:
        code = carrier_code("ups", s)
        status = {"type": _UPS_TYPES.get(intended("ups", s.code)[0], "I"),
                  "description": describe("ups", code), "statusCode": code}  # fmt: skip
        # Without GMT fields the parser reads the clock time in the address's zone
        wall, alone = (wall_time(s), True) if s.zone_given else _place_time(
            s, s.country, s.region, s.postal_code)  # fmt: skip
        found: dict[str, Any] = {
            "location": {"address": {"city": s.city.upper(), "stateProvince": s.region,
                                     "postalCode": s.postal_code, "countryCode": s.country}},
            "status": status, "date": f"{wall:%Y%m%d}", "time": f"{wall:%H%M%S}"}  # fmt: skip
        if s.zone_given:
            utc = wall.astimezone(UTC)
            found.update(gmtDate=f"{utc:%Y%m%d}", gmtTime=f"{utc:%H%M%S}",
                         gmtOffset=offset_text(s.utc_offset_hours))  # fmt: skip
        elif not alone:  # the repeated autumn hour: the offset says which pass
            found["gmtOffset"] = _offset(wall)
        return found

    def package(number: str, group: list[SimScan]) -> dict[str, Any]:
        found = {"trackingNumber": number, "activity": [activity(s) for s in group]}
        return {**found, **_ups_delivery(group[0])}  # the newest scan in this response

    shipments = [{"inquiryNumber": number, "package": [package(number, group)]}
                 for number, group in by_parcel(scans, newest_first=True)]  # fmt: skip
    return compact_json({"trackResponse": {"shipment": shipments}})


_UPS_WINDOW = timedelta(hours=2)


def _ups_delivery(newest: SimScan) -> dict[str, Any]:
    """Package.deliveryDate (SDD, the scheduled day) and deliveryTime (EDW, the estimated
    window on that day, ending at the estimate), as UPS shows them while a package is on its
    way. No packageAddress is sent, so the parser reads both in UTC (connectors/ups.py), and
    they are written in UTC; a window never starts before its day."""
    estimate = estimate_after("ups", newest)
    if estimate is None:
        return {}
    end = off_midnight(estimate)
    begin = max(end - _UPS_WINDOW, end.replace(hour=0, minute=0, second=0))
    return {"deliveryDate": [{"type": "SDD", "date": f"{end:%Y%m%d}"}],
            "deliveryTime": {"type": "EDW", "startTime": f"{begin:%H%M%S}",
                             "endTime": f"{end:%H%M%S}"}}  # fmt: skip


def _usps(carrier: str, scans: Sequence[SimScan]) -> bytes:
    def event(s: SimScan) -> dict[str, Any]:
        code = carrier_code("usps", s)
        domestic = s.country == "US"
        state, zip_code = (s.region, s.postal_code) if domestic else ("", "")
        # Without GMT fields the parser reads the clock time in the zone of the event's place,
        # a state or ZIP Code without a country being a US place
        country = "US" if domestic and (state or zip_code) else "" if domestic else s.country
        wall, alone = (wall_time(s), True) if s.zone_given else _place_time(
            s, country, state, zip_code)  # fmt: skip
        found = {"eventType": describe("usps", code), "eventCode": code,
                 "eventTimestamp": wall.replace(tzinfo=None).isoformat(),
                 "eventCity": s.city.upper(), "eventState": state, "eventZIP": zip_code,
                 "eventCountry": "" if domestic else s.country}  # fmt: skip
        if s.zone_given:
            found["GMTTimestamp"] = wall.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            found["GMTOffset"] = offset_text(s.utc_offset_hours, pad=False)
        elif not alone:  # the repeated autumn hour: the offset says which pass
            found["GMTOffset"] = _offset(wall, pad=False)
        return found

    return compact_json([{"trackingNumber": number, "trackingEvents": [event(s) for s in group],
                          **_usps_prediction(group[0])}
                         for number, group in by_parcel(scans, newest_first=True)])  # fmt: skip


def _usps_prediction(newest: SimScan) -> dict[str, Any]:
    """predictedDeliveryDate and its window (USPS's forecast), clock times on that day. No
    destination fields are sent, so the parser reads them in UTC (connectors/usps.py), and they
    are written in UTC; a window never starts before its day."""
    estimate = estimate_after("usps", newest)
    if estimate is None:
        return {}
    end = off_midnight(estimate)  # a window ending at 00:00 would hold nothing of its day
    begin = max(end - _UPS_WINDOW, end.replace(hour=0, minute=0, second=0))
    return {"predictedDeliveryDate": f"{end:%Y-%m-%d}",
            "predictedDeliveryWindowStartTime": f"{begin:%H:%M}",
            "predictedDeliveryWindowEndTime": f"{end:%H:%M}"}  # fmt: skip


# AT7-07 time codes for the offsets the simulator uses: US standard-time codes, UT, and the
# numeric element-623 codes elsewhere (01..12 = UTC+1..+12, 13..24 = UTC-12..-1).
_X12_ZONES = {-5: "ES", -6: "CS", -7: "MS", -8: "PS", 0: "UT"}


def _x12_zone(scan: SimScan) -> str:
    hours = scan.utc_offset_hours if scan.zone_given else 0
    return _X12_ZONES.get(hours) or f"{hours if hours > 0 else hours + 25:02d}"


def _x12(carrier: str, scans: Sequence[SimScan]) -> bytes:
    """One ST per parcel, one LX/AT7/MS1 loop per scan, in the order the carrier logged them."""
    scac = "".join(c for c in carrier.upper() if c.isalpha())[:4]
    control = int(control_id(scans, 8), 16) % 10**9
    sent = max(s.at for s in scans)
    segments = [
        f"ISA*00*{'':10}*00*{'':10}*02*{scac:<15}*ZZ*{'PARCELSTREAM':<15}*{sent:%y%m%d}*"
        f"{sent:%H%M}*U*00401*{control:09d}*0*P*>",
        f"GS*QM*{scac}*PARCELSTREAM*{sent:%Y%m%d}*{sent:%H%M}*{control}*X*004010",
    ]
    parcels = by_parcel(scans, newest_first=False)
    for number, (tracking, group) in enumerate(parcels, start=1):
        body = [f"ST*214*{number:04d}", f"B10*{tracking}*SID{tracking[-8:]}*{scac}"]
        for loop, s in enumerate(group, start=1):
            status, _, reason = carrier_code("x12_214", s).partition("-")
            place = "*".join((s.city.upper(), s.region, s.country)).rstrip("*")
            body += [f"LX*{loop}",
                     f"AT7*{status}*{reason or 'NS'}***{wall_time(s):%Y%m%d*%H%M%S}*{_x12_zone(s)}",
                     f"MS1*{place}"]  # fmt: skip
        # AT7-01 AG "estimated delivery", in a loop of its own, at the newest scan's zone code
        estimate = estimate_after("x12_214", group[-1])
        if estimate is not None:
            hours = group[-1].utc_offset_hours if group[-1].zone_given else 0
            local = estimate.astimezone(timezone(timedelta(hours=hours)))
            body += [f"LX*{len(group) + 1}",
                     f"AT7*AG*NS***{local:%Y%m%d*%H%M%S}*{_x12_zone(group[-1])}"]  # fmt: skip
        segments += [*body, f"SE*{len(body) + 1}*{number:04d}"]
    segments += [f"GE*{len(parcels)}*{control}", f"IEA*1*{control:09d}"]
    return ("~\n".join(segments) + "~\n").encode("ascii", errors="replace")


def _csv(carrier: str, scans: Sequence[SimScan]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # what spreadsheet exports write
    writer.writerow(["tracking_number", "carrier", "status_code", "description", "event_time",
                     "utc_offset", "city", "state", "postal_code", "country"])  # fmt: skip
    for s in scans:
        # Without utc_offset the parser reads the clock time in the zone of the row's place;
        # in the repeated autumn hour the offset says which pass
        wall, alone = (wall_time(s), True) if s.zone_given else _place_time(
            s, s.country, s.region, s.postal_code)  # fmt: skip
        offset = offset_text(s.utc_offset_hours) if s.zone_given else "" if alone else _offset(wall)
        writer.writerow([s.tracking_number, carrier, s.code, describe("csv", s.code),
                         f"{wall:%Y-%m-%d %H:%M:%S}", offset,
                         s.city, s.region, s.postal_code, s.country])  # fmt: skip
    return out.getvalue().encode()


# payload format (a connectors.REGISTRY name) -> its encoder
ENCODERS: dict[str, Encoder] = {
    "generic": _generic, "fedex": _fedex, "ups": _ups, "usps": _usps, "x12_214": _x12,
    "csv": _csv, "dhl": sim_formats_post.dhl, "postnl": sim_formats_post.postnl,
    "canadapost": sim_formats_post.canadapost, "upu_edi": sim_formats_post.upu_edi,
}  # fmt: skip
# Registered formats the simulator deliberately never sends, each with a comment saying why.
# Empty: the demo feed runs every parser the pipeline has.
NOT_SIMULATED: frozenset[str] = frozenset()


def encode(payload_format: str, carrier: str, scans: Sequence[SimScan]) -> bytes:
    return ENCODERS[payload_format](carrier, scans)


def broken_payload(payload_format: str, index: int) -> bytes:
    """A payload of this format that its parser must reject with ParseError. `index` makes
    each one distinct, so two broken payloads are never mistaken for one redelivery."""
    n = f"{index:06d}".encode()
    candidates = {
        "generic": (b'{"carrier": "x", "events": [{"tracking_' + n,
                    b'{"events": [{"code": "DL", "ref": "' + n + b'"}]}',
                    b"\x00\x01 not json " + n),
        "fedex": (b'{"output": {"completeTrackResults": {"trackingNumber": "7' + n + b'"}}}',
                  b'{"transactionId": "' + n + b'", "output": {"completeTrack'),
        "ups": (b'{"trackResponse": {"shipment": {"inquiryNumber": "1Z' + n + b'"}}}',
                b'{"response": {"status": "' + n + b'"}}'),
        "usps": (b'[{"trackingNumber": "9400' + n + b'"}, "not an object"]',
                 b'{"trackingNumber": "9400' + n + b'", "trackingEvents": ['),
        "x12_214": (b"GS*QM*ORBI*PARCELSTREAM*20261118*1405*" + n + b"*X*004010~",
                    b"ISA*00*          *00*    " + n),
        "csv": (b"parcel;when;what\r\n" + n + b";2026-11-18;DL\r\n",
                b" \r\n" * (index + 1)),  # blank lines only: no header row
        "dhl": (b'{"shipments": {"id": "JJD' + n + b'", "events": []}}',
                b'{"status": 200, "id": "JJD' + n + b'"}',  # neither shipments nor a problem
                b'{"shipments": [{"id": "00340434' + n + b'", "events": [{"statusCode'),
        "postnl": (b'{"CurrentStatus": [{"Barcode": "3SDEVC' + n + b'"}]}',
                   b'{"Barcode": "3SDEVC' + n + b'", "Event": []}'),  # no status section
        "canadapost": (b"<tracking-detail><pin>" + n + b"</pin><significant-events>",
                       b'<?xml version="1.0"?><!DOCTYPE pin [<!ENTITY n "' + n + b'">]><pin/>',
                       b"<track-summary><pin>" + n + b"</pin></track-summary>"),
        "upu_edi": (b'{"EdiMailitems": {"MailitemFid": "RR' + n + b'FR"}}',  # not a list
                    b'{"MailitemFid": "RR' + n + b'FR", "EdiMailitemEvents": []}',
                    b'{"EdiMailitems": [{"MailitemFid": "RR' + n + b'FR", "EdiMailitemEv'),
    }  # fmt: skip
    options = candidates[payload_format]
    return options[index % len(options)]
