"""Fuzz harness shared by the connector tests: the contract is that a parser returns a
well-formed `ParseResult` or raises `ParseError`, and nothing else escapes (STYLE.md, practice 2).

`assert_only_parse_error` calls the module's own parser (`connectors.parser_for`), never
`connectors.parse()`: that wrapper turns any escaping exception into a ParseError, which would
hide exactly the bugs these tests look for. `fuzz_tests` and `json_fuzz_tests` build the
standard test classes for a format; formats with their own structure (XML elements, X12
segments, CSV rows) add their mutations next to their other tests.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connectors

# CI requirement: at least 1,000 examples per parser, whatever the active Hypothesis profile.
fuzz_settings = settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Times every JSON carrier must survive: out-of-range hour, the extremes of the calendar with
# the extremes of UTC offsets, a date alone, nothing.
EDGE_TIMES = (
    "",
    "2026-11-20",
    "2026-11-20T25:00:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
)


def assert_only_parse_error(
    payload_format: str, payload: bytes, ctx: connectors.ParseContext | None = None
) -> None:
    """Parse with the module's parser: a ParseError with a reason or a well-formed result pass;
    any other exception (a leaked KeyError, TypeError, ...) fails the test."""
    parser = connectors.parser_for(payload_format)
    try:
        result = parser(payload, ctx or connectors.ParseContext(payload_format, 0, "test"))
    except connectors.ParseError as exc:
        assert isinstance(exc.reason, str) and exc.reason, "a ParseError must say why"
        return
    except Exception as exc:
        raise AssertionError(f"{payload_format} parser leaked {exc!r}") from exc
    for scan in result.scans:
        assert isinstance(scan.occurred_at_ms, int), scan
        assert scan.tracking_number and scan.code and scan.carrier and scan.event_id, scan
    assert all(isinstance(problem, str) for problem in result.problems)
    for eta in result.etas:
        assert eta.tracking_number and eta.carrier and eta.kind in connectors.ETA_KINDS, eta
        assert all(isinstance(ms, int) for ms in (eta.estimated_at_ms, eta.window_start_ms,
                                                   eta.window_end_ms)), eta  # fmt: skip
    for reject in result.rejects:
        assert reject.reason and isinstance(reject.fragment, bytes), reject


def json_values(*carrier_strings: str, max_text: int | None = 12) -> st.SearchStrategy[Any]:
    """Any JSON value, with leaves biased towards edge times and the carrier's own strings."""
    leaves = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=max_text)
        | st.sampled_from([*EDGE_TIMES, *carrier_strings])
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=12,
    )


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(node, dict):
        children: Any = node.items()
    else:
        children = enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def mutate_json(document: Any, data: st.DataObject, values: st.SearchStrategy[Any]) -> Any:
    """A copy with 1-4 edits at random paths: drop a key or item, or replace it with any value
    (which changes its type as often as not)."""
    document = copy.deepcopy(document)
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
            parent[path[-1]] = data.draw(values)
    return document


RECORD_EDITS = ("delete", "duplicate", "shuffle", "alter")


def edit_records(
    records: list[str],
    action: str,
    data: st.DataObject,
    separator: str,
    cells: st.SearchStrategy[str],
) -> list[str]:
    """One of RECORD_EDITS on a line-based payload (CSV rows, X12 segments): drop, repeat or
    reorder records, or replace one field of a record (or add one past its end)."""
    if action == "shuffle":
        return list(data.draw(st.permutations(records)))
    if not records:
        return records
    records = list(records)
    index = data.draw(st.integers(0, len(records) - 1))
    if action == "delete":
        del records[index]
    elif action == "duplicate":
        records.insert(index, records[index])
    else:
        fields = records[index].split(separator)
        position = data.draw(st.integers(0, len(fields)))
        fields[position : position + 1] = [data.draw(cells)]
        records[index] = separator.join(fields)
    return records


def fuzz_tests(
    payload_format: str, prefixes: Sequence[bytes] = (), ctx: connectors.ParseContext | None = None
) -> type:
    """A test class: random bytes alone and after each prefix (a header that gets the parser
    past its first check) may only raise ParseError. Built fresh per call, so each format's
    tests are their own functions (Hypothesis keeps one example database per function)."""

    class FuzzTests:
        @fuzz_settings
        @given(st.binary(max_size=400))
        def test_random_bytes_only_raise_parse_error(self, payload: bytes) -> None:
            for prefix in (b"", *prefixes):
                assert_only_parse_error(payload_format, prefix + payload, ctx)

    return FuzzTests


def json_fuzz_tests(
    payload_format: str,
    fixtures: Sequence[Path],
    values: st.SearchStrategy[Any],
    envelopes: Callable[[Any], list[Any]] = lambda value: [],
) -> type:
    """`fuzz_tests` plus, for a JSON format: any JSON value, also wrapped in each of the
    format's `envelopes` (so it reaches the parser's inner levels), and fixtures with random
    edits may only raise ParseError."""
    documents = [json.loads(fixture.read_bytes()) for fixture in fixtures]

    class JsonFuzzTests(fuzz_tests(payload_format)):  # type: ignore[misc]
        @fuzz_settings
        @given(values)
        def test_random_json_only_raises_parse_error(self, value: Any) -> None:
            for document in (value, *envelopes(value)):
                assert_only_parse_error(payload_format, json.dumps(document).encode())

        @fuzz_settings
        @given(st.sampled_from(documents), st.data())
        def test_mutated_fixture_only_raises_parse_error(
            self, document: Any, data: st.DataObject
        ) -> None:
            mutated = mutate_json(document, data, values)
            assert_only_parse_error(payload_format, json.dumps(mutated).encode())

    return JsonFuzzTests
