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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from connectors.base import ParseError
from connectors.zones import zone_for

_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$")


# Cached: a pure function of the text, and carriers send a handful of distinct offsets.
@lru_cache(maxsize=1024)
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


_EPOCH_DAY = datetime(1970, 1, 1).toordinal()


def _epoch_ms(moment: datetime, zone: tzinfo, offset: timedelta | None) -> int:
    """`int(moment.replace(tzinfo=zone).timestamp() * 1000)`, where `offset` is the UTC offset
    `zone` gives `moment`'s wall time. Building the aware datetime cost 4x this integer sum;
    for whole seconds the sum is exactly what the float route gives (every ms value of years
    1-9999 is below 2**53), and anything finer still takes the float route."""
    if offset is None or moment.microsecond or offset.microseconds:
        return int(moment.replace(tzinfo=zone).timestamp() * 1000)
    seconds = (moment.toordinal() - _EPOCH_DAY) * 86_400 + moment.hour * 3600
    seconds += moment.minute * 60 + moment.second - offset.days * 86_400 - offset.seconds
    return seconds * 1000


def utc_ms(moment: datetime, assume: tzinfo = UTC) -> tuple[int, bool]:
    """(epoch ms, zone_assumed). An aware datetime is exact; a naive one is read in `assume`.
    A time outside 1970-2100 raises ParseError."""
    zone = moment.tzinfo
    if zone is not None:
        return in_range(_epoch_ms(moment, zone, moment.utcoffset())), False
    # zoneinfo and timezone read a naive datetime's wall time (and fold) as the aware one's
    return in_range(_epoch_ms(moment, assume, assume.utcoffset(moment))), True


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


# Fixed-width numeric layouts carriers use, read with one ASCII-digit regex: strptime costs ~15 us
# a call and was the largest single cost of parsing UPS, X12, PostNL and Canada Post payloads.
# Anything else (or any text that does not fit the layout exactly) goes to strptime as before.
# format -> (fullmatch of the layout, the groups holding year/month/day or hour/minute[/second])
_Layout = tuple[Callable[[str], re.Match[str] | None], tuple[int, ...]]


def _exactly(pattern: str, *groups: int) -> _Layout:
    return re.compile(pattern, re.ASCII).fullmatch, groups  # ASCII: \d is 0-9, as before


_LAYOUTS: dict[str, _Layout] = {
    "%Y-%m-%d": _exactly(r"(\d{4})-(\d{2})-(\d{2})", 1, 2, 3),
    "%Y%m%d": _exactly(r"(\d{4})(\d{2})(\d{2})", 1, 2, 3),
    "%d-%m-%Y": _exactly(r"(\d{2})-(\d{2})-(\d{4})", 3, 2, 1),
    "%H:%M:%S": _exactly(r"(\d{2}):(\d{2}):(\d{2})", 1, 2, 3),
    "%H%M%S": _exactly(r"(\d{2})(\d{2})(\d{2})", 1, 2, 3),
    "%H:%M": _exactly(r"(\d{2}):(\d{2})", 1, 2),
    "%H%M": _exactly(r"(\d{2})(\d{2})", 1, 2),
}


# Cached: dates repeat across a day's scans, and the 86,400 clock times of a day repeat too.
@lru_cache(maxsize=1 << 14)
def _fields(text: str, fmt: str, is_date: bool) -> tuple[int, int, int]:
    layout = _LAYOUTS.get(fmt)
    match = layout[0](text) if layout is not None else None
    if match is not None and layout is not None:
        values = [int(match[group]) for group in layout[1]]
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
        year, month, day = _fields(date.strip(), date_format, True)
        clock = time.strip() if time else ""
        if clock:
            hour, minute, second = _fields(clock, time_format, False)
        else:
            hour, minute, second = 12, 0, 0
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise ParseError(f"unreadable date/time {date!r} {time!r}: {exc}") from None
    if offset and offset.strip():
        exact = parse_offset(offset)
        return in_range(_epoch_ms(moment, exact, exact.utcoffset(moment))), not time
    return in_range(_epoch_ms(moment, assume, assume.utcoffset(moment))), True
