from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import connectors
from connectors import x12_214
from tests.conftest import FIXTURES
from tests.connector_fuzz import RECORD_EDITS, assert_only_parse_error, edit_records, fuzz_tests
from tests.golden import assert_golden
from tracking.normalize import Normalizer
from tracking.taxonomy import Status

MULTI = FIXTURES / "x12_214" / "multi_transaction.edi"
PIPE = FIXTURES / "x12_214" / "pipe_newline.edi"
ESTIMATES = FIXTURES / "x12_214" / "estimates.edi"
PARCELS = FIXTURES / "x12_214" / "lx_parcels.edi"
CTX = connectors.ParseContext("odfl", 0, "test")
ISA = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
    "*261118*1405*U*00401*000000001*0*P*>~"
)


def _segments(path: Path) -> tuple[list[str], str, str]:
    """(segments, element separator, terminator) of a fixture, for mutating it."""
    text = path.read_text()
    terminator = "~" if "~" in text else "\n"
    return [s.strip() for s in text.split(terminator) if s.strip()], text[3], terminator


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _must_not_escape(payload: bytes) -> None:
    assert_only_parse_error("x12_214", payload, CTX)


@pytest.mark.parametrize("fixture", [MULTI, PIPE, ESTIMATES, PARCELS], ids=lambda path: path.stem)
def test_fixture_matches_golden_pair(fixture: Path) -> None:
    assert_golden("x12_214", fixture, carrier="odfl")


def test_duplicate_scan_keeps_its_event_id() -> None:
    scans = x12_214.parse(MULTI.read_bytes(), CTX).scans
    assert scans[2].event_id == scans[3].event_id, "a re-sent AT7 must dedupe to one event"
    assert len({scan.event_id for scan in scans}) == len(scans) - 1


def test_unknown_status_code_maps_to_unknown() -> None:
    scans = x12_214.parse(MULTI.read_bytes(), CTX).scans
    unknown = [scan for scan in scans if scan.code == "Z9"]
    assert len(unknown) == 1 and unknown[0].zone_assumed, "no time code, no MS1: assumed zone"
    assert Normalizer().canonical("x12_214", "Z9").status is Status.UNKNOWN


def test_interchange_with_three_transactions_reads_clean() -> None:
    result = x12_214.parse(MULTI.read_bytes(), CTX)
    assert result.problems == []
    assert len({scan.tracking_number for scan in result.scans}) == 3
    assert result.scans[5].tracking_number == "7781234502", "empty B10-01 falls back to L11 CN"


def test_separators_come_from_the_isa_header() -> None:
    result = x12_214.parse(PIPE.read_bytes(), CTX)
    assert [scan.code for scan in result.scans] == ["X4", "X6-AO", "AV"]
    assert result.problems == ["transaction 1001: SE counts '9', found 12"]


def test_control_number_mismatches_are_problems() -> None:
    text = MULTI.read_text().replace("SE*28*0001", "SE*28*9999").replace("GE*3*4711", "GE*2*4711")
    result = x12_214.parse(text.encode(), CTX)
    assert len(result.scans) == 13
    assert "transaction 0001: SE control '9999' does not match '0001'" in result.problems
    assert "GE counts '2', found 3" in result.problems


def test_scac_is_the_carrier_when_the_request_names_none() -> None:
    scans = x12_214.parse(MULTI.read_bytes(), connectors.ParseContext("", 0)).scans
    assert {scan.carrier for scan in scans} == {"odfl"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "no ISA header"),
        (b"GS*QM*A*B*20261118*1405*1*X*004010~ST*214*0001~SE*2*0001~", "no ISA header"),
        (b'{"not": "edi"}', "no ISA header"),
        (b"ISA*00*  *00", "fewer than 16 elements"),
        (ISA.replace("*>~", "*~~").encode(), "unusable separators"),
    ],
)
def test_unreadable_payloads_raise_parse_error(payload: bytes, reason: str) -> None:
    with pytest.raises(connectors.ParseError, match=reason):
        x12_214.parse(payload, CTX)


def test_bad_dates_and_time_codes_are_problems_not_failures() -> None:
    body = "~".join([
        ISA[:-1], "ST*214*0001", "B10*PRO1**ABCD", "LX*1", "AT7*X6*NS***20261399*1200*ET",
        "AT7*X6*NS***20261118*2599*ET", "AT7*X6*NS***20261118*1200*QQ", "MS1*RENO*NV",
        "AT7*X6*NS***20261118*12", "SE*9*0001", "",
    ])  # fmt: skip
    result = x12_214.parse(body.encode(), CTX)
    assert len(result.scans) == 2 and all(scan.zone_assumed for scan in result.scans)
    assert len(result.problems) == 4


def test_estimates_are_etas_never_scans() -> None:
    body = "~".join([
        ISA[:-1], "ST*214*0001", "B10*PRO1**ABCD", "LX*1", "AT7*AG*NS***20261118*1200*ET",
        "LX*2", "AT7*X2*NS***20261119*0900*CT", "AT7*C1*NS***20261117*2200*CT", "SE*8*0001", "",
    ])  # fmt: skip
    result = x12_214.parse(body.encode(), CTX)
    assert result.scans == [] and result.problems == []
    assert [(eta.kind, eta.estimated_at_ms) for eta in result.etas] == [
        ("estimated", _ms(datetime(2026, 11, 18, 17, 0, tzinfo=UTC))),  # 12:00 EST
        ("estimated", _ms(datetime(2026, 11, 19, 15, 0, tzinfo=UTC))),  # 09:00 CST
    ], "C1 (estimated departure from a terminal) is neither a scan nor a delivery estimate"


def test_loops_with_their_own_references_are_parcels_of_their_own() -> None:
    result = x12_214.parse(PARCELS.read_bytes(), CTX)
    first, second = result.scans[:5], result.scans[5:]
    assert [s.tracking_number for s in first] == [
        "PRO5500431",
        "PO-481516",
        "PO-481517",
        "PO-481516",
        "PO-481517",
    ], "the shipment-wide pickup keeps the PRO; each order's loops become their own parcel"
    assert {s.tracking_number for s in second} == {"PRO5500432"}, "one PO in every loop: one parcel"
    assert first[1].event_id != first[2].event_id, "same code and minute, different parcels"


# -- fuzzing: only ParseError, raised by the parser itself, may escape ---------------------------

SEGMENT_IDS = ["ISA", "GS", "ST", "B10", "L11", "REF", "N1", "N3", "N4", "LX", "AT7", "MS1", "MS2",
               "AT8", "SE", "GE", "IEA", "K1", ""]  # fmt: skip
element = st.text(alphabet=st.characters(codec="latin-1"), max_size=12) | st.sampled_from(
    ["214", "NS", "AG", "X6", "D1", "LT", "ET", "UT", "20", "20261118", "1200", "00000000",
     "99991231", "2359", "235959", "1", "0001", "CN", "BM", "US", "CA", "ON", "TX", "AB", "ED",
     "LD", "X2", "B6", "PO", "2I", "SH"]
)  # fmt: skip


TestFuzz = fuzz_tests("x12_214", [ISA.encode()], CTX)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=300))
def test_random_text_after_isa_only_raises_parse_error(text: str) -> None:
    _must_not_escape((ISA + text).encode("utf-8", "surrogatepass"))


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(SEGMENT_IDS), st.lists(element, max_size=9)), max_size=40),
    st.sampled_from(["\n", "", "\r\n"]),
)
def test_segment_soup_only_raises_parse_error(
    soup: list[tuple[str, list[str]]], newline: str
) -> None:
    body = "".join("*".join([tag, *elements]) + "~" + newline for tag, elements in soup)
    _must_not_escape((ISA + newline + body).encode("utf-8", "surrogatepass"))


@settings(max_examples=1000, deadline=None)
@given(st.data(), st.sampled_from([MULTI, PIPE, ESTIMATES, PARCELS]))
def test_mutated_fixture_only_raises_parse_error(data: st.DataObject, fixture: Path) -> None:
    segments, sep, terminator = _segments(fixture)
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from([*RECORD_EDITS, "seps"]))
        if action != "seps":
            segments = edit_records(segments, action, data, sep, element)
        else:
            new_sep, new_term = data.draw(st.sampled_from(["*", "|", "^", "~", ":", "\n", "A"])), \
                data.draw(st.sampled_from(["~", "\n", "'", "*", " "]))  # fmt: skip
            segments = [s.replace(sep, new_sep) for s in segments]
            sep, terminator = new_sep, new_term
    _must_not_escape(terminator.join(segments).encode("utf-8", "surrogatepass"))
