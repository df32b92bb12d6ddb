from __future__ import annotations

from dataclasses import replace

from tracking.events import TrackingEvent
from tracking.exceptions import ExceptionPolicy, should_be_open
from tracking.parcels import PartitionState, process_batch


def scan(tn: str, event_id: str, status: str, at: int, reason: str = "") -> TrackingEvent:
    return TrackingEvent(
        event_id,
        tn,
        "acme",
        status,
        reason,
        "X",
        "",
        at,
        at,
        False,
        "Oslo",
        "",
        "",
        "NO",
        "raw",
        "test",
    )


SHIPMENT = {
    "order_id": "O1",
    "tracking_number": "P1",
    "carrier": "acme",
    "service_level": "expedited",
    "promised_delivery": 99_000,
    "customer_ref": "C9",
    "customer_segment": "vip",
    "origin": {"city": "", "region": "CA", "postal_code": "", "country": "US"},
    "destination": {"city": "", "region": "NY", "postal_code": "", "country": "US"},
    "is_return": False,
    "registered_at": 0,
}


def test_batch_dedups_and_notifies_only_on_status_change() -> None:
    parcels = PartitionState()
    out = process_batch(parcels, [scan("P1", "a", "picked_up", 1)], [SHIPMENT], now_ms=5)
    assert [n.kind for n in out.notifications] == ["shipped"]
    assert out.notifications[0].order_id == "O1"
    assert out.notifications[0].customer_segment == "vip"

    # A repeated scan and a plain transit scan: no noise.
    out = process_batch(parcels, [scan("P1", "a", "picked_up", 1)], [], now_ms=6)
    assert (out.duplicates, out.notifications, out.changed) == (1, [], [])
    out = process_batch(parcels, [scan("P1", "b", "in_transit", 2)], [], now_ms=7)
    assert out.notifications == [] and len(out.new_events) == 1

    # Out for delivery and delivered in one batch: only the delivery is announced.
    out = process_batch(
        parcels, [scan("P1", "d", "delivered", 9), scan("P1", "c", "out_for_delivery", 8)], [], 8
    )
    assert [n.kind for n in out.notifications] == ["delivered"]


def test_one_scan_from_two_feeds_is_one_event_and_one_attempt() -> None:
    """A webhook and an API poll report the same failed attempt under two ids (the poll's
    copy is a minute later): one new event, one duplicate, and no "repeated failed attempts"
    exception, which two entries would open."""
    hook = replace(scan("P1", "hook", "failed_attempt", 60_000), source="webhook")
    poll = replace(scan("P1", "poll", "failed_attempt", 120_000), source="api_poll")
    parcels = PartitionState()
    out = process_batch(parcels, [hook], [SHIPMENT], now_ms=130_000)
    assert len(out.new_events) == 1
    out = process_batch(parcels, [poll], [], now_ms=4 * 3_600_000)
    assert (out.duplicates, out.new_events, out.changed) == (1, [], [])
    state = parcels.parcels["P1"]
    assert len(state.history) == 1
    policy = ExceptionPolicy()
    open_now = should_be_open(state, 4 * 3_600_000, policy.stuck_default_ms, policy)
    assert "failed_attempt" in open_now and "repeated_failed_attempts" not in open_now


def test_notification_ids_are_stable_across_replays() -> None:
    first = process_batch(PartitionState(), [scan("P1", "d", "delivered", 9)], [], now_ms=1)
    again = process_batch(PartitionState(), [scan("P1", "d", "delivered", 9)], [], now_ms=2)
    assert first.notifications[0].notification_id == again.notifications[0].notification_id


def test_late_out_of_order_scan_is_silent() -> None:
    parcels = PartitionState()
    process_batch(parcels, [scan("P1", "d", "delivered", 9)], [], now_ms=1)
    out = process_batch(parcels, [scan("P1", "c", "out_for_delivery", 8)], [], now_ms=2)
    assert out.notifications == [] and len(out.new_events) == 1
