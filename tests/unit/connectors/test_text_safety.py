"""Text from carriers is made safe at the edge: nothing a connector returns can fail to encode
downstream (Avro, ClickHouse), whatever a JSON body's escapes held."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

import connectors
from connectors.base import clean_text, load_json


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
