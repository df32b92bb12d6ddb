"""Simulated scans -> the tracking answers of the postal operators: DHL (Shipment Tracking -
Unified API), PostNL (Shipping Status API v2), Canada Post (Get Tracking Details, XML) and any
national post on the UPU network (EMSEVT events from the UPU IPS "EDI data service").

Each encoder writes what its parser (connectors/dhl.py, postnl.py, canadapost.py, upu_edi.py)
reads back exactly. These carriers often leave the zone out and mean the clock time where the
scan was (or, for PostNL, in the Netherlands), so an encoder without a zone writes the clock time
in the zone the parser assumes, and states the zone only where that clock time is ambiguous
(`civil_time`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from connectors.canadapost import ZONE_OFFSETS
from connectors.times import zone_at
from tools.sim_scan import (
    SimScan,
    by_parcel,
    carrier_code,
    civil_time,
    compact_json,
    describe,
    estimate_after,
    off_midnight,
    wall_time,
)

__all__ = ["canadapost", "dhl", "postnl", "upu_edi"]

# Where the UPU EDI parser reads a timestamp without an offset: the event country's one civil
# zone, else UTC. These are the single-zone countries the simulator ships to; US and CA have
# several. (DHL reads it in the zone of the event's whole place: `_dhl_zone`.)
_SINGLE_ZONES = {"DE": ZoneInfo("Europe/Berlin"), "NL": ZoneInfo("Europe/Amsterdam"),
                 "FR": ZoneInfo("Europe/Paris"), "GB": ZoneInfo("Europe/London")}  # fmt: skip


def _local_timestamp(scan: SimScan, zone: tzinfo | None = None) -> str:
    """ISO time with the offset, or (the carrier leaving the zone out) the clock time at the
    event's place in the zone the parser assumes there (`zone`, else the country's single zone),
    the offset only in the repeated hour."""
    if scan.zone_given:  # DHL Express answers carry the offset, as some posts' EMSEVT times do
        return wall_time(scan).isoformat()
    # DHL Parcel DE and eCommerce answers, and most EMSEVT times: the clock time, no offset
    assumed = zone if zone is not None else _SINGLE_ZONES.get(scan.country, UTC)
    local, alone = civil_time(scan, assumed)
    return local.replace(tzinfo=None).isoformat() if alone else local.isoformat()


def _dhl_zone(scan: SimScan) -> tzinfo:
    """The zone connectors/dhl.py reads a zoneless event in: that of the address written below
    (locality, postal code, country; no region), `times.zone_at`."""
    return zone_at(scan.country, "", scan.postal_code, scan.city)


def dhl(carrier: str, scans: Sequence[SimScan]) -> bytes:
    def event(s: SimScan) -> dict[str, Any]:
        text = describe("generic", s.code)  # DHL's free text says what statusCode cannot
        address = {"addressLocality": s.city, "postalCode": s.postal_code,
                   "countryCode": s.country}  # fmt: skip
        return {"timestamp": _local_timestamp(s, _dhl_zone(s)),
                "statusCode": carrier_code("dhl", s),
                "status": text, "description": text,
                "location": {"address": {k: v for k, v in address.items() if v}}}  # fmt: skip

    shipments = []
    for number, group in by_parcel(scans, newest_first=True):
        events = [event(s) for s in group]
        # the shipment-level status repeats the newest event; the parser must not count it twice
        service = "express" if group[0].zone_given else "parcel-de"
        shipment = {"id": number, "service": service, "status": events[0], "events": events}
        shipments.append({**shipment, **_dhl_estimate(group[0])})
    return compact_json({"shipments": shipments})


_DHL_FRAME = timedelta(hours=4)


def _dhl_estimate(newest: SimScan) -> dict[str, Any]:
    """estimatedTimeOfDelivery and the estimatedDeliveryTimeFrame ending at it, with the newest
    scan's offset (UTC's when it has none): exact whatever zone the parser would assume."""
    estimate = estimate_after("dhl", newest)
    if estimate is None:
        return {}
    zone = timezone(timedelta(hours=newest.utc_offset_hours if newest.zone_given else 0))
    end = off_midnight(estimate.astimezone(zone))
    return {"estimatedTimeOfDelivery": end.isoformat(),
            "estimatedDeliveryTimeFrame": {"estimatedFrom": (end - _DHL_FRAME).isoformat(),
                                           "estimatedThrough": end.isoformat()}}  # fmt: skip


_AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def _postnl_timestamp(scan: SimScan) -> str:
    """Dutch clock time without a zone, wherever the scan was; in the repeated autumn hour the
    ISO form (which the updated-shipments call writes, and the parser reads) with its offset."""
    return _dutch_time(scan.at)


def _dutch_time(moment: datetime) -> str:
    local = moment.replace(microsecond=0).astimezone(_AMSTERDAM)
    return f"{local:%d-%m-%Y %H:%M:%S}" if local.fold == 0 else local.isoformat()


_POSTNL_WINDOW = timedelta(hours=2)


def _postnl_expectation(newest: SimScan) -> dict[str, Any]:
    """Expectation: PostNL's delivery window, in Dutch clock time like its events (no address
    is sent, so the parser reads it in Amsterdam's zone)."""
    estimate = estimate_after("postnl", newest)
    if estimate is None:
        return {}
    return {"Expectation": {"ETAFrom": _dutch_time(estimate - _POSTNL_WINDOW),
                            "ETATo": _dutch_time(estimate)}}  # fmt: skip


def _depot(scan: SimScan) -> str:
    """PostNL's LocationCode: a six-digit depot number (PostNL names no place); one per place."""
    digest = hashlib.blake2b(f"{scan.city}|{scan.country}".encode(), digest_size=4).digest()
    return f"{100_000 + int.from_bytes(digest, 'big') % 900_000}"


def _postnl_status(code: str) -> str:
    """The status an event code belongs to, as postnl.csv documents it: "event (status 5): ..."."""
    _, found, rest = describe("postnl", code).partition("(status ")
    return rest.partition(")")[0] if found else "99"


def postnl(carrier: str, scans: Sequence[SimScan]) -> bytes:
    def event(s: SimScan) -> dict[str, str]:
        code = carrier_code("postnl", s)
        text = describe("postnl", code)
        return {"Code": code, "Description": text.partition("): ")[2] or text,
                "LocationCode": _depot(s), "TimeStamp": _postnl_timestamp(s)}  # fmt: skip

    shipments = []
    for number, group in by_parcel(scans, newest_first=False):  # PostNL lists oldest first
        status = _postnl_status(carrier_code("postnl", group[-1]))
        text = describe("postnl", status).removeprefix("status: ").partition(" / ")[0]
        # As in every real answer, Status sums up the newest event, at its time: the parser
        # reads a status only when it is newer than every event, so this one adds no scan.
        shipments.append({"MainBarcode": number, "Barcode": number,
                          "Event": [event(s) for s in group],
                          "Status": {"TimeStamp": _postnl_timestamp(group[-1]),
                                     "StatusCode": status, "StatusDescription": text},
                          **_postnl_expectation(group[-1])})  # fmt: skip
    # one shipment is sent as an object, several as a list
    return compact_json({"CompleteStatus": {"Shipment": shipments[0] if len(shipments) == 1
                                            else shipments}})  # fmt: skip


# Zone names Canada Post writes for the simulator's offsets (North America and GMT, standard
# time). Abroad it writes a blank or a word ("ISRAEL"), and the parser reads the clock time in
# the zone of the scan's place.
_CANADAPOST_ZONES = {-8: "PST", -7: "MST", -6: "CST", -5: "EST", 0: "GMT"}
_COUNTRY_NAMES = {"US": "United States", "DE": "Germany", "NL": "Netherlands",
                  "GB": "United Kingdom", "FR": "France"}  # fmt: skip


def _canadapost_time(scan: SimScan) -> tuple[datetime, str]:
    """(clock time, event-time-zone), read back exactly by connectors/canadapost.py."""
    name = _CANADAPOST_ZONES.get(scan.utc_offset_hours) if scan.zone_given else None
    if name:
        return wall_time(scan), name
    # Without a zone name the parser reads the clock time where the scan was: a Canadian site's
    # province and city, only the country abroad (_canadapost_site), UTC when that says nothing.
    abroad = bool(scan.country) and scan.country != "CA"
    place = (
        zone_at(scan.country, "", "", "") if abroad else zone_at("CA", scan.region, "", scan.city)
    )
    local, alone = civil_time(scan, place)
    if alone:
        return local, ""
    named = local.tzname() or ""  # EST/EDT tell the two passes apart; elsewhere say GMT
    if named in ZONE_OFFSETS:
        return local, named
    return scan.at.replace(microsecond=0).astimezone(UTC), "GMT"


def _canadapost_site(scan: SimScan) -> tuple[str, str]:
    """(event-site, event-province): a Canadian city, or abroad a code and the country name."""
    if scan.country and scan.country != "CA":
        code = (scan.postal_code or scan.city).upper()
        return f"{code},{_COUNTRY_NAMES.get(scan.country, scan.country)}", ""
    return scan.city.upper(), scan.region  # hubs have no country: read as Canadian sites


def _occurrence(scan: SimScan, prefix: str) -> str:
    code = carrier_code("canadapost", scan)
    clock, zone = _canadapost_time(scan)
    site, province = _canadapost_site(scan)
    fields = (("event-identifier", code), ("event-date", f"{clock:%Y-%m-%d}"),
              ("event-time", f"{clock:%H:%M:%S}"), ("event-time-zone", zone),
              ("event-description", describe("canadapost", code)), ("event-site", site),
              ("event-province", province))  # fmt: skip
    inner = "".join(f"<{prefix}{name}>{escape(value)}</{prefix}{name}>" if value
                    else f"<{prefix}{name}/>" for name, value in fields)  # fmt: skip
    return f"<{prefix}occurrence>{inner}</{prefix}occurrence>"


def _detail(number: str, group: Sequence[SimScan], prefix: str, attributes: str = "") -> str:
    events = "\n".join(_occurrence(s, prefix) for s in group)
    # The service standard's expected day; no destination-postal-id is sent, so the parser
    # takes the date as noon UTC (connectors/canadapost.py), and it is the UTC day written.
    estimate = estimate_after("canadapost", group[0])  # the newest scan in this response
    tag = f"{prefix}expected-delivery-date"
    expected = "" if estimate is None else f"<{tag}>{estimate:%Y-%m-%d}</{tag}>"
    return (f"<{prefix}tracking-detail{attributes}><{prefix}pin>{escape(number)}</{prefix}pin>"
            f"{expected}<{prefix}significant-events>\n{events}\n</{prefix}significant-events>"
            f"</{prefix}tracking-detail>")  # fmt: skip


_SOAP = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    '<tns:get-tracking-detail-response xmlns:tns="http://www.canadapost.ca/ws/soap/track">\n{}\n'
    "</tns:get-tracking-detail-response></soapenv:Body></soapenv:Envelope>"
)


def canadapost(carrier: str, scans: Sequence[SimScan]) -> bytes:
    """One PIN: the REST answer. Several: the SOAP response, one tracking-detail per PIN."""
    parcels = by_parcel(scans, newest_first=True)
    if len(parcels) == 1:
        ((number, group),) = parcels
        body = _detail(number, group, "", ' xmlns="http://www.canadapost.ca/ws/track-v2"')
    else:
        body = _SOAP.format("\n".join(_detail(n, g, "tns:") for n, g in parcels))
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'.encode()


# EMSEVT events scanned by the origin post / by the destination post (PRIME operations FAQ, as
# connectors/upu_edi.py reads it): their places name the item's origin and destination country.
_UPU_ORIGIN = frozenset({"EMA"})
_UPU_DESTINATION = frozenset({"EMD", "EDA", "EME", "EDC", "EDG", "EMH", "EDH", "EMI", "EDX"})
# IPS records an event when the post's EMSEVT file is imported, some minutes after the scan.
_CAPTURE_DELAY = timedelta(minutes=7)


def _office(scan: SimScan) -> str:
    """LocationId in the UPU S34 form ("NLAMSA": ISO country, three letters of the place, a
    qualifier); none for a hub the simulator puts in no country (transit events carry none)."""
    if not scan.country:
        return ""
    letters = "".join(c for c in scan.city.upper() if "A" <= c <= "Z")
    return f"{scan.country}{letters[:3]:X<3}A"


def _upu_side(group: Sequence[SimScan], codes: frozenset[str]) -> str:
    found = (s.country for s in group if s.country and carrier_code("upu_edi", s) in codes)
    return next(found, "")


def upu_edi(carrier: str, scans: Sequence[SimScan]) -> bytes:
    def event(s: SimScan) -> dict[str, str]:
        captured = (s.at + _CAPTURE_DELAY).astimezone(UTC)
        found = {"EventTypeCd": carrier_code("upu_edi", s), "LocationId": _office(s),
                 "EventLocalDate": _local_timestamp(s),
                 "CaptureGmtDate": f"{captured:%Y-%m-%dT%H:%M:%S}"}  # fmt: skip
        return {key: value for key, value in found.items() if value}

    items = []
    for number, group in by_parcel(scans, newest_first=False):  # IPS lists events oldest first
        # Only what this bundle shows; the parser needs them only for an event without an
        # office code, and every placed event here has one, so no scan depends on its bundle.
        sides = {"OriginCountryCd": _upu_side(group, _UPU_ORIGIN),
                 "DestinationCountryCd": _upu_side(group, _UPU_DESTINATION)}  # fmt: skip
        items.append({"MailitemFid": number, **{k: v for k, v in sides.items() if v},
                      "EdiMailitemEvents": [event(s) for s in group]})  # fmt: skip
    return compact_json({"EdiMailitems": items})
