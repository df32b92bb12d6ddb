"""One batch of normalized events and shipment registrations -> new parcel states,
deduplicated events and notifications. Pure: no Kafka, no clock, unit-testable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.events import TrackingEvent
from agents.notify import notifications_for
from agents.state import ParcelState


@dataclass(slots=True)
class BatchOutput:
    new_events: list[TrackingEvent] = field(default_factory=list)
    duplicates: int = 0
    changed: list[ParcelState] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)


def process_batch(
    parcels: dict[str, ParcelState],
    events: list[TrackingEvent],
    shipments: list[dict[str, Any]],
    now_ms: int,
) -> BatchOutput:
    """Apply a batch to `parcels` (mutated in place).

    Shipments go first so that notifications in the same batch already carry the order id.
    Notifications compare each parcel's status before and after the whole batch, so a batch
    that holds "out for delivery" and "delivered" for one parcel only announces the delivery.
    """
    out = BatchOutput()
    before: dict[str, tuple[tuple[str, str], int]] = {}

    def state_of(tracking_number: str) -> ParcelState:
        state = parcels.get(tracking_number)
        if state is None:
            state = parcels[tracking_number] = ParcelState(tracking_number)
        if tracking_number not in before:
            before[tracking_number] = ((state.status, state.reason), state.version)
        return state

    for shipment in shipments:
        state_of(shipment["tracking_number"]).apply_shipment(shipment, now_ms)

    by_parcel: dict[str, list[TrackingEvent]] = {}
    for event in events:
        by_parcel.setdefault(event.tracking_number, []).append(event)
    for tracking_number, parcel_events in by_parcel.items():
        accepted = state_of(tracking_number).apply_events(parcel_events, now_ms)
        out.new_events.extend(accepted)
        out.duplicates += len(parcel_events) - len(accepted)

    for tracking_number, (status_before, version_before) in before.items():
        state = parcels[tracking_number]
        if state.version != version_before:
            out.changed.append(state)
            out.notifications.extend(notifications_for(status_before, state, now_ms))
    return out
