"""Shipments under one tracking number: which lifecycle a parcel's state follows.

A carrier that reuses tracking numbers (FedEx, months apart) names each shipment
(`TrackingEvent.shipment_id`, FedEx `trackingNumberUniqueId`; connectors/README.md). The parcel
stays keyed by tracking number: partitioning, the order link and lookups by number are
unchanged. Its state follows one shipment, `ParcelState.shipment_id`, the most recently started:

* A scan of another shipment, not retired, whose scans start after the current lifecycle's
  first scan retires the current one: the parcel starts anew (history, milestones, status, our
  ETA and the carrier's estimates; the registration and the version carry on; the parcel stage
  resolves the old lifecycle's open exceptions and announces the new one from scratch). The
  retired id is remembered (`retired_shipments`, the last RETIRED_LIMIT).
* Scans of a retired shipment, or of one that started before the current lifecycle, are stored
  (returned as new, so they reach tracked-events with their shipment id) but never folded into
  the state: they move nothing and notify no one. Their carrier estimates are ignored too
  (tracking/carrier_eta.py).
* A lifecycle begun without ids (a carrier that names no shipment, a state written before ids
  were kept) adopts the first id it is given; a scan without an id belongs to the current
  lifecycle.

Shipments under one number do not overlap in time, so whatever order their scans arrive in and
however they are batched, the state ends as the newest shipment's scans alone would make it
(tests/unit/tracking/test_shipments.py checks it). If two did overlap, a shipment once retired
stays retired, so the state still settles on one lifecycle instead of flapping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracking.events import TrackingEvent

if TYPE_CHECKING:
    from tracking.state import ParcelState

__all__ = ["RETIRED_LIMIT", "apply_by_shipment", "is_stale"]

# Retired shipment ids a parcel remembers, oldest forgotten first: a number reused this often
# within one parcel's retention is not a pattern any carrier shows.
RETIRED_LIMIT = 4

# What a new lifecycle starts without: all that the scans and the carrier's estimates made.
_LIFECYCLE = (
    "status", "reason", "status_at_ms", "status_event_id", "last_event_at_ms", "city", "country",
    "milestones", "history", "eta_ms", "eta_low_ms", "eta_high_ms", "eta_level",
    "predicted_late", "notified_eta_ms", "eta_source", "carrier_eta_ms", "carrier_eta_low_ms",
    "carrier_eta_high_ms", "carrier_eta_kind", "carrier_eta_received_ms", "carrier_eta_first_ms",
    "eta_first_ms", "evicted_at_ms", "resolved_exceptions",
)  # fmt: skip


def apply_by_shipment(
    state: ParcelState, events: list[TrackingEvent], now_ms: int
) -> list[TrackingEvent]:
    """ParcelState.apply_events for a batch naming shipments: each shipment's scans go to the
    current lifecycle, a new one, or the store only."""
    by_shipment: dict[str, list[TrackingEvent]] = {}
    for event in events:
        by_shipment.setdefault(event.shipment_id, []).append(event)
    without_id = by_shipment.pop("", [])
    new: list[TrackingEvent] = []
    # Oldest shipment first, so a batch holding several is read in the order they happened.
    starts = {s: min(e.occurred_at_ms for e in group) for s, group in by_shipment.items()}
    for shipment in sorted(by_shipment, key=lambda s: (starts[s], s)):
        group = by_shipment[shipment]
        if _is_current(state, shipment, starts[shipment]):
            new += state._fold(group, now_ms)
            continue
        for event in group:
            if event.event_id not in state.seen:
                state.seen.add(event.event_id)
                new.append(event)
    if without_id:
        new += state._fold(without_id, now_ms)
    return new


def is_stale(state: ParcelState, shipment_id: str) -> bool:
    """Whether something of `shipment_id` belongs to a lifecycle other than the current one."""
    return (
        bool(shipment_id)
        and shipment_id != state.shipment_id
        and bool(state.shipment_id or shipment_id in state.retired_shipments)
    )


def _is_current(state: ParcelState, shipment: str, start_ms: int) -> bool:
    """Whether scans of `shipment` (starting at `start_ms`) belong to the current lifecycle;
    a newer shipment's retire the current one first."""
    if shipment == state.shipment_id:
        return True
    if shipment in state.retired_shipments:
        return False
    if not state.shipment_id:
        state.shipment_id = shipment
        return True
    if state.history and start_ms <= state.history[0].occurred_at_ms:
        _retire(state, shipment)  # an older shipment, first seen after a newer one
        return False
    _retire(state, state.shipment_id)
    state.shipment_id = shipment
    fresh = type(state)(state.tracking_number)
    for name in _LIFECYCLE:
        setattr(state, name, getattr(fresh, name))
    return True


def _retire(state: ParcelState, shipment: str) -> None:
    state.retired_shipments = [*state.retired_shipments, shipment][-RETIRED_LIMIT:]
