from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracking import state_codec
from tracking.events import TrackingEvent
from tracking.history import NEAR_DUPLICATE_WINDOW_MS
from tracking.state import ParcelState

TN = "TN1"
MINUTE = 60_000
WINDOW = NEAR_DUPLICATE_WINDOW_MS


def event(
    event_id: str,
    status: str,
    at: int,
    reason: str = "",
    city: str = "",
    country: str = "",
    source: str = "test",
) -> TrackingEvent:
    return TrackingEvent(
        event_id,
        TN,
        "acme",
        status,
        reason,
        status[:2].upper(),
        "",
        at,
        at,
        False,
        city,
        "",
        "",
        country,
        "raw",
        source,
    )


LIFECYCLE = [
    event("e1", "info_received", 1_000, city="Berlin"),
    event("e2", "picked_up", 2_000, city="Berlin"),
    event("e3", "in_transit", 3_000, "departed_facility", city="Leipzig"),
    event("e4", "in_transit", 4_000, "arrived_at_destination", city="Munich"),
    event("e5", "unknown", 4_500),
    event("e6", "out_for_delivery", 5_000, city="Munich"),
    event("e7", "delivered", 6_000, city="Munich"),
]


def final_view(state: ParcelState) -> tuple[object, ...]:
    return (
        state.status,
        state.reason,
        state.status_at_ms,
        state.city,
        state.milestones,
        [
            (h.event_id, h.occurred_at_ms, h.status, h.reason, h.carrier_code, h.city, h.country)
            for h in state.history
        ],
        state.last_event_at_ms,
    )


def feed(events: list[TrackingEvent], batches: int) -> tuple[ParcelState, int]:
    """The state after `events` arrive in `batches` batches, and how many it accepted."""
    state = ParcelState(TN)
    size = max(1, -(-len(events) // batches))
    accepted = 0
    for start in range(0, len(events), size):
        accepted += len(state.apply_events(events[start : start + size], now_ms=0))
    return state, accepted


def test_lifecycle_in_order() -> None:
    state = ParcelState(TN)
    assert len(state.apply_events(LIFECYCLE, now_ms=10)) == 7
    assert (state.status, state.city, state.version) == ("delivered", "Munich", 1)
    assert state.milestones == {
        "info_received": 1_000,
        "picked_up": 2_000,
        "departed_origin": 3_000,
        "arrived_at_destination": 4_000,
        "out_for_delivery": 5_000,
        "delivered": 6_000,
    }


def test_unknown_status_never_becomes_current() -> None:
    state = ParcelState(TN)
    state.apply_events([event("a", "in_transit", 1), event("b", "unknown", 2)], now_ms=0)
    assert state.status == "in_transit"
    assert len(state.history) == 2, "unknown codes are kept in history, not dropped"


def test_late_transit_scan_does_not_undo_delivery() -> None:
    state = ParcelState(TN)
    state.apply_events([event("d", "delivered", 5_000), event("t", "in_transit", 9_000)], 0)
    assert state.status == "delivered"


def test_return_after_delivery_counts() -> None:
    state = ParcelState(TN)
    state.apply_events([event("d", "delivered", 5_000), event("r", "return_to_sender", 9_000)], 0)
    assert state.status == "return_to_sender"


def test_changelog_record_round_trip() -> None:
    state = ParcelState(TN)
    state.apply_events(LIFECYCLE, now_ms=10)
    restored = ParcelState.from_record(state.to_record())
    assert final_view(restored) == final_view(state)
    assert restored.seen == state.seen and restored.version == state.version


@settings(max_examples=300, deadline=None)
@given(
    st.permutations(LIFECYCLE),
    st.lists(st.integers(0, 6), max_size=6),
    st.integers(1, 4),
    st.booleans(),
)
def test_any_order_any_duplicates_any_batching_same_state(
    order: list[TrackingEvent], repeats: list[int], batches: int, through_store: bool
) -> None:
    """`through_store`: the state is encoded and decoded between every two batches, as a
    parcel that leaves the hot set and is read back from the local store would be."""
    reference = ParcelState(TN)
    reference.apply_events(LIFECYCLE, now_ms=0)

    stream = list(order) + [LIFECYCLE[i] for i in repeats]
    state = ParcelState(TN)
    size = max(1, len(stream) // batches)
    accepted = 0
    for start in range(0, len(stream), size):
        accepted += len(state.apply_events(stream[start : start + size], now_ms=0))
        if through_store:
            state = state_codec.decode(state_codec.encode(state, deadline_ms=start + 1))
    assert accepted == len(LIFECYCLE), "duplicates must be dropped"
    assert final_view(state) == final_view(reference)


# -- near-duplicates: one scan, two feeds ----------------------------------------------------


def ids(state: ParcelState) -> list[str]:
    return [h.event_id for h in state.history]


def test_two_feeds_reporting_one_scan_make_one_entry_with_both_fields() -> None:
    hook = event("hook", "delivered", 60 * MINUTE, city="Munich", source="webhook")
    poll = event("poll", "delivered", 61 * MINUTE + 30_000, country="DE", source="api_poll")
    state = ParcelState(TN)
    accepted = state.apply_events([poll, hook], now_ms=0)
    assert [e.event_id for e in accepted] == ["hook"], "the chosen report, not the echo"
    # Both name one field: the earlier report is shown, the other fills its gap.
    assert ids(state) == ["hook"]
    assert (state.history[0].city, state.history[0].country) == ("Munich", "DE")
    assert (state.city, state.country, state.status_at_ms) == ("Munich", "DE", 60 * MINUTE)
    assert state.seen == {"hook", "poll"}


def test_better_located_report_arriving_second_replaces_the_first_once() -> None:
    bare = event("bare", "out_for_delivery", 10 * MINUTE, source="api_poll")
    located = event(
        "located", "out_for_delivery", 12 * MINUTE, city="Munich", country="DE", source="webhook"
    )
    state = ParcelState(TN)
    assert state.apply_events([bare], now_ms=1) == [bare]
    assert state.version == 1 and state.city == ""

    assert state.apply_events([located], now_ms=2) == [], "an echo, counted as a duplicate"
    assert state.version == 2, "the history did change: a location was filled in"
    assert ids(state) == ["located"] and state.status_at_ms == 12 * MINUTE
    assert (state.city, state.country, state.updated_at_ms) == ("Munich", "DE", 2)
    assert state.milestones["out_for_delivery"] == 12 * MINUTE

    # A third, poorer copy changes nothing, so the version stays.
    third = event("third", "out_for_delivery", 11 * MINUTE, source="file_drop")
    assert state.apply_events([third], now_ms=3) == []
    assert (state.version, state.updated_at_ms, ids(state)) == (2, 2, ["located"])


def test_one_source_twice_is_two_scans() -> None:
    # The same feed never reports one scan under two ids (its re-sends share the id).
    state = ParcelState(TN)
    first = event("a", "in_transit", 0, city="Leipzig", source="webhook")
    second = event("b", "in_transit", 5 * MINUTE, city="Halle", source="webhook")
    assert len(state.apply_events([first, second], now_ms=0)) == 2
    assert ids(state) == ["a", "b"]


def test_window_edge_and_other_reasons_and_statuses() -> None:
    state = ParcelState(TN)
    state.apply_events(
        [
            event("w1", "in_transit", 0, source="webhook"),
            event("p1", "in_transit", WINDOW, source="api_poll"),  # exactly the window: one
            event("w2", "in_transit", 5 * WINDOW, source="webhook"),
            event("p2", "in_transit", 6 * WINDOW + 1, source="api_poll"),  # just outside
            event("p3", "in_transit", 5 * WINDOW, "departed_facility", source="api_poll"),
            event("p4", "picked_up", 5 * WINDOW, source="api_poll"),
        ],
        now_ms=0,
    )
    assert sorted(ids(state)) == ["p2", "p3", "p4", "w1", "w2"]


def test_unknown_reports_are_never_merged() -> None:
    state = ParcelState(TN)
    accepted = state.apply_events(
        [event("u1", "unknown", 0, source="webhook"), event("u2", "unknown", 1, source="poll")],
        now_ms=0,
    )
    assert len(accepted) == 2 and ids(state) == ["u1", "u2"]


def test_a_scan_keeps_one_report_per_source_closest_pairs_first() -> None:
    # a and c are two scans of one feed; b, from another feed, is the echo of the closer one.
    a = event("a", "in_transit", 0, source="webhook")
    b = event("b", "in_transit", 9 * MINUTE, source="api_poll")
    c = event("c", "in_transit", 12 * MINUTE, source="webhook")
    for order in ([a, b, c], [c, b, a], [b, a, c], [b, c, a]):
        for batches in (1, 3):
            state, _ = feed(order, batches)
            assert ids(state) == ["a", "b"], (order, batches)
            assert {r.event_id for r in state.history[1].raw_reports()} == {"b", "c"}


def test_a_scan_fits_in_the_window() -> None:
    # Each neighbour is 9 minutes from the next, but a and c are 18 apart: not one scan.
    a = event("a", "in_transit", 0, source="webhook")
    b = event("b", "in_transit", 9 * MINUTE, source="api_poll")
    c = event("c", "in_transit", 18 * MINUTE, source="file_drop")
    for order in ([a, b, c], [c, b, a], [b, c, a]):
        state, _ = feed(order, 3)
        assert ids(state) == ["a", "c"], order  # equal gaps: the earlier pair wins
        assert {r.event_id for r in state.history[0].raw_reports()} == {"a", "b"}


def test_three_feeds_of_one_scan_make_one_entry() -> None:
    reports = [
        event("w", "delivered", 2 * MINUTE, source="webhook"),
        event("p", "delivered", 0, city="Munich", source="api_poll"),
        event("f", "delivered", 4 * MINUTE, city="München", country="DE", source="file_drop"),
    ]
    state, accepted = feed(reports, 3)
    assert accepted == 1 and ids(state) == ["f"]
    assert (state.city, state.country, state.status_at_ms) == ("München", "DE", 4 * MINUTE)


@pytest.mark.parametrize("stored", ["avro record", "compact"])
def test_restored_state_absorbs_replayed_echoes(stored: str) -> None:
    """A stored state keeps the merged entries but not the echoes (the compact encoding keeps
    the shown report's source, the Avro record none), so after a restore a replayed echo is
    judged again: it meets an entry of another source and merges again."""
    reports = [
        *LIFECYCLE,
        event("e7-poll", "delivered", 6_000 + MINUTE, country="DE", source="api_poll"),
        event("e2-poll", "picked_up", 2_000 - MINUTE, source="api_poll"),
    ]
    state = ParcelState(TN)
    state.apply_events(reports, now_ms=0)
    if stored == "compact":
        restored = state_codec.decode(state_codec.encode(state))
        assert [h.source for h in restored.history] == [h.source for h in state.history]
    else:
        restored = ParcelState.from_record(state.to_record())
    assert final_view(restored) == final_view(state)
    assert restored.apply_events(reports, now_ms=1) == []
    assert final_view(restored) == final_view(state) and restored.version == state.version


# Echoes of LIFECYCLE scans but the unknown one (never merged): (index, source, offset from the
# scan, city, country). Offsets stay within half the window, so a scan and its echoes always
# fit in one.
ECHO = st.tuples(
    st.sampled_from([i for i, e in enumerate(LIFECYCLE) if e.status != "unknown"]),
    st.sampled_from(["api_poll", "file_drop"]),
    st.integers(-WINDOW // 2, WINDOW // 2),
    st.sampled_from(["", "Munich", "Berlin"]),
    st.sampled_from(["", "DE"]),
)


def echoes_of(specs: list[tuple[int, str, int, str, str]]) -> list[TrackingEvent]:
    out, taken = [], set()
    for index, source, offset, city, country in specs:
        if (index, source) in taken:
            continue  # a feed reports a scan once
        taken.add((index, source))
        scan = LIFECYCLE[index]
        at = max(0, scan.occurred_at_ms + offset)
        out.append(
            event(f"{scan.event_id}-{source}", scan.status, at, scan.reason, city, country, source)
        )
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(ECHO, max_size=10), st.randoms(use_true_random=False), st.integers(1, 5))
def test_echoes_in_any_order_and_batching_give_one_state(
    specs: list[tuple[int, str, int, str, str]], rng: object, batches: int
) -> None:
    # LIFECYCLE's scans are 1 s apart, but each (status, reason) occurs once there, so every
    # echo belongs to exactly one scan.
    echoes = echoes_of(specs)
    reports = LIFECYCLE + echoes
    reference, _ = feed(reports, 1)
    stream = reports + echoes[:2]  # and some exact re-sends
    rng.shuffle(stream)  # type: ignore[attr-defined]
    state, accepted = feed(stream, batches)
    assert accepted == len(LIFECYCLE), "an echo or a re-send is a duplicate"
    assert final_view(state) == final_view(reference)
    assert state.seen == {r.event_id for r in reports}
    assert len(state.history) == len(LIFECYCLE)
    for entry in state.history:
        group = [r for r in reports if (r.status, r.reason) == (entry.status, entry.reason)]
        # The richer fields survive: a field is empty only if every report lacked it.
        assert bool(entry.city) == any(r.city for r in group)
        assert bool(entry.country) == any(r.country for r in group)
        best = min(
            group, key=lambda r: (-bool(r.city) - bool(r.country), r.occurred_at_ms, r.event_id)
        )
        assert entry.event_id == best.event_id


REPORT = st.tuples(
    st.sampled_from(["in_transit", "delivered", "failed_attempt", "unknown"]),
    st.sampled_from(["", "departed_facility"]),
    st.sampled_from(["webhook", "api_poll", "file_drop"]),
    st.integers(0, 4 * WINDOW // MINUTE),  # minute
    st.sampled_from(["", "Munich"]),
    st.sampled_from(["", "DE"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(REPORT, min_size=1, max_size=14), st.randoms(use_true_random=False), st.data())
def test_crowded_reports_in_any_order_and_batching_give_one_state(
    specs: list[tuple[str, str, str, int, str, str]], rng: object, data: st.DataObject
) -> None:
    """Reports packed densely enough that scans compete for echoes: whatever pairs up, the
    pairing depends on the set only."""
    reports = [
        event(f"r{i}", status, minute * MINUTE, reason, city, country, source)
        for i, (status, reason, source, minute, city, country) in enumerate(specs)
    ]
    reference, _ = feed(reports, 1)
    stream = list(reports)
    rng.shuffle(stream)  # type: ignore[attr-defined]
    state, _ = feed(stream, data.draw(st.integers(1, len(stream))))
    assert final_view(state) == final_view(reference)

    covered = [r.event_id for entry in state.history for r in entry.raw_reports()]
    assert sorted(covered) == sorted(state.seen), "every report is in exactly one scan"
    for entry in state.history:
        raw = entry.raw_reports()
        times = [r.occurred_at_ms for r in raw]
        assert len({r.source for r in raw}) == len(raw), "one report per source"
        assert max(times) - min(times) <= WINDOW
        assert all((r.status, r.reason) == (entry.status, entry.reason) for r in raw)
        assert len(raw) == 1 or entry.status != "unknown"
