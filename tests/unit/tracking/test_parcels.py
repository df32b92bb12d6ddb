from __future__ import annotations

from tracking.events import TrackingEvent
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


def test_notification_ids_are_stable_across_replays() -> None:
    first = process_batch(PartitionState(), [scan("P1", "d", "delivered", 9)], [], now_ms=1)
    again = process_batch(PartitionState(), [scan("P1", "d", "delivered", 9)], [], now_ms=2)
    assert first.notifications[0].notification_id == again.notifications[0].notification_id


def test_late_out_of_order_scan_is_silent() -> None:
    parcels = PartitionState()
    process_batch(parcels, [scan("P1", "d", "delivered", 9)], [], now_ms=1)
    out = process_batch(parcels, [scan("P1", "c", "out_for_delivery", 8)], [], now_ms=2)
    assert out.notifications == [] and len(out.new_events) == 1
