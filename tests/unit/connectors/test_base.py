"""The contract's shared pieces: cross-source event identity and carrier ETA windows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import ETA_KINDS, CarrierEta, scan_event_id
from tests.connector_fuzz import fuzz_settings

MINUTE = 60_000
# Epoch ms over +-200 years, so negative (pre-1970) minutes are covered too.
moments = st.integers(min_value=-(6 * 10**12), max_value=6 * 10**12)
texts = st.text(min_size=1, max_size=20)


@fuzz_settings
@given(texts, texts, texts, moments, st.integers(0, MINUTE - 1), st.integers(0, MINUTE - 1))
def test_id_ignores_sub_minute_differences(
    carrier: str, number: str, code: str, at: int, a: int, b: int
) -> None:
    minute = at - at % MINUTE
    assert scan_event_id(carrier, number, code, minute + a) == scan_event_id(
        carrier, number, code, minute + b
    )


@fuzz_settings
@given(texts, texts, texts, moments, st.integers(min_value=1, max_value=10**9))
def test_id_differs_for_different_minutes(
    carrier: str, number: str, code: str, at: int, minutes: int
) -> None:
    later = at + minutes * MINUTE
    assert scan_event_id(carrier, number, code, at) != scan_event_id(carrier, number, code, later)


@fuzz_settings
@given(texts, texts, texts, texts, moments)
def test_id_differs_for_different_codes_and_parcels(
    carrier: str, number: str, code: str, other: str, at: int
) -> None:
    same = scan_event_id(carrier, number, code, at)
    if code.strip().upper() != other.strip().upper():
        assert scan_event_id(carrier, number, other, at) != same
    if number != other:
        assert scan_event_id(carrier, other, code, at) != same
    if carrier != other:
        assert scan_event_id(other, number, code, at) != same


@fuzz_settings
@given(texts, texts, st.text(alphabet="abcdefxyz0123", min_size=1, max_size=6), moments)
def test_id_ignores_code_case_and_padding(carrier: str, number: str, code: str, at: int) -> None:
    assert scan_event_id(carrier, number, f" {code.upper()} ", at) == scan_event_id(
        carrier, number, code.lower(), at
    )


def test_id_has_no_location_input() -> None:
    # the identity is exactly four facts; a fifth (location) argument is a type error
    with pytest.raises(TypeError):
        scan_event_id("ups", "1Z", "DL", 0, "MEMPHIS, TN")  # type: ignore[call-arg]


def test_window_end_is_the_best_estimate_and_start_when_open_ended() -> None:
    closed = CarrierEta.window("T", "fedex", 1_000, 5_000)
    assert (closed.estimated_at_ms, closed.window_start_ms, closed.window_end_ms) == (
        5_000, 1_000, 5_000)  # fmt: skip
    assert CarrierEta.window("T", "fedex", 1_000, 0).estimated_at_ms == 1_000
    assert CarrierEta.window("T", "fedex", 0, 5_000, "promised").kind == "promised"
    assert ETA_KINDS == ("estimated", "scheduled", "appointment", "promised")
