from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tracking.events import TrackingEvent
from tracking.exceptions import ExceptionPolicy, severity
from tracking.parcels import PartitionState, process_batch, process_timers
from tracking.state import RESOLVED_LIMIT
from tracking.timers import DeadlineHeap

H = 3_600_000
POLICY = ExceptionPolicy(stuck_default_ms=72 * H, settle_ms=1 * H)


def scan(event_id: str, status: str, at: int, received: int, reason: str = "") -> TrackingEvent:
    return TrackingEvent(
        event_id,
        "P1",
        "acme",
        status,
        reason,
        "X",
        "",
        at,
        received,
        False,
        "",
        "",
        "",
        "",
        "raw",
        "t",
    )


def kinds(out) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(x.kind, x.state) for x in out.exceptions]


def test_silence_opens_stuck_from_the_timer_and_a_scan_resolves_it() -> None:
    part = PartitionState()
    out = process_batch(part, [scan("a", "picked_up", 0, 0)], [], now_ms=0, policy=POLICY)
    assert out.exceptions == []
    assert process_timers(part, 71 * H, POLICY).exceptions == [], "not yet"
    out = process_timers(part, 72 * H + 1, POLICY)
    assert kinds(out) == [("stuck", "opened")]
    assert out.exceptions[0].opened_at == 0, "the silence began at the last scan"
    assert process_timers(part, 80 * H, POLICY).exceptions == [], "opened once"
    out = process_batch(part, [scan("b", "in_transit", 81 * H, 81 * H)], [], 81 * H, POLICY)
    assert kinds(out) == [("stuck", "resolved")]
    (state,) = part.parcels.values()
    assert state.resolved_exceptions == [("stuck", 0, 81 * H)], "kept for the lookup API"


def test_the_parcel_keeps_only_its_last_resolved_exceptions() -> None:
    part = PartitionState()
    at = 0
    for i in range(RESOLVED_LIMIT + 3):
        process_batch(part, [scan(f"x{i}", "exception", at, at, "customs_hold")], [], at, POLICY)
        at += H
        process_batch(part, [scan(f"y{i}", "in_transit", at, at)], [], at, POLICY)
        at += H
    (state,) = part.parcels.values()
    assert len(state.resolved_exceptions) == RESOLVED_LIMIT
    assert state.resolved_exceptions[-1] == ("customs_hold", at - 2 * H, at - H)


def test_a_replayed_backlog_raises_no_alarm_until_the_feed_settles() -> None:
    part = PartitionState()
    now = 200 * H  # scans are days old, but they are arriving right now
    out = process_batch(part, [scan("a", "picked_up", 0, now)], [], now_ms=now, policy=POLICY)
    assert out.exceptions == []
    out = process_batch(part, [scan("b", "delivered", 10 * H, now + 5)], [], now + 5, POLICY)
    assert out.exceptions == [] and process_timers(part, now + 2 * H, POLICY).exceptions == []


def test_backlog_of_a_really_stuck_parcel_alarms_once_settled() -> None:
    part = PartitionState()
    now = 200 * H
    process_batch(part, [scan("a", "picked_up", 0, now)], [], now_ms=now, policy=POLICY)
    assert process_timers(part, now + H - 1, POLICY).exceptions == []
    assert kinds(process_timers(part, now + H + 1, POLICY)) == [("stuck", "opened")]


def test_explicit_exception_opens_with_the_scan_and_resolves_on_delivery() -> None:
    part = PartitionState()
    out = process_batch(part, [scan("a", "exception", 0, 0, "customs_hold")], [], 0, POLICY)
    assert kinds(out) == [("customs_hold", "opened")]
    out = process_batch(part, [scan("b", "delivered", H, H)], [], H, POLICY)
    assert kinds(out) == [("customs_hold", "resolved")]


def test_two_failed_attempts_are_repeated_failed_attempts() -> None:
    part = PartitionState()
    process_batch(part, [scan("a", "failed_attempt", 0, 0)], [], 0, POLICY)
    out = process_batch(part, [scan("b", "failed_attempt", H, H)], [], H, POLICY)
    assert ("repeated_failed_attempts", "opened") in kinds(out)


def test_severity_rises_for_vip_and_expedited() -> None:
    assert severity("stuck", "standard", "economy") == "medium"
    assert severity("stuck", "vip", "economy") == "high"
    assert severity("stuck", "vip", "expedited") == "critical"
    assert severity("lost", "vip", "overnight") == "critical"


@given(
    st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 100)), max_size=60),
    st.integers(0, 120),
)
def test_deadline_heap_returns_only_current_due_parcels(
    schedule: list[tuple[str, int]], now: int
) -> None:
    heap = DeadlineHeap()
    latest: dict[str, tuple[int, int]] = {}
    for version, (parcel, deadline) in enumerate(schedule):
        heap.schedule(parcel, version, [deadline])
        latest[parcel] = (version, deadline)
    due = heap.due(now)
    assert len(due) == len(set(due))
    assert set(due) == {p for p, (_, deadline) in latest.items() if deadline <= now}
    assert heap.due(now) == [], "popped once"


def test_a_registration_followed_by_its_backlog_is_not_late() -> None:
    shipment = {
        "order_id": "O",
        "tracking_number": "P1",
        "carrier": "acme",
        "service_level": "standard",
        "promised_delivery": 5 * H,
        "customer_ref": "",
        "customer_segment": "",
        "origin": {"city": "", "region": "", "postal_code": "", "country": ""},
        "destination": {"city": "", "region": "", "postal_code": "", "country": ""},
        "is_return": False,
        "registered_at": 0,
    }
    part = PartitionState()
    now = 100 * H  # promise long passed, scans still to come
    assert process_batch(part, [], [shipment], now, POLICY).exceptions == []
    out = process_batch(part, [scan("a", "delivered", 4 * H, now + 1)], [], now + 1, POLICY)
    assert out.exceptions == [] and process_timers(part, now + 2 * H, POLICY).exceptions == []
