"""EDI X12 214 (Transportation Carrier Shipment Status Message), releases 4010 and later.

LTL and truckload carriers, and the VANs in front of them, still send shipment status as 214s.
connectors/x12.py reads the envelope (one interchange holds groups of transactions), elements,
time codes and N4/MS1 places. Each transaction (ST..SE) is one shipment, each AT7 in its LX
loops one status, with the MS1 that follows the AT7 saying where it happened. Layouts follow the
X12 4010+ segment dictionary (AT7-05 CCYYMMDD, AT7-06 time, AT7-07 time code; B10-01 carrier
reference). N1/N4 name parties (shipper, consignee) or, inside an LX loop, the stop the loop
reports on; they never become a scan's place, but their zones stand in for a missing MS1 (zone
rule). MS2/AT8 describe equipment and weight: counted for SE and otherwise passed over.

Tracking number: B10-01, the carrier-assigned reference ("the carrier's PRO"), which is the number
a consignee tracks with; if a carrier leaves it empty, the first header L11 qualified CN
(carrier's reference) and then BM (bill of lading). Carrier: `ctx.carrier`, else the SCAC in
B10-03.

Parcels inside one shipment: an LX loop may carry its own reference, an L11 (L11-01 value,
L11-02 qualifier) or REF (REF-01 qualifier, REF-02 value) after its AT7s, qualified (element
128, by priority) 2I tracking number, 08 carrier-assigned package id, CN carrier's reference,
PO purchase order, OQ order number, CO customer order, CG consignee's order, DO delivery order
or BM bill of lading. When the loops of one transaction name two or more different references,
each such loop is its own parcel: its reference becomes the tracking number of its statuses,
and loops without one stay under the shipment's number (they report on the whole shipment).
When every loop names the same reference, or only one loop names one, the transaction is one
parcel under the shipment's number: carriers repeat the shipment's PO in every loop.

Code: AT7-01, or "AT7-01-AT7-02" when a reason other than NS (normal status) is given, because
the reason changes the meaning ("AH-AG" is an attempt that failed at the consignee's end). Every
combination the mapping does not list comes out `unknown` and is counted, so add rows for new ones.

Estimates are carrier ETAs (`ParseResult.etas`), never scans (element 1650 for AT7-01, 1652
for AT7-03, X12 004010 dictionary): AT7-01 AG "estimated delivery" and X2 "estimated date
and/or time of arrival at consignee's location" are kind `estimated`; AT7-03 AB "delivery
appointment date and/or time" is `appointment` and AC "estimated delivery appointment" is
`estimated`; AT7-03 ED "deliver no earlier than" and LD "deliver no later than" are the start and
end of one `promised` window per parcel. AT7-01 B6/C1 (estimated arrival at / departure from a
terminal) and the pick-up and booking appointments (AA, EP, LP, XA, X9) are neither scans nor
delivery estimates and are passed over.

Zone rule: an AT7-07 time code other than LT names its zone exactly (connectors/x12.py: UTC,
fixed offsets, or a region with its DST rules). LT (local time), a missing or unrecognised time
code (a problem, not a failure), or a date without a time is read in the zone (`times.zone_at`)
of the first place that decides one: the AT7's own MS1 (city, state or province, country, 5010
postal code), the N4 of its LX loop, then for a scan the last MS1 of an earlier status in the
transaction (where the shipment was last seen), the shipper's N4 (N1 SH or SF) and the
consignee's (CN or ST); for an estimate the consignee's N4 comes before the last MS1. With none
it is UTC. Either way it is flagged `zone_assumed`.

Control numbers and counts (SE, GE, IEA) that disagree are problems, not failures; a payload
without an ISA header is a ParseError (both read in connectors/x12.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, tzinfo

from connectors.base import (
    CarrierEta,
    CarrierScan,
    EtaKind,
    ParseContext,
    ParseError,
    ParseResult,
    scan_event_id,
)
from connectors.times import parse_local
from connectors.x12 import Place, check_trailer, delimiters, element, ms1, n4, time_code_zone

MAPPING = "x12_214"

# Estimates (module docstring): AT7-01 (element 1650) and AT7-03 (element 1652) codes -> kind;
# "start"/"end" are the bounds of the promised window.
_STATUS_ESTIMATES: dict[str, EtaKind] = {"AG": "estimated", "X2": "estimated"}
_APPOINTMENTS: dict[str, EtaKind] = {"AB": "appointment", "AC": "estimated"}
_BOUNDS = {"ED": "start", "LD": "end"}
_NOT_DELIVERY = frozenset({"B6", "C1"})  # terminal estimates: not a scan, not a delivery ETA
# Element 128 qualifiers that name a parcel of the shipment, most specific first.
_LOOP_REFERENCES = ("2I", "08", "CN", "PO", "OQ", "CO", "CG", "DO", "BM")
_ORIGIN, _DESTINATION = ("SH", "SF"), ("CN", "ST")
_DATE = re.compile(r"\d{8}")
_TIME = re.compile(r"\d{4}(?:\d{2}(?:\d{1,2})?)?")
_NOWHERE = Place()  # the place of a status without an MS1: every field empty, as CarrierScan's


@dataclass(slots=True)
class _Status:
    code: str
    description: str
    date: str
    time: str
    time_code: str
    place: Place | None = None  # its MS1
    kind: EtaKind | None = None  # None: a scan
    bound: str = ""  # for a promised window: "start" or "end"


@dataclass(slots=True)
class _Loop:
    statuses: list[_Status] = field(default_factory=list)
    references: dict[str, str] = field(default_factory=dict)  # qualifier -> value
    place: Place | None = None  # an N4 inside the loop

    def reference(self) -> str:
        return next((self.references[q] for q in _LOOP_REFERENCES if q in self.references), "")


@dataclass(slots=True)
class _Transaction:
    control: str
    segments: int = 1  # the ST itself
    reference: str = ""
    scac: str = ""
    carrier_ref: str = ""
    bill_of_lading: str = ""
    skip: bool = False  # not a 214: counted for SE/GE, scans ignored
    party: str = ""  # the qualifier of the last N1
    parties: dict[str, Place] = field(default_factory=dict)  # header N1 qualifier -> its N4
    loops: list[_Loop] = field(default_factory=list)


def _zone(
    status: _Status, places: tuple[Place | None, ...], problems: list[str]
) -> tuple[tzinfo, bool]:
    """(zone, assumed) for one AT7: its time code, else the zone of the first of `places`
    that decides one (the module's zone rule), looked up only when the code decides none."""
    code = status.time_code.upper()
    exact = time_code_zone(code)
    if exact is not None:
        return exact, False
    if code and code != "LT":
        problems.append(f"unknown AT7 time code {code!r}; read as local time")
    return _first_zone(*places), True


def _when(
    tracking: str, status: _Status, places: tuple[Place | None, ...], problems: list[str]
) -> tuple[int, bool] | None:
    """(epoch ms, zone_assumed) of one AT7, None (and a problem) when its date is unreadable."""
    if not _DATE.fullmatch(status.date):
        problems.append(f"{tracking}: AT7 {status.code} has no CCYYMMDD date ({status.date!r})")
        return None
    clock = status.time[:6] if _TIME.fullmatch(status.time) else ""
    if status.time and not clock:
        problems.append(f"{tracking}: AT7 {status.code} time {status.time!r} unreadable; noon")
    zone, assumed = _zone(status, places, problems)
    try:
        clock_format = "%H%M%S" if len(clock) == 6 else "%H%M"
        occurred_at_ms, _ = parse_local(status.date, clock, None, zone, "%Y%m%d", clock_format)
    except (ParseError, OverflowError, ValueError) as exc:
        problems.append(f"{tracking}: AT7 {status.code} date {status.date!r}: {exc}")
        return None
    return occurred_at_ms, assumed or not clock


def _first_zone(*places: Place | None) -> tzinfo:
    for place in places:
        zone = place.zone() if place is not None else None
        if zone is not None:
            return zone
    return UTC


def _numbers(tx: _Transaction, shipment: str) -> list[str]:
    """The tracking number of each LX loop (module docstring, "Parcels inside one shipment")."""
    own = [loop.reference() for loop in tx.loops]
    split = len(set(filter(None, own))) > 1 or not shipment
    return [(mine if split and mine else shipment) for mine in own]


def _finish(tx: _Transaction, ctx: ParseContext, result: ParseResult) -> None:
    carrier = ctx.carrier or tx.scac.lower()
    shipment = tx.reference or tx.carrier_ref or tx.bill_of_lading
    numbers = _numbers(tx, shipment)
    if not carrier or not (shipment or any(numbers)):
        result.problems.append(f"transaction {tx.control}: no tracking number or carrier; skipped")
        return
    origin = next((tx.parties[q] for q in _ORIGIN if q in tx.parties), None)
    destination = next((tx.parties[q] for q in _DESTINATION if q in tx.parties), None)
    last_seen: Place | None = None
    promised: dict[str, dict[str, tuple[int, bool]]] = {}  # number -> bound -> (ms, assumed)
    for loop, tracking in zip(tx.loops, numbers, strict=True):
        for status in loop.statuses:
            if not tracking:
                result.problems.append(f"transaction {tx.control}: AT7 {status.code} names no "
                                       "parcel; skipped")  # fmt: skip
                continue
            if status.kind is None:
                places = (status.place, loop.place, last_seen, origin, destination)
            else:
                places = (status.place, loop.place, destination, last_seen, origin)
            when = _when(tracking, status, places, result.problems)
            if status.place is not None and status.place.zone() is not None:
                last_seen = status.place
            if when is None:
                continue
            at, assumed = when
            if status.bound:
                promised.setdefault(tracking, {})[status.bound] = when
            elif status.kind is not None:
                result.etas.append(CarrierEta(tracking, carrier, at, 0, 0, status.kind, assumed))
            else:
                where = status.place if status.place is not None else _NOWHERE
                result.scans.append(CarrierScan(
                    event_id=scan_event_id(carrier, tracking, status.code, at),
                    carrier=carrier, tracking_number=tracking, code=status.code,
                    description=status.description, occurred_at_ms=at, zone_assumed=assumed,
                    city=where.city, region=where.region, postal_code=where.postal,
                    country=where.country,
                ))  # fmt: skip
    for tracking, bounds in promised.items():
        (start, start_assumed), (end, end_assumed) = (
            bounds.get("start", (0, False)), bounds.get("end", (0, False)))  # fmt: skip
        result.etas.append(CarrierEta.window(tracking, carrier, start, end, "promised",
                                             start_assumed or end_assumed))  # fmt: skip


def _status(elements: list[str]) -> _Status | None:
    """The AT7 as a scan or an estimate; None for one that is neither (module docstring)."""
    status, reason = element(elements, 1).upper(), element(elements, 2).upper()
    appointment = element(elements, 3).upper()
    when = (element(elements, 5), element(elements, 6), element(elements, 7))
    if status:
        if status in _NOT_DELIVERY:
            return None
        code = status if reason in ("", "NS") else f"{status}-{reason}"
        return _Status(code, f"AT7 {status} {reason}".strip(), *when,
                       kind=_STATUS_ESTIMATES.get(status))  # fmt: skip
    if appointment in _APPOINTMENTS or appointment in _BOUNDS:
        bound = _BOUNDS.get(appointment, "")
        kind: EtaKind = "promised" if bound else _APPOINTMENTS[appointment]
        return _Status(appointment, f"AT7 appointment {appointment}", *when, kind=kind,
                       bound=bound)  # fmt: skip
    return None


def parse(payload: bytes, ctx: ParseContext) -> ParseResult:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = payload.decode("latin-1")  # X12's character set is ASCII; latin-1 never fails
    text = text.lstrip("\ufeff \t\r\n")
    separator, _sub, terminator = delimiters(text)
    result = ParseResult()
    problems = result.problems
    tx: _Transaction | None = None
    loop: _Loop | None = None  # the LX loop we are in (None in the heading)
    current: _Status | None = None  # the AT7 whose loop we are in: MS1 belongs to it
    isa_control = gs_control = ""
    groups = transactions = 0
    for raw in text.split(terminator):
        segment = raw.strip(" \t\r\n")
        if not segment:
            continue
        elements = segment.split(separator)
        tag = elements[0].upper()
        if tx is not None:
            tx.segments += 1
        if tag in ("ST", "GE", "IEA") and tx is not None:
            problems.append(f"transaction {tx.control} not closed by SE")
            _finish(tx, ctx, result)
            tx = loop = current = None
        if tag == "ISA":
            isa_control, groups = element(elements, 13), 0
        elif tag == "GS":
            gs_control, transactions, groups = element(elements, 6), 0, groups + 1
        elif tag in ("GE", "IEA"):
            count, control = (transactions, gs_control) if tag == "GE" else (groups, isa_control)
            check_trailer(tag, elements, count, control, problems)
        elif tag == "ST":
            transactions += 1
            tx = _Transaction(element(elements, 2))
            if element(elements, 1) != "214":
                problems.append(f"transaction {tx.control} is a {element(elements, 1)!r}, not 214")
                tx.skip = True
        elif tx is None:
            problems.append(f"segment {tag[:3]!r} outside a transaction; ignored")
        elif tag == "B10":
            tx.reference, tx.scac = element(elements, 1), element(elements, 3)
        elif tag in ("L11", "REF"):
            value, qualifier = (element(elements, i) for i in ((1, 2) if tag == "L11" else (2, 1)))
            _reference(tx, loop, qualifier.upper(), value)
        elif tag == "N1":
            tx.party = element(elements, 1).upper()
        elif tag == "N4":
            place = n4(elements)
            if loop is not None:
                loop.place = loop.place or place
            else:
                tx.parties.setdefault(tx.party, place)
        elif tag == "LX":
            loop, current = _Loop(), None
            tx.loops.append(loop)
        elif tag == "AT7" and not tx.skip:
            if loop is None:  # an AT7 before any LX: read it as its own loop
                loop = _Loop()
                tx.loops.append(loop)
            current = _status(elements)
            if current is not None:
                loop.statuses.append(current)
        elif tag == "MS1" and current is not None and current.place is None:
            current.place = ms1(elements)
        elif tag == "SE":
            check_trailer(
                f"transaction {tx.control}: SE", elements, tx.segments, tx.control, problems
            )
            _finish(tx, ctx, result)
            tx = loop = current = None
    if tx is not None:
        problems.append(f"transaction {tx.control} not closed by SE")
        _finish(tx, ctx, result)
    if not result.scans and not result.etas:
        problems.append("interchange holds no shipment status scans")
    return result


def _reference(tx: _Transaction, loop: _Loop | None, qualifier: str, value: str) -> None:
    if not value:
        return
    if loop is not None:
        loop.references.setdefault(qualifier, value)
    elif qualifier == "CN" and not tx.carrier_ref:
        tx.carrier_ref = value
    elif qualifier == "BM" and not tx.bill_of_lading:
        tx.bill_of_lading = value
