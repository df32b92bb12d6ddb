from __future__ import annotations

import json

import pytest

import connectors
from tests.conftest import FIXTURES
from tests.connector_fuzz import json_fuzz_tests, json_values
from tests.golden import assert_golden
from tracking.normalize import Normalizer
from tracking.taxonomy import Status

FIXTURE = FIXTURES / "usps" / "detail.json"
BATCH = FIXTURES / "usps" / "batch.json"
CTX = connectors.ParseContext("usps", 0, "test")


def test_detail_matches_golden_pair() -> None:
    result = assert_golden("usps", FIXTURE)
    ids = [scan.event_id for scan in result.scans]
    assert ids[2] == ids[3], "a re-sent scan must keep its id so dedup can drop it"
    assert len(set(ids)) == len(ids) - 1
    assert {scan.carrier for scan in result.scans} == {"usps"}
    assert result.problems == ["9400111899223344556677 trackingEvents[7] (MA) has no location"]


def test_batch_matches_golden_pair_and_reports_missing_parcels() -> None:
    result = assert_golden("usps", BATCH)
    assert result.problems == [
        "9205500000000000000000: no tracking events",
        "item[2]: 404 Resource Not Found",
    ]


@pytest.mark.parametrize("name", ["local_time.json", "eta.json"])
def test_local_time_and_eta_golden_pairs(name: str) -> None:
    result = assert_golden("usps", FIXTURES / "usps" / name)
    assert all(scan.carrier == "usps" for scan in result.scans)


def test_local_and_gmt_forms_of_one_scan_share_an_event_id() -> None:
    """The Denver scan, once with GMTTimestamp and once bare: read in Denver's zone, the bare
    one is the same scan and deduplicates."""
    result = connectors.parse("usps", (FIXTURES / "usps" / "local_time.json").read_bytes(), CTX)
    assert result.scans[3].event_id == result.scans[4].event_id
    assert result.problems == ["CP000000010US trackingEvents[2] (MA) has no location"]


def test_guarantee_as_text_is_no_eta() -> None:
    result = connectors.parse("usps", (FIXTURES / "usps" / "eta.json").read_bytes(), CTX)
    assert [eta.kind for eta in result.etas if eta.tracking_number.endswith("42")] == ["scheduled"]
    assert result.problems == []


def test_state_without_country_is_us_and_region_is_kept() -> None:
    scan = connectors.parse("usps", FIXTURE.read_bytes(), CTX).scans[0]
    assert (scan.country, scan.region, scan.description) == ("US", "MA", "Delivered, In/At Mailbox")


def test_codes_stay_strings() -> None:
    body = {"trackingNumber": "T1", "trackingEvents": [
        {"eventCode": "01", "eventTimestamp": "2026-11-20T10:00:00", "eventZIP": "02540"},
        {"eventCode": 1, "eventTimestamp": "2026-11-20T10:00:00", "eventZIP": "02540"},
    ]}  # fmt: skip
    result = connectors.parse("usps", json.dumps(body).encode(), CTX)
    assert [scan.code for scan in result.scans] == ["01", "1"]
    assert Normalizer().canonical("usps", "1").status is Status.UNKNOWN


def test_unknown_code_maps_to_unknown() -> None:
    normalizer = Normalizer()
    assert normalizer.canonical("usps", "Z9").status is Status.UNKNOWN
    assert normalizer.unknown_codes[("usps", "Z9")] == 1
    assert normalizer.canonical("usps", "of").status is Status.OUT_FOR_DELIVERY


def test_error_only_response_is_a_problem() -> None:
    body = {"apiVersion": "v3", "error": {"code": "400", "message": "Invalid tracking number"}}
    result = connectors.parse("usps", json.dumps(body).encode(), CTX)
    assert (result.scans, result.problems) == ([], ["item[0]: 400 Invalid tracking number"])


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"<html>503</html>", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"42", "TrackingDetails"),
        (b'{"events": []}', "TrackingDetails"),
        (b'[{"trackingNumber": "T"}, 7]', "TrackingDetails"),
    ],
)
def test_unreadable_payloads_raise_parse_error_with_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(connectors.ParseError, match=reason):
        connectors.parse("usps", payload, CTX)


# -- fuzzing: only ParseError, raised by the parser itself, may escape ---------------------------

TestFuzz = json_fuzz_tests(
    "usps",
    [FIXTURE, BATCH, FIXTURES / "usps" / "local_time.json", FIXTURES / "usps" / "eta.json"],
    json_values("-99:99", "+05:00", "-4:00", "20261120", "9999999", "T", "9:00 pm", "13:61",
                "2026-11-20", "2026-11-20T12:00"),
    lambda value: [{"trackingNumber": "T1", "trackingEvents": [value]},
                   {"trackingNumber": "T1", "deliveryDateExpectation": value},
                   {"trackingNumber": "T1", "expectedDeliveryDate": "2026-11-20", "endOfDay": value,
                    "predictedDeliveryDate": value, "predictedDeliveryWindowEndTime": value}],
)  # fmt: skip
