"""Two shipments under one tracking number (tracking/shipments.py): the state follows the newest,
an older shipment's scans are stored but never folded, in any arrival order and batching."""

from __future__ import annotations

import random
from dataclasses import replace

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.tracking.test_state import TN, event, final_view
from tracking import state_codec
from tracking.events import TrackingEta, TrackingEvent
from tracking.parcels import PartitionState, process_batch
from tracking.state import ParcelState

DAY = 86_400_000
# FedEx trackingNumberUniqueId: "<sequence>~<tracking number>~<operating company>"
OLD, NEW = "12013~TN1~FDEG", "12221~TN1~FDEG"
STATUSES = ["info_received", "picked_up", "in_transit", "out_for_delivery", "delivered",
            "failed_attempt", "exception", "unknown"]  # fmt: skip


def of(shipment: str, events: list[TrackingEvent]) -> list[TrackingEvent]:
    return [replace(e, shipment_id=shipment) for e in events]


def lifecycle(prefix: str, start: int) -> list[TrackingEvent]:
    return [
        event(f"{prefix}1", "picked_up", start, city="Memphis", country="US"),
        event(f"{prefix}2", "in_transit", start + DAY, "departed_facility", city="Memphis"),
        event(f"{prefix}3", "out_for_delivery", start + 2 * DAY, city="Boston"),
        event(f"{prefix}4", "delivered", start + 2 * DAY + 3_600_000, city="Boston"),
    ]


FIRST = of(OLD, lifecycle("a", 1 * DAY))
SECOND = of(NEW, lifecycle("b", 100 * DAY))


def shipment_view(state: ParcelState) -> tuple[object, ...]:
    return (*final_view(state), state.status_event_id, state.country, state.shipment_id)


def test_a_newer_shipment_starts_the_parcel_anew() -> None:
    state = ParcelState(TN)
    state.apply_events(FIRST, now_ms=0)
    assert (state.status, state.shipment_id) == ("delivered", OLD)
    new = state.apply_events(SECOND[:1], now_ms=1)
    assert [e.event_id for e in new] == ["b1"]
    assert (state.status, state.shipment_id, state.retired_shipments) == ("picked_up", NEW, [OLD])
    assert [h.event_id for h in state.history] == ["b1"]
    assert state.milestones == {"picked_up": SECOND[0].occurred_at_ms}


def test_late_scans_of_the_older_shipment_are_stored_but_not_folded() -> None:
    state = ParcelState(TN)
    state.apply_events(SECOND[:2], now_ms=0)
    version = state.version
    late = of(OLD, [event("a9", "delivered", 3 * DAY)])
    assert state.apply_events(late, now_ms=1) == late, "returned as new: it is stored"
    assert (state.status, state.version, state.shipment_id) == ("in_transit", version, NEW)
    assert state.retired_shipments == [OLD]
    assert state.apply_events(late, now_ms=2) == [], "and deduplicated like any scan"


def test_scans_without_a_shipment_id_belong_to_the_current_lifecycle() -> None:
    state = ParcelState(TN)
    state.apply_events([event("x1", "info_received", 0)], now_ms=0)
    state.apply_events(SECOND[:1], now_ms=1)  # adopted: the lifecycle had no id yet
    assert ([h.event_id for h in state.history], state.shipment_id) == (["x1", "b1"], NEW)
    state.apply_events([event("x2", "in_transit", 101 * DAY)], now_ms=2)
    assert state.status == "in_transit" and state.retired_shipments == []


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(STATUSES), st.integers(0, 40 * DAY)), max_size=6),
    st.lists(st.tuples(st.sampled_from(STATUSES), st.integers(0, 40 * DAY)), min_size=1,
             max_size=6),
    st.randoms(use_true_random=False),
    st.integers(1, 6),
    st.booleans(),
)  # fmt: skip
def test_two_shipments_in_any_order_and_batching_give_the_newest_alone(
    older: list[tuple[str, int]],
    newer: list[tuple[str, int]],
    rng: random.Random,
    batches: int,
    through_store: bool,
) -> None:
    # Shipments under one number do not overlap in time: the newer starts after the older ends.
    first = of(OLD, [event(f"a{i}", s, at) for i, (s, at) in enumerate(older)])
    second = of(NEW, [event(f"b{i}", s, 50 * DAY + at) for i, (s, at) in enumerate(newer)])
    stream = first + second + rng.sample(first + second, k=min(3, len(first + second)))
    rng.shuffle(stream)
    state = ParcelState(TN)
    stored: set[str] = set()
    size = max(1, -(-len(stream) // batches))
    for start in range(0, len(stream), size):
        stored |= {e.event_id for e in state.apply_events(stream[start : start + size], now_ms=0)}
        if through_store:
            state = state_codec.decode(state_codec.encode(state))
    alone = ParcelState(TN)
    alone.apply_events(second, now_ms=0)
    assert shipment_view(state) == shipment_view(alone)
    assert stored == {e.event_id for e in first + second}, "every scan of both is stored"


@settings(max_examples=200, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 8))
def test_the_older_shipment_never_notifies_once_the_newer_is_seen(
    rng: random.Random, batches: int
) -> None:
    stream = FIRST + SECOND
    rng.shuffle(stream)
    part = PartitionState()
    size = max(1, -(-len(stream) // batches))
    seen_newer = False
    stored = []
    for start in range(0, len(stream), size):
        batch = stream[start : start + size]
        out = process_batch(part, batch, [], now_ms=start)
        stored += out.new_events
        if seen_newer and all(e.shipment_id == OLD for e in batch):
            assert (out.notifications, out.changed) == ([], [])
        seen_newer = seen_newer or any(e.shipment_id == NEW for e in batch)
    assert sorted((e.event_id, e.shipment_id) for e in stored) == sorted(
        (e.event_id, e.shipment_id) for e in FIRST + SECOND
    ), "each scan reaches tracked-events once, with its shipment id"
    state = part.parcels[TN]
    assert (state.status, state.shipment_id, [h.event_id for h in state.history]) == (
        "delivered", NEW, ["b1", "b2", "b3", "b4"]
    )  # fmt: skip


def test_a_new_shipment_resolves_the_old_exceptions_and_is_announced_from_its_start() -> None:
    part = PartitionState()
    process_batch(part, of(OLD, [event("a1", "failed_attempt", DAY)]), [], now_ms=DAY)
    assert part.parcels[TN].open_exceptions == {"failed_attempt": DAY}
    again = of(NEW, [event("b1", "failed_attempt", 100 * DAY)])
    out = process_batch(part, again, [], now_ms=100 * DAY)
    assert [(x.kind, x.state, x.opened_at) for x in out.exceptions] == [
        ("failed_attempt", "resolved", DAY),
        ("failed_attempt", "opened", 100 * DAY),
    ]
    assert [n.kind for n in out.notifications] == ["failed_attempt"], "announced anew"


def test_an_evicted_parcel_stays_quiet_but_a_new_shipment_under_its_number_does_not() -> None:
    marker = state_codec.encode_marker(TN, 60 * DAY, None, OLD, [])
    part = PartitionState()
    part.parcels[TN] = state_codec.decode(marker)
    late = process_batch(part, of(OLD, [event("a9", "delivered", 5 * DAY)]), [], now_ms=61 * DAY)
    assert late.notifications == [] and part.parcels[TN].evicted_at_ms is not None
    out = process_batch(part, SECOND[:1], [], now_ms=100 * DAY)
    assert [n.kind for n in out.notifications] == ["shipped"]
    assert part.parcels[TN].evicted_at_ms is None


def test_an_estimate_of_another_shipment_is_not_the_parcels() -> None:
    part = PartitionState()
    process_batch(part, SECOND[:1], [], now_ms=0)

    def estimate(shipment: str, at: int) -> TrackingEta:
        return TrackingEta(TN, "fedex", at, 0, at, "estimated", False, shipment, at, "r", "poll")

    process_batch(part, [], [], now_ms=1, etas=[estimate(OLD, 5 * DAY)])
    assert part.parcels[TN].carrier_eta_ms is None
    process_batch(part, [], [], now_ms=2, etas=[estimate(NEW, 103 * DAY), estimate("", 1)])
    assert part.parcels[TN].carrier_eta_ms == 103 * DAY


def test_a_state_written_before_shipment_ids_were_kept_still_decodes() -> None:
    state = ParcelState(TN)
    state.apply_events(FIRST, now_ms=7)
    data = state_codec.encode(state)
    body = msgspec.msgpack.decode(data[state_codec.HEADER_SIZE :])
    old = data[: state_codec.HEADER_SIZE] + msgspec.msgpack.encode(body[:23])
    restored = state_codec.decode(old)
    assert (restored.shipment_id, restored.retired_shipments) == ("", [])
    assert shipment_view(restored)[:-1] == shipment_view(state)[:-1]
    assert state_codec.record(old) == state_codec.record(data)
    old_marker = state_codec.HEADER_SIZE * b"\x00"
    old_marker = bytes([state_codec.MARKER]) + old_marker[1:] + msgspec.msgpack.encode((TN, 9))
    assert state_codec.decode(old_marker).evicted_at_ms == 9


def test_shipment_ids_survive_the_encoding() -> None:
    state = ParcelState(TN)
    state.apply_events(FIRST + SECOND, now_ms=7)
    restored = state_codec.decode(state_codec.encode(state))
    assert (restored.shipment_id, restored.retired_shipments) == (NEW, [OLD])
    marker = state_codec.decode(state_codec.encode_marker(TN, 9, None, NEW, [OLD]))
    assert (marker.shipment_id, marker.retired_shipments) == (NEW, [OLD])
