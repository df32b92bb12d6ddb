"""The simulated feed, parsed by the real connectors and normalizer, must say exactly what the
simulator meant: same scans, same canonical statuses, same seconds, same counts as the Manifest.
If an encoder and a parser drift apart, the demo report's checks would fail for reasons no one
can see from the report; these tests point at the format instead."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

import connectors
from tools.sim_formats import (
    CODES,
    ENCODERS,
    NOT_SIMULATED,
    REASON_GAPS,
    SIM_CODES,
    SimScan,
    broken_payload,
    encode,
    intended,
    speaks,
)
from tools.sim_scan import ETA_ERROR_HOURS, estimate_after
from tools.simulator import ENDINGS, FORMATS, SCAN_GAP, Simulation, simulate
from tracking.normalize import Normalizer

# (seed, end of the feed): summer and winter, so a DST-naive time code would be caught.
RUNS = (
    (1, datetime(2026, 11, 20, 12, 0, tzinfo=UTC)),
    (7, datetime(2026, 7, 14, 6, 30, tzinfo=UTC)),
    (23, datetime(2026, 3, 15, 0, 0, tzinfo=UTC)),
    (42, datetime(2025, 12, 31, 23, 0, tzinfo=UTC)),
)
Row = tuple[str, str, str, str, int]  # carrier, tracking number, status, exception reason, second


def _row(carrier: str, tracking_number: str, status: str, reason: str, second: int) -> Row:
    return carrier, tracking_number, status, reason if status == "exception" else "", second


@pytest.fixture(scope="module", params=RUNS, ids=lambda run: f"seed{run[0]}")
def feed(request: pytest.FixtureRequest) -> tuple[Simulation, list[connectors.CarrierScan], int]:
    """(simulation, every scan parsed from a good payload, payloads that raised ParseError)."""
    seed, now = request.param
    simulation = simulate(200, seed=seed, now=now)
    scans: list[connectors.CarrierScan] = []
    rejected = 0
    for carrier, payload_format, body in simulation.payloads:
        ctx = connectors.ParseContext(carrier, 0, "simulator")
        try:
            result = connectors.parse(payload_format, body, ctx)
        except connectors.ParseError:
            rejected += 1
            continue
        assert result.problems == [], (payload_format, result.problems)
        scans.extend(result.scans)
    return simulation, scans, rejected


@pytest.mark.parametrize("payload_format", connectors.known_formats())
def test_every_registered_format_has_an_encoder(payload_format: str) -> None:
    assert (payload_format in ENCODERS) != (payload_format in NOT_SIMULATED), (
        f"{payload_format} is registered in connectors but the simulator never sends it: add an "
        "encoder to tools/sim_formats.py, or name it in NOT_SIMULATED with a comment saying why"
    )


def test_encoders_are_keyed_by_the_registry() -> None:
    assert set(ENCODERS) | NOT_SIMULATED == set(connectors.known_formats())
    assert set(CODES) == set(ENCODERS)  # each encoded format has its code table
    assert set(FORMATS.values()) == set(ENCODERS)  # and a carrier that speaks it


def test_every_format_is_in_the_feed(feed: tuple[Simulation, list, int]) -> None:
    simulation, _, _ = feed
    assert {fmt for _, fmt, _ in simulation.payloads} == set(FORMATS.values())
    assert {s["carrier"] for s in simulation.shipments} == set(FORMATS)


def test_parsed_feed_says_what_the_simulator_meant(feed: tuple[Simulation, list, int]) -> None:
    simulation, scans, _ = feed
    normalizer = Normalizer()
    parsed = set()
    for scan in scans:
        payload_format = FORMATS[scan.carrier]
        mapped = normalizer.canonical(connectors.mapping_for(payload_format), scan.code)
        parsed.add(_row(scan.carrier, scan.tracking_number, mapped.status.value,
                        mapped.reason.value, scan.occurred_at_ms // 1000))  # fmt: skip
    meant = {
        _row(s.carrier, s.tracking_number, *intended(FORMATS[s.carrier], s.code),
             int(s.at.timestamp()))
        for s in simulation.scans
    }  # fmt: skip
    assert parsed == meant


def test_parsed_carrier_is_the_shipments_carrier(feed: tuple[Simulation, list, int]) -> None:
    simulation, scans, _ = feed
    carrier_of = {s["tracking_number"]: s["carrier"] for s in simulation.shipments}
    assert all(carrier_of[scan.tracking_number] == scan.carrier for scan in scans)


def test_counts_match_the_manifest(feed: tuple[Simulation, list, int]) -> None:
    simulation, scans, rejected = feed
    manifest = simulation.manifest
    unique = {scan.event_id: scan for scan in scans}
    assert len(unique) == manifest.unique_events == len(simulation.scans)
    # every re-sent scan parsed to an id already seen: nothing beyond the unique events
    assert len(scans) == manifest.unique_events + manifest.duplicate_deliveries
    normalizer = Normalizer()
    unknown = sum(
        normalizer.canonical(connectors.mapping_for(FORMATS[s.carrier]), s.code).status == "unknown"
        for s in unique.values()
    )
    assert unknown == manifest.unknown_code_events
    assert rejected == manifest.malformed_payloads >= 3
    assert manifest.payloads == len(simulation.payloads)


def test_no_two_scans_of_a_parcel_share_a_code_and_a_minute(
    feed: tuple[Simulation, list, int],
) -> None:
    """An event id may come to be built from the time to the minute and no place: the feed must
    count the same with such ids, so distinct scans of a parcel never share code and minute."""
    simulation, scans, _ = feed
    by_minute = {(s.carrier, s.tracking_number, s.code, s.occurred_at_ms // 60_000) for s in scans}
    assert len(by_minute) == simulation.manifest.unique_events
    previous: dict[str, SimScan] = {}
    for scan in simulation.scans:
        if scan.tracking_number in previous:
            assert scan.at - previous[scan.tracking_number].at >= SCAN_GAP
        previous[scan.tracking_number] = scan


def test_final_status_is_the_last_scan_the_carrier_sent(feed: tuple[Simulation, list, int]) -> None:
    simulation, _, _ = feed
    last: dict[str, SimScan] = {}
    for scan in simulation.scans:
        if scan.tracking_number not in last or scan.at > last[scan.tracking_number].at:
            last[scan.tracking_number] = scan
    finals = Counter(intended(FORMATS[s.carrier], s.code)[0] for s in last.values())
    assert dict(finals) == simulation.manifest.final_status


def test_national_post_events_keep_their_country(feed: tuple[Simulation, list, int]) -> None:
    """UPU EDI places an event by its office code or, without one, by which post scans it: each
    simulated EMSEVT event comes back in the simulator's country (none for a transit hub)."""
    simulation, scans, _ = feed

    def posted(carrier: str) -> bool:
        return FORMATS[carrier] == "upu_edi"

    meant = {(s.tracking_number, int(s.at.timestamp())): s.country
             for s in simulation.scans if posted(s.carrier)}  # fmt: skip
    parsed = {(s.tracking_number, s.occurred_at_ms // 1000): s.country
              for s in scans if posted(s.carrier)}  # fmt: skip
    assert meant and parsed == meant


@pytest.mark.parametrize("payload_format", sorted(CODES))
def test_code_table_keeps_status_and_documented_reason(payload_format: str) -> None:
    normalizer = Normalizer()
    mapping = connectors.mapping_for(payload_format)
    used = {"CR", "PU", "AF", "DF", "ZZ9"} | {code for _, tail, _ in ENDINGS for code in tail}
    assert used <= set(SIM_CODES) == set(CODES[payload_format])
    for code, carrier_code in CODES[payload_format].items():
        status, reason = intended(payload_format, code)
        if carrier_code is None:  # the carrier has no code with this status at all
            assert code not in REASON_GAPS.get(payload_format, {})
            assert status not in {c.status.value for c in normalizer.table(mapping).values()}
            continue
        mapped = normalizer.canonical(mapping, carrier_code)
        assert (mapped.status.value, mapped.reason.value) == (status, reason), (code, carrier_code)
    assert normalizer.canonical(mapping, CODES[payload_format]["ZZ9"] or "").status == "unknown"


@pytest.mark.parametrize("payload_format", sorted(ENCODERS))
def test_broken_payloads_raise_parse_error(payload_format: str) -> None:
    bodies = [broken_payload(payload_format, i) for i in range(6)]
    assert len(set(bodies)) == len(bodies)  # distinct: never mistaken for a redelivery
    for body in bodies:
        with pytest.raises(connectors.ParseError):
            connectors.parse(payload_format, body, connectors.ParseContext("c", 0, "test"))


@pytest.mark.parametrize("payload_format", sorted(ENCODERS))
@pytest.mark.parametrize("zone_given", [True, False])
def test_a_resent_scan_keeps_its_event_id_in_any_bundle(
    payload_format: str, zone_given: bool
) -> None:
    carrier = next(c for c, fmt in FORMATS.items() if fmt == payload_format)
    at = datetime(2026, 3, 29, 0, 30, 15, 987654, tzinfo=UTC)  # across a DST switch, sub-second

    def scan(tn: str, code: str, hours: float, offset: int) -> SimScan:
        return SimScan(carrier, tn, code, at + timedelta(hours=hours), "Los Angeles", "CA",
                       "US", "90012", offset, zone_given)  # fmt: skip

    def said(*codes: str) -> str:  # the first of these the format has a code for (not DHL: OD)
        return next(code for code in codes if speaks(payload_format, code))

    resent = scan("P1", said("OD", "DL"), 0, -8)
    alone = encode(payload_format, carrier, [resent])
    crowded = encode(payload_format, carrier,
                     [scan("P2", said("PU", "CR"), -3, 1), resent,
                      scan("P1", "AF", -9, 0)])  # fmt: skip
    ctx = connectors.ParseContext(carrier, 0, "test")
    (first,) = connectors.parse(payload_format, alone, ctx).scans
    again = [
        s for s in connectors.parse(payload_format, crowded, ctx).scans if s.code == first.code
    ]
    assert [s.event_id for s in again] == [first.event_id]
    assert first.occurred_at_ms == int(at.timestamp()) * 1000


# Both passes through the repeated autumn hour, where a clock time without a zone names two
# instants: Europe's on 2026-10-25 (at 01:00 UTC), Toronto's on 2026-11-01 (at 06:00 UTC).
AUTUMN = (
    datetime(2026, 10, 25, 0, 30, 15, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 30, 15, tzinfo=UTC),
    datetime(2026, 11, 1, 5, 30, 15, tzinfo=UTC),
    datetime(2026, 11, 1, 6, 30, 15, tzinfo=UTC),
)
PLACES = {
    "berlin": ("Berlin", "BE", "DE", "10115", 1),
    "toronto": ("Toronto", "ON", "CA", "M5H", -5),
    "hub": ("Leipzig", "", "", "", 0),
}


@pytest.mark.parametrize("payload_format", sorted(ENCODERS))
@pytest.mark.parametrize("zone_given", [True, False])
@pytest.mark.parametrize("place", sorted(PLACES))
def test_the_repeated_autumn_hour_keeps_each_instant(
    payload_format: str, zone_given: bool, place: str
) -> None:
    carrier = next(c for c, fmt in FORMATS.items() if fmt == payload_format)
    city, region, country, postal, offset = PLACES[place]
    scans = [SimScan(carrier, f"P{i}", "AF", at, city, region, country, postal, offset, zone_given)
             for i, at in enumerate(AUTUMN)]  # fmt: skip
    result = connectors.parse(
        payload_format, encode(payload_format, carrier, scans), connectors.ParseContext(carrier, 0)
    )
    assert result.problems == []
    parsed = {s.tracking_number: s.occurred_at_ms for s in result.scans}
    assert parsed == {s.tracking_number: int(s.at.timestamp()) * 1000 for s in scans}


@pytest.mark.parametrize("payload_format", sorted(ETA_ERROR_HOURS))
def test_the_feed_carries_each_carriers_estimates_with_an_error(
    feed: tuple[Simulation, list, int], payload_format: str
) -> None:
    """Each simulated carrier with an estimate field shows it while a parcel is on its way, so
    the demo report has carrier ETAs to score per carrier; off by a seeded, realistic error."""
    simulation, _, _ = feed
    delivered = {s.tracking_number: s.at for s in simulation.scans if s.code == "DL"}
    first: dict[str, connectors.CarrierEta] = {}
    for carrier, body_format, body in simulation.payloads:
        if body_format != payload_format:
            continue
        try:
            result = connectors.parse(body_format, body, connectors.ParseContext(carrier, 0, "s"))
        except connectors.ParseError:
            continue
        for eta in result.etas:
            assert eta.kind in ("estimated", "scheduled")
            if eta.kind == "estimated" and payload_format != "x12_214":  # X12 AG is a moment
                assert eta.estimated_at_ms == eta.window_end_ms > eta.window_start_ms > 0
            first.setdefault(eta.tracking_number, eta)
    errors = [
        abs(eta.estimated_at_ms / 1000 - delivered[tn].timestamp()) / 3600
        for tn, eta in first.items()
        if tn in delivered
    ]
    assert len(errors) >= 5
    assert 1 < sum(errors) / len(errors) < 72, "neither an oracle nor noise"


# Scans to estimate after: every code, in and out of a zone, at places the parsers read
# differently, at the edges of a day and in the repeated autumn hour.
ESTIMATED_AFTER = [
    SimScan("c", f"P{i}", code, at, city, region, country, postal, offset, zone_given)
    for i, (code, at, (city, region, country, postal, offset), zone_given) in enumerate(
        (code, at, place, zone_given)
        for code in SIM_CODES
        for at in (*AUTUMN, datetime(2026, 11, 18, 23, 47, 5, tzinfo=UTC))
        for place in PLACES.values()
        for zone_given in (True, False)
    )
]


@pytest.mark.parametrize("payload_format", sorted(ETA_ERROR_HOURS))
def test_each_estimate_reads_back_as_the_carrier_meant_it(payload_format: str) -> None:
    """Exact to the second where the field holds a time (a bound that would fall on a local
    midnight is written half an hour later, as the parsers read midnight as a date); noon
    UTC of the estimated day where it holds a date alone (UPS SDD, Canada Post)."""
    carrier = next(c for c, fmt in FORMATS.items() if fmt == payload_format)
    half_hour = 1_800_000
    for scan in ESTIMATED_AFTER:
        if not speaks(payload_format, scan.code):
            continue
        sent = replace(scan, carrier=carrier)
        result = connectors.parse(
            payload_format,
            encode(payload_format, carrier, [sent]),
            connectors.ParseContext(carrier, 0),
        )
        assert result.problems == []
        meant = estimate_after(payload_format, sent)
        if meant is None:
            assert result.etas == [], sent
            continue
        at = int(meant.timestamp()) * 1000
        noon = int(meant.replace(hour=12, minute=0).timestamp()) * 1000
        for eta in result.etas:
            if eta.kind == "scheduled":
                assert eta.estimated_at_ms == noon, sent
            else:
                assert eta.estimated_at_ms - at in (0, half_hour), sent
        assert result.etas, sent


def test_fedex_estimates_are_the_same_for_the_same_newest_scan() -> None:
    at = datetime(2026, 11, 18, 9, 17, 5, tzinfo=UTC)
    pickup = SimScan("fedex", "FE01000000001", "PU", at, "Memphis", "TN", "US", "38118", -6, True)
    other = SimScan("fedex", "FE01000000002", "PU", at, "Memphis", "TN", "US", "38118", -6, True)
    ctx = connectors.ParseContext("fedex", 0, "sim")
    alone = connectors.parse("fedex", encode("fedex", "fedex", [pickup]), ctx).etas
    bundled = connectors.parse("fedex", encode("fedex", "fedex", [other, pickup]), ctx).etas
    assert alone == [e for e in bundled if e.tracking_number == pickup.tracking_number]
    arrived = SimScan("fedex", "FE01000000001", "DL", at, "Memphis", "TN", "US", "38118", -6, True)
    assert connectors.parse("fedex", encode("fedex", "fedex", [arrived]), ctx).etas == []
