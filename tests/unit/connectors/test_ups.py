from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

import connectors
from connectors import ups
from tests.conftest import FIXTURES
from tests.connector_fuzz import json_fuzz_tests, json_values
from tests.golden import assert_golden
from tracking.normalize import Normalizer
from tracking.taxonomy import Status

FIXTURE = FIXTURES / "ups" / "multi_shipment.json"
CTX = connectors.ParseContext("ups", 0, "test")


def test_multi_shipment_matches_golden_pair() -> None:
    result = assert_golden("ups", FIXTURE)
    ids = [scan.event_id for scan in result.scans]
    assert ids[2] == ids[3], "a re-sent scan must keep its id so dedup can drop it"
    assert len(set(ids)) == len(ids) - 1
    assert {scan.carrier for scan in result.scans} == {"ups"}


@pytest.mark.parametrize("name", ["local_time.json", "eta.json"])
def test_local_time_and_eta_golden_pairs(name: str) -> None:
    result = assert_golden("ups", FIXTURES / "ups" / name)
    assert all(scan.carrier == "ups" for scan in result.scans)


def test_local_time_and_gmt_forms_of_one_scan_share_an_event_id() -> None:
    """The Berlin scan is listed once with GMT fields and once without: read in Berlin's zone,
    both are the same scan, so a second source without GMT fields deduplicates."""
    scans = connectors.parse("ups", (FIXTURES / "ups" / "local_time.json").read_bytes(), CTX).scans
    assert scans[4].event_id == scans[5].event_id
    assert len({scan.event_id for scan in scans}) == len(scans) - 1


@pytest.mark.parametrize(
    ("clock", "expected"),
    [("071356", "071356"), ("74700", "074700"), ("20:04:35", "200435"), ("14:35", "143500"),
     ("7:05", "070500"), ("14:35:00.250", "143500"), ("4700", "004700")],
)  # fmt: skip
def test_clock_forms(clock: str, expected: str) -> None:
    assert ups._clock(clock) == expected


def test_oddities_are_problems_not_errors() -> None:
    result = connectors.parse("ups", FIXTURE.read_bytes(), CTX)
    assert result.problems == [
        "1Z999AA10123456784 activity[7] (003) has no location",
        "1Z999AA10000000001: TW0001 Tracking Information Not Found",
        "1ZA0B1C2D3E4F5G6H7: no activity",
    ]


def test_description_keeps_the_two_letter_activity_code() -> None:
    result = connectors.parse("ups", FIXTURE.read_bytes(), CTX)
    assert result.scans[0].description == "DELIVERED [FS]"
    assert result.scans[0].region == "GA"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ({"type": "D", "statusCode": "011"}, "011"),
        ({"type": "D", "statusCode": "11"}, "011"),  # the appendix writes codes unpadded
        ({"type": "D", "statusCode": 11}, "011"),
        ({"type": "mv"}, "MV"),
        ({"type": "X", "statusCode": ""}, "X"),
    ],
)
def test_code_is_padded_status_code_else_type(status: dict[str, Any], code: str) -> None:
    body = {"trackResponse": {"shipment": [{"inquiryNumber": "1Z1", "package": [{"activity": [
        {"status": status, "date": "20261120", "time": "101010"}]}]}]}}  # fmt: skip
    result = connectors.parse("ups", json.dumps(body).encode(), CTX)
    assert [scan.code for scan in result.scans] == [code]
    assert result.scans[0].tracking_number == "1Z1"  # falls back to the inquiry number


def test_gmt_fields_win_over_local_time() -> None:
    activity = {"status": {"type": "I", "statusCode": "005"}, "date": "20261120", "time": "020000",
                "gmtDate": "20261120", "gmtTime": "7:00:00", "gmtOffset": "-05:00"}  # fmt: skip
    package = {"trackingNumber": "1Z2", "activity": [activity]}
    body = {"trackResponse": {"shipment": [{"package": [package]}]}}
    scan = connectors.parse("ups", json.dumps(body).encode(), CTX).scans[0]
    expected = int(datetime(2026, 11, 20, 7, 0, tzinfo=UTC).timestamp() * 1000)
    assert (scan.occurred_at_ms, scan.zone_assumed) == (expected, False)


def test_unknown_code_maps_to_unknown() -> None:
    normalizer = Normalizer()
    assert normalizer.canonical("ups", "170").status is Status.UNKNOWN
    assert normalizer.unknown_codes[("ups", "170")] == 1
    assert normalizer.canonical("ups", "X").status is Status.EXCEPTION


def test_rejected_request_yields_problems_not_scans() -> None:
    body = {"response": {"errors": [{"code": "TV1002", "message": "Invalid inquiry number"}]}}
    result = connectors.parse("ups", json.dumps(body).encode(), CTX)
    assert result.scans == []
    assert result.problems == ["request rejected: TV1002 Invalid inquiry number"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"<html>503</html>", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'"trackResponse"', "JSON object"),
        (b'{"response": {}}', "not a UPS Track response"),
        (b'{"trackResponse": {"shipment": null}}', "must be a list"),
    ],
)
def test_unreadable_payloads_raise_parse_error_with_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(connectors.ParseError, match=reason):
        connectors.parse("ups", payload, CTX)


# -- fuzzing: only ParseError, raised by the parser itself, may escape ---------------------------

TestFuzz = json_fuzz_tests(
    "ups",
    [FIXTURE, FIXTURES / "ups" / "local_time.json", FIXTURES / "ups" / "eta.json"],
    json_values("-99:99", "+05:00", "20261120", "9999999", "T", "7:00:00", "74700", "SDD", "EDW",
                "CMT", "2026-11-20", "14:35", "DESTINATION"),
    # with an inquiry number, so that the value reaches the package and the activity levels
    lambda value: [
        {"trackResponse": {"shipment": [{"inquiryNumber": "1Z1", "package": [value]}]}},
        {"trackResponse": {"shipment": [{"inquiryNumber": "1Z1",
                                         "package": [{"activity": [value]}]}]}},
        {"trackResponse": {"shipment": [{"inquiryNumber": "1Z1", "package": [
            {"deliveryDate": [value, {"type": "SDD", "date": "20261120"}],
             "deliveryTime": value, "packageAddress": [value]}]}]}},
    ],
)  # fmt: skip
