"""The generic CSV file drop, for carriers whose systems export spreadsheets rather than APIs.

One header row, then one scan per row. Header names are matched case-insensitively, with spaces
and dashes read as underscores ("Tracking Number" == tracking_number):

    required  tracking_number, status_code, event_time
    optional  carrier, description, event_date, utc_offset, timezone,
              city, state, postal_code, country

`status_code` uses the carrier-neutral code set in connectors/mappings/csv.csv (the same codes as
the generic JSON webhook). `event_time` is ISO 8601 ("2026-11-18T09:12:00-05:00",
"2026-11-18 09:12", milliseconds allowed), a date alone, or a time alone ("09:12") when
`event_date` holds the date. Dates and times as spreadsheets export them are read too: the
day-first dotted form of European locales ("20.11.2026", "20.11.2026 14:03"), the slashed form
("11/20/2026 2:03 PM", "20/11/2026 14:03") and 12-hour clocks ("2:03 PM", also alone next to an
`event_date`). A slashed date is month first, as Excel's en-US locale writes it, unless some
slashed date in the same file has a first number above 12: a file comes from one locale, so
then all its slashed dates are day first (en-GB, fr-FR, ...).
`carrier` falls back to the context's carrier. Delimiter: `,`, `;` or tab, whichever the header
line holds most of (spreadsheets localised for Europe write `;`); a UTF-8 BOM is dropped and a
file that is not UTF-8 is read as Windows-1252, which is what Excel writes otherwise.

Zone rule: an offset inside `event_time` is exact; else `utc_offset` ("-05:00") is exact; else
`timezone` (an IANA name, DST-aware via zoneinfo) is exact; else the time is read in the zone of
the row's place (`times.zone_at` with country, state, postal_code and city; UTC when the row
names no place) and flagged `zone_assumed`. A date without a time is noon in that zone, always
flagged.

A row that cannot become a scan (no tracking number, no code, unreadable time) is a problem and
is skipped; a file without the required columns is a ParseError.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.base import CarrierScan, ParseContext, ParseError, ParseResult, scan_event_id
from connectors.places import place
from connectors.times import parse_iso, parse_offset, zone_at

MAPPING = "csv"

REQUIRED = ("tracking_number", "status_code", "event_time")
OPTIONAL = (
    "carrier", "description", "event_date", "utc_offset", "timezone",
    "city", "state", "postal_code", "country",
)  # fmt: skip
_DELIMITERS = (",", ";", "\t")


def _decode(payload: bytes, problems: list[str]) -> str:
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.append("file is not UTF-8; read as Windows-1252")
        return payload.decode("cp1252", errors="replace")


def _header_name(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").split())


def _delimiter(text: str) -> str:
    """The candidate the first non-blank line holds most of; csv.Sniffer guesses wrong on
    short files whose data rows contain commas in quoted fields, so count on the header only."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    return max(_DELIMITERS, key=header.count)


def parse(payload: bytes, ctx: ParseContext) -> ParseResult:
    result = ParseResult()
    text = _decode(payload, result.problems).replace("\x00", "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            raise ParseError("empty file: no header row")
        columns: dict[str, int] = {}
        for index, name in enumerate(header):
            columns.setdefault(_header_name(name), index)
        missing = [name for name in REQUIRED if name not in columns]
        if missing:
            raise ParseError(
                f"header lacks required column(s) {', '.join(missing)}; "
                f"found: {', '.join(columns) or 'none'}"
            )
        wanted = [(name, columns[name]) for name in REQUIRED + OPTIONAL if name in columns]
        rows = [(reader.line_num, {name: row[i].strip() if i < len(row) else ""
                                   for name, i in wanted})
                for row in reader if any(cell.strip() for cell in row)]  # fmt: skip
    except csv.Error as exc:
        raise ParseError(f"unreadable CSV near line {reader.line_num}: {exc}") from None
    day_first = _slashes_day_first(fields for _, fields in rows)
    for line, fields in rows:
        try:
            result.scans.append(_scan(fields, ctx, day_first))
        except ParseError as exc:
            result.problems.append(f"line {line}: {exc.reason}; row skipped")
    if not result.scans:
        result.problems.append("file holds no usable rows")
    return result


def _zone(fields: dict[str, str]) -> tuple[tzinfo | None, str]:
    """(zone the row names, problem). None when the row names no zone (UTC is assumed)."""
    if fields.get("utc_offset"):
        try:
            return parse_offset(fields["utc_offset"]), ""
        except ParseError as exc:
            return None, exc.reason
    name = fields.get("timezone", "")
    if name:
        try:
            return ZoneInfo(name), ""
        except (ZoneInfoNotFoundError, ValueError, OSError):
            return None, f"unknown time zone {name!r}"
    return None, ""


# Spreadsheet dates: "20.11.2026" (day first) and "11/20/2026" or "20/11/2026", each optionally
# followed by a time; and clock times, 24-hour or 12-hour ("2:03 PM", "2:03:15 p.m.").
_SHEET_DATE = re.compile(r"^(\d{1,2})([./])(\d{1,2})\2(\d{4})(?:[ T]+(\S.*))?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?(?:\s*([AaPp])\.?[Mm]\.?)?$")


def _slashes_day_first(rows: Iterator[dict[str, str]]) -> bool:
    """Whether the file writes slashed dates day first: some slashed date starts above 12."""
    for fields in rows:
        for name in ("event_time", "event_date"):
            match = _SHEET_DATE.match(fields.get(name, ""))
            if match and match[2] == "/" and int(match[1]) > 12:
                return True
    return False


def _clock(text: str) -> str:
    """'9:05', '14:03:15.250', '2:03 PM' -> 'HH:MM[:SS[.fff]]'; other text is returned as is
    (and then fails as ISO 8601 with the row's reason)."""
    match = _CLOCK.match(text.strip())
    if not match:
        return text
    hour, minute, second, fraction, half = match.groups()
    hours = int(hour)
    if half:  # 12:xx AM is just after midnight, 12:xx PM just after noon
        hours = hours % 12 + (12 if half in "Pp" else 0)
    return f"{hours:02d}:{minute}" + (f":{second}{fraction or ''}" if second else "")


def _date(text: str, day_first: bool) -> tuple[str, str]:
    """(ISO date, the time text after it) of a spreadsheet date; (text, '') for anything else."""
    match = _SHEET_DATE.match(text.strip())
    if not match:
        return text, ""
    first, separator, second, year, rest = match.groups()
    day, month = (first, second) if separator == "." or day_first else (second, first)
    return f"{year}-{int(month):02d}-{int(day):02d}", rest or ""


def _moment(fields: dict[str, str], day_first: bool) -> str:
    """The row's event time as ISO 8601 text."""
    moment = fields["event_time"]
    if fields.get("event_date") and ":" in moment and len(moment) <= 14 and "-" not in moment:
        day, _ = _date(fields["event_date"], day_first)  # a time alone next to its date
        return f"{day}T{_clock(moment)}"
    day, clock = _date(moment, day_first)
    return f"{day}T{_clock(clock)}" if clock else day


def _occurred_at(fields: dict[str, str], day_first: bool = False) -> tuple[int, bool]:
    moment = _moment(fields, day_first)
    zone, problem = _zone(fields)
    if problem:
        raise ParseError(problem)
    # no zone named: the place's zone (README rule 3), flagged whatever it is
    assume = zone or zone_at(fields.get("country", ""), fields.get("state", ""),
                             fields.get("postal_code", ""), fields.get("city", ""))  # fmt: skip
    try:
        occurred_at_ms, assumed = parse_iso(moment, assume)
    except (OverflowError, ValueError) as exc:
        raise ParseError(f"event_time {moment!r} out of range: {exc}") from None
    has_time = len(moment) > 10
    return occurred_at_ms, assumed and not (zone is not None and has_time)


def _scan(fields: dict[str, str], ctx: ParseContext, day_first: bool = False) -> CarrierScan:
    tracking_number, code = fields["tracking_number"], fields["status_code"].upper()
    if not tracking_number:
        raise ParseError("tracking_number is empty")
    if not code:
        raise ParseError("status_code is empty")
    if not fields["event_time"]:
        raise ParseError("event_time is empty")
    carrier = fields.get("carrier") or ctx.carrier
    if not carrier:
        raise ParseError("no carrier in the row or the request")
    occurred_at_ms, zone_assumed = _occurred_at(fields, day_first)
    city, postal, country = place(
        fields.get("city"), fields.get("postal_code"), fields.get("country")
    )
    return CarrierScan(
        event_id=scan_event_id(carrier, tracking_number, code, occurred_at_ms),
        carrier=carrier,
        tracking_number=tracking_number,
        code=code,
        description=fields.get("description", ""),
        occurred_at_ms=occurred_at_ms,
        zone_assumed=zone_assumed,
        city=city,
        region=fields.get("state", ""),
        postal_code=postal,
        country=country,
    )
