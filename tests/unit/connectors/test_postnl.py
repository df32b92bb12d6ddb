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
from agents.taxonomy import Reason, Status
from tests.conftest import FIXTURES
from tests.golden import assert_golden

FIXTURE = FIXTURES / "postnl" / "complete_status.json"
DOCUMENT = json.loads(FIXTURE.read_text())
CTX = connectors.ParseContext("postnl", 0, "test")


@pytest.mark.parametrize("name", ["complete_status.json", "current_status.json"])
def test_fixtures_match_golden_pairs(name: str) -> None:
    result = assert_golden("postnl", FIXTURES / "postnl" / name)
    assert {scan.carrier for scan in result.scans} == {"postnl"}


def test_duplicate_scan_keeps_one_event_id() -> None:
    ids = [scan.event_id for scan in connectors.parse("postnl", FIXTURE.read_bytes(), CTX).scans]
    assert ids[2] == ids[3], "a scan listed twice must keep its id so dedup can drop it"
    assert len(set(ids)) == len(ids) - 1


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


# -- fuzzing: only ParseError raised by the parser itself (not a wrapped bug) may escape -------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(["", "31-02-2026 10:00:00", "20-11-2026", "2026-11-20T25:00:00",
                       "0001-01-01T00:00:00+14:00", "01-01-0001 00:00:00", "007", "0", "I01"]),
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
        result = connectors.parse("postnl", payload, CTX)
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
    shipment = {"Barcode": "3S", "Event": [value], "Status": value, "OldStatus": value}
    _only_parse_error(json.dumps({"CompleteStatus": {"Shipment": shipment}}).encode())
    _only_parse_error(
        json.dumps({"CurrentStatus": {"Shipment": value}, "Warnings": value}).encode()
    )


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_fixture_only_raises_parse_error(data: st.DataObject) -> None:
    _only_parse_error(json.dumps(_mutate(copy.deepcopy(DOCUMENT), data)).encode())
