from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

import connectors
from tests.conftest import FIXTURES
from tests.connector_fuzz import json_fuzz_tests, json_values
from tests.golden import assert_golden
from tracking.normalize import Normalizer
from tracking.taxonomy import Status

FIXTURE = FIXTURES / "dhl" / "multi_shipment.json"
CTX = connectors.ParseContext("dhl", 0, "test")


@pytest.mark.parametrize(
    "name", ["multi_shipment.json", "not_found.json", "local_time.json", "eta.json"]
)
def test_fixtures_match_golden_pairs(name: str) -> None:
    result = assert_golden("dhl", FIXTURES / "dhl" / name)
    assert {scan.carrier for scan in result.scans} <= {"dhl"}


def test_duplicate_scan_keeps_one_event_id() -> None:
    ids = [scan.event_id for scan in connectors.parse("dhl", FIXTURE.read_bytes(), CTX).scans]
    assert ids[2] == ids[3], "a scan listed twice must keep its id so dedup can drop it"
    assert len(set(ids)) == len(ids) - 1


def test_oddities_are_problems_not_errors() -> None:
    result = connectors.parse("dhl", FIXTURE.read_bytes(), CTX)
    assert result.problems == [
        "00340434161234567890 events[1] (transit) has no location",
        "JJD000390007882341: no events; used the shipment status",
    ]
    not_found = connectors.parse("dhl", (FIXTURES / "dhl" / "not_found.json").read_bytes(), CTX)
    assert not_found.problems == [
        "request answered 404: No shipment with given tracking number found."
    ]


def test_one_event_from_two_services_keeps_one_event_id() -> None:
    """The Parcel DE answer writes the delivery without an offset, the eCommerce answer with
    one: read in Munich's zone, both are the same scan."""
    scans = connectors.parse("dhl", (FIXTURES / "dhl" / "local_time.json").read_bytes(), CTX).scans
    assert scans[0].event_id == scans[-1].event_id
    assert len({scan.event_id for scan in scans}) == len(scans) - 1


def test_express_locality_names_city_state_and_country() -> None:
    scans = connectors.parse("dhl", (FIXTURES / "dhl" / "local_time.json").read_bytes(), CTX).scans
    assert (scans[4].city, scans[4].region, scans[4].country) == ("Cincinnati", "OH", "US")


def test_unknown_code_maps_to_unknown() -> None:
    normalizer = Normalizer()
    assert normalizer.canonical("dhl", "on-hold").status is Status.UNKNOWN
    assert normalizer.unknown_codes[("dhl", "on-hold")] == 1
    assert normalizer.canonical("dhl", "failure").status is Status.EXCEPTION
    assert normalizer.canonical("dhl", "pre-transit").status is Status.INFO_RECEIVED


@pytest.mark.parametrize(
    ("address", "timestamp", "expected"),
    [
        # naive time in a single-zone country: that zone, flagged
        ({"countryCode": "DE"}, "2026-07-01T12:00:00", ("07-01T10:00", True, "DE", "")),
        # naive time in a multi-zone country: UTC, flagged
        ({"countryCode": "US"}, "2026-07-01T12:00:00", ("07-01T12:00", True, "US", "")),
        # ... unless the place decides: a state in the Express locality, a Canadian FSA
        ({"addressLocality": "DALLAS - TX - USA"}, "2026-07-01T12:00:00",
         ("07-01T17:00", True, "US", "Dallas")),
        ({"addressLocality": "Vancouver", "postalCode": "V6B 1A1", "countryCode": "CA"},
         "2026-07-01T12:00:00", ("07-01T19:00", True, "CA", "Vancouver")),
        # milliseconds and no seconds
        ({"countryCode": "DE"}, "2026-07-01T12:00:00.125", ("07-01T10:00", True, "DE", "")),
        ({"countryCode": "DE"}, "2026-07-01T12:00", ("07-01T10:00", True, "DE", "")),
        # an offset is exact whatever the place
        ({"addressLocality": "Ulm"}, "2026-07-01T12:00Z", ("07-01T12:00", False, "", "Ulm")),
        # a date alone is noon local, flagged; the country hides in addressLocality
        ({"addressLocality": "ULM - GERMANY"}, "2026-07-01", ("07-01T10:00", True, "DE", "Ulm")),
    ],
)  # fmt: skip
def test_zone_rule(address: dict[str, str], timestamp: str, expected: tuple[Any, ...]) -> None:
    event = {"timestamp": timestamp, "statusCode": "transit", "location": {"address": address}}
    body = {"shipments": [{"id": "X1", "events": [event]}]}
    scan = connectors.parse("dhl", json.dumps(body).encode(), CTX).scans[0]
    moment = datetime.fromtimestamp(scan.occurred_at_ms / 1000, UTC).strftime("%m-%dT%H:%M")
    assert (moment, scan.zone_assumed, scan.country, scan.city) == expected


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"foo": 1}', 'no "shipments"'),
        (b'{"shipments": {"id": "1"}}', "must be a list"),
    ],
)
def test_unreadable_payloads_raise_parse_error_with_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(connectors.ParseError, match=reason):
        connectors.parse("dhl", payload, CTX)


# -- fuzzing: only ParseError, raised by the parser itself, may escape ---------------------------

TestFuzz = json_fuzz_tests(
    "dhl",
    [FIXTURE, FIXTURES / "dhl" / "not_found.json", FIXTURES / "dhl" / "local_time.json",
     FIXTURES / "dhl" / "eta.json"],
    json_values("transit", "DE", "A - B - USA", " - ", "A - NY - USA", "2026-11-20T00:00:00"),
    lambda value: [
        {"shipments": [{"id": "X", "events": [value]}]},
        {"shipments": [{"id": "X", "status": value}]},
        {"shipments": [{"id": "X", "estimatedTimeOfDelivery": value, "destination": value,
                        "estimatedDeliveryTimeFrame": value}]},
        {"shipments": [{"id": "X", "estimatedDeliveryTimeFrame": {"estimatedFrom": value}}]},
    ],
)  # fmt: skip
