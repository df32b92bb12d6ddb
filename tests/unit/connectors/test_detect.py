"""Carrier detection: numbers built here from each published check-digit rule (computed again,
independently of connectors/detect.py) are detected with the right top candidate; a changed
digit is not validated; nothing a user can type makes detect() raise."""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from connectors.detect import Candidate, detect, detect_main, normalize
from tests.connector_fuzz import fuzz_settings

# -- the published rules, restated ------------------------------------------------------------


def s10_digit(serial: str) -> str:
    # UPU S10: weights 8,6,4,2,3,5,9,7; C = 11 - S mod 11; 10 -> 0, 11 -> 5.
    s = sum(w * int(d) for w, d in zip([8, 6, 4, 2, 3, 5, 9, 7], serial, strict=True))
    c = 11 - s % 11
    return "0" if c == 10 else "5" if c == 11 else str(c)


UPS_CHART = dict(zip(string.ascii_uppercase, "23456789012345678901234567", strict=True))


def ups_digit(body: str) -> str:
    # UPS chart: A=2 ... H=9, I=0, J=1, ...; odd positions + 2 x even positions, up to next 10.
    values = [int(UPS_CHART.get(c, c)) for c in body]
    total = sum(v * (2 if i % 2 else 1) for i, v in enumerate(values))
    return str((10 - total % 10) % 10)


def fedex_express_digit(body: str) -> str:
    # Weights ...,3,1,7,3,1 left to right, so that the 11th digit has weight 1; mod 11; 10 -> 0.
    weights = [[3, 1, 7][i % 3] for i in range(11)]
    remainder = sum(w * int(d) for w, d in zip(weights, body, strict=True)) % 11
    return "0" if remainder == 10 else str(remainder)


def mod10_digit(body: str) -> str:
    # From the right: the digit next to the check digit is position 2 (x3), then x1, x3, ...
    total = sum(int(d) * (3 if p % 2 == 0 else 1) for p, d in enumerate(body[::-1], start=2))
    return str((10 - total % 10) % 10)


def dhl_digit(body: str) -> str:
    return str(int(body) % 7)


def digits(size: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=size, max_size=size)


letters = st.text(string.ascii_uppercase, min_size=2, max_size=2)


@st.composite
def s10_numbers(draw: st.DrawFn) -> str:
    serial = draw(digits(8))
    return draw(letters) + serial + s10_digit(serial) + draw(letters)


@st.composite
def ups_numbers(draw: st.DrawFn) -> str:
    body = draw(st.text(string.ascii_uppercase + string.digits, min_size=15, max_size=15))
    return "1Z" + body + ups_digit(body)


@st.composite
def fedex_express_numbers(draw: st.DrawFn) -> str:
    body = draw(digits(11))
    return body + fedex_express_digit(body)


@st.composite
def fedex_ground_numbers(draw: st.DrawFn) -> str:
    body = draw(digits(14))
    return body + mod10_digit(body)


@st.composite
def fedex_96_numbers(draw: st.DrawFn) -> str:
    head, body = draw(digits(5)), draw(digits(14))
    return "96" + head + body + mod10_digit(body)


@st.composite
def fedex_34_numbers(draw: st.DrawFn) -> str:
    # 34 digits, "96" (Ground GSN) or "10" (Express), ending in a 12-digit Express number.
    head = draw(st.sampled_from(["96", "10"])) + draw(digits(20))
    body = draw(digits(11))
    return head + body + fedex_express_digit(body)


@st.composite
def dhl_sscc_numbers(draw: st.DrawFn) -> str:
    # "00" + SSCC: weights 3,1,3,... from the left over 19 digits, up to the next multiple of 10.
    body = "00" + draw(digits(17))
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


@st.composite
def usps_numbers(draw: st.DrawFn) -> str:
    body = "9" + draw(st.sampled_from("2345")) + draw(digits(19))
    routing = draw(st.sampled_from(["", "420" + draw(digits(5)), "420" + draw(digits(9))]))
    return routing + body + mod10_digit(body)


@st.composite
def dhl_numbers(draw: st.DrawFn) -> str:
    body = draw(digits(9))
    return body + dhl_digit(body)


def expected_carrier(number: str) -> str:
    posts = {"US": "usps", "CA": "canadapost", "NL": "postnl", "DE": "dhl"}
    return posts.get(number[-2:], "upu_s10")


VALID = {
    "s10": (s10_numbers(), "s10"),
    "ups": (ups_numbers(), "ups"),
    "fedex_express": (fedex_express_numbers(), "fedex"),
    "fedex_ground": (fedex_ground_numbers(), "fedex"),
    "fedex_96": (fedex_96_numbers(), "fedex"),
    "fedex_34": (fedex_34_numbers(), "fedex"),
    "usps": (usps_numbers(), "usps"),
    "dhl": (dhl_numbers(), "dhl"),
    "dhl_sscc": (dhl_sscc_numbers(), "dhl"),
}
# Where the check digit sits, and the rule that recomputes it, per format.
CHECKS = {
    "s10": (10, lambda n: s10_digit(n[2:10])),
    "ups": (17, lambda n: ups_digit(n[2:17])),
    "fedex_express": (11, lambda n: fedex_express_digit(n[:11])),
    "fedex_ground": (14, lambda n: mod10_digit(n[:14])),
    "fedex_96": (21, lambda n: mod10_digit(n[7:21])),
    "fedex_34": (-1, lambda n: fedex_express_digit(n[-12:-1])),
    "usps": (-1, lambda n: mod10_digit(n[-22:-1])),
    "dhl": (9, lambda n: dhl_digit(n[:9])),
    "dhl_sscc": (19, lambda n: mod10_digit(n[:19])),
}
# What a long barcode embeds: the number the carrier tracks.
EMBEDDED = {"fedex_96": slice(7, None), "fedex_34": slice(-12, None), "usps": slice(-22, None)}


@pytest.mark.parametrize("name", sorted(VALID))
@fuzz_settings
@given(data=st.data())
def test_valid_numbers_have_the_right_top_candidate(name: str, data: st.DataObject) -> None:
    strategy, carrier = VALID[name]
    number = data.draw(strategy)
    top = detect(number)[0]
    assert top.carrier == (expected_carrier(number) if carrier == "s10" else carrier), number
    assert top.check_digit_valid is True
    assert top.tracking_number == number[EMBEDDED.get(name, slice(None))]
    if name == "fedex_34":  # the embedded number is a FedEx Express number of its own
        assert (detect(top.tracking_number)[0].format, detect(top.tracking_number)[0].carrier) == (
            "express12", "fedex"
        )  # fmt: skip


@pytest.mark.parametrize("name", sorted(VALID))
@fuzz_settings
@given(data=st.data())
def test_a_changed_digit_is_not_validated(name: str, data: st.DataObject) -> None:
    strategy, carrier = VALID[name]
    number = data.draw(strategy)
    where, rule = CHECKS[name]
    spots = [i for i, c in enumerate(number) if c.isdigit() and not number.startswith("1Z", i)]
    spot = data.draw(st.sampled_from(spots))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != number[spot]]))
    changed = number[:spot] + digit + number[spot + 1 :]
    check_spot = where % len(number)
    if spot != check_spot:
        # A weight-2 or mod-7 rule cannot see every change (5 x 2 = 10, 7 = 0 mod 7): skip
        # the changes the published rule itself accepts.
        assume(rule(changed) != changed[check_spot])
    same_format = [c for c in detect(changed) if c.carrier in (carrier, expected_carrier(changed))]
    assert all(c.check_digit_valid is not True for c in same_format), (number, changed)


@fuzz_settings
@given(st.text(max_size=40) | st.text("0123456789 -ZS1", max_size=40))
def test_random_strings_never_raise(text: str) -> None:
    candidates = detect(text)
    assert all(isinstance(c, Candidate) for c in candidates)
    assert [c.confidence for c in candidates] == sorted(
        (c.confidence for c in candidates), reverse=True
    )


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        # The published examples: S10 47312482 -> 9; UPS 1Z999AA1012345678 -> 4; FedEx
        # 01234567898 -> 3.
        ("RR 473 124 829 US", [("usps", True), ("upu_s10", True)]),
        ("cp473124829nl", [("postnl", True), ("upu_s10", True)]),
        ("LX473124829DE", [("dhl", True), ("upu_s10", True)]),
        ("LX473124829GB", [("upu_s10", True)]),
        # paketda.de's DHL 20-digit example, and the same with its check digit changed
        ("0034 0433 8364 4263 6597", [("dhl", True), ("usps", None), ("fedex", None)]),
        ("00340433836442636598", [("usps", None), ("fedex", None), ("dhl", False)]),
        ("GM2951173225174494", [("dhl", None)]),
        ("RX12345678", [("dhl", None)]),
        ("1Z 999 AA1 01 2345 6784", [("ups", True)]),
        ("0123-4567-8983", [("fedex", True)]),
        ("0123-4567-8984", [("fedex", False)]),
        ("1234567890", [("dhl", False)]),
        ("1234567891", [("dhl", True)]),
        ("3SBCC000123456", [("postnl", None), ("dhl", None)]),
        ("JJD0099999999", [("dhl", None)]),
        ("7123456789012345", [("canadapost", None)]),
        ("12345678901234567890", [("usps", None), ("fedex", None)]),
        ("", []),
        ("hello world", []),
        ("1Z12345", []),
    ],
)
def test_published_examples_and_ambiguous_numbers(
    number: str, expected: list[tuple[str, bool | None]]
) -> None:
    assert [(c.carrier, c.check_digit_valid) for c in detect(number)] == expected


def test_s10_candidates_carry_the_issuing_country() -> None:
    assert {c.country for c in detect("RR473124829US")} == {"US"}
    assert normalize(" rr-473 124 829 us ") == "RR473124829US"


def test_detect_main_prints_one_line_per_number(capsys: pytest.CaptureFixture[str]) -> None:
    assert detect_main(["1z999aa10123456784", "RR473124829GB"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "1Z999AA10123456784\tups (1z, check ok, 0.99)",
        "RR473124829GB\tupu_s10 (s10 GB, check ok, 0.90)",
    ]
    assert detect_main(["nothing-here"]) == 1
    assert "unknown format" in capsys.readouterr().out
    assert detect_main([]) == 2


def test_the_command_shows_the_number_a_barcode_embeds(capsys: pytest.CaptureFixture[str]) -> None:
    body = "79480839059"
    barcode = "9622001560001234567100" + body + fedex_express_digit(body)
    assert detect_main([barcode]) == 0
    assert capsys.readouterr().out.strip().endswith(f"-> {body}{fedex_express_digit(body)}")
