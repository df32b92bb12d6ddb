from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connectors
from tests.conftest import FIXTURES
from tests.connector_fuzz import assert_only_parse_error, fuzz_tests
from tests.golden import assert_golden
from tracking.normalize import Normalizer
from tracking.taxonomy import Status

DIR = FIXTURES / "canadapost"
FIXTURE = DIR / "detail.xml"
CTX = connectors.ParseContext("canadapost", 0, "test")
NS = "{http://www.canadapost.ca/ws/track-v2}"


@pytest.mark.parametrize(
    "name",
    [
        "detail.xml",
        "international.xml",
        "soap_batch.xml",
        "no_pin_history.xml",
        "french_latin1.xml",
    ],
)
def test_fixtures_match_golden_pairs(name: str) -> None:
    result = assert_golden("canadapost", DIR / name)
    assert {scan.carrier for scan in result.scans} <= {"canadapost"}


def test_duplicate_scan_keeps_one_event_id() -> None:
    ids = [
        scan.event_id for scan in connectors.parse("canadapost", FIXTURE.read_bytes(), CTX).scans
    ]
    assert ids[2] == ids[3], "a scan listed twice must keep its id so dedup can drop it"
    assert len(set(ids)) == len(ids) - 1


def test_oddities_are_problems_not_errors() -> None:
    def problems(name: str) -> list[str]:
        return connectors.parse("canadapost", (DIR / name).read_bytes(), CTX).problems

    assert problems("international.xml") == ["LX123456785CA occurrence[3] (0100) has no location"]
    assert problems("soap_batch.xml") == ["1371134583769930: no significant events"]
    assert problems("no_pin_history.xml") == ["Canada Post 004: No Pin History"]


def test_unknown_code_maps_to_unknown() -> None:
    normalizer = Normalizer()
    assert normalizer.canonical("canadapost", "0999").status is Status.UNKNOWN  # not published
    assert normalizer.unknown_codes[("canadapost", "0999")] == 1
    assert normalizer.canonical("canadapost", "0170").status is Status.IN_TRANSIT  # processed
    assert normalizer.canonical("canadapost", "1496").status is Status.DELIVERED
    assert normalizer.canonical("canadapost", "0174").status is Status.OUT_FOR_DELIVERY


@pytest.mark.parametrize(
    ("zone", "province", "expected"),
    [
        ("NST", "NL", ("2026-07-01T16:00", False)),  # -03:30 even in July: the label wins
        ("ndt", "NL", ("2026-07-01T15:00", False)),
        ("HAE", "QC", ("2026-07-01T16:30", False)),  # fr-CA abbreviation of EDT
        ("", "SK", ("2026-07-01T18:30", True)),  # no label: Saskatchewan stays on CST
        ("", "", ("2026-07-01T12:30", True)),  # nothing known: UTC
        ("PACIFIC", "", ("2026-07-01T12:30", True)),
    ],
)
def test_zone_rule(zone: str, province: str, expected: tuple[str, bool]) -> None:
    xml = (
        "<tracking-detail><pin>P1</pin><significant-events><occurrence>"
        "<event-identifier>500</event-identifier><event-date>2026-07-01</event-date>"
        f"<event-time>12:30:00</event-time><event-time-zone>{zone}</event-time-zone>"
        f"<event-site>SOMEWHERE</event-site><event-province>{province}</event-province>"
        "</occurrence></significant-events></tracking-detail>"
    )
    scan = connectors.parse("canadapost", xml.encode(), CTX).scans[0]
    moment = datetime.fromtimestamp(scan.occurred_at_ms / 1000, UTC)
    assert (moment.strftime("%Y-%m-%dT%H:%M"), scan.zone_assumed) == expected
    assert scan.code == "0500" and scan.country == "CA"


def test_declared_latin1_and_leading_blanks_are_read() -> None:
    payload = (DIR / "french_latin1.xml").read_bytes()
    assert payload.startswith(b"\n  <?xml") and "traité".encode("latin-1") in payload
    scans = connectors.parse("canadapost", payload, CTX).scans
    assert [scan.description for scan in scans][1] == "Article traité"
    utf8 = b" \r\n" + FIXTURE.read_bytes()  # the same blanks before a UTF-8 declaration
    assert len(connectors.parse("canadapost", utf8, CTX).scans) == 6


def test_the_revised_expected_date_wins_over_the_original() -> None:
    (eta,) = connectors.parse("canadapost", (DIR / "french_latin1.xml").read_bytes(), CTX).etas
    noon_winnipeg = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)  # changed-expected-date, CST
    assert (eta.kind, eta.estimated_at_ms) == ("scheduled", int(noon_winnipeg.timestamp() * 1000))


def test_an_encoding_it_cannot_read_is_a_parse_error() -> None:
    payload = b'<?xml version="1.0" encoding="EBCDIC-CP-US"?><tracking-detail/>'
    with pytest.raises(connectors.ParseError, match="encoding this parser does not read"):
        connectors.parse("canadapost", payload, CTX)


@pytest.mark.parametrize(
    "payload",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        b"<tracking-detail><pin>&lol2;</pin></tracking-detail>",
        b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><tracking-detail/>',
        b'<tracking-detail><!ENTITY x "y"></tracking-detail>',
        "<!DOCTYPE x><tracking-detail/>".encode("utf-8-sig"),
    ],
)
def test_entity_declarations_are_refused(payload: bytes) -> None:
    with pytest.raises(connectors.ParseError, match="DOCTYPE or ENTITY"):
        connectors.parse("canadapost", payload, CTX)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not well-formed"),
        (b'{"tracking-detail": {}}', "not well-formed"),
        (b"<tracking-detail><pin>1</pin>", "not well-formed"),
        (b"\xff\xfe<\x00a\x00/\x00>\x00", "not UTF-8"),
        (b"<rate-quotes/>", "root <rate-quotes>"),
    ],
)
def test_unreadable_payloads_raise_parse_error_with_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(connectors.ParseError, match=reason):
        connectors.parse("canadapost", payload, CTX)


# -- fuzzing: only ParseError, raised by the parser itself, may escape ---------------------------

TAGS = ["tracking-detail", "pin", "dnc", "significant-events", "occurrence", "event-identifier",
        "expected-delivery-date", "changed-expected-date", "destination-postal-id",
        "event-date", "event-time", "event-time-zone", "event-description", "event-site",
        "event-province", "messages", "message", "code", "description"]  # fmt: skip
TEXTS = st.text(max_size=10) | st.sampled_from(
    ["", "0174", "1496", "2026-11-20", "2026-02-30", "25:61:00", "EST", "NST", "ON", "NL",
     "02650,Israel", ",", "0001-01-01", "9999-12-31", "23:59:59", "ISRAEL", "12:05", "R3C4T3"]
)  # fmt: skip
NAMESPACES = st.sampled_from(["", NS, "{http://www.canadapost.ca/ws/soap/track}", "{urn:x}"])


@st.composite
def elements(draw: st.DrawFn, depth: int = 0) -> ET.Element:
    element = ET.Element(draw(NAMESPACES) + draw(st.sampled_from(TAGS)))
    element.text = draw(TEXTS)
    if depth < 4:
        for _ in range(draw(st.integers(0, 4))):
            element.append(draw(elements(depth + 1)))
    return element


def _mutate(root: ET.Element, data: st.DataObject) -> ET.Element:
    """Drop, duplicate or rename elements and replace their text: 1-4 edits."""
    for _ in range(data.draw(st.integers(1, 4))):
        parents = [(parent, child) for parent in root.iter() for child in parent]
        if not parents:
            break
        parent, child = data.draw(st.sampled_from(parents))
        action = data.draw(st.sampled_from(["drop", "duplicate", "rename", "text", "nest"]))
        if action == "drop":
            parent.remove(child)
        elif action == "duplicate":
            parent.append(copy.deepcopy(child))
        elif action == "rename":
            child.tag = data.draw(NAMESPACES) + data.draw(st.sampled_from(TAGS))
        elif action == "text":
            child.text = data.draw(TEXTS)
        else:
            child.append(data.draw(elements(3)))
    return root


TestFuzz = fuzz_tests("canadapost", [b'<?xml version="1.0"?>'])


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_random_text_in_a_document_only_raises_parse_error(text: str) -> None:
    assert_only_parse_error(
        "canadapost", f"<tracking-detail><pin>1</pin>{text}</tracking-detail>".encode()
    )


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(elements())
def test_random_xml_only_raises_parse_error(root: ET.Element) -> None:
    assert_only_parse_error("canadapost", ET.tostring(root))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["detail.xml", "international.xml", "soap_batch.xml", "french_latin1.xml"]),
    st.data(),
)
def test_mutated_fixture_only_raises_parse_error(name: str, data: st.DataObject) -> None:
    payload = (DIR / name).read_bytes()
    root = ET.fromstring(payload.lstrip())  # french_latin1.xml starts with blanks
    assert_only_parse_error("canadapost", ET.tostring(_mutate(root, data)))
    assert_only_parse_error(
        "canadapost", payload[: data.draw(st.integers(0, len(payload)))]
    )  # cut short
