"""The fast fixed-width layouts in times.parse_local must read exactly what strptime reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import ParseError
from connectors.times import _LAYOUTS, parse_iso, parse_local

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
