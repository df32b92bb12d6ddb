"""Simulated scans -> the bytes each carrier really sends, so the demo feed exercises every parser.

The simulator thinks in the generic code set (connectors/mappings/generic.csv); each format
gets a table from that code to the carrier's own code, chosen so that the carrier's mapping file
yields the same canonical status, and the same reason wherever the carrier has a code for it.
Where it has none, the closest code with the same status is used and the reason it yields is
recorded in `REASON_GAPS`; where a carrier has no code with the same status at all, the table
says None and the carrier never sends that scan (`speaks`), as a real carrier would not.

Encoders are deterministic per scan (a scan's bytes never depend on the rest of its bundle), so
a re-sent scan parses to the same event id, and every format carries the time exactly: offsets
or GMT fields where the format has them, X12 zone codes, the CSV utc_offset column.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

import connectors
from agents.normalize import MAPPINGS_DIR

__all__ = [
    "CODES",
    "ENCODERS",
    "REASON_GAPS",
    "SIM_CODES",
    "SimScan",
    "broken_payload",
    "encode",
    "intended",
    "speaks",
]


@dataclass(frozen=True, slots=True)
class SimScan:
    """One scan as the simulator means it: generic code, exact UTC time, where it happened."""

    carrier: str
    tracking_number: str
    code: str
    at: datetime  # aware, UTC
    city: str
    region: str
    country: str
    postal_code: str
    utc_offset_hours: int
    zone_given: bool  # False: the carrier reports UTC wall time without saying so


SIM_CODES = ("CR", "PU", "AF", "DF", "AD", "OD", "FA", "PK", "DL", "DY", "CH", "CC",
             "DM", "LS", "RF", "RS", "RT", "ZZ9")  # fmt: skip
_SAME: dict[str, str | None] = {code: code for code in SIM_CODES}
# Simulator code -> carrier code; None: the carrier's mapping has no code with that status.
CODES: dict[str, dict[str, str | None]] = {
    "generic": _SAME,
    "csv": _SAME,  # the CSV drop uses the generic code set (csv.csv == generic.csv)
    "fedex": {"CR": "OC", "PU": "PU", "AF": "AR", "DF": "DP", "AD": "FD", "OD": "OD",
              "FA": "DE", "PK": "HP", "DL": "DL", "DY": "DY", "CH": "CD", "CC": "CC",
              "DM": "SE", "LS": "SE", "RF": "SE", "RS": "RS", "RT": None, "ZZ9": "ZZ"},
    "ups": {"CR": "003", "PU": "038", "AF": "005", "DF": "010", "AD": "071", "OD": "021",
            "FA": "061", "PK": "040", "DL": "011", "DY": "046", "CH": "126", "CC": "134",
            "DM": "059", "LS": "068", "RF": "064", "RS": "035", "RT": "034", "ZZ9": "999"},
    "usps": {"CR": "MA", "PU": "03", "AF": "10", "DF": "EF", "AD": "07", "OD": "OF",
             "FA": "02", "PK": "16", "DL": "01", "DY": "08", "CH": "11", "CC": "10",
             "DM": "11", "LS": "11", "RF": "04", "RS": "09", "RT": None, "ZZ9": "ZZ"},
    "x12_214": {"CR": "XB", "PU": "AF", "AF": "X4", "DF": "P1", "AD": "AV", "OD": "AJ",
                "FA": "AH-AQ", "PK": None, "DL": "D1", "DY": "SD", "CH": "SD-CA", "CC": "X6",
                "DM": "A9", "LS": "A9", "RF": "A7", "RS": None, "RT": "A3", "ZZ9": "ZZ"},
}  # fmt: skip

# Judgement calls: (format, simulator code) -> the reason the carrier's code really yields.
REASON_GAPS: dict[str, dict[str, str]] = {
    # FedEx puts the why of DE/SE in exceptionCode/Description, which the mapping cannot see.
    "fedex": {"FA": "", "DM": "", "LS": "", "RF": ""},
    # UPS status codes carry no hub milestones: "On the way" / "Preparing for delivery".
    "ups": {"AF": "", "DF": "", "AD": ""},
    # 10 "Processed" is what USPS shows at a hub (81 is for shipping partners); damaged and lost
    # mail ends at the Mail Recovery Center: 11 "Dead letter", reason other. usps.csv has no
    # customs code at all, so a customs hold is the same unclassified exception (weakest call).
    "usps": {"AF": "", "CH": "other", "DM": "other", "LS": "other"},
    # Freight carriers report loss as OS&D (over, short and damaged): A9.
    "x12_214": {"LS": "damaged"},
}


@cache
def _rows(mapping: str) -> dict[str, tuple[str, str, str]]:
    """code -> (status, reason, description) of a mapping file, read as the carriers' manual."""
    with (MAPPINGS_DIR / f"{mapping}.csv").open(newline="", encoding="utf-8") as handle:
        return {r["code"]: (r["status"], r["reason"], r["description"])
                for r in csv.DictReader(handle)}  # fmt: skip


def intended(payload_format: str, code: str) -> tuple[str, str]:
    """(status, reason) the simulator means by `code`, as this format can express it."""
    status, reason, _ = _rows("generic").get(code, ("unknown", "", ""))
    return status, REASON_GAPS.get(payload_format, {}).get(code, reason)


def speaks(payload_format: str, code: str) -> bool:
    return CODES[payload_format][code] is not None


def _code(payload_format: str, scan: SimScan) -> str:
    code = CODES[payload_format][scan.code]
    if code is None:
        raise ValueError(f"{payload_format} cannot say {scan.code}; filter with speaks()")
    return code


def _describe(payload_format: str, code: str) -> str:
    row = _rows(connectors.mapping_for(payload_format)).get(code)
    return row[2] if row else "Status update"


def _wall(scan: SimScan) -> datetime:
    """Clock time at the scan's place, to the second; UTC when the carrier omits the zone."""
    at = scan.at.replace(microsecond=0)
    if not scan.zone_given:
        return at
    return at.astimezone(timezone(timedelta(hours=scan.utc_offset_hours)))


def _offset(hours: int, pad: bool = True) -> str:
    return f"{'-' if hours < 0 else '+'}{abs(hours):02d}:00" if pad else f"{hours:+d}:00"


def _by_parcel(scans: Sequence[SimScan], newest_first: bool) -> list[tuple[str, list[SimScan]]]:
    """Scans per tracking number in first-seen order; the APIs list each parcel's newest first."""
    groups: dict[str, list[SimScan]] = {}
    for scan in scans:
        groups.setdefault(scan.tracking_number, []).append(scan)
    return [(n, sorted(g, key=lambda s: s.at, reverse=newest_first)) for n, g in groups.items()]


def _json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _generic(carrier: str, scans: Sequence[SimScan]) -> bytes:
    def event(s: SimScan) -> dict[str, Any]:
        stamp = _wall(s).isoformat() if s.zone_given else _wall(s).replace(tzinfo=None).isoformat()
        return {"tracking_number": s.tracking_number, "code": s.code,
                "description": f"scan {s.code}", "occurred_at": stamp,
                "location": {"city": s.city, "postal_code": s.postal_code,
                             "country": s.country}}  # fmt: skip

    return _json({"carrier": carrier, "events": [event(s) for s in scans]})


def _fedex(carrier: str, scans: Sequence[SimScan]) -> bytes:
    def event(s: SimScan) -> dict[str, Any]:
        code, wall = _code("fedex", s), _wall(s)
        why = "" if code not in ("DE", "SE") else _describe("generic", s.code)
        stamp = wall.isoformat() if s.zone_given else wall.replace(tzinfo=None).isoformat()
        return {"date": stamp, "eventType": code, "eventDescription": _describe("fedex", code),
                "derivedStatusCode": code, "exceptionCode": "", "exceptionDescription": why,
                "scanLocation": {"city": s.city.upper(), "stateOrProvinceCode": s.region,
                                 "postalCode": s.postal_code,
                                 "countryCode": s.country}}  # fmt: skip

    results = [{"trackingNumber": number,
                "trackResults": [{"trackingNumberInfo": {"trackingNumber": number,
                                                         "carrierCode": "FDXE"},
                                  "scanEvents": [event(s) for s in group]}]}
               for number, group in _by_parcel(scans, newest_first=True)]  # fmt: skip
    return _json({"transactionId": _control_id(scans, 32),
                  "output": {"completeTrackResults": results}})  # fmt: skip


_UPS_TYPES = {"delivered": "D", "exception": "X", "info_received": "M"}


def _ups(carrier: str, scans: Sequence[SimScan]) -> bytes:
    def activity(s: SimScan) -> dict[str, Any]:
        code, wall = _code("ups", s), _wall(s)
        status = {"type": _UPS_TYPES.get(intended("ups", s.code)[0], "I"),
                  "description": _describe("ups", code), "statusCode": code}  # fmt: skip
        found: dict[str, Any] = {
            "location": {"address": {"city": s.city.upper(), "stateProvince": s.region,
                                     "postalCode": s.postal_code, "countryCode": s.country}},
            "status": status, "date": f"{wall:%Y%m%d}", "time": f"{wall:%H%M%S}"}  # fmt: skip
        if s.zone_given:
            utc = wall.astimezone(UTC)
            found.update(gmtDate=f"{utc:%Y%m%d}", gmtTime=f"{utc:%H%M%S}",
                         gmtOffset=_offset(s.utc_offset_hours))  # fmt: skip
        return found

    shipments = [{"inquiryNumber": number,
                  "package": [{"trackingNumber": number,
                               "activity": [activity(s) for s in group]}]}
                 for number, group in _by_parcel(scans, newest_first=True)]  # fmt: skip
    return _json({"trackResponse": {"shipment": shipments}})


def _usps(carrier: str, scans: Sequence[SimScan]) -> bytes:
    def event(s: SimScan) -> dict[str, Any]:
        code, wall = _code("usps", s), _wall(s)
        domestic = s.country == "US"
        found = {"eventType": _describe("usps", code), "eventCode": code,
                 "eventTimestamp": wall.replace(tzinfo=None).isoformat(),
                 "eventCity": s.city.upper(), "eventState": s.region if domestic else "",
                 "eventZIP": s.postal_code if domestic else "",
                 "eventCountry": "" if domestic else s.country}  # fmt: skip
        if s.zone_given:
            found["GMTTimestamp"] = wall.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            found["GMTOffset"] = _offset(s.utc_offset_hours, pad=False)
        return found

    return _json([{"trackingNumber": number, "trackingEvents": [event(s) for s in group]}
                  for number, group in _by_parcel(scans, newest_first=True)])  # fmt: skip


# AT7-07 time codes for the offsets the simulator uses: US standard-time codes, UT, and the
# numeric element-623 codes elsewhere (01..12 = UTC+1..+12, 13..24 = UTC-12..-1).
_X12_ZONES = {-5: "ES", -6: "CS", -7: "MS", -8: "PS", 0: "UT"}


def _x12_zone(scan: SimScan) -> str:
    hours = scan.utc_offset_hours if scan.zone_given else 0
    return _X12_ZONES.get(hours) or f"{hours if hours > 0 else hours + 25:02d}"


def _x12(carrier: str, scans: Sequence[SimScan]) -> bytes:
    """One ST per parcel, one LX/AT7/MS1 loop per scan, in the order the carrier logged them."""
    scac = "".join(c for c in carrier.upper() if c.isalpha())[:4]
    control = int(_control_id(scans, 8), 16) % 10**9
    sent = max(s.at for s in scans)
    segments = [
        f"ISA*00*{'':10}*00*{'':10}*02*{scac:<15}*ZZ*{'PARCELSTREAM':<15}*{sent:%y%m%d}*"
        f"{sent:%H%M}*U*00401*{control:09d}*0*P*>",
        f"GS*QM*{scac}*PARCELSTREAM*{sent:%Y%m%d}*{sent:%H%M}*{control}*X*004010",
    ]
    parcels = _by_parcel(scans, newest_first=False)
    for number, (tracking, group) in enumerate(parcels, start=1):
        body = [f"ST*214*{number:04d}", f"B10*{tracking}*SID{tracking[-8:]}*{scac}"]
        for loop, s in enumerate(group, start=1):
            status, _, reason = _code("x12_214", s).partition("-")
            place = "*".join((s.city.upper(), s.region, s.country)).rstrip("*")
            body += [f"LX*{loop}",
                     f"AT7*{status}*{reason or 'NS'}***{_wall(s):%Y%m%d*%H%M%S}*{_x12_zone(s)}",
                     f"MS1*{place}"]  # fmt: skip
        segments += [*body, f"SE*{len(body) + 1}*{number:04d}"]
    segments += [f"GE*{len(parcels)}*{control}", f"IEA*1*{control:09d}"]
    return ("~\n".join(segments) + "~\n").encode("ascii", errors="replace")


def _csv(carrier: str, scans: Sequence[SimScan]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # what spreadsheet exports write
    writer.writerow(["tracking_number", "carrier", "status_code", "description", "event_time",
                     "utc_offset", "city", "state", "postal_code", "country"])  # fmt: skip
    for s in scans:
        writer.writerow([s.tracking_number, carrier, s.code, _describe("csv", s.code),
                         f"{_wall(s):%Y-%m-%d %H:%M:%S}",
                         _offset(s.utc_offset_hours) if s.zone_given else "",
                         s.city, s.region, s.postal_code, s.country])  # fmt: skip
    return out.getvalue().encode()


def _control_id(scans: Sequence[SimScan], digits: int) -> str:
    """A bundle's transaction/control id: derived from its scans, so re-runs are byte-equal."""
    key = "|".join(f"{s.tracking_number}@{s.at.isoformat()}" for s in scans)
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()[:digits]


ENCODERS: dict[str, Callable[[str, Sequence[SimScan]], bytes]] = {
    "generic": _generic, "fedex": _fedex, "ups": _ups, "usps": _usps, "x12_214": _x12,
    "csv": _csv,
}  # fmt: skip


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
    }  # fmt: skip
    options = candidates[payload_format]
    return options[index % len(options)]
