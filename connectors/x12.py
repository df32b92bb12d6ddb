"""EDI X12 reading shared by the X12 transaction sets: the envelope, elements, time codes and
places. connectors/x12_214.py reads the 214 (shipment status) on top of it.

One interchange (ISA..IEA) holds groups (GS..GE) of transactions (ST..SE). The separators are
read from the ISA header (`delimiters`); a payload without an ISA header is a ParseError.
Control numbers and counts (SE, GE, IEA) that disagree are problems, not failures
(`check_trailer`). Layouts follow the X12 4010+ segment dictionary.

Time codes (element 623, e.g. AT7-07): UT/GM is UTC; ES/ED, CS/CD, ... and the numeric 01-24
codes are fixed offsets; ET/CT/MT/PT/AT/HT/NT name a region and are resolved with its DST rules.
All of those are exact (`time_code_zone`). LT (local time) and any other code decide no zone:
the transaction set's zone rule reads those times in the zone of a place.

Places: N4 is city, state or province, postal code, country; MS1 is city, state or province,
country and, from 5010 on, MS1-08 postal code. A missing country is inferred from a US state or
a Canadian province.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from connectors.base import ParseError
from connectors.places import city_name, country_code, postal_code
from connectors.zones import zone_for

__all__ = ["Place", "check_trailer", "delimiters", "element", "ms1", "n4", "time_code_zone"]

_FIXED = {
    "UT": 0, "GM": 0, "ES": -5, "ED": -4, "CS": -6, "CD": -5, "MS": -7, "MD": -6,
    "PS": -8, "PD": -7, "AS": -9, "AD": -8, "HS": -10, "HD": -9, "NS": -3.5, "ND": -2.5,
}  # fmt: skip
_REGIONS = {"ET": "America/New_York", "CT": "America/Chicago", "MT": "America/Denver",
            "PT": "America/Los_Angeles", "AT": "America/Anchorage", "HT": "Pacific/Honolulu",
            "NT": "America/St_Johns"}  # fmt: skip
# Element 623: 01..12 are UTC+1..+12, 13..24 are UTC-12..-1.
_NUMERIC = {f"{n:02d}": n if n <= 12 else n - 25 for n in range(1, 25)}


@dataclass(frozen=True, slots=True)  # frozen: `ms1`/`n4` hand out one cached Place per place
class Place:
    city: str = ""
    region: str = ""
    postal: str = ""
    country: str = ""

    def zone(self) -> tzinfo | None:
        return zone_for(self.country, self.region, self.postal, self.city)


def delimiters(text: str) -> tuple[str, str, str]:
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


def element(elements: list[str], index: int) -> str:
    return elements[index].strip() if index < len(elements) else ""


def check_trailer(
    name: str, elements: list[str], count: int, control: str, found: list[str]
) -> None:
    """SE01/GE01/IEA01 count what they close (segments, transactions, groups); SE02/GE02/IEA02
    repeat the ST02/GS06/ISA13 control number. A mismatch is worth telling, not fatal."""
    if element(elements, 1) != str(count):
        found.append(f"{name} counts {element(elements, 1)!r}, found {count}")
    if element(elements, 2).lstrip("0") != control.lstrip("0"):
        found.append(f"{name} control {element(elements, 2)!r} does not match {control!r}")


@lru_cache(maxsize=256)  # one call per AT7, with a few dozen codes in all
def time_code_zone(code: str) -> tzinfo | None:
    """The zone an (upper-case) element 623 time code names exactly; None for LT and others."""
    if code in _FIXED:
        return timezone(timedelta(hours=_FIXED[code]))
    if code in _NUMERIC:
        return timezone(timedelta(hours=_NUMERIC[code]))
    if code in _REGIONS:
        return ZoneInfo(_REGIONS[code])
    return None


def _country(named: str, region: str) -> str:
    """The country as written, else the one whose state or province the region is."""
    country = country_code(named)
    if country or not region:
        return country
    return "CA" if zone_for("CA", region) else "US" if zone_for("US", region) else ""


def ms1(elements: list[str]) -> Place:
    """MS1: city, state/province, country (optional: inferred from a US state or CA province);
    MS1-08 postal code from 5010 on."""
    return _place(element(elements, 1), element(elements, 2), element(elements, 8),
                  element(elements, 3))  # fmt: skip


def n4(elements: list[str]) -> Place:
    """N4: city, state/province, postal code, country."""
    return _place(element(elements, 1), element(elements, 2), element(elements, 3),
                  element(elements, 4))  # fmt: skip


# Cached: a pure function of the elements' text, and a carrier's statuses name the same few
# terminals over and over; bounded, as the text comes from the payload.
@lru_cache(maxsize=4096)
def _place(city: str, region: str, postal: str, country: str) -> Place:
    region = region.upper()
    country = _country(country, region)
    return Place(city_name(city), region, postal_code(postal, country), country)
