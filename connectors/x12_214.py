"""EDI X12 214 (Transportation Carrier Shipment Status Message), releases 4010 and later.

LTL and truckload carriers, and the VANs in front of them, still send shipment status as 214s.
One interchange (ISA..IEA) holds groups (GS..GE) of transactions (ST..SE); each transaction is
one shipment (parcel), each AT7 in its LX loops one scan, with the MS1 that follows the AT7
saying where it happened. Layouts follow the X12 4010+ segment dictionary (AT7-05 CCYYMMDD,
AT7-06 time, AT7-07 time code; B10-01 carrier reference). N1/N3/N4 name parties (shipper,
consignee), not where a scan happened, and MS2/AT8 describe equipment and weight: all are
counted for SE and otherwise passed over.

Tracking number: B10-01, the carrier-assigned reference ("the carrier's PRO"), which is the number
a consignee tracks with; if a carrier leaves it empty, the first L11 qualified CN (carrier's
reference) and then BM (bill of lading). Carrier: `ctx.carrier`, else the SCAC in B10-03.

Code: AT7-01, or "AT7-01-AT7-02" when a reason other than NS (normal status) is given, because
the reason changes the meaning ("AH-AG" is an attempt that failed at the consignee's end). Every
combination the mapping does not list comes out `unknown` and is counted, so add rows for new ones.

Zone rule: AT7-07 UT/GM is UTC; ES/ED, CS/CD, ... and the numeric 01-24 codes are fixed offsets;
ET/CT/MT/PT/AT/HT/NT name a region and are resolved with its DST rules. All of those are exact.
LT (local time), a missing or unrecognised time code, or a date without a time is read in the
zone of the MS1 place (US state / Canadian province / single-zone country, DST-aware but a state
may straddle zones) or in UTC when there is no usable MS1, and is always flagged `zone_assumed`.

Control numbers and counts (SE, GE, IEA) that disagree are problems, not failures; a payload
without an ISA header is a ParseError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from connectors.base import CarrierScan, ParseContext, ParseError, ParseResult, scan_event_id
from connectors.places import city_name, country_code, postal_code
from connectors.times import parse_local

MAPPING = "x12_214"

_FIXED = {
    "UT": 0, "GM": 0, "ES": -5, "ED": -4, "CS": -6, "CD": -5, "MS": -7, "MD": -6,
    "PS": -8, "PD": -7, "AS": -9, "AD": -8, "HS": -10, "HD": -9, "NS": -3.5, "ND": -2.5,
}  # fmt: skip
_REGIONS = {"ET": "America/New_York", "CT": "America/Chicago", "MT": "America/Denver",
            "PT": "America/Los_Angeles", "AT": "America/Anchorage", "HT": "Pacific/Honolulu",
            "NT": "America/St_Johns"}  # fmt: skip
# Element 623: 01..12 are UTC+1..+12, 13..24 are UTC-12..-1.
_NUMERIC = {f"{n:02d}": n if n <= 12 else n - 25 for n in range(1, 25)}
# LT and missing time codes: the zone of the MS1 state or province (a state that straddles two
# zones gets its most populous one, hence zone_assumed), or of a single-zone country.
_REGION_ZONES = """
America/New_York CT DE DC FL GA IN KY ME MD MA MI NH NJ NY NC OH PA RI SC VT VA WV QC ON
America/Chicago AL AR IL IA KS LA MN MS MO NE ND OK SD TN TX WI
America/Denver CO ID MT NM UT WY
America/Phoenix AZ
America/Los_Angeles CA NV OR WA
America/Anchorage AK
Pacific/Honolulu HI
America/Puerto_Rico PR
America/St_Johns NL
America/Halifax NS NB PE
America/Winnipeg MB
America/Regina SK
America/Edmonton AB NT
America/Vancouver BC
America/Whitehorse YT
America/Iqaluit NU
"""
_STATE_ZONES = {r: z.split()[0] for z in _REGION_ZONES.strip().splitlines() for r in z.split()[1:]}
_PROVINCES = {"NL", "NS", "NB", "PE", "QC", "ON", "MB", "SK", "AB", "BC", "YT", "NT", "NU"}
_COUNTRY_ZONES = {"GB": "Europe/London", "IE": "Europe/Dublin", "DE": "Europe/Berlin",
                  "NL": "Europe/Amsterdam", "BE": "Europe/Brussels", "FR": "Europe/Paris",
                  "IT": "Europe/Rome", "PL": "Europe/Warsaw", "JP": "Asia/Tokyo",
                  "CN": "Asia/Shanghai", "HK": "Asia/Hong_Kong", "SG": "Asia/Singapore",
                  "IN": "Asia/Kolkata", "MX": "America/Mexico_City"}  # fmt: skip
_DATE = re.compile(r"\d{8}")
_TIME = re.compile(r"\d{4}(?:\d{2}(?:\d{1,2})?)?")


@dataclass(slots=True)
class _Status:
    code: str
    description: str
    date: str
    time: str
    time_code: str
    city: str = ""
    region: str = ""
    postal: str = ""
    country: str = ""


@dataclass(slots=True)
class _Transaction:
    control: str
    segments: int = 1  # the ST itself
    reference: str = ""
    scac: str = ""
    carrier_ref: str = ""
    bill_of_lading: str = ""
    skip: bool = False  # not a 214: counted for SE/GE, scans ignored
    statuses: list[_Status] = field(default_factory=list)


def _delimiters(text: str) -> tuple[str, str, str]:
    """(element, sub-element, segment) separators, read from the ISA header.

    ISA is fixed-width (the terminator sits at position 105), but the elements are counted rather
    than trusting the width, so a sender that trims ISA06/ISA08 padding is still understood."""
    if not text.startswith("ISA") or len(text) < 4:
        raise ParseError("not an X12 interchange: no ISA header")
    element = text[3]
    at = 3
    for _ in range(15):
        at = text.find(element, at + 1)
        if at < 0:
            raise ParseError("ISA header is cut short: fewer than 16 elements")
    if at + 2 >= len(text):
        raise ParseError("ISA header is cut short: no segment terminator")
    sub, terminator = text[at + 1], text[at + 2]
    unusable = any(c.isalnum() or c.isspace() for c in (element, sub))
    if unusable or len({element, sub, terminator}) < 3:
        raise ParseError(f"ISA declares unusable separators {element!r} {sub!r} {terminator!r}")
    if terminator.isalnum() or terminator == " ":
        raise ParseError(f"ISA declares unusable segment terminator {terminator!r}")
    return element, sub, terminator


def _zone(status: _Status, problems: list[str]) -> tuple[tzinfo, bool]:
    """(zone, assumed) for one AT7, following the module's zone rule."""
    code = status.time_code.upper()
    if code in _FIXED:
        return timezone(timedelta(hours=_FIXED[code])), False
    if code in _NUMERIC:
        return timezone(timedelta(hours=_NUMERIC[code])), False
    if code in _REGIONS:
        return ZoneInfo(_REGIONS[code]), False
    if code and code != "LT":
        problems.append(f"unknown AT7 time code {code!r}; read as local time")
    name = _COUNTRY_ZONES.get(status.country)
    if status.country in ("", "US", "CA"):
        name = _STATE_ZONES.get(status.region)
    return (ZoneInfo(name) if name else UTC), True


def _scan(carrier: str, tracking: str, status: _Status, problems: list[str]) -> CarrierScan | None:
    if not _DATE.fullmatch(status.date):
        problems.append(f"{tracking}: AT7 {status.code} has no CCYYMMDD date ({status.date!r})")
        return None
    clock = status.time[:6] if _TIME.fullmatch(status.time) else ""
    if status.time and not clock:
        problems.append(f"{tracking}: AT7 {status.code} time {status.time!r} unreadable; noon")
    zone, assumed = _zone(status, problems)
    try:
        clock_format = "%H%M%S" if len(clock) == 6 else "%H%M"
        occurred_at_ms, _ = parse_local(status.date, clock, None, zone, "%Y%m%d", clock_format)
    except (ParseError, OverflowError, ValueError) as exc:
        problems.append(f"{tracking}: AT7 {status.code} date {status.date!r}: {exc}")
        return None
    return CarrierScan(
        event_id=scan_event_id(carrier, tracking, status.code, occurred_at_ms),
        carrier=carrier, tracking_number=tracking, code=status.code,
        description=status.description, occurred_at_ms=occurred_at_ms,
        zone_assumed=assumed or not clock, city=status.city, region=status.region,
        postal_code=status.postal, country=status.country,
    )  # fmt: skip


def _finish(tx: _Transaction, ctx: ParseContext, result: ParseResult) -> None:
    tracking = tx.reference or tx.carrier_ref or tx.bill_of_lading
    carrier = ctx.carrier or tx.scac.lower()
    if not tracking or not carrier:
        result.problems.append(f"transaction {tx.control}: no tracking number or carrier; skipped")
        return
    for status in tx.statuses:
        scan = _scan(carrier, tracking, status, result.problems)
        if scan is not None:
            result.scans.append(scan)


def _element(elements: list[str], index: int) -> str:
    return elements[index].strip() if index < len(elements) else ""


def parse(payload: bytes, ctx: ParseContext) -> ParseResult:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = payload.decode("latin-1")  # X12's character set is ASCII; latin-1 never fails
    text = text.lstrip("\ufeff \t\r\n")
    element, _sub, terminator = _delimiters(text)
    result = ParseResult()
    problems = result.problems
    tx: _Transaction | None = None
    current: _Status | None = None  # the AT7 whose loop we are in: MS1 belongs to it
    isa_control = gs_control = ""
    groups = transactions = 0
    for raw in text.split(terminator):
        segment = raw.strip(" \t\r\n")
        if not segment:
            continue
        elements = segment.split(element)
        tag = elements[0].upper()
        if tx is not None:
            tx.segments += 1
        if tag in ("ST", "GE", "IEA") and tx is not None:
            problems.append(f"transaction {tx.control} not closed by SE")
            _finish(tx, ctx, result)
            tx = current = None
        if tag == "ISA":
            isa_control, groups = _element(elements, 13), 0
        elif tag == "GS":
            gs_control, transactions, groups = _element(elements, 6), 0, groups + 1
        elif tag in ("GE", "IEA"):
            count, control = (transactions, gs_control) if tag == "GE" else (groups, isa_control)
            _check_trailer(tag, elements, count, control, problems)
        elif tag == "ST":
            transactions += 1
            tx = _Transaction(_element(elements, 2))
            if _element(elements, 1) != "214":
                problems.append(f"transaction {tx.control} is a {_element(elements, 1)!r}, not 214")
                tx.skip = True
        elif tx is None:
            problems.append(f"segment {tag[:3]!r} outside a transaction; ignored")
        elif tag == "B10":
            tx.reference, tx.scac = _element(elements, 1), _element(elements, 3)
        elif tag == "L11" and _element(elements, 2) == "CN" and not tx.carrier_ref:
            tx.carrier_ref = _element(elements, 1)
        elif tag == "L11" and _element(elements, 2) == "BM" and not tx.bill_of_lading:
            tx.bill_of_lading = _element(elements, 1)
        elif tag == "LX":
            current = None
        elif tag == "AT7" and not tx.skip:
            status, reason = _element(elements, 1).upper(), _element(elements, 2).upper()
            current = None
            if status:  # an AT7 with only AT7-03/04 is an appointment, not a scan
                code = status if reason in ("", "NS") else f"{status}-{reason}"
                when = [_element(elements, 5), _element(elements, 6), _element(elements, 7)]
                current = _Status(code, f"AT7 {status} {reason}".strip(), *when)
                tx.statuses.append(current)
        elif tag == "MS1" and current is not None and not current.city:
            _locate(current, elements)
        elif tag == "SE":
            _check_trailer(
                f"transaction {tx.control}: SE", elements, tx.segments, tx.control, problems
            )
            _finish(tx, ctx, result)
            tx = current = None
    if tx is not None:
        problems.append(f"transaction {tx.control} not closed by SE")
        _finish(tx, ctx, result)
    if not result.scans:
        problems.append("interchange holds no shipment status scans")
    return result


def _locate(status: _Status, elements: list[str]) -> None:
    """MS1: city, state/province, country (optional: inferred from a US state or CA province)."""
    region = _element(elements, 2).upper()
    country = country_code(_element(elements, 3))
    if not country:
        country = "CA" if region in _PROVINCES else "US" if region in _STATE_ZONES else ""
    status.city, status.region, status.country = city_name(_element(elements, 1)), region, country
    status.postal = postal_code(_element(elements, 8), country)  # MS1-08 exists from 5010 on


def _check_trailer(
    name: str, elements: list[str], count: int, control: str, found: list[str]
) -> None:
    """SE01/GE01/IEA01 count what they close (segments, transactions, groups); SE02/GE02/IEA02
    repeat the ST02/GS06/ISA13 control number. A mismatch is worth telling, not fatal."""
    if _element(elements, 1) != str(count):
        found.append(f"{name} counts {_element(elements, 1)!r}, found {count}")
    if _element(elements, 2).lstrip("0") != control.lstrip("0"):
        found.append(f"{name} control {_element(elements, 2)!r} does not match {control!r}")
