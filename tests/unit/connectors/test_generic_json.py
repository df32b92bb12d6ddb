from __future__ import annotations

import json

import pytest

import connectors
from tests.conftest import FIXTURES
from tests.connector_fuzz import json_fuzz_tests, json_values
from tests.golden import assert_golden

BUNDLE = FIXTURES / "generic" / "bundle.json"
CTX = connectors.ParseContext("acme-express", 0, "test")


def test_bundle_matches_golden_pair() -> None:
    result = assert_golden("generic", BUNDLE)
    ids = [scan.event_id for scan in result.scans]
    assert ids[1] == ids[2], "a re-sent scan must keep its id so dedup can drop it"
    assert len(set(ids)) == 4


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
