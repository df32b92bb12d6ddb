"""Postal operators' item events as exchanged through the UPU (EMSEVT), read from the JSON of the
UPU IPS API "EDI data service", so every national post on the UPU network is one connector.

Posts exchange item tracking events with each other as UPU EMSEVT messages (EMSEVT V3); the
UPU's IPS system imports them and its API returns them per mail item. We parse that response,
documented in the UPU IPS API reference (api.post, tag "EDI-data-service": "Retrieves the EDI
mail item details imported into IPS via EMSEVT"):

    {"EdiMailitems": [{"MailitemFid": "CP012374226FR",      # the S10 item id
                       "OriginCountryCd": "FR", "DestinationCountryCd": "CN",
                       "EdiMailitemEvents": [{"EventTypeCd": "EMC",
                                              "LocationId": "FRCDGA",
                                              "EventLocalDate": "2021-03-04T16:05:00",
                                              "CaptureGmtDate": "...",
                                              "RetentionReasonCd": "", "NonDeliveryReasonCd": "",
                                              "NonDeliveryMeasureCd": "", "SignatoryNm": ""}]}]}

Tracking number: `MailitemFid`. Carrier: `ctx.carrier` (the post or hub that sent us the file).
Code: `EventTypeCd`, the EMSEVT event code (EMA..EMK item events, EDA..EDH and EDX destination
events, EXA..EXD and EXX export events; list and sources in mappings/upu_edi.csv). The API's own
example shows a numeric IPS event type ("3"); numeric types are not in any public list we found,
so they pass through unchanged and come out `unknown` (counted), never guessed. Retention and
non-delivery reason/measure codes (EME, EMH) go to the description, unmapped, for the same reason.

Code list sources (mappings/upu_edi.csv; the UPU's own EMSEVT code list is distributed to UPU
members only): the PRIME operations FAQ (prime-posts.com/myprime/knowledge-base) for which post
sends EMA..EMK, EDB/EDC and EME with retention codes, and the event names posts running IPS show
on their public tracking pages ("Posting/Collection", "Arrival at outward office of exchange",
... "Final delivery"). Descriptions there are those public names, not quotes from the standard.

Place: `LocationId` is the office's UPU code; a six-character international mail processing
centre code (UPU S34, "NLAMSA") starts with the ISO country. Without one, the country follows
from who sends the event in the UPU process (PRIME operations FAQ, prime-posts.com: the sending
post scans EMA/EMB/EMC and the export events, the receiving post EMD..EMI and the ED* events):
origin or destination country. Transit events (EMJ, EMK) without a LocationId have no place.

Zone rule: `EventLocalDate` is the office's local time. An ISO offset in it is exact. Without
one it is read in the zone of the event's country (`times.zone_at`, README rule 3): a country
with one zone (or one for nearly all of it) gives that zone, a multi-zone country such as the US
gives none and the time is read in UTC; either way it is flagged `zone_assumed`. The event names
no region or city, so nothing finer decides. A date alone is noon, flagged. `CaptureGmtDate` is
when IPS recorded the event, not when it happened, so it is never used as the scan time.
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
from connectors.places import country_code
from connectors.times import parse_iso, zone_at

MAPPING = "upu_edi"

# Who scans what (PRIME operations FAQ): the origin post the export side, the destination post
# the import and delivery side. Used only to place an event that carries no office code.
_ORIGIN_EVENTS = frozenset({"EMA", "EMB", "EMC", "EXA", "EXB", "EXC", "EXD", "EXX"})
_DESTINATION_EVENTS = frozenset(
    {"EMD", "EME", "EMF", "EMG", "EMH", "EMI", "EDA", "EDB", "EDC", "EDD", "EDE", "EDF", "EDG",
     "EDH", "EDX"}
)  # fmt: skip
_REASONS = ("RetentionReasonCd", "NonDeliveryReasonCd", "NonDeliveryMeasureCd", "ConditionCd")


def parse(payload: bytes, ctx: ParseContext) -> ParseResult:
    document = load_json_object(payload)
    items = document.get("EdiMailitems")
    if not isinstance(items, list):
        raise ParseError('not a UPU IPS EDI data response: no "EdiMailitems" list')
    result = ParseResult()
    for index, item in enumerate(items):
        if isinstance(item, dict):
            _item(item, index, ctx, result)
        else:
            result.problems.append(f"EdiMailitems[{index}] is not an object")
    if not items:
        result.problems.append("response holds no mail items")
    return result


def _item(item: dict[str, Any], index: int, ctx: ParseContext, result: ParseResult) -> None:
    tracking_number = text_field(item, "MailitemFid").upper()
    if not tracking_number:
        result.problems.append(f"EdiMailitems[{index}] has no MailitemFid")
        return
    events = item.get("EdiMailitemEvents")
    if not isinstance(events, list) or not events:
        result.problems.append(f"{tracking_number}: no events")
        return
    sides = {
        "origin": country_code(text_field(item, "OriginCountryCd")),
        "destination": country_code(text_field(item, "DestinationCountryCd")),
    }
    for position, event in enumerate(events):
        label = f"{tracking_number} events[{position}]"
        if not isinstance(event, dict):
            result.problems.append(f"{label} is not an object")
            continue
        scan = _scan(tracking_number, event, sides, label, ctx, result)
        if scan is not None:
            result.scans.append(scan)


def _country(code: str, office: str, sides: dict[str, str]) -> str:
    """The event's country: from an S34 office code, else from which post scans this event."""
    if len(office) == 6 and office[:2].isalpha() and office.isascii():
        return office[:2].upper()
    if code in _ORIGIN_EVENTS:
        return sides["origin"]
    return sides["destination"] if code in _DESTINATION_EVENTS else ""


def _scan(
    tracking_number: str,
    event: dict[str, Any],
    sides: dict[str, str],
    label: str,
    ctx: ParseContext,
    result: ParseResult,
) -> CarrierScan | None:
    code = text_field(event, "EventTypeCd").upper()
    if not code:
        result.problems.append(f"{label} has no EventTypeCd")
        return None
    office = text_field(event, "LocationId").upper()
    country = _country(code, office, sides)
    moment = text_field(event, "EventLocalDate")
    if not moment:
        result.problems.append(f"{label} ({code}) has no EventLocalDate; skipped")
        return None
    try:
        occurred_at_ms, zone_assumed = parse_iso(moment, zone_at(country))
    except (ParseError, ValueError, OverflowError) as exc:
        result.problems.append(f"{label} ({code}) skipped: {exc}")
        return None
    reasons = [f"{name} {text_field(event, name)}" for name in _REASONS if text_field(event, name)]
    return CarrierScan(
        event_id=scan_event_id(ctx.carrier, tracking_number, code, occurred_at_ms),
        carrier=ctx.carrier,
        tracking_number=tracking_number,
        code=code,
        description="; ".join(reasons),
        occurred_at_ms=occurred_at_ms,
        zone_assumed=zone_assumed,
        country=country,
    )
