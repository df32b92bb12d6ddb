"""The shopper's tracking page: server-rendered HTML with no external asset (inline CSS and
logo, no script), in the merchant's brand and the shopper's language.

The language comes from `Accept-Language` (en, es, fr, de, nl; English otherwise); days and
times are CLDR's (Babel) in the zone of the destination (connectors/times.py `zone_at`), so the
window reads as the shopper lives it: "Arriving Thursday 14:00–18:00". The page shows no street
address, name or postal code: only statuses, times, cities and countries.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_skeleton
from jinja2 import Environment, FileSystemLoader, select_autoescape

from connectors.times import zone_at
from pipeline.api.config import Brand
from tracking.orders import OrderState
from tracking.state import ParcelState
from tracking.taxonomy import Status

LANGUAGES = ("en", "es", "fr", "de", "nl")
_HERE = Path(__file__).resolve().parent
_FORWARD = ("info_received", "picked_up", "departed_origin", "arrived_at_destination",
            "out_for_delivery", "delivered")  # fmt: skip
_BACK = ("return_to_sender", "returned")
_DELIVERED = Status.DELIVERED.value


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_on(colour: str) -> str:
    """Black or white, whichever contrasts more with `colour` (WCAG 2 relative luminance)."""
    light = _luminance(colour)
    return "#000000" if (light + 0.05) / 0.05 >= 1.05 / (light + 0.05) else "#ffffff"


def language(accept: str | None) -> str:
    """The best of LANGUAGES for an Accept-Language header (q-values honoured)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else "en"


@cache
def messages(lang: str) -> dict[str, Any]:
    return json.loads((_HERE / "locales" / f"{lang}.json").read_text("utf-8"))  # type: ignore[no-any-return]


@cache
def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


@dataclass(slots=True)
class Clock:
    """Days and times in one language and zone, as seen at `now_ms`."""

    lang: str
    zone: tzinfo
    now_ms: int

    def local(self, ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, UTC).astimezone(self.zone)

    def day(self, ms: int) -> str:
        """The weekday alone within the coming week ("Thursday"), else with its date."""
        moment = self.local(ms)
        ahead = (moment.date() - self.local(self.now_ms).date()).days
        if 0 <= ahead < 7:
            return format_date(moment, "EEEE", locale=self.lang)
        return format_date(moment, _day_pattern(self.lang), locale=self.lang)

    def time(self, ms: int) -> str:
        return format_skeleton("Hm", self.local(ms), locale=self.lang)

    def when(self, ms: int) -> str:
        return f"{self.day(ms)} {self.time(ms)}"


@cache
def _day_pattern(lang: str) -> str:
    """CLDR's weekday-month-day pattern for the language, with the weekday spelled out."""
    pattern = Locale.parse(lang).datetime_skeletons["MMMMEd"].pattern
    return re.sub("E+", "EEEE", pattern)


def _zone(state: ParcelState) -> tzinfo:
    if not state.destination_country:
        return UTC
    return zone_at(state.destination_country, state.destination_region, state.destination_postal)


def eta_text(state: ParcelState, clock: Clock, text: dict[str, Any]) -> str:
    """The ETA in the shopper's words; the delivery time once delivered."""
    if state.status == _DELIVERED and state.status_at_ms is not None:
        return str(text["delivered_at"]).format(
            day=clock.day(state.status_at_ms), time=clock.time(state.status_at_ms)
        )
    if state.eta_ms is None:
        return str(text["eta_pending" if "picked_up" in state.milestones else "eta_unknown"])
    low, high = state.eta_low_ms, state.eta_high_ms
    if (high if high is not None else state.eta_ms) < clock.now_ms:
        return str(text["eta_passed"]).format(day=clock.day(high or state.eta_ms))
    if low is None or high is None:
        return str(text["eta_day"]).format(day=clock.day(state.eta_ms))
    if clock.local(low).date() == clock.local(high).date():
        return str(text["eta_window"]).format(
            day=clock.day(low), start=clock.time(low), end=clock.time(high)
        )
    return str(text["eta_days"]).format(first=clock.day(low), last=clock.day(high))


def _timeline(state: ParcelState, clock: Clock, text: dict[str, Any]) -> list[dict[str, Any]]:
    names = list(_FORWARD)
    if state.is_return or any(name in state.milestones for name in _BACK):
        names += _BACK
    if "available_for_pickup" in state.milestones:
        names.insert(names.index("delivered"), "available_for_pickup")
    steps = []
    for name in names:
        at = state.milestones.get(name)
        steps.append({"label": text["milestone"][name], "done": at is not None,
                      "at": clock.when(at) if at is not None else ""})  # fmt: skip
    reached = [i for i, step in enumerate(steps) if step["done"]]
    if reached:
        steps[reached[-1]]["current"] = True
    return steps


def _brand_context(brand: Brand) -> dict[str, Any]:
    logo = brand.logo_svg if brand.logo_svg.lstrip().startswith("<svg") else ""
    return {"brand": brand, "logo": logo, "on_colour": text_on(brand.colour)}


def render_parcel(state: ParcelState, brand: Brand, lang: str, now_ms: int) -> str:
    text = messages(lang)
    clock = Clock(lang, _zone(state), now_ms)
    exceptions = [
        {"kind": kind, "text": text["exception"].get(kind, text["exception"]["carrier_exception"])}
        for kind in sorted(state.open_exceptions, key=state.open_exceptions.__getitem__)
    ]
    events = [
        {
            "at": clock.when(h.occurred_at_ms),
            "iso": clock.local(h.occurred_at_ms).isoformat(),
            "status": text["status"].get(h.status, text["status"]["unknown"]),
            "place": ", ".join(p for p in (h.city, h.country) if p),
        }
        for h in reversed(state.history)
    ]
    return (
        _templates()
        .get_template("parcel.html")
        .render(
            lang=lang,
            t=text,
            title=text["title"],
            state=state,
            headline=text["status"].get(state.status, text["status"]["unknown"]),
            eta=eta_text(state, clock, text),
            promised=(
                str(text["promised"]).format(day=clock.day(state.promised_delivery_ms))
                if state.promised_delivery_ms is not None and state.status != _DELIVERED
                else ""
            ),
            exceptions=exceptions,
            timeline=_timeline(state, clock, text),
            events=events,
            updated=clock.when(state.updated_at_ms) if state.updated_at_ms else "",
            **_brand_context(brand),
        )
    )


def render_order(order: OrderState, parcels: list[tuple[str, str]], brand: Brand, lang: str) -> str:
    """`parcels`: (tracking number, link) of each parcel the page lists."""
    text = messages(lang)
    links = dict(parcels)
    rows = [
        {
            "tracking_number": p.tracking_number,
            "carrier": p.carrier,
            "status": text["status"].get(p.status, text["status"]["unknown"]),
            "is_return": p.is_return,
            "link": links.get(p.tracking_number, ""),
        }
        for p in sorted(order.parcels.values(), key=lambda p: (p.is_return, p.tracking_number))
    ]
    title = str(text["order_title"]).format(order=order.order_id)
    return (
        _templates()
        .get_template("order.html")
        .render(
            lang=lang,
            t=text,
            title=title,
            parcels=rows,
            return_status=text["return_status"].get(order.return_status, ""),
            **_brand_context(brand),
        )
    )


def render_lookup(brand: Brand, lang: str, error: str = "") -> str:
    text = messages(lang)
    return (
        _templates()
        .get_template("lookup.html")
        .render(lang=lang, t=text, title=text["lookup_title"], error=error, **_brand_context(brand))
    )


def render_message(brand: Brand, lang: str, message_key: str) -> str:
    text = messages(lang)
    return _templates().get_template("message.html").render(
        lang=lang, t=text, title=text["title"], message=text[message_key],
        **_brand_context(brand),
    )  # fmt: skip
