"""Canada Post Tracking "Get Tracking Details" (REST `GET /vis/track/pin/{pin}/detail`, Accept
`application/vnd.cpc.track-v2+xml`; the SOAP twin wraps the same `tracking-detail`).

    <tracking-detail xmlns="http://www.canadapost.ca/ws/track-v2">
      <pin>7023210039414604</pin> ...
      <significant-events>
        <occurrence>
          <event-identifier>1496</event-identifier> <event-date>2026-11-20</event-date>
          <event-time>13:49:26</event-time> <event-time-zone>EST</event-time-zone>
          <event-description>Item successfully delivered</event-description>
          <event-site>OTTAWA</event-site> <event-province>ON</event-province>
        </occurrence> ...

Sources: canadapost.ca Developer Program, Tracking > Get Tracking Details (REST and SOAP) and
Messages and Code Tables > Tracking scan events. A refused lookup answers
`<messages xmlns=".../ws/messages"><message><code>004</code><description>No Pin History...`:
a problem, not an error. Several `tracking-detail` elements in one document (a SOAP envelope,
or our poller's batch) are all read; namespaces are ignored so any track-vN version parses.

Code: `event-identifier`, zero-padded to four digits ("174" and "0174" are one code).

Zone rule: `event-time-zone` is a zone abbreviation (EST, EDT, ..., NST; French answers use
HNE, HAE, ...), resolved exactly with the table below. It is blank, or a word such as "ISRAEL",
for scans abroad: then the time is read in the zone of the scan's place (`times.zone_at`: the
province and city of a Canadian site, the country of one abroad), else UTC, and flagged
`zone_assumed`. A date without a time is noon, flagged (times.parse_local). Times come as
HH:MM:SS; HH:MM (no seconds) is read too.

Carrier ETA (`ParseResult.etas`): `expected-delivery-date` is "the expected delivery date"
from the service standard and `changed-expected-date` the revised one when Canada Post has
changed it (with `changed-expected-delivery-reason`); the revised date, else the original, is
one ETA of kind `scheduled`. Both are dates alone: noon in the zone of `destination-postal-id`
(an FSA decides the province, `zones.zone_for`), else UTC, flagged.

Places: `event-site` is the city of a Canadian scan; abroad it is an exchange-office or postal
code plus the country ("ILTLVA,Israel"), so only the country is kept. Country is CA unless the
site names another one.

Reading: blanks before the XML declaration are skipped (some proxies add a newline), and the
encoding the declaration names is honoured (UTF-8 when it names none; ISO-8859-1, Windows-1252
and US-ASCII are read too, as French text arrives in them); any other is a ParseError.

XML safety: a DOCTYPE or ENTITY declaration is refused before ElementTree sees the document,
which rules out entity-expansion ("billion laughs") and external-entity attacks.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import tzinfo

from connectors.base import (
    CarrierEta,
    CarrierScan,
    ParseContext,
    ParseError,
    ParseResult,
    scan_event_id,
)
from connectors.places import city_name, country_code
from connectors.times import parse_local, parse_offset, zone_at

MAPPING = "canadapost"
CARRIER = "canadapost"

ZONE_OFFSETS: dict[str, str] = {
    "NST": "-03:30", "NDT": "-02:30", "AST": "-04:00", "ADT": "-03:00",
    "EST": "-05:00", "EDT": "-04:00", "CST": "-06:00", "CDT": "-05:00",
    "MST": "-07:00", "MDT": "-06:00", "PST": "-08:00", "PDT": "-07:00",
    "AKST": "-09:00", "AKDT": "-08:00", "HST": "-10:00", "UTC": "+00:00", "GMT": "+00:00",
    # fr-CA answers: heure normale / avancée de Terre-Neuve, l'Atlantique, l'Est, du Centre,
    # des Rocheuses, du Pacifique
    "HNT": "-03:30", "HAT": "-02:30", "HNA": "-04:00", "HAA": "-03:00",
    "HNE": "-05:00", "HAE": "-04:00", "HNC": "-06:00", "HAC": "-05:00",
    "HNR": "-07:00", "HAR": "-06:00", "HNP": "-08:00", "HAP": "-07:00",
}  # fmt: skip
_DECLARATION = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]{1,40})[\"']")
_CODECS = {"utf-8": "utf-8-sig", "utf8": "utf-8-sig", "iso-8859-1": "latin-1",
           "latin-1": "latin-1", "latin1": "latin-1", "iso8859-1": "latin-1",
           "windows-1252": "cp1252", "cp1252": "cp1252", "us-ascii": "ascii",
           "ascii": "ascii"}  # fmt: skip


# tag ("{namespace}name") -> name. A document has a few dozen distinct tags and every element
# asks; bounded, as the tags come from the payload.
_LOCAL_NAMES: dict[str, str] = {}


def _local(element: ET.Element) -> str:
    tag = element.tag
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
        if len(_LOCAL_NAMES) < 4096:
            _LOCAL_NAMES[tag] = name
    return name


def _texts(element: ET.Element) -> dict[str, str]:
    """name -> stripped text of the element's first child of that name: one pass over the
    children instead of one per field read."""
    texts: dict[str, str] = {}
    for child in element:
        texts.setdefault(_local(child), (child.text or "").strip())
    return texts


def _decode(payload: bytes) -> str:
    """The document as text, in the encoding its declaration names (module docstring)."""
    body = payload.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    declared = _DECLARATION.match(body)
    name = declared.group(1).decode("ascii").lower() if declared else "utf-8"
    codec = _CODECS.get(name)
    if codec is None:
        raise ParseError(f"XML in an encoding this parser does not read: {name!r}")
    try:
        return body.decode(codec)
    except UnicodeDecodeError as exc:
        raise ParseError(f"not {name.upper()} XML: {exc}") from None


def _read(payload: bytes) -> ET.Element:
    text = _decode(payload)
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise ParseError("XML with a DOCTYPE or ENTITY declaration is refused")
    try:
        return ET.fromstring(text)
    except (ET.ParseError, ValueError) as exc:
        raise ParseError(f"not well-formed XML: {exc}") from None


def parse(payload: bytes, ctx: ParseContext) -> ParseResult:
    root = _read(payload)
    result = ParseResult()
    details = [element for element in root.iter() if _local(element) == "tracking-detail"]
    if not details:
        messages = [element for element in root.iter() if _local(element) == "message"]
        for message in messages:
            texts = _texts(message)
            code, text = texts.get("code", ""), texts.get("description", "")
            result.problems.append(f"Canada Post {code}: {text}".strip())
        if messages:
            return result
        raise ParseError(f"not a Canada Post tracking-detail document: root <{_local(root)}>")
    for index, detail in enumerate(details):
        _detail(detail, index, result)
    return result


def _detail(detail: ET.Element, index: int, result: ParseResult) -> None:
    texts = _texts(detail)
    pin = texts.get("pin") or texts.get("dnc", "")
    if not pin:
        result.problems.append(f"tracking-detail[{index}] has no pin")
        return
    occurrences = [
        element
        for events in detail
        if _local(events) == "significant-events"
        for element in events
        if _local(element) == "occurrence"
    ]
    _eta(pin, texts, result)
    if not occurrences:
        result.problems.append(f"{pin}: no significant events")
    for position, occurrence in enumerate(occurrences):
        scan = _scan(pin, occurrence, f"{pin} occurrence[{position}]", result)
        if scan is not None:
            result.scans.append(scan)


def _place(site: str) -> tuple[str, str]:
    """(city, country) from event-site; a ",Country" suffix marks a scan abroad."""
    head, comma, tail = site.rpartition(",")
    if comma:
        named = country_code(tail)
        if len(named) == 2 and named.isalpha():
            return ("" if named != "CA" else city_name(head)), named
    return city_name(site), "CA"


def _eta(pin: str, detail: dict[str, str], result: ParseResult) -> None:
    day = detail.get("changed-expected-date") or detail.get("expected-delivery-date")
    if not day:
        return
    zone = zone_at("CA", "", detail.get("destination-postal-id", ""))
    try:
        at, _ = parse_local(day, None, assume=zone)
    except (ParseError, ValueError, OverflowError) as exc:
        result.problems.append(f"{pin}: expected delivery date skipped: {exc}")
        return
    result.etas.append(CarrierEta(pin, CARRIER, at, kind="scheduled", zone_assumed=True))


def _zone(name: str, country: str, province: str, city: str) -> tuple[tzinfo | None, tzinfo]:
    """(exact zone or None, zone to assume when there is none)."""
    offset = ZONE_OFFSETS.get(name.upper())
    exact = parse_offset(offset) if offset else None
    return exact, zone_at(country, province, "", city)


def _clock_format(clock: str) -> str:
    return "%H:%M" if len(clock) == 5 else "%H:%M:%S"


def _scan(pin: str, occurrence: ET.Element, label: str, result: ParseResult) -> CarrierScan | None:
    fields = _texts(occurrence)
    code = fields.get("event-identifier", "")
    code = code.zfill(4) if code.isdigit() else code
    if not code:
        result.problems.append(f"{label} has no event-identifier")
        return None
    site = fields.get("event-site", "")
    province = fields.get("event-province", "")
    city, country = _place(site)
    if not (site or province):
        result.problems.append(f"{label} ({code}) has no location")
    date, clock = fields.get("event-date", ""), fields.get("event-time", "")
    region = province.upper() if country == "CA" else ""
    exact, assume = _zone(fields.get("event-time-zone", ""), country, region, city)
    clock_format = _clock_format(clock)
    try:
        if exact is not None and clock:
            occurred_at_ms, _ = parse_local(date, clock, assume=exact, time_format=clock_format)
            zone_assumed = False
        else:
            occurred_at_ms, zone_assumed = parse_local(
                date, clock, assume=assume, time_format=clock_format
            )
    except (ParseError, ValueError, OverflowError) as exc:
        result.problems.append(f"{label} ({code}) skipped: {exc}")
        return None
    return CarrierScan(
        event_id=scan_event_id(CARRIER, pin, code, occurred_at_ms),
        carrier=CARRIER,
        tracking_number=pin,
        code=code,
        description=fields.get("event-description", ""),
        occurred_at_ms=occurred_at_ms,
        zone_assumed=zone_assumed,
        city=city,
        region=region,
        country=country,
    )
