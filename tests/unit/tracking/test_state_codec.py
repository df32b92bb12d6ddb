"""The compact parcel-state encoding (tracking/state_codec.py): exact round trips, pinned int
codes, markers and the deadline header. The fold's order independence through the encoding is
tests/unit/tracking/test_state.py's property test (`through_store`)."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.tracking.test_state import LIFECYCLE, TN, event
from tracking import state_codec
from tracking.state import ParcelState
from tracking.taxonomy import Reason, Status

TEXT = st.text(max_size=12)
MS = st.integers(0, 2**53)
MAYBE_MS = st.none() | MS


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*(s.value for s in Status), "carrier_special"]),
            st.sampled_from([*(r.value for r in Reason), "odd_reason"]),
            st.sampled_from(["0a1b2c3d4e5f60718293a4b5", "not-hex", "ABCDEF", ""]),
            MS,
            TEXT,
            TEXT,
        ),
        max_size=8,
    ),
    st.dictionaries(st.sampled_from(["picked_up", "delivered"]), MS),
    st.dictionaries(st.sampled_from(["stuck", "late"]), MS),
    st.tuples(MAYBE_MS, MAYBE_MS, MAYBE_MS, MAYBE_MS, MAYBE_MS, MAYBE_MS, MAYBE_MS),
    st.tuples(TEXT, TEXT, TEXT, st.none() | TEXT, st.booleans(), st.sampled_from(["", "ours"])),
    st.tuples(TEXT, TEXT),
    st.lists(st.tuples(st.sampled_from(["stuck", "late"]), MS, MS), max_size=3),
    st.none() | st.floats(0.0, 1.0),
)
def test_any_state_round_trips_exactly(
    scans: list,
    milestones: dict,
    open_exceptions: dict,
    times: tuple,
    texts: tuple,
    destination: tuple,
    resolved: list,
    p_late: float | None,
) -> None:
    state = ParcelState(TN)
    events = [
        event(f"{event_id}{i}" if event_id else f"e{i}", status, at, reason, city, "",
              source=f"feed{i % 2}")
        for i, (status, reason, event_id, at, city, _) in enumerate(scans)
    ]  # fmt: skip
    state.apply_events(events, now_ms=5)
    state.milestones.update(milestones)
    state.open_exceptions = open_exceptions
    (state.eta_ms, state.eta_low_ms, state.carrier_eta_ms, state.carrier_eta_first_ms,
     state.promised_delivery_ms, state.notified_eta_ms, state.evicted_at_ms) = times  # fmt: skip
    (state.customer_ref, state.service_level, state.carrier_eta_kind, state.order_id,
     state.is_return, state.eta_source) = texts  # fmt: skip
    state.destination_country, state.destination_postal = destination
    state.resolved_exceptions = resolved
    state.p_late = p_late
    data = state_codec.encode(state)
    restored = state_codec.decode(data)
    assert restored.to_record() == state.to_record()
    assert state_codec.record(data) == state.to_record(), "the sink's reading, with no fold"
    assert restored.evicted_at_ms == state.evicted_at_ms
    assert [(h.event_id, h.source, h.progress) for h in restored.history] == [
        (h.event_id, h.source, h.progress) for h in state.history
    ]
    assert restored.seen == {h.event_id for h in state.history}
    assert (restored.destination_country, restored.destination_postal) == destination
    assert restored.resolved_exceptions == resolved


def test_a_value_written_before_the_appended_fields_decodes_with_their_defaults() -> None:
    state = ParcelState(TN, destination_country="NL", destination_postal="1012 AB",
                        resolved_exceptions=[("stuck", 1, 2)])  # fmt: skip
    state.apply_events([event("e1", Status.PICKED_UP.value, 1_000)], now_ms=5)
    data = state_codec.encode(state, 77)
    header, body = data[: state_codec.HEADER_SIZE], msgspec.msgpack.decode(data[9:])
    old = header + msgspec.msgpack.encode(body[:23])  # the 23 fields of the first layout
    restored = state_codec.decode(old)
    assert (restored.destination_country, restored.destination_postal) == ("", "")
    assert restored.resolved_exceptions == []
    assert restored.to_record() == state.to_record()
    assert state_codec.record(old) == state_codec.record(data)


def test_int_codes_are_positions_that_never_move() -> None:
    """Stored states name statuses and reasons by position: append new ones, never insert."""
    assert [s.value for s in Status][:14] == [
        "pending", "info_received", "picked_up", "in_transit", "out_for_delivery",
        "available_for_pickup", "failed_attempt", "delivered", "exception",
        "return_to_sender", "returned", "cancelled", "expired", "unknown",
    ]  # fmt: skip
    assert [r.value for r in Reason][:14] == [
        "", "damaged", "lost", "address_issue", "refused", "customs_hold", "weather_delay",
        "recipient_unavailable", "access_restricted", "delayed", "arrived_at_facility",
        "departed_facility", "arrived_at_destination", "other",
    ]  # fmt: skip


def test_a_state_is_smaller_than_its_avro_record() -> None:
    from pipeline.codec import AvroCodec

    state = ParcelState(TN)
    state.apply_events(LIFECYCLE, now_ms=0)
    compact = state_codec.encode(state)
    avro = AvroCodec().encode("ParcelState", state.to_record())
    assert len(compact) < len(avro), (len(compact), len(avro))


def test_the_header_holds_the_deadline_and_a_marker_reads_as_an_evicted_parcel() -> None:
    state = ParcelState(TN)
    assert state_codec.deadline_of(state_codec.encode(state, 1234)) == 1234
    assert state_codec.deadline_of(state_codec.encode(state)) is None
    marker = state_codec.encode_marker(TN, 99, 500)
    assert state_codec.is_marker(marker) and not state_codec.is_marker(state_codec.encode(state))
    assert state_codec.deadline_of(marker) == 500
    evicted = state_codec.decode(marker)
    assert (evicted.tracking_number, evicted.evicted_at_ms, evicted.history) == (TN, 99, [])


def test_bytes_of_something_else_are_refused() -> None:
    for data in (b"", b"\x00\x00\x00\x00\x0e", b"P" + b"\x00" * 8 + b"\xc1"):
        try:
            state_codec.decode(data)
        except ValueError:
            continue
        raise AssertionError(f"{data!r} decoded")


def test_bytes_written_before_p_late_still_decode() -> None:
    """p_late was appended at the end of the body; a state stored without it reads as None."""
    state = ParcelState(TN)
    state.apply_events([event("e1", "picked_up", 1_000)], now_ms=5)
    state.p_late = 0.25
    data = state_codec.encode(state)
    header, body = (
        data[: state_codec.HEADER_SIZE],
        msgspec.msgpack.decode(data[state_codec.HEADER_SIZE :]),
    )
    assert body[-1] == 0.25
    old = header + msgspec.msgpack.encode(body[:-1])
    assert state_codec.decode(old).p_late is None
    assert state_codec.record(old)["p_late"] is None
    assert state_codec.decode(data).p_late == 0.25
    assert state_codec.record(data)["p_late"] == 0.25
