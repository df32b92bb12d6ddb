"""Carrier timestamps -> UTC epoch milliseconds, with a flag when the zone had to be assumed.

Carriers send: ISO 8601 with offsets (exact), local wall-clock time plus a separate GMT
offset (exact once combined), local time with no zone at all (we assume the zone the carrier
documents, or the scan location's, and flag it), and dates without a time (noon in the assumed
zone, flagged: noon errs least either way).

A naive time read in an IANA zone gets that zone's offset on that date (DST from zoneinfo).
Twice a year a wall-clock time is ambiguous or does not exist; we read it with fold=0, which
zoneinfo defines as the offset in force *before* the transition: 01:30 on the night clocks go
back is the first (summer-time) 01:30, and 02:30 on the night they skip ahead is read at the
winter offset (= 03:30 summer time). Neither can be decided from the text; both are flagged.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from connectors.base import ParseError
from connectors.zones import zone_for

_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$")


def parse_offset(text: str) -> timezone:
    """'-05:00', '-0500', '+1', 'GMT-5', 'Z', 'UTC' -> a fixed-offset zone."""
    cleaned = text.strip().upper()
    if cleaned in ("Z", "UTC", "GMT", "+00:00", "00:00"):
        return UTC
    match = _OFFSET.match(cleaned)
    if not match:
        raise ParseError(f"unreadable UTC offset {text!r}")
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
    if delta > timedelta(hours=14):
        raise ParseError(f"UTC offset {text!r} is out of range")
    return timezone(-delta if sign == "-" else delta)


# A scan time outside these bounds is a garbled field, not a scan: ClickHouse's DateTime holds
# 1970 to 2106, and no parcel moved before 1970 or will be tracked by us in 2100.
EARLIEST_MS = 86_400_000  # 1970-01-02
LATEST_MS = 4_102_444_800_000  # 2100-01-01


def in_range(ms: int) -> int:
    if not EARLIEST_MS <= ms < LATEST_MS:
        raise ParseError(f"time {ms} ms is outside 1970-2100")
    return ms


def zone_at(country: str, region: str = "", postal_code: str = "", city: str = "") -> tzinfo:
    """The zone to read a place's naive local times in (`zones.zone_for`), UTC when the place
    says nothing. Pass it as `assume=`: the times stay flagged, the zone was inferred."""
    return zone_for(country, region, postal_code, city) or UTC


def utc_ms(moment: datetime, assume: tzinfo = UTC) -> tuple[int, bool]:
    """(epoch ms, zone_assumed). An aware datetime is exact; a naive one is read in `assume`.
    A time outside 1970-2100 raises ParseError."""
    if moment.tzinfo is not None:
        return in_range(int(moment.timestamp() * 1000)), False
    return in_range(int(moment.replace(tzinfo=assume).timestamp() * 1000)), True


def parse_iso(text: str, assume: tzinfo = UTC) -> tuple[int, bool]:
    """ISO 8601 (offset, 'Z', naive, or date only) -> (epoch ms, zone_assumed)."""
    raw = text.strip()
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ParseError(f"timestamp {text!r} is not ISO 8601") from None
    if len(raw) == 10:  # a date alone
        return utc_ms(moment.replace(hour=12), assume)[0], True
    return utc_ms(moment, assume)


# Fixed-width numeric layouts carriers use, read by slicing: strptime costs ~15 us a call and
# was the largest single cost of parsing UPS, X12, PostNL and Canada Post payloads. Anything
# else (or any text that does not fit the layout exactly) goes to strptime as before.
# format -> (length, separators by position, (start, end) of year/month/day or hour/min/sec)
_LAYOUTS: dict[str, tuple[int, dict[int, str], tuple[tuple[int, int], ...]]] = {
    "%Y-%m-%d": (10, {4: "-", 7: "-"}, ((0, 4), (5, 7), (8, 10))),
    "%Y%m%d": (8, {}, ((0, 4), (4, 6), (6, 8))),
    "%d-%m-%Y": (10, {2: "-", 5: "-"}, ((6, 10), (3, 5), (0, 2))),
    "%H:%M:%S": (8, {2: ":", 5: ":"}, ((0, 2), (3, 5), (6, 8))),
    "%H%M%S": (6, {}, ((0, 2), (2, 4), (4, 6))),
    "%H:%M": (5, {2: ":"}, ((0, 2), (3, 5))),
    "%H%M": (4, {}, ((0, 2), (2, 4))),
}


def _fields(text: str, fmt: str, is_date: bool) -> tuple[int, int, int]:
    layout = _LAYOUTS.get(fmt)
    fits = (
        layout is not None
        and len(text) == layout[0]
        and text.isascii()
        and all(text[i] == c for i, c in layout[1].items())
    )
    if fits and layout is not None:
        parts = [text[a:b] for a, b in layout[2]]
        if all(part.isdigit() for part in parts):
            values = [int(part) for part in parts]
            return (values[0], values[1], values[2] if len(values) > 2 else 0)
    parsed = datetime.strptime(text, fmt)
    if is_date:
        return parsed.year, parsed.month, parsed.day
    return parsed.hour, parsed.minute, parsed.second


def parse_local(
    date: str,
    time: str | None = None,
    offset: str | None = None,
    assume: tzinfo = UTC,
    date_format: str = "%Y-%m-%d",
    time_format: str = "%H:%M:%S",
) -> tuple[int, bool]:
    """A carrier's separate date, time and (optional) offset fields -> (epoch ms, assumed)."""
    try:
        year, month, day = _fields(date.strip(), date_format, is_date=True)
        if time and time.strip():
            hour, minute, second = _fields(time.strip(), time_format, is_date=False)
        else:
            hour, minute, second = 12, 0, 0
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise ParseError(f"unreadable date/time {date!r} {time!r}: {exc}") from None
    if offset and offset.strip():
        return in_range(
            int(moment.replace(tzinfo=parse_offset(offset)).timestamp() * 1000)
        ), not time
    return utc_ms(moment, assume)[0], True
