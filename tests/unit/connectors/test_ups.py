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

FIXTURE = FIXTURES / "ups" / "multi_shipment.json"
DOCUMENT = json.loads(FIXTURE.read_text())
CTX = connectors.ParseContext("ups", 0, "test")


def test_multi_shipment_matches_golden_pair() -> None:
    result = assert_golden("ups", FIXTURE)
    ids = [scan.event_id for scan in result.scans]
    assert ids[2] == ids[3], "a re-sent scan must keep its id so dedup can drop it"
    assert len(set(ids)) == len(ids) - 1
    assert {scan.carrier for scan in result.scans} == {"ups"}


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
        result = connectors.parse("ups", payload, CTX)
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
    nested = {"trackResponse": {"shipment": [{"package": [{"activity": [value]}]}]}}
    _only_parse_error(json.dumps(nested).encode())


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_fixture_only_raises_parse_error(data: st.DataObject) -> None:
    _only_parse_error(json.dumps(_mutate(copy.deepcopy(DOCUMENT), data)).encode())
