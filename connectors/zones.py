"""Zone inference: (country, region, postal code, city) -> the IANA zone local times are read in.

Carriers often send wall-clock times without a zone but with the scan's place. Reading those in
UTC is hours off; reading them in the place's zone is right except near a zone line, so the
connectors ask `zone_for` before falling back to UTC (README "Zone rules", rule 3). Either way
the time stays flagged `zone_assumed`: the zone was inferred, not stated.

The facts are data, written from public sources cited in each file's header:

    zones/countries.csv      country -> zone, where one zone is right for (nearly) all of it
    zones/regions.csv        state / province / federal subject -> zone, with names and aliases
    zones/postal.csv         postal-code prefixes whose zone differs from their region's
    zones/postal_regions.csv postal-code prefix -> region, when a payload names no region
    zones/cities.csv         cities whose zone differs from their region's (or name no region)

Most specific wins: a postal-code exception, then a city, then the region (given, or derived
from the postal code), then the country. Anything unknown gives None; a zone this machine's
tz database lacks is skipped, so an old tzdata degrades to the coarser rule, never to an error.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterator
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.native import PACKAGE_DIR
from connectors.places import country_code

__all__ = ["zone_for"]

DATA_DIR = PACKAGE_DIR / "zones"
# Words that name the kind of region, not the region: "Sverdlovsk Oblast" is "Sverdlovsk".
_KIND_WORDS = frozenset(
    ("oblast", "krai", "kray", "republic", "respublika", "of", "the", "state", "province",
     "territory", "region", "autonomous", "okrug", "ao")
)  # fmt: skip


def _plain(text: str) -> str:
    """Case, accents and punctuation folded away: 'Québec' and 'QUEBEC' -> 'quebec'."""
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.casefold().split())


def _region_name(text: str) -> str:
    return " ".join(word for word in _plain(text).split() if word not in _KIND_WORDS)


def _compact_postal(text: str) -> str:
    return "".join(c for c in text.upper() if c.isalnum())


def _rows(name: str) -> Iterator[dict[str, str]]:
    with (DATA_DIR / name).open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(line for line in handle if not line.startswith("#"))


@cache
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class _Tables:
    __slots__ = ("cities", "countries", "postal", "postal_regions", "region_keys", "regions")

    def __init__(self) -> None:
        self.countries = {r["country"]: r["zone"] for r in _rows("countries.csv")}
        # (country, region code) -> zone; (country, folded code or name) -> region code
        self.regions: dict[tuple[str, str], str] = {}
        self.region_keys: dict[tuple[str, str], str] = {}
        for r in _rows("regions.csv"):
            country, code = r["country"], r["region"]
            self.regions[country, code] = r["zone"]
            for alias in (code, *r["names"].split("|")):
                self.region_keys.setdefault((country, _region_name(alias)), code)
        self.postal = _prefixes("postal.csv", "zone")
        self.postal_regions = _prefixes("postal_regions.csv", "region")
        self.cities: dict[tuple[str, str, str], str] = {}
        for r in _rows("cities.csv"):
            region = self.region(r["country"], r["region"]) if r["region"] else ""
            self.cities[r["country"], region, _plain(r["city"])] = r["zone"]

    def region(self, country: str, text: str) -> str:
        """The region code for a code or name as carriers write it ('TN', 'us-tn', 'Tennessee')."""
        key = _region_name(text)
        code = self.region_keys.get((country, key))
        if code is None and key.startswith(f"{country.lower()} "):  # ISO 3166-2 form "US-TN"
            code = self.region_keys.get((country, key[len(country) + 1 :]))
        return code or ""


def _prefixes(name: str, column: str) -> dict[str, dict[str, str]]:
    """country -> {prefix: value}, for longest-prefix lookups."""
    table: dict[str, dict[str, str]] = {}
    for r in _rows(name):
        table.setdefault(r["country"], {})[_compact_postal(r["prefix"])] = r[column]
    return table


def _longest(prefixes: dict[str, str] | None, postal: str) -> str:
    if prefixes:
        for end in range(min(len(postal), 6), 0, -1):
            value = prefixes.get(postal[:end])
            if value is not None:
                return value
    return ""


@cache
def tables() -> _Tables:
    return _Tables()


@lru_cache(maxsize=1 << 16)  # on the hot path: one call per scan with a naive local time
def zone_for(
    country: str, region: str = "", postal_code: str = "", city: str = ""
) -> ZoneInfo | None:
    """The IANA zone of a place, or None when the data cannot say (an unknown country, or a
    multi-zone country such as the US without a region, postal code or listed city)."""
    code = country_code(country)
    if not code:
        return None
    t = tables()
    postal = _compact_postal(postal_code) if postal_code else ""
    where = t.region(code, region) if region else ""
    if not where and postal:
        where = _longest(t.postal_regions.get(code), postal)
    folded = _plain(city) if city else ""
    candidates = (
        _longest(t.postal.get(code), postal) if postal else "",
        (t.cities.get((code, where, folded)) or t.cities.get((code, "", folded))) if folded else "",
        t.regions.get((code, where)) if where else "",
        t.countries.get(code),
    )
    for name in candidates:
        zone = _zone(name) if name else None
        if zone is not None:  # else: unknown here, or a zone this tzdata lacks: coarser rule
            return zone
    return None
