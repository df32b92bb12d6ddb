"""The notification contract: exactly which changes emit, and that noise emits nothing."""

from __future__ import annotations

from pipeline.notification_rules import load_rules
from tracking.eta import EtaModel, Lane
from tracking.events import TrackingEvent
from tracking.notify import Rule, eta_moved_notifications
from tracking.parcels import PartitionState, process_batch

HOUR = 3_600_000
RULES = load_rules()


def shipment(tn: str, segment: str = "standard", service: str = "standard") -> dict:
    place = {"city": "Lyon", "region": "ARA", "postal_code": "69001", "country": "FR"}
    return {
        "order_id": "O1",
        "tracking_number": tn,
        "carrier": "acme",
        "service_level": service,
        "promised_delivery": 1_000 * HOUR,
        "customer_ref": "C1",
        "customer_segment": segment,
        "origin": place,
        "destination": place,
        "is_return": False,
        "registered_at": 0,
    }


def scan(tn: str, event_id: str, status: str, hour: int, reason: str = "") -> TrackingEvent:
    return TrackingEvent(
        event_id,
        tn,
        "acme",
        status,
        reason,
        event_id.upper(),
        "",
        hour * HOUR,
        hour * HOUR,
        False,
        "Lyon",
        "",
        "",
        "FR",
        "raw",
        "test",
    )


LIFECYCLE = [
    scan("P1", "cr", "info_received", 1),
    scan("P1", "pu", "picked_up", 2),
    scan("P1", "af", "in_transit", 5, "arrived_at_facility"),
    scan("P1", "df", "in_transit", 6, "departed_facility"),
    scan("P1", "df", "in_transit", 6, "departed_facility"),  # the carrier re-sent it
    scan("P1", "it", "in_transit", 9),
    scan("P1", "od", "out_for_delivery", 20),
    scan("P1", "fa", "failed_attempt", 23, "recipient_unavailable"),
    scan("P1", "od2", "out_for_delivery", 44),
    scan("P1", "dl", "delivered", 47),
    scan("P1", "late", "in_transit", 7),  # an old hub scan arriving after the delivery
]


def run(segment: str = "standard", service: str = "standard") -> list[str]:
    part = PartitionState()
    kinds = []
    out = process_batch(part, [], [shipment("P1", segment, service)], now_ms=0, rules=RULES)
    kinds += [n.kind for n in out.notifications]
    for event in LIFECYCLE:  # one scan per batch, as a webhook feed delivers them
        out = process_batch(part, [event], [], now_ms=event.occurred_at_ms, rules=RULES)
        kinds += [n.kind for n in out.notifications]
    return kinds


def test_scripted_lifecycle_emits_exactly_these() -> None:
    assert run() == [
        "shipped",
        "out_for_delivery",
        "failed_attempt",
        "out_for_delivery",
        "delivered",
    ]


def test_rules_per_segment_and_service() -> None:
    assert run(segment="business") == [
        "out_for_delivery",
        "failed_attempt",
        "out_for_delivery",
        "delivered",
    ]
    assert run(service="economy") == ["shipped", "failed_attempt", "delivered"]


def test_duplicates_and_replays_emit_nothing() -> None:
    part = PartitionState()
    first = process_batch(part, LIFECYCLE, [shipment("P1")], now_ms=48 * HOUR, rules=RULES)
    assert [n.kind for n in first.notifications] == ["delivered"]
    again = process_batch(part, LIFECYCLE, [shipment("P1")], now_ms=49 * HOUR, rules=RULES)
    assert again.notifications == [] and again.changed == []


def test_exception_opening_notifies_with_reason_and_stable_id() -> None:
    ids = []
    for _ in range(2):
        part = PartitionState()
        process_batch(part, LIFECYCLE[:2], [shipment("P1")], now_ms=3 * HOUR, rules=RULES)
        out = process_batch(
            part, [scan("P1", "dm", "exception", 4, "damaged")], [], 4 * HOUR, rules=RULES
        )
        assert [(n.kind, n.reason) for n in out.notifications] == [("exception", "damaged")]
        assert [(x.kind, x.state) for x in out.exceptions] == [("damaged", "opened")]
        ids.append(out.notifications[0].notification_id)
    assert ids[0] == ids[1], "a replay yields the same idempotency key"


def test_eta_moved_only_past_the_threshold() -> None:
    part = PartitionState()
    lane = Lane("acme", "standard", "ARA", "ARA")
    for hours in range(20, 40):
        part.eta.observe(lane, "picked_up", hours * 3600)
    out = process_batch(part, LIFECYCLE[:2], [shipment("P1")], now_ms=3 * HOUR, rules=RULES)
    state = part.parcels["P1"]
    assert state.eta_ms is not None and state.notified_eta_ms == state.eta_ms
    assert "eta_moved" not in [n.kind for n in out.notifications]

    rule = Rule(frozenset({"eta_moved"}), eta_moved_ms=12 * HOUR)
    state.eta_ms = state.notified_eta_ms + 11 * HOUR
    assert eta_moved_notifications(state, 0, rule) == []
    state.eta_ms += 2 * HOUR
    moved = eta_moved_notifications(state, 0, rule)
    assert [n.kind for n in moved] == ["eta_moved"] and moved[0].eta == state.eta_ms
    assert eta_moved_notifications(state, 0, rule) == [], "announced once"


def test_a_pace_only_change_does_not_notify() -> None:
    """eta_moved announces news of the parcel, not the model's drift: a censoring pace that
    moves every ETA in flight must not message every shopper (tracking/notify.py eta_basis)."""
    part = PartitionState(eta=EtaModel(censoring_pace_step=0.01))
    lane = Lane("acme", "standard", "ARA", "ARA")
    for hours in range(20, 40):
        part.eta.observe(lane, "picked_up", hours * 3600)
        part.eta.observe(lane, "departed_origin", hours * 3600)
    process_batch(part, LIFECYCLE[:2], [shipment("P1")], now_ms=3 * HOUR, rules=RULES)
    state = part.parcels["P1"]
    told = state.notified_eta_ms
    assert told is not None and state.eta_level == "lane"
    # Parcels on the lane pass their median undelivered: the censoring pace slows the lane.
    for _ in range(100):
        part.eta.settle("picked_up", lane, state.eta_level, "mid", False)
    # An in-transit scan that reaches no milestone refreshes the ETA by the pace alone.
    out = process_batch(part, [LIFECYCLE[5]], [], now_ms=10 * HOUR, rules=RULES)
    assert state.eta_ms is not None and state.eta_ms - told >= 12 * HOUR, "the pace moved it"
    assert "eta_moved" not in [n.kind for n in out.notifications]
    assert state.notified_eta_ms == told
    # A scan that moves the parcel on (departed: a milestone) announces the ETA it moved to.
    for _ in range(100):
        part.eta.settle("departed_origin", lane, state.eta_level, "mid", False)
    out = process_batch(part, [LIFECYCLE[3]], [], now_ms=11 * HOUR, rules=RULES)
    assert [n.kind for n in out.notifications] == ["eta_moved"]
    assert out.notifications[0].eta == state.eta_ms == state.notified_eta_ms
