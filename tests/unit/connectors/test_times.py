"""The fast paths of times.py (fixed-width layouts, the integer epoch) must read exactly what
strptime and the aware datetime read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import ParseError
from connectors.times import _LAYOUTS, EARLIEST_MS, LATEST_MS, parse_iso, parse_local

DATE_FORMATS = sorted(f for f in _LAYOUTS if "%Y" in f)
TIME_FORMATS = sorted(f for f in _LAYOUTS if "%Y" not in f)


def strptime_ms(date: str, clock: str, date_format: str, time_format: str) -> int:
    day = datetime.strptime(date.strip(), date_format)
    time = datetime.strptime(clock.strip(), time_format)
    moment = day.replace(hour=time.hour, minute=time.minute, second=time.second, tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@given(
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2099, 12, 31)),
    st.sampled_from(DATE_FORMATS),
    st.sampled_from(TIME_FORMATS),
)
def test_well_formed_values_match_strptime(
    moment: datetime, date_format: str, time_format: str
) -> None:
    date, clock = moment.strftime(date_format), moment.strftime(time_format)
    got, _ = parse_local(date, clock, "+00:00", date_format=date_format, time_format=time_format)
    assert got == strptime_ms(date, clock, date_format, time_format)


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_times_outside_1970_to_2100_are_refused(moment: datetime) -> None:
    """A garbled year (X12 "00261120" read as 0026) is not a scan ClickHouse could store."""
    if datetime(1970, 1, 2) <= moment < datetime(2100, 1, 1):
        assert parse_iso(moment.isoformat() + "+00:00")[0] == int(
            moment.replace(tzinfo=UTC).timestamp() * 1000
        )
    else:
        with pytest.raises(ParseError, match="outside 1970-2100"):
            parse_iso(moment.isoformat() + "+00:00")


@given(st.text(min_size=1, max_size=12).filter(str.strip), st.sampled_from(sorted(_LAYOUTS)))
def test_any_text_is_read_like_strptime_or_refused(text: str, fmt: str) -> None:
    is_date = fmt in DATE_FORMATS
    date, clock = (text, "0000") if is_date else ("2026-01-01", text)
    date_format, time_format = (fmt, "%H%M") if is_date else ("%Y-%m-%d", fmt)
    try:
        expected = strptime_ms(date, clock, date_format, time_format)
    except ValueError:
        with pytest.raises(ParseError):
            parse_local(date, clock, "+00:00", date_format=date_format, time_format=time_format)
        return
    got, _ = parse_local(date, clock, "+00:00", date_format=date_format, time_format=time_format)
    assert got == expected


_ZONES = sorted(available_timezones())


def _assert_read_as_aware(moment: datetime, zone: tzinfo) -> None:
    expected = int(moment.replace(tzinfo=zone).timestamp() * 1000)
    text = moment.isoformat()
    if not EARLIEST_MS <= expected < LATEST_MS:
        with pytest.raises(ParseError, match=f"time {expected} ms is outside"):
            parse_iso(text, zone)
        return
    assert parse_iso(text, zone) == (expected, True), (text, zone)
    if not moment.microsecond:
        day, clock = moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M:%S")
        assert parse_local(day, clock, assume=zone) == (expected, True), (text, zone)


@settings(max_examples=1000, deadline=None)
@given(
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 2))
    | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.sampled_from(_ZONES) | st.integers(-14 * 60, 14 * 60),
)
def test_local_times_are_read_as_the_aware_datetime_reads_them(
    moment: datetime, zone_name: str | int
) -> None:
    """times.py sums the epoch in integers instead of building the aware datetime: the same ms
    (or the same refusal) for any wall time, in any zone or fixed offset."""
    if isinstance(zone_name, str):
        _assert_read_as_aware(moment, ZoneInfo(zone_name))
    else:
        _assert_read_as_aware(moment, timezone(timedelta(minutes=zone_name)))


_DST_ZONES = ("America/New_York", "Europe/Amsterdam", "America/St_Johns", "Australia/Lord_Howe",
              "Pacific/Chatham", "Europe/Dublin")  # fmt: skip


@pytest.mark.parametrize("name", _DST_ZONES)
def test_dst_nights_are_read_as_the_aware_datetime_reads_them(name: str) -> None:
    """Every quarter hour around each transition of 2025-2027: skipped and doubled wall times
    (fold=0), half-hour and 45-minute shifts, and Dublin's negative "summer" offset."""
    zone = ZoneInfo(name)
    hour = datetime(2025, 1, 1)
    while hour.year < 2028:
        if zone.utcoffset(hour) != zone.utcoffset(hour + timedelta(hours=1)):
            for quarter in range(-12, 16):
                _assert_read_as_aware(hour + timedelta(minutes=15 * quarter, seconds=7), zone)
        hour += timedelta(hours=1)
