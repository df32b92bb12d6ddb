from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connectors
from agents.normalize import Normalizer
from agents.taxonomy import Status
from tests.conftest import FIXTURES
from tests.golden import assert_golden

FIXTURE = FIXTURES / "dhl" / "multi_shipment.json"
DOCUMENT = json.loads(FIXTURE.read_text())
CTX = connectors.ParseContext("dhl", 0, "test")


@pytest.mark.parametrize("name", ["multi_shipment.json", "not_found.json"])
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


# -- fuzzing: only ParseError raised by the parser itself (not a wrapped bug) may escape -------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(["", "2026-11-20", "2026-11-20T25:00:00", "0001-01-01T00:00:00+14:00",
                       "9999-12-31T23:59:59-14:00", "transit", "DE", "A - B - USA", " - "]),
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
    """Drop keys/items, change types, replace values: 1-4 edits at random paths."""
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
        result = connectors.parse("dhl", payload, CTX)
    except connectors.ParseError as exc:
        # connectors.parse wraps a leaked KeyError & co. as ParseError *from* it: that is a bug.
        assert exc.__cause__ is None, f"parser leaked {exc.__cause__!r}"
        assert exc.reason
        return
    for scan in result.scans:
        assert isinstance(scan.occurred_at_ms, int) and scan.code and scan.tracking_number
    assert all(isinstance(problem, str) for problem in result.problems)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_parse_error(payload: bytes) -> None:
    _only_parse_error(payload)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_random_json_only_raises_parse_error(value: Any) -> None:
    _only_parse_error(json.dumps(value).encode())
    _only_parse_error(json.dumps({"shipments": [{"id": "X", "events": [value]}]}).encode())
    _only_parse_error(json.dumps({"shipments": [{"id": "X", "status": value}]}).encode())


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_fixture_only_raises_parse_error(data: st.DataObject) -> None:
    _only_parse_error(json.dumps(_mutate(copy.deepcopy(DOCUMENT), data)).encode())
