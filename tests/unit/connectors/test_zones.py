"""Zone inference: the data files resolve the places carriers send to the right IANA zone, and
local times read in those zones get the right offset, DST included."""

from __future__ import annotations

import csv
import zoneinfo
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import zones
from connectors.times import parse_iso, parse_local, zone_at
from connectors.zones import DATA_DIR, tables, zone_for
from tests.connector_fuzz import fuzz_settings


def name(*place: str) -> str | None:
    zone = zone_for(*place)
    return None if zone is None else zone.key


@pytest.mark.parametrize(
    ("place", "zone"),
    [
        # split US states: majority by state, exceptions by ZIP3 or city
        (("US", "TN"), "America/Chicago"),  # Nashville, Memphis
        (("US", "TN", "37902"), "America/New_York"),  # Knoxville ZIP
        (("US", "Tennessee", "", "CHATTANOOGA"), "America/New_York"),
        (("US", "IN"), "America/Indiana/Indianapolis"),
        (("US", "IN", "46402"), "America/Chicago"),  # Gary
        (("US", "IN", "47708"), "America/Chicago"),  # Evansville
        (("US", "KY", "40202"), "America/New_York"),  # Louisville
        (("US", "KY", "42001"), "America/Chicago"),  # Paducah
        (("US", "FL", "33101"), "America/New_York"),  # Miami
        (("US", "FL", "32501"), "America/Chicago"),  # Pensacola
        (("US", "FL", "", "Panama City"), "America/Chicago"),
        (("US", "TX", "75201"), "America/Chicago"),  # Dallas
        (("US", "TX", "79901"), "America/Denver"),  # El Paso
        (("USA", "Texas", "", "El Paso"), "America/Denver"),
        (("US", "ID", "83814"), "America/Los_Angeles"),  # Coeur d'Alene
        (("US", "ID"), "America/Boise"),
        (("US", "OR", "97914"), "America/Boise"),  # Ontario, Malheur County
        (("US", "AZ"), "America/Phoenix"),
        (("US", "AZ", "", "Window Rock"), "America/Denver"),  # Navajo Nation keeps DST
        (("US", "us-ca"), "America/Los_Angeles"),  # ISO 3166-2 form
        (("US", "HI"), "Pacific/Honolulu"),
        (("US", "PR"), "America/Puerto_Rico"),
        # Canada: provinces, split provinces, postal codes without a province
        (("CA", "ON"), "America/Toronto"),
        (("CA", "ON", "P9N 3X7"), "America/Winnipeg"),  # Kenora
        (("CA", "Québec"), "America/Toronto"),
        (("CA", "SK"), "America/Regina"),
        (("CA", "SK", "", "Lloydminster"), "America/Edmonton"),
        (("CA", "BC", "V1C 4H6"), "America/Edmonton"),  # Cranbrook
        (("CA", "BC", "", "Dawson Creek"), "America/Dawson_Creek"),
        (("CA", "NL", "A2V 1K5"), "America/Goose_Bay"),  # Labrador City
        (("CA", "NL"), "America/St_Johns"),
        (("CAN", "", "m5h2n2"), "America/Toronto"),
        (("CA", "", "T5J 0N3"), "America/Edmonton"),
        (("CA", "", "X0C 0G0"), "America/Rankin_Inlet"),
        # Australia
        (("AU", "NSW"), "Australia/Sydney"),
        (("AU", "NSW", "2880"), "Australia/Broken_Hill"),
        (("AU", "QLD"), "Australia/Brisbane"),
        (("AU", "Western Australia"), "Australia/Perth"),
        (("AU", "", "0800"), "Australia/Darwin"),
        (("AU", "", "5000"), "Australia/Adelaide"),
        # Brazil
        (("BR", "SP"), "America/Sao_Paulo"),
        (("BR", "AM"), "America/Manaus"),
        (("BR", "Pará"), "America/Belem"),
        (("BR", "", "69005-010"), "America/Manaus"),  # a Manaus CEP
        (("BR", "", "79002-000"), "America/Campo_Grande"),
        (("BR", "PE", "53990-000"), "America/Noronha"),
        # Mexico
        (("MX", "CMX"), "America/Mexico_City"),
        (("MX", "Quintana Roo"), "America/Cancun"),
        (("MX", "BCN"), "America/Tijuana"),
        (("MX", "SON"), "America/Hermosillo"),
        (("MX", "CHH", "32000"), "America/Ciudad_Juarez"),
        (("MX", "TAM", "", "Reynosa"), "America/Matamoros"),
        # Russia
        (("RU", "MOW"), "Europe/Moscow"),
        (("RU", "Sverdlovsk Oblast"), "Asia/Yekaterinburg"),
        (("RU", "Republic of Tatarstan"), "Europe/Moscow"),
        (("RU", "KGD"), "Europe/Kaliningrad"),
        (("RU", "Primorsky Krai"), "Asia/Vladivostok"),
        (("RU", "", "", "Novosibirsk"), "Asia/Novosibirsk"),
        # majority countries and their exceptions
        (("ES", ""), "Europe/Madrid"),
        (("ES", "", "38001"), "Atlantic/Canary"),
        (("PT", "", "9500-150"), "Atlantic/Azores"),
        (("Portugal", "", "1000-001"), "Europe/Lisbon"),
        (("CN",), "Asia/Shanghai"),
        (("ID", "Bali"), "Asia/Makassar"),
        (("CL", "Valparaíso", "", "Hanga Roa"), "Pacific/Easter"),
        (("CL", "RM"), "America/Santiago"),
        (("ID", "JK"), "Asia/Jakarta"),
        # single-zone countries, also with a region the data does not know
        (("DE", "BY", "80331", "München"), "Europe/Berlin"),
        (("Netherlands",), "Europe/Amsterdam"),
        (("GB", "ENG"), "Europe/London"),
        (("JP",), "Asia/Tokyo"),
        (("KZ",), "Asia/Almaty"),  # one offset since 2024
    ],
)
def test_places_resolve_to_their_zone(place: tuple[str, ...], zone: str) -> None:
    assert name(*place) == zone


@pytest.mark.parametrize(
    "place",
    [("",), ("XX",), ("Atlantis",), ("US",), ("US", "ZZ"), ("CA",), ("RU",), ("AU",),
     ("BR",), ("MX",), ("US", "", "", "Springfield"), ("CD",), ("AQ",)],
)  # fmt: skip
def test_unknown_or_ambiguous_places_give_none(place: tuple[str, ...]) -> None:
    assert zone_for(*place) is None
    assert zone_at(*place) is UTC


def _utc(text: str, *place: str) -> str:
    ms, assumed = parse_iso(text, assume=zone_at(*place))
    assert assumed, "a time read in an inferred zone stays flagged"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M")


def test_local_times_get_the_zones_offset_on_that_date() -> None:
    # Arizona keeps MST all year; Denver (same winter offset) moves to MDT in summer
    assert _utc("2024-07-01T12:00:00", "US", "AZ") == "2024-07-01T19:00"
    assert _utc("2024-07-01T12:00:00", "US", "CO") == "2024-07-01T18:00"
    assert _utc("2024-01-15T12:00:00", "US", "AZ") == _utc("2024-01-15T12:00:00", "US", "CO")
    # southern hemisphere: Sydney is on daylight time in January, Brisbane never is
    assert _utc("2024-01-15T09:00:00", "AU", "NSW") == "2024-01-14T22:00"
    assert _utc("2024-01-15T09:00:00", "AU", "QLD") == "2024-01-14T23:00"
    assert _utc("2024-07-15T09:00:00", "AU", "NSW") == "2024-07-14T23:00"
    # El Paso vs Dallas, one state
    assert _utc("2024-11-20T08:00:00", "US", "TX", "79901") == "2024-11-20T15:00"
    assert _utc("2024-11-20T08:00:00", "US", "TX", "75201") == "2024-11-20T14:00"
    # Brazil has had no DST since 2019; Moscow none since 2014
    assert _utc("2024-01-10T10:00:00", "BR", "SP") == "2024-01-10T13:00"
    assert _utc("2024-07-10T10:00:00", "RU", "MOW") == "2024-07-10T07:00"


def test_ambiguous_and_skipped_wall_times_use_the_offset_before_the_transition() -> None:
    # 2024-11-03 01:30 happened twice in New York: fold=0 is the first, EDT (-4)
    ms, _ = parse_local("2024-11-03", "01:30:00", assume=zone_at("US", "NY"))
    assert datetime.fromtimestamp(ms / 1000, UTC) == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)
    # 2024-03-10 02:30 never happened in New York: read at EST (-5), i.e. 03:30 EDT
    ms, _ = parse_local("2024-03-10", "02:30:00", assume=zone_at("US", "NY"))
    assert datetime.fromtimestamp(ms / 1000, UTC) == datetime(2024, 3, 10, 7, 30, tzinfo=UTC)


# -- the data files ---------------------------------------------------------------------------


def _csv(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def _zone_tab() -> Path:
    """The tz database's zone.tab that zoneinfo reads on this machine (system, else tzdata)."""
    for root in zoneinfo.TZPATH:
        if (Path(root) / "zone.tab").is_file():
            return Path(root) / "zone.tab"
    import tzdata  # the fallback zoneinfo itself uses when the system has no tz database

    return Path(tzdata.__file__).parent / "zoneinfo" / "zone.tab"


def test_every_zone_in_the_data_exists_here() -> None:
    named = {row["zone"] for f in ("countries.csv", "regions.csv", "postal.csv", "cities.csv")
             for row in _csv(f)}  # fmt: skip
    missing = sorted(z for z in named if z not in zoneinfo.available_timezones())
    assert missing == []


def test_single_zone_countries_of_the_tz_database_resolve_by_country_alone() -> None:
    per_country: dict[str, list[str]] = {}
    for line in _zone_tab().read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            fields = line.split("\t")
            per_country.setdefault(fields[0], []).append(fields[2])
    single = {c: zs[0] for c, zs in per_country.items() if len(zs) == 1}
    assert len(single) > 200
    instants = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=7 * i) for i in range(104)]
    for country, expected in sorted(single.items()):
        got = zone_for(country)
        assert got is not None, country
        want = zoneinfo.ZoneInfo(expected)
        assert [got.utcoffset(t) for t in instants] == [want.utcoffset(t) for t in instants], (
            country
        )


def test_region_aliases_never_point_two_ways() -> None:
    seen: dict[tuple[str, str], str] = {}
    for row in _csv("regions.csv"):
        for alias in (row["region"], *row["names"].split("|")):
            key = (row["country"], zones._region_name(alias))
            assert key[1], row
            zone = seen.setdefault(key, row["zone"])
            assert zone == row["zone"], (key, zone, row)


def test_every_region_named_by_cities_and_postal_codes_exists() -> None:
    regions = {(r["country"], r["region"]) for r in _csv("regions.csv")}
    named = {(r["country"], r["region"]) for r in _csv("postal_regions.csv")}
    named |= {(r["country"], r["region"]) for r in _csv("cities.csv") if r["region"]}
    assert named <= regions
    assert tables().region("CL", "Valparaíso") == "VS"


@fuzz_settings
@given(st.text(max_size=8), st.text(max_size=12), st.text(max_size=10), st.text(max_size=12))
def test_any_text_gives_a_zone_or_none(country: str, region: str, postal: str, city: str) -> None:
    zone = zone_for(country, region, postal, city)
    assert zone is None or isinstance(zone, zoneinfo.ZoneInfo)
