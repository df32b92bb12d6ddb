from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import connectors
from connectors import csv_drop
from tests.conftest import FIXTURES
from tests.connector_fuzz import RECORD_EDITS, assert_only_parse_error, edit_records, fuzz_tests
from tests.golden import assert_golden
from tracking.normalize import Normalizer
from tracking.taxonomy import Status

SPREADSHEET = FIXTURES / "csv" / "spreadsheet.csv"
SEMICOLON = FIXTURES / "csv" / "semicolon.csv"
CTX = connectors.ParseContext("rapidbox", 0, "test")
HEADER = "tracking_number,status_code,event_time"


def _must_not_escape(payload: bytes) -> None:
    assert_only_parse_error("csv", payload, CTX)


EXCEL = [FIXTURES / "csv" / f"excel_{locale}.csv" for locale in ("us", "de", "uk")]


@pytest.mark.parametrize("fixture", [SPREADSHEET, SEMICOLON, *EXCEL], ids=lambda path: path.stem)
def test_fixture_matches_golden_pair(fixture: Path) -> None:
    assert_golden("csv", fixture, carrier="rapidbox")


def test_duplicate_row_keeps_its_event_id() -> None:
    scans = csv_drop.parse(SPREADSHEET.read_bytes(), CTX).scans
    assert scans[1].event_id == scans[2].event_id
    assert len({scan.event_id for scan in scans}) == len(scans) - 1


def test_spreadsheet_dates_keep_the_duplicate_row_id() -> None:
    scans = csv_drop.parse(EXCEL[0].read_bytes(), CTX).scans
    assert scans[2].event_id == scans[3].event_id


@pytest.mark.parametrize(
    ("event_time", "event_date", "iso"),
    [
        ("20.11.2026", "", "2026-11-20T12:00:00"),
        ("20.11.2026 14:03", "", "2026-11-20T14:03:00"),
        ("11/20/2026 2:03 PM", "", "2026-11-20T14:03:00"),
        ("11/20/2026 12:03 AM", "", "2026-11-20T00:03:00"),
        ("11/20/2026 12:03:09 p.m.", "", "2026-11-20T12:03:09"),
        ("2:03 PM", "11/20/2026", "2026-11-20T14:03:00"),
        ("14:03", "20.11.2026", "2026-11-20T14:03:00"),
        ("2026-11-20T14:03:00.250", "", "2026-11-20T14:03:00"),
        ("2026-11-20 14:03", "", "2026-11-20T14:03:00"),
    ],
)
def test_spreadsheet_date_forms(event_time: str, event_date: str, iso: str) -> None:
    body = f"{HEADER},event_date\nT1,DL,{event_time},{event_date}\n"
    (scan,) = csv_drop.parse(body.encode(), CTX).scans
    expected = datetime.fromisoformat(iso).replace(tzinfo=UTC)  # no place: read as UTC
    assert scan.occurred_at_ms // 1000 == int(expected.timestamp())


def test_slashed_dates_are_day_first_when_the_file_says_so() -> None:
    month_first = f"{HEADER}\nT1,DL,05/11/2026 09:00\n"
    day_first = f"{HEADER}\nT1,DL,05/11/2026 09:00\nT2,DL,20/11/2026 09:00\n"
    may = csv_drop.parse(month_first.encode(), CTX).scans[0].occurred_at_ms
    november = csv_drop.parse(day_first.encode(), CTX).scans[0].occurred_at_ms
    assert (may, november) == (1778490000000, 1793869200000)


def test_a_zone_column_beats_the_place() -> None:
    body = f"{HEADER},timezone,city,country\nT1,DL,20.11.2026 14:03,UTC,Berlin,DE\n"
    (scan,) = csv_drop.parse(body.encode(), CTX).scans
    assert (scan.occurred_at_ms, scan.zone_assumed) == (1795183380000, False)


def test_unknown_code_maps_to_unknown_and_carrier_column_wins() -> None:
    scans = csv_drop.parse(SPREADSHEET.read_bytes(), CTX).scans
    (odd,) = [scan for scan in scans if scan.code == "ZZ9"]
    assert Normalizer().canonical("csv", odd.code).status is Status.UNKNOWN
    assert odd.carrier == "rapidbox-north"
    assert {scan.carrier for scan in scans if scan is not odd} == {"rapidbox"}


def test_row_without_tracking_number_is_a_problem() -> None:
    result = csv_drop.parse(SPREADSHEET.read_bytes(), CTX)
    assert result.problems == ["line 9: tracking_number is empty; row skipped"]


def test_quoted_fields_keep_their_commas_and_quotes() -> None:
    scans = csv_drop.parse(SPREADSHEET.read_bytes(), CTX).scans
    assert scans[0].description == "Picked up, driver 12"
    assert scans[5].description == 'Scanned at "sort" belt'


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters_are_detected(delimiter: str) -> None:
    body = f"{HEADER}\nT1,DL,2026-11-20T10:00:00Z\n".replace(",", delimiter)
    assert [scan.code for scan in csv_drop.parse(body.encode(), CTX).scans] == ["DL"]


def test_zone_columns() -> None:
    body = (
        "Tracking Number , STATUS CODE,event-time,UTC Offset,timezone\n"
        "T1,IT,2026-07-01T10:00:00,+02:00,\n"
        "T1,IT,2026-07-01T10:00:00,,Europe/Amsterdam\n"
        "T1,IT,2026-07-01T10:00:00,,\n"
        "T1,IT,2026-07-01T10:00:00,,Mars/Olympus_Mons\n"
        "T1,IT,2026-07-01,,Europe/Amsterdam\n"
    )
    result = csv_drop.parse(body.encode(), CTX)
    assert [(scan.occurred_at_ms, scan.zone_assumed) for scan in result.scans] == [
        (1782892800000, False), (1782892800000, False), (1782900000000, True),
        (1782900000000, True),
    ]  # fmt: skip
    assert len(result.problems) == 1 and "Mars/Olympus_Mons" in result.problems[0]


def test_time_only_needs_event_date() -> None:
    body = f"{HEADER},event_date\nT1,DL,9:05,2026-11-20\nT2,DL,09:05,\n"
    result = csv_drop.parse(body.encode(), CTX)
    assert [scan.tracking_number for scan in result.scans] == ["T1"]
    assert "ISO 8601" in result.problems[0]


def test_cp1252_file_is_read_with_a_problem() -> None:
    body = f"{HEADER},city\nT1,DL,2026-11-20T10:00:00Z,Düsseldorf\n".encode("cp1252")
    result = csv_drop.parse(body, CTX)
    assert result.scans[0].city == "Düsseldorf"
    assert result.problems == ["file is not UTF-8; read as Windows-1252"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "no header"),
        (b"\n\n  \n", "no header"),
        (b"tracking_number,status\nT1,DL\n", "status_code, event_time"),
        (b'{"events": []}', "required column"),
    ],
)
def test_unreadable_files_raise_parse_error(payload: bytes, reason: str) -> None:
    with pytest.raises(connectors.ParseError, match=reason):
        csv_drop.parse(payload, CTX)


# -- fuzzing: only ParseError, raised by the parser itself, may escape ---------------------------

cell = st.text(max_size=20) | st.sampled_from(
    ["", "DL", "2026-11-20T10:00:00Z", "2026-11-20", "10:00", "9:5", "+25:00", "-05:00",
     "20.11.2026", "31/31/2026 2:03 PM", "11/20/2026 13:03 PM", "12:00 AM", "99.99.9999 9:99",
     "Europe/Berlin", "../etc/passwd", "America", "\x00", "0001-01-01T00:00:00+14:00",
     "9999-12-31T23:59:59-14:00", "USA", "m5h2n2"]
)  # fmt: skip
columns = st.lists(st.sampled_from(csv_drop.REQUIRED + csv_drop.OPTIONAL), min_size=1)

TestFuzz = fuzz_tests("csv", [HEADER.encode() + b"\n"], CTX)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=300))
def test_random_text_only_raises_parse_error(text: str) -> None:
    _must_not_escape(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=1000, deadline=None)
@given(columns, st.lists(st.lists(cell, max_size=14), max_size=8), st.sampled_from(",;\t"))
def test_random_tables_only_raise_parse_error(
    header: list[str], rows: list[list[str]], delimiter: str
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow([*csv_drop.REQUIRED, *header])
    writer.writerows(rows)
    _must_not_escape(out.getvalue().encode("utf-8", "surrogatepass"))


@settings(max_examples=1000, deadline=None)
@given(st.data(), st.sampled_from([SPREADSHEET, SEMICOLON]))
def test_mutated_fixture_only_raises_parse_error(data: st.DataObject, fixture: Path) -> None:
    rows = fixture.read_text().split("\n")
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from([*RECORD_EDITS, "cut"]))
        if action != "cut":
            rows = edit_records(rows, action, data, ",", cell)
        elif rows:  # a row cut short, as by a truncated upload
            index = data.draw(st.integers(0, len(rows) - 1))
            rows[index] = rows[index][: data.draw(st.integers(0, len(rows[index])))]
    _must_not_escape("\n".join(rows).encode("utf-8", "surrogatepass"))
