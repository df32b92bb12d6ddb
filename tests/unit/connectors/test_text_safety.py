"""Text from carriers is made safe at the edge: nothing a connector returns can fail to encode
downstream (Avro, ClickHouse), whatever a JSON body's escapes held."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

import connectors
from connectors.base import ParseError, _clean, clean_text, load_json


@given(st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF)))
def test_clean_text_always_encodes_and_keeps_safe_text(text: str) -> None:
    cleaned = clean_text(text)
    cleaned.encode("utf-8")  # never raises: no lone surrogate survives
    assert len(cleaned) == len(text)
    if all(ch.isprintable() or ch in "\t\n\r" for ch in text) and not any(
        0xD800 <= ord(ch) <= 0xDFFF for ch in text
    ):
        assert cleaned == text


def test_lone_surrogates_and_control_characters_in_json_escapes() -> None:
    body = b'{"a": "x\\udfff", "b": ["ok", "\\u0000bell\\u0007"], "c\\ud800": 1}'
    assert load_json(body) == {"a": "x\ufffd", "b": ["ok", " bell "], "c\ufffd": 1}
    assert load_json(b'{"a": "caf\\u00e9 \\ud83d\\ude00"}') == {"a": "café 😀"}, "pairs stay"


def test_a_generic_webhook_with_a_lone_surrogate_yields_encodable_scans() -> None:
    body = json.dumps(
        {
            "carrier": "acme",
            "events": [
                {
                    "tracking_number": "T1\udfff",
                    "code": "DL",
                    "description": "x\udfff",
                    "occurred_at": "2026-11-20T14:03:00+01:00",
                    "location": {"city": "Ber\udffflin", "country": "DE"},
                }
            ],
        }  # fmt: skip
    ).encode()
    assert b"\\udfff" in body
    result = connectors.parse("generic", body, connectors.ParseContext("acme", 0))
    (scan,) = result.scans
    for value in (scan.tracking_number, scan.description, scan.city):
        value.encode("utf-8")
    assert scan.description == "x\ufffd"


def _always_walked(payload: bytes) -> object:
    """load_json without its pre-check: every document is walked (ParseError as load_json's)."""
    try:
        document = json.loads(payload)
    except ValueError:
        return ParseError
    return _clean(document)


def _loaded(payload: bytes) -> object:
    try:
        return load_json(payload)
    except ParseError:
        return ParseError


def test_unsafe_text_without_any_u_escape_is_cleaned_too() -> None:
    # \b and \f are escapes of control characters without a \u; DEL and a surrogate raw.
    assert load_json(b'{"a": "x\\by\\fz"}') == {"a": "x y z"}
    assert load_json(b'{"a": "del\x7f"}') == {"a": "del "}
    assert load_json(b'{"a": "lone\xed\xb0\x80"}') == {"a": "lone\ufffd"}
    utf16 = '{"a": "x\x7f\udfff"}'.encode("utf-16", "surrogatepass")
    assert load_json(utf16) == {"a": "x \ufffd"}


_ANY_TEXT = st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF))
_DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_ANY_TEXT, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=1000, deadline=None)
@given(_DOCUMENTS, st.booleans(), st.sampled_from(["utf-8", "utf-16", "utf-32"]))
def test_walking_only_payloads_that_may_hold_unsafe_text_reads_the_same(
    document: object, ascii_only: bool, encoding: str
) -> None:
    """Escaped or raw, in any of json's encodings: the pre-check never skips a document the
    walk would have changed (a raw DEL or surrogate with or without any escape included)."""
    payload = json.dumps(document, ensure_ascii=ascii_only).encode(encoding, "surrogatepass")
    assert _loaded(payload) == _always_walked(payload)


# Pieces of a JSON string, each valid there: harmless and unsafe escapes, an escaped backslash
# before text that looks like an escape, raw DEL and surrogate bytes, and a raw Hangul syllable
# whose UTF-8 starts like a surrogate's.
_PIECES = [
    b"\\u00e9",
    b"\\u007f",
    b"\\u0001",
    b"\\uDC00",
    b"\\ud83d\\ude00",
    b"\\b",
    b"\\f",
    b"\\n",
    b"\\\\u0001",
    b"\\\\",
    b'\\"',
    b"\x7f",
    b"\xed\xa0\x80",
    b"\xed\x9f\xbf",
    b"\x01",
    b"\x1f",
    b"\t",
    b"a",
]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=8))
def test_pre_check_on_strings_of_escapes_and_raw_bytes(pieces: list[bytes]) -> None:
    payload = b'{"k": "' + b"".join(pieces) + b'"}'
    assert _loaded(payload) == _always_walked(payload)
