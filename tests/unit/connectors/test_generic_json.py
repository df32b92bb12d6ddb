from __future__ import annotations

import json

import pytest

import connectors
from tests.conftest import FIXTURES
from tests.connector_fuzz import json_fuzz_tests, json_values
from tests.golden import assert_golden

BUNDLE = FIXTURES / "generic" / "bundle.json"
PARTLY_BAD = FIXTURES / "generic" / "partly_bad.json"
CTX = connectors.ParseContext("acme-express", 0, "test")


def test_bundle_matches_golden_pair() -> None:
    result = assert_golden("generic", BUNDLE)
    ids = [scan.event_id for scan in result.scans]
    assert ids[1] == ids[2], "a re-sent scan must keep its id so dedup can drop it"
    assert len(set(ids)) == 4


def test_bad_events_are_rejected_one_by_one_and_the_good_ones_kept() -> None:
    result = assert_golden("generic", PARTLY_BAD)
    delivered, again = result.scans[1:]
    # the same delivery from a second source: other location text, seconds, code case
    assert delivered.event_id == again.event_id
    assert result.scans[0].event_id != delivered.event_id


def test_each_reject_fragment_is_the_bad_event_itself() -> None:
    result = connectors.parse("generic", PARTLY_BAD.read_bytes(), CTX)
    events = json.loads(PARTLY_BAD.read_bytes())["events"]
    assert [json.loads(r.fragment) for r in result.rejects] == [events[i] for i in (1, 2, 3, 5)]


def test_a_body_of_only_bad_events_still_raises() -> None:
    body = b'{"events": [{"code": "DL"}, 7]}'
    with pytest.raises(connectors.ParseError, match=r"events\[0\]\.tracking_number is missing"):
        connectors.parse("generic", body, CTX)


def test_an_empty_events_list_is_a_problem_not_an_error() -> None:
    result = connectors.parse("generic", b'{"carrier": "x", "events": []}', CTX)
    assert (result.scans, result.rejects, result.problems) == ([], [], ["payload holds no events"])


def test_single_event_object_is_accepted() -> None:
    body = {
        "carrier": "x",
        "tracking_number": "T1",
        "code": "DL",
        "occurred_at": "2026-01-01T10:00:00Z",
    }
    assert [
        s.tracking_number for s in connectors.parse("generic", json.dumps(body).encode(), CTX).scans
    ] == ["T1"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (
            b'{"events": [{"code": "DL", "occurred_at": "2026-01-01"}]}',
            "tracking_number is missing",
        ),
        (
            b'{"events": [{"tracking_number": "T", "code": "DL", "occurred_at": "yesterday"}]}',
            "ISO 8601",
        ),
        (b'{"events": "nope"}', "events"),
    ],
)
def test_bad_payloads_raise_parse_error_with_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(connectors.ParseError, match=reason):
        connectors.parse("generic", payload, CTX)


# -- fuzzing: only ParseError, raised by the parser itself, may escape ---------------------------

TestFuzz = json_fuzz_tests(
    "generic",
    [BUNDLE],
    json_values("DL", "T1", max_text=None),
    lambda value: [{"events": [value]}, {"carrier": "x", "events": [{"location": value}]}],
)
