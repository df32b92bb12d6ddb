from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import connectors
from connectors import upu_edi
from tests.conftest import FIXTURES
from tests.connector_fuzz import (
    assert_only_parse_error,
    fuzz_settings,
    json_fuzz_tests,
    json_values,
)
from tests.golden import assert_golden
from tracking.normalize import MAPPINGS_DIR, Normalizer, load_mapping
from tracking.taxonomy import Reason, Status

MULTI = FIXTURES / "upu_edi" / "multi_item.json"
CUSTOMS = FIXTURES / "upu_edi" / "customs.json"
CTX = connectors.ParseContext("upu_edi", 0, "test")

# The EMSEVT item event codes named in the public sources (PRIME operations FAQ and the event
# names posts print on their tracking pages), as listed in mappings/upu_edi.csv.
EVENT_CODES = [
    "EMA", "EMB", "EMC", "EMD", "EME", "EMF", "EMG", "EMH", "EMI", "EMJ", "EMK",
    "EDA", "EDB", "EDC", "EDD", "EDE", "EDF", "EDG", "EDH", "EDX",
    "EXA", "EXB", "EXC", "EXD", "EXX",
]  # fmt: skip


def _parse(document: Any) -> connectors.ParseResult:
    return upu_edi.parse(json.dumps(document).encode(), CTX)


@pytest.mark.parametrize("fixture", [MULTI, CUSTOMS], ids=lambda path: path.stem)
def test_fixture_matches_golden_pair(fixture: Path) -> None:
    result = assert_golden("upu_edi", fixture)
    assert {scan.carrier for scan in result.scans} == {"upu_edi"}


def test_duplicate_event_keeps_its_event_id() -> None:
    ids = [scan.event_id for scan in upu_edi.parse(MULTI.read_bytes(), CTX).scans]
    assert ids[2] == ids[3], "an event listed twice must keep its id so dedup can drop it"
    assert len(set(ids)) == len(ids) - 1


def test_oddities_are_problems_not_errors() -> None:
    assert upu_edi.parse(MULTI.read_bytes(), CTX).problems == [
        "LZ261115020US events[4] has no EventTypeCd",
        "EdiMailitems[2] has no MailitemFid",
        "RB261110036CN: no events",
    ]


def test_reason_codes_ride_in_the_description_unmapped() -> None:
    scans = upu_edi.parse(MULTI.read_bytes(), CTX).scans + _customs_scans()
    described = {scan.code: scan.description for scan in scans if scan.description}
    assert described == {
        "EMH": "NonDeliveryReasonCd 28; NonDeliveryMeasureCd F",
        "EME": "RetentionReasonCd 50",
    }


def _customs_scans() -> list[connectors.CarrierScan]:
    return upu_edi.parse(CUSTOMS.read_bytes(), CTX).scans


def test_numeric_ips_event_type_stays_unknown() -> None:
    normalizer = Normalizer()
    assert normalizer.canonical("upu_edi", "3").status is Status.UNKNOWN
    assert normalizer.unknown_codes[("upu_edi", "3")] == 1


def test_every_listed_event_code_is_mapped_and_nothing_else() -> None:
    table = load_mapping(MAPPINGS_DIR / "upu_edi.csv")
    assert sorted(table) == sorted(EVENT_CODES)
    assert all(canonical.status is not Status.UNKNOWN for canonical in table.values())
    assert table["EME"].reason is Reason.CUSTOMS_HOLD
    assert (table["EMI"].status, table["EMH"].status) == (Status.DELIVERED, Status.FAILED_ATTEMPT)


@pytest.mark.parametrize(
    ("event", "sides", "expected"),
    [
        # S34 office code: its country wins over the item's countries
        ({"EventTypeCd": "EMA", "LocationId": "frcdga"}, ("NL", "DE"), ("FR", True)),
        # no office: export events happen in the origin country, import in the destination
        ({"EventTypeCd": "EXB"}, ("NL", "DE"), ("NL", True)),
        ({"EventTypeCd": "EDD"}, ("NL", "DE"), ("DE", True)),
        # transit without an office, and an office code that is not S34: no place
        ({"EventTypeCd": "EMK", "LocationId": "12345"}, ("NL", "DE"), ("", True)),
        # a multi-zone country is read in UTC, flagged; an offset is exact anywhere
        ({"EventTypeCd": "EMI", "LocationId": "USNYCA"}, ("NL", "US"), ("US", True)),
        (
            {"EventTypeCd": "EMI", "EventLocalDate": "2026-07-01T12:00:00-04:00"},
            ("NL", "US"),
            ("US", False),
        ),
    ],
)
def test_place_and_zone(
    event: dict[str, str], sides: tuple[str, str], expected: tuple[str, bool]
) -> None:
    event = {"EventLocalDate": "2026-07-01T12:00:00", **event}
    item = {"MailitemFid": "X1", "OriginCountryCd": sides[0], "DestinationCountryCd": sides[1]}
    (scan,) = _parse({"EdiMailitems": [{**item, "EdiMailitemEvents": [event]}]}).scans
    assert (scan.country, scan.zone_assumed) == expected
    offsets = {"FR": 2, "NL": 2, "DE": 2, "": 0, "US": 0}  # summer time in Europe
    hours = 16 if not scan.zone_assumed else 12 - offsets[scan.country]
    assert scan.occurred_at_ms == 1782864000000 + hours * 3_600_000  # 2026-07-01T00:00Z


def test_unreadable_time_skips_the_event_with_its_reason() -> None:
    events = [{"EventTypeCd": "EMA", "EventLocalDate": "yesterday"}, {"EventTypeCd": "EMB"}]
    result = _parse({"EdiMailitems": [{"MailitemFid": "X1", "EdiMailitemEvents": events}]})
    assert result.scans == []
    assert result.problems == [
        "X1 events[0] (EMA) skipped: timestamp 'yesterday' is not ISO 8601",
        "X1 events[1] (EMB) has no EventLocalDate; skipped",
    ]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"Results": []}', "EdiMailitems"),
        (b'{"EdiMailitems": {"MailitemFid": "X"}}', "EdiMailitems"),
    ],
)
def test_unreadable_payloads_raise_parse_error(payload: bytes, reason: str) -> None:
    with pytest.raises(connectors.ParseError, match=reason):
        upu_edi.parse(payload, CTX)


def test_empty_response_is_a_problem() -> None:
    assert _parse({"EdiMailitems": []}).problems == ["response holds no mail items"]


# -- fuzzing: only ParseError, raised by the parser itself, may escape ---------------------------

VALUES = json_values(
    *EVENT_CODES, "3", "NLAMSA", "12345", "2026-11-16T09:40:00", "2026-11-18 08:00",
    "2026-11-17T06:12:31.250", "EdiMailitems", "EdiMailitemEvents", "MailitemFid",
)  # fmt: skip


def _envelopes(value: Any) -> list[Any]:
    return [
        {"EdiMailitems": value},
        {"EdiMailitems": [{"MailitemFid": "X1", "EdiMailitemEvents": value}]},
        {"EdiMailitems": [{"MailitemFid": "X1", "EdiMailitemEvents": [value]}]},
    ]


TestFuzz = json_fuzz_tests("upu_edi", [MULTI, CUSTOMS], VALUES, _envelopes)


@fuzz_settings
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "EventTypeCd": st.sampled_from([*EVENT_CODES, "", "3"]) | st.integers(),
                "LocationId": st.sampled_from(["NLAMSA", "", "ÄÖÜ123", "12345", "xx"]),
                "EventLocalDate": VALUES,
                "RetentionReasonCd": VALUES,
            },
        ),
        max_size=5,
    )
)
def test_random_events_only_raise_parse_error(events: list[dict[str, Any]]) -> None:
    item = {"MailitemFid": "X1", "OriginCountryCd": "NL", "EdiMailitemEvents": events}
    assert_only_parse_error("upu_edi", json.dumps({"EdiMailitems": [item]}).encode(), CTX)
