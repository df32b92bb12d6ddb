"""Place normalization shared by every connector: ISO 3166-1 alpha-2 countries, tidy postal
codes and city names. Carriers send "USA", "United States", "US" and "us" for one country."""

from __future__ import annotations

import re
from functools import lru_cache

# alpha-3 and common English names -> alpha-2, for the countries carriers we support ship
# between most. An unrecognised value is kept (upper-cased) rather than dropped.
_COUNTRY_ALIASES: dict[str, str] = {
    "USA": "US",
    "UNITED STATES": "US",
    "UNITED STATES OF AMERICA": "US",
    "U.S.A.": "US",
    "CAN": "CA",
    "CANADA": "CA",
    "MEX": "MX",
    "MEXICO": "MX",
    "GBR": "GB",
    "UK": "GB",
    "UNITED KINGDOM": "GB",
    "GREAT BRITAIN": "GB",
    "ENGLAND": "GB",
    "DEU": "DE",
    "GERMANY": "DE",
    "DEUTSCHLAND": "DE",
    "NLD": "NL",
    "NETHERLANDS": "NL",
    "THE NETHERLANDS": "NL",
    "NEDERLAND": "NL",
    "BEL": "BE",
    "BELGIUM": "BE",
    "FRA": "FR",
    "FRANCE": "FR",
    "ESP": "ES",
    "SPAIN": "ES",
    "ITA": "IT",
    "ITALY": "IT",
    "POL": "PL",
    "POLAND": "PL",
    "AUT": "AT",
    "AUSTRIA": "AT",
    "CHE": "CH",
    "SWITZERLAND": "CH",
    "SWE": "SE",
    "SWEDEN": "SE",
    "DNK": "DK",
    "DENMARK": "DK",
    "NOR": "NO",
    "NORWAY": "NO",
    "FIN": "FI",
    "FINLAND": "FI",
    "IRL": "IE",
    "IRELAND": "IE",
    "PRT": "PT",
    "PORTUGAL": "PT",
    "CZE": "CZ",
    "CZECHIA": "CZ",
    "CZECH REPUBLIC": "CZ",
    "LUX": "LU",
    "LUXEMBOURG": "LU",
    "CHN": "CN",
    "CHINA": "CN",
    "HKG": "HK",
    "HONG KONG": "HK",
    "JPN": "JP",
    "JAPAN": "JP",
    "KOR": "KR",
    "SOUTH KOREA": "KR",
    "KOREA, REPUBLIC OF": "KR",
    "SGP": "SG",
    "SINGAPORE": "SG",
    "IND": "IN",
    "INDIA": "IN",
    "AUS": "AU",
    "AUSTRALIA": "AU",
    "NZL": "NZ",
    "NEW ZEALAND": "NZ",
    "BRA": "BR",
    "BRAZIL": "BR",
    "BRASIL": "BR",
    "ARE": "AE",
    "UNITED ARAB EMIRATES": "AE",
    "TUR": "TR",
    "TURKEY": "TR",
    "TURKIYE": "TR",
    "ZAF": "ZA",
    "SOUTH AFRICA": "ZA",
    "ISR": "IL",
    "ISRAEL": "IL",
}
_SPACES = re.compile(r"\s+")
# A word, with an apostrophe tail kept in lower case: "JOHN'S" -> "John's", not "John'S".
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# The functions below are pure functions of their text, called for every scan with the few
# dozen places a carrier's network has: cached, bounded because the text comes from payloads.
_cached = lru_cache(maxsize=1 << 12)


@_cached
def country_code(value: str | None) -> str:
    if not value:
        return ""
    cleaned = _SPACES.sub(" ", value.strip()).upper()
    if len(cleaned) == 2 and cleaned.isalpha():
        return cleaned
    return _COUNTRY_ALIASES.get(cleaned, cleaned)


@_cached
def postal_code(value: str | None, country: str = "") -> str:
    """Upper-case and single-spaced; Canadian and British codes get their one inner space."""
    if not value:
        return ""
    cleaned = _SPACES.sub(" ", value.strip()).upper()
    compact = cleaned.replace(" ", "")
    if country in ("CA", "GB") and len(compact) > 3 and " " not in cleaned:
        return f"{compact[:-3]} {compact[-3:]}"
    return cleaned


@_cached
def city_name(value: str | None) -> str:
    """'NEW YORK' and ' new  york' -> 'New York'; mixed-case names are kept as given."""
    if not value:
        return ""
    cleaned = _SPACES.sub(" ", value.strip())
    if cleaned.isupper() or cleaned.islower():
        return _WORD.sub(lambda m: m.group(0).capitalize(), cleaned.lower())
    return cleaned


@_cached
def place(city: str | None, postal: str | None, country: str | None) -> tuple[str, str, str]:
    """(city, postal code, country), each normalized; the country decides the postal format."""
    country = country_code(country)
    return city_name(city), postal_code(postal, country), country
