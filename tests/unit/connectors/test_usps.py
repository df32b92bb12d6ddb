from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connectors
from agents.normalize import Normalizer
from agents.taxonomy import Status
from tests.conftest import FIXTURES
from tests.golden import assert_golden

FIXTURE = FIXTURES / "usps" / "detail.json"
BATCH = FIXTURES / "usps" / "batch.json"
DOCUMENT = json.loads(FIXTURE.read_text())
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


# -- fuzzing: only ParseError (raised by the parser itself, not a wrapped bug) may escape -------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(["", "2026-11-20", "2026-11-20T25:00:00", "0001-01-01T00:00:00+14:00",
                       "-99:99", "+05:00", "20261120", "9999999", "T"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(node, dict):
        children: Any = node.items()
    else:
        children = enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def _mutate(document: Any, data: st.DataObject) -> Any:
    for _ in range(data.draw(st.integers(1, 4))):
        paths = list(_paths(document))
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(json_values)
    return document


def _only_parse_error(payload: bytes) -> None:
    try:
        result = connectors.parse("usps", payload, CTX)
    except connectors.ParseError as exc:
        # connectors.parse wraps a leaked KeyError & co. as ParseError *from* it: that is a bug.
        assert exc.__cause__ is None, f"parser leaked {exc.__cause__!r}"
        return
    assert all(isinstance(scan.occurred_at_ms, int) and scan.code for scan in result.scans)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_parse_error(payload: bytes) -> None:
    _only_parse_error(payload)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_random_json_only_raises_parse_error(value: Any) -> None:
    _only_parse_error(json.dumps(value).encode())
    nested = {"trackingNumber": "T1", "trackingEvents": [value]}
    _only_parse_error(json.dumps(nested).encode())


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_fixture_only_raises_parse_error(data: st.DataObject) -> None:
    _only_parse_error(json.dumps(_mutate(copy.deepcopy(DOCUMENT), data)).encode())
