from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import connectors
from tests.conftest import FIXTURES
from tests.golden import assert_golden

BUNDLE = FIXTURES / "generic" / "bundle.json"
CTX = connectors.ParseContext("acme-express", 0, "test")
# The module's own parser: connectors.parse() would turn any escaping exception into a
# ParseError and hide exactly what these tests look for.
RAW_PARSE = connectors.parser_for("generic")


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


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _mutate(document: dict, data: st.DataObject) -> dict:
    events = document["events"]
    event = events[data.draw(st.integers(0, len(events) - 1))]
    key = data.draw(st.sampled_from(sorted(event)))
    if data.draw(st.booleans()):
        del event[key]
    else:
        event[key] = data.draw(json_values)
    return document


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_parse_error(payload: bytes) -> None:
    with contextlib.suppress(connectors.ParseError):
        RAW_PARSE(payload, CTX)


@settings(max_examples=1000, deadline=None)
@given(st.data())
def test_mutated_fixture_only_raises_parse_error(data: st.DataObject) -> None:
    document = _mutate(json.loads(BUNDLE.read_text()), data)
    with contextlib.suppress(connectors.ParseError):
        RAW_PARSE(json.dumps(document).encode(), CTX)


@settings(max_examples=1000, deadline=None)
@given(json_values)
def test_random_json_only_raises_parse_error(value: object) -> None:
    with contextlib.suppress(connectors.ParseError):
        RAW_PARSE(json.dumps(value).encode(), CTX)
