from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import connectors
from tests.conftest import FIXTURES
from tests.connector_fuzz import json_fuzz_tests, json_values
from tests.golden import assert_golden
from tracking.normalize import Normalizer
from tracking.taxonomy import Reason, Status

FIXTURE = FIXTURES / "postnl" / "complete_status.json"
CTX = connectors.ParseContext("postnl", 0, "test")


@pytest.mark.parametrize(
    "name",
    [
        "complete_status.json",
        "current_status.json",
        "status_evidence.json",
        "status_repeats_event.json",
        "expectation_no_seconds.json",
    ],
)
def test_fixtures_match_golden_pairs(name: str) -> None:
    result = assert_golden("postnl", FIXTURES / "postnl" / name)
    assert {scan.carrier for scan in result.scans} == {"postnl"}


def test_duplicate_scan_keeps_one_event_id() -> None:
    ids = [scan.event_id for scan in connectors.parse("postnl", FIXTURE.read_bytes(), CTX).scans]
    assert ids[2] == ids[3], "a scan listed twice must keep its id so dedup can drop it"
    assert len(set(ids)) == len(ids) - 1
    body = (FIXTURES / "postnl" / "status_evidence.json").read_bytes()
    ids = [scan.event_id for scan in connectors.parse("postnl", body, CTX).scans]
    assert ids[4] == ids[5], "Status repeated as OldStatus[0] is one scan"


def test_expectation_is_read_in_the_delivery_address_zone() -> None:
    body = json.loads((FIXTURES / "postnl" / "expectation_no_seconds.json").read_bytes())
    shipment = body["CompleteStatus"]["Shipment"]
    shipment["Expectation"] = {"ETAFrom": "08-12-2026 16:00", "ETATo": "08-12-2026 18:00:00"}
    shipment["Address"][1].update(CountryCode="GB", City="London", Zipcode="EC1A 1BB")
    result = connectors.parse("postnl", json.dumps(body).encode(), CTX)
    (eta,) = result.etas
    window = (eta.window_start_ms, eta.window_end_ms, eta.estimated_at_ms)
    london = [int(datetime(2026, 12, 8, h, tzinfo=UTC).timestamp() * 1000) for h in (16, 18, 18)]
    assert window == tuple(london), "type 09 (delivery address) wins over 01 (receiver)"
    scans = result.scans
    assert scans[2].event_id == scans[3].event_id, "one scan, with and without seconds"
    shipment["Expectation"] = {"ETAFrom": "", "ETATo": "later"}
    result = connectors.parse("postnl", json.dumps(body).encode(), CTX)
    assert result.etas == [] and len(result.problems) == 1
    assert result.problems[0].startswith("3SDEVC305512782 Expectation skipped: unreadable")


def test_a_status_that_repeats_an_event_is_not_a_scan() -> None:
    """Every response carries Status; when it only sums up the newest event ("11" for "I01", at
    the same time) it must not count the delivery twice, and older statuses never do."""
    body = (FIXTURES / "postnl" / "status_repeats_event.json").read_bytes()
    scans = connectors.parse("postnl", body, CTX).scans
    events = ["A01", "B01", "J01", "J05", "I01"]
    assert [scan.code for scan in scans] == events
    newer = json.loads(body)
    newer["CompleteStatus"]["Shipment"]["Status"]["TimeStamp"] = "14-07-2026 11:06:53"
    scans = connectors.parse("postnl", json.dumps(newer).encode(), CTX).scans
    assert [scan.code for scan in scans] == [*events, "11"], "a second newer is evidence again"


def test_status_is_evidence_when_the_events_stop_short_of_it() -> None:
    """The event list ends out for delivery; Status says delivered: the parcel ends delivered."""
    body = (FIXTURES / "postnl" / "status_evidence.json").read_bytes()
    scans = connectors.parse("postnl", body, CTX).scans
    normalizer = Normalizer()
    last = max(scans, key=lambda scan: scan.occurred_at_ms)
    assert (last.code, normalizer.canonical("postnl", last.code).status) == ("11", "delivered")
    events = [scan for scan in scans if not scan.code.isdigit()]
    assert Status.DELIVERED not in {normalizer.canonical("postnl", s.code).status for s in events}


def test_oddities_are_problems_not_errors() -> None:
    result = connectors.parse("postnl", FIXTURE.read_bytes(), CTX)
    assert result.problems == [
        "PostNL: No shipment found for barcode 3SDEVC000000001",
        "3SDEVC201611210 Event[4] (J05) has no location",
    ]
    body = {"CurrentStatus": {"Shipment": [{"Barcode": "3S1"}, {"MainBarcode": ""}, 7]}}
    result = connectors.parse("postnl", json.dumps(body).encode(), CTX)
    assert result.scans == []
    assert result.problems == [
        "3S1: no events and no status",
        "Shipment[1] has no Barcode",
        "Shipment[2] is not an object",
    ]


def test_warnings_alone_are_problems() -> None:
    body = {"Warnings": [{"Code": "X1", "Message": "Barcode not found"}]}
    result = connectors.parse("postnl", json.dumps(body).encode(), CTX)
    assert (result.scans, result.problems) == ([], ["PostNL X1: Barcode not found"])


def test_unknown_code_maps_to_unknown() -> None:
    normalizer = Normalizer()
    assert normalizer.canonical("postnl", "Y66").status is Status.UNKNOWN
    assert normalizer.unknown_codes[("postnl", "Y66")] == 1
    # event codes and status codes live side by side in one file
    assert normalizer.canonical("postnl", "I01").status is Status.DELIVERED
    assert normalizer.canonical("postnl", "11").status is Status.DELIVERED
    assert normalizer.canonical("postnl", "H01").reason is Reason.REFUSED


def test_dutch_time_follows_dst() -> None:
    """Europe/Amsterdam: the same wall-clock hour is UTC+1 in winter and UTC+2 in summer."""
    old = [
        {"TimeStamp": stamp, "StatusCode": "5"}
        for stamp in ("25-01-2026 12:00:00", "25-07-2026 12:00:00")
    ]
    body = {"CompleteStatus": {"Shipment": {"Barcode": "3S2", "OldStatus": old}}}
    scans = connectors.parse("postnl", json.dumps(body).encode(), CTX).scans
    hours = [datetime.fromtimestamp(scan.occurred_at_ms / 1000, UTC).hour for scan in scans]
    assert hours == [11, 10]
    assert all(scan.zone_assumed for scan in scans)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"<html>503</html>", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b'"CurrentStatus"', "JSON object"),
        (b"{}", "no CurrentStatus/CompleteStatus"),
        (b'{"CompleteStatus": []}', "must be an object"),
    ],
)
def test_unreadable_payloads_raise_parse_error_with_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(connectors.ParseError, match=reason):
        connectors.parse("postnl", payload, CTX)


# -- fuzzing: only ParseError, raised by the parser itself, may escape ---------------------------

TestFuzz = json_fuzz_tests(
    "postnl",
    [FIXTURE, FIXTURES / "postnl" / "current_status.json",
     FIXTURES / "postnl" / "expectation_no_seconds.json"],
    json_values(
        "31-02-2026 10:00:00", "20-11-2026", "01-01-0001 00:00:00", "007", "0", "I01"
    ),
    lambda value: [
        {"CompleteStatus": {"Shipment": {"Barcode": "3S", "Event": [value], "Status": value,
                                         "OldStatus": value, "Expectation": value,
                                         "Address": value}}},
        {"CurrentStatus": {"Shipment": value}, "Warnings": value},
    ],
)  # fmt: skip
