"""The tracking page's words (pipeline/api/page.py): languages, the ETA in the shopper's zone,
the timeline, brand contrast, and what the page never shows."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from pipeline.api.config import Brand
from pipeline.api.page import (
    LANGUAGES,
    Clock,
    eta_text,
    language,
    messages,
    render_lookup,
    render_parcel,
    text_on,
)
from tracking.history import HistoryEntry
from tracking.state import ParcelState

AMS = ZoneInfo("Europe/Amsterdam")


def ms(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=AMS).timestamp() * 1000)


NOW = ms(2026, 12, 1, 9)  # a Tuesday


def parcel(**fields: object) -> ParcelState:
    state = ParcelState("3SABC123", carrier="postnl", destination_country="NL",
                        destination_region="", destination_postal="1012 AB",
                        customer_ref="CUST-1", **fields)  # type: ignore[arg-type]  # fmt: skip
    return state


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("es-ES,es;q=0.9,en;q=0.8", "es"),
        ("en-US;q=0.8,en;q=0.7,de;q=0.95", "de"),
        ("pt-BR, fr;q=0.5", "fr"),
        ("nl", "nl"),
        ("ja, zh;q=0.8", "en"),
        ("", "en"),
        (None, "en"),
        ("de;q=0, es;q=bad, fr", "fr"),
    ],
)
def test_the_language_follows_accept_language(header: str | None, expected: str) -> None:
    assert language(header) == expected


def test_every_language_has_every_message() -> None:
    english = messages("en")
    for lang in LANGUAGES:
        text = messages(lang)
        assert text.keys() == english.keys(), lang
        for group in ("status", "milestone", "exception", "return_status"):
            assert text[group].keys() == english[group].keys(), (lang, group)


def test_a_same_day_window_reads_as_the_day_and_hours_in_the_shoppers_zone() -> None:
    state = parcel(eta_ms=ms(2026, 12, 3, 16), eta_low_ms=ms(2026, 12, 3, 14),
                   eta_high_ms=ms(2026, 12, 3, 18))  # fmt: skip
    clock = Clock("en", AMS, NOW)
    assert eta_text(state, clock, messages("en")) == "Arriving Thursday 14:00–18:00"
    assert eta_text(state, Clock("es", AMS, NOW), messages("es")) == (
        "Llega el jueves entre 14:00 y 18:00"
    )
    assert eta_text(state, Clock("de", AMS, NOW), messages("de")) == (
        "Ankunft Donnerstag zwischen 14:00 und 18:00"
    )
    new_york = Clock("en", ZoneInfo("America/New_York"), NOW)
    assert eta_text(state, new_york, messages("en")) == "Arriving Thursday 08:00–12:00"


def test_windows_over_days_far_ones_late_ones_and_none() -> None:
    en = messages("en")
    clock = Clock("en", AMS, NOW)
    days = parcel(eta_ms=ms(2026, 12, 3, 12), eta_low_ms=ms(2026, 12, 2, 12),
                  eta_high_ms=ms(2026, 12, 4, 12))  # fmt: skip
    assert eta_text(days, clock, en) == "Arriving between Wednesday and Friday"
    far = parcel(eta_ms=ms(2026, 12, 10, 12), eta_low_ms=ms(2026, 12, 9, 12),
                 eta_high_ms=ms(2026, 12, 11, 12))  # fmt: skip
    assert eta_text(far, clock, en) == (
        "Arriving between Wednesday, December 9 and Friday, December 11"
    )
    late = parcel(eta_ms=ms(2026, 11, 29, 12), eta_low_ms=ms(2026, 11, 28, 12),
                  eta_high_ms=ms(2026, 11, 30, 12))  # fmt: skip
    assert eta_text(late, clock, en) == "Expected by Monday, November 30: running late"
    assert eta_text(parcel(), clock, en) == en["eta_unknown"]
    assert eta_text(parcel(milestones={"picked_up": NOW}), clock, en) == en["eta_pending"]
    delivered = parcel(status="delivered", status_at_ms=ms(2026, 11, 30, 15, 5))
    assert eta_text(delivered, clock, en) == "Delivered Monday, November 30 15:05"


def test_the_page_shows_milestones_exceptions_and_never_the_postal_code() -> None:
    state = parcel(
        status="failed_attempt",
        milestones={"info_received": ms(2026, 11, 28, 8), "picked_up": ms(2026, 11, 28, 17),
                    "out_for_delivery": ms(2026, 12, 1, 7)},
        open_exceptions={"failed_attempt": ms(2026, 12, 1, 11)},
        history=[HistoryEntry(ms(2026, 12, 1, 11), 4, "e1", "failed_attempt",
                              "recipient_unavailable", "A01", "Amsterdam", "NL")],
    )  # fmt: skip
    html = render_parcel(state, Brand(name="Acme <b>", colour="#0f766e"), "nl", NOW)
    nl = messages("nl")
    assert nl["status"]["failed_attempt"] in html
    assert nl["exception"]["failed_attempt"] in html and nl["what_next"] in html
    assert nl["milestone"]["out_for_delivery"] in html
    assert 'aria-current="step"' in html
    assert "1012" not in html and "CUST-1" not in html
    assert "Acme &lt;b&gt;" in html, "brand text is escaped"
    assert "<script" not in html and "src=" not in html and 'href="http' not in html


def test_text_on_the_brand_colour_keeps_its_contrast() -> None:
    assert text_on("#0f766e") == "#ffffff"
    assert text_on("#fde047") == "#000000"
    assert text_on("#000000") == "#ffffff" and text_on("#ffffff") == "#000000"


def test_a_logo_that_is_not_inline_svg_is_left_out() -> None:
    html = render_lookup(Brand(logo_svg='<img src="https://evil.example/x.png">'), "en")
    assert "evil.example" not in html
    html = render_lookup(Brand(logo_svg="<svg><circle r='4'/></svg>"), "en")
    assert "<svg><circle" in html
    assert '<label for="order_id">' in html and '<label for="postal_code">' in html
