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

FIXTURE = FIXTURES / "fedex" / "multi_parcel.json"
DOCUMENT = json.loads(FIXTURE.read_text())
CTX = connectors.ParseContext("fedex", 0, "test")


def test_multi_parcel_matches_golden_pair() -> None:
    result = assert_golden("fedex", FIXTURE)
    ids = [scan.event_id for scan in result.scans]
    assert ids[2] == ids[3], "a re-sent scan must keep its id so dedup can drop it"
    assert len(set(ids)) == len(ids) - 1
    assert {scan.carrier for scan in result.scans} == {"fedex"}


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
        result = connectors.parse("fedex", payload, CTX)
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
    nested = {"output": {"completeTrackResults": [{"trackResults": [value]}]}}
    _only_parse_error(json.dumps(nested).encode())


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_fixture_only_raises_parse_error(data: st.DataObject) -> None:
    _only_parse_error(json.dumps(_mutate(copy.deepcopy(DOCUMENT), data)).encode())
