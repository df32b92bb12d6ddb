from __future__ import annotations

import copy
import json

import pytest

import connectors
from tests.conftest import FIXTURES
from tests.connector_fuzz import json_fuzz_tests, json_values
from tests.golden import assert_golden
from tracking.normalize import Normalizer
from tracking.taxonomy import Status

FIXTURE = FIXTURES / "fedex" / "multi_parcel.json"
REUSED = FIXTURES / "fedex" / "eta_reused_number.json"
DOCUMENT = json.loads(FIXTURE.read_text())
CTX = connectors.ParseContext("fedex", 0, "test")


def test_multi_parcel_matches_golden_pair() -> None:
    result = assert_golden("fedex", FIXTURE)
    ids = [scan.event_id for scan in result.scans]
    assert ids[2] == ids[3], "a re-sent scan must keep its id so dedup can drop it"
    assert len(set(ids)) == len(ids) - 1
    assert {scan.carrier for scan in result.scans} == {"fedex"}


def test_carrier_etas_and_local_times_match_golden_pair() -> None:
    result = assert_golden("fedex", REUSED)
    assert result.problems == []


def test_a_reused_tracking_number_keeps_its_shipments_apart() -> None:
    result = connectors.parse("fedex", REUSED.read_bytes(), CTX)
    current, older = "12029~771234567890~FDEG", "11874~771234567890~FDEG"
    assert {s.tracking_number for s in result.scans} == {"771234567890"}
    assert [s.shipment_id for s in result.scans] == [current, current, older, older]
    assert [e.shipment_id for e in result.etas] == [current, current, older, older]
    # the unique id stays out of the event id: a source without it still agrees
    arrived = result.scans[0]
    assert arrived.event_id == connectors.scan_event_id(
        "fedex", "771234567890", "AR", arrived.occurred_at_ms
    )


def test_unreadable_eta_is_a_problem_and_the_scans_stay() -> None:
    document = json.loads(REUSED.read_text())
    track = document["output"]["completeTrackResults"][0]["trackResults"][0]
    track["estimatedDeliveryTimeWindow"]["window"]["ends"] = "next week"
    result = connectors.parse("fedex", json.dumps(document).encode(), CTX)
    assert [e.kind for e in result.etas] == ["promised", "promised", "appointment"]
    assert len(result.scans) == 4
    assert any("estimated delivery" in p and "ISO 8601" in p for p in result.problems)


def test_oddities_are_problems_not_errors() -> None:
    result = connectors.parse("fedex", FIXTURE.read_bytes(), CTX)
    assert any("123456789012" in p and "NOTFOUND" in p for p in result.problems)
    assert any("(OC) has no scan location" in p for p in result.problems)
    assert len(result.problems) == 2


def test_exception_code_is_kept_in_the_description() -> None:
    result = connectors.parse("fedex", FIXTURE.read_bytes(), CTX)
    exception = next(scan for scan in result.scans if scan.code == "DE")
    assert exception.description == (
        "Delivery exception (08 Customer not available or business closed)"
    )
    assert exception.region == "ON"


def test_unknown_code_maps_to_unknown_and_is_counted() -> None:
    normalizer = Normalizer()
    assert normalizer.canonical("fedex", "ZT").status is Status.UNKNOWN
    assert normalizer.unknown_codes[("fedex", "ZT")] == 1
    assert normalizer.canonical("fedex", "dl").status is Status.DELIVERED


def test_carrier_name_is_fixed_whatever_the_context_says() -> None:
    ctx = connectors.ParseContext("fedex-ground-eu", 0, "test")
    result = connectors.parse("fedex", FIXTURE.read_bytes(), ctx)
    assert {scan.carrier for scan in result.scans} == {"fedex"}


def test_rejected_request_yields_problems_not_scans() -> None:
    error = {"code": "NOT.AUTHORIZED.ERROR", "message": "Bad token"}
    body = {"transactionId": "t1", "errors": [error]}
    result = connectors.parse("fedex", json.dumps(body).encode(), CTX)
    assert result.scans == []
    assert result.problems == ["request rejected: NOT.AUTHORIZED.ERROR Bad token"]


def test_bad_scan_time_skips_that_scan_only() -> None:
    document = copy.deepcopy(DOCUMENT)
    parcel = document["output"]["completeTrackResults"][0]["trackResults"][0]
    parcel["scanEvents"][0]["date"] = "soon"
    result = connectors.parse("fedex", json.dumps(document).encode(), CTX)
    assert len(result.scans) == 9
    assert any("skipped" in p and "'soon'" in p for p in result.problems)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"<html>502</html>", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"transactionId": "t"}', 'no "output"'),
        (b'{"output": {"completeTrackResults": {}}}', "must be a list"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_unreadable_payloads_raise_parse_error_with_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(connectors.ParseError, match=reason):
        connectors.parse("fedex", payload, CTX)


# -- fuzzing: only ParseError, raised by the parser itself, may escape ---------------------------

TestFuzz = json_fuzz_tests(
    "fedex",
    [FIXTURE, REUSED],
    json_values("-99:99", "+05:00", "20261120", "9999999", "T"),
    # with a tracking number, so that the value reaches the parcel and the scan levels
    lambda value: [
        {"output": {"completeTrackResults": [{"trackingNumber": "T1", "trackResults": [value]}]}},
        {"output": {"completeTrackResults": [{"trackingNumber": "T1",
                                              "trackResults": [{"scanEvents": [value]}]}]}},
    ],
)  # fmt: skip
