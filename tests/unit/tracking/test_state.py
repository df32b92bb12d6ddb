from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tracking.events import TrackingEvent
from tracking.state import ParcelState

TN = "TN1"


def event(event_id: str, status: str, at: int, reason: str = "", city: str = "") -> TrackingEvent:
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
        "",
        "raw",
        "test",
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
        [h.event_id for h in state.history],
        state.last_event_at_ms,
    )


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
@given(st.permutations(LIFECYCLE), st.lists(st.integers(0, 6), max_size=6), st.integers(1, 4))
def test_any_order_any_duplicates_any_batching_same_state(
    order: list[TrackingEvent], repeats: list[int], batches: int
) -> None:
    reference = ParcelState(TN)
    reference.apply_events(LIFECYCLE, now_ms=0)

    stream = list(order) + [LIFECYCLE[i] for i in repeats]
    state = ParcelState(TN)
    size = max(1, len(stream) // batches)
    accepted = 0
    for start in range(0, len(stream), size):
        accepted += len(state.apply_events(stream[start : start + size], now_ms=0))
    assert accepted == len(LIFECYCLE), "duplicates must be dropped"
    assert final_view(state) == final_view(reference)
