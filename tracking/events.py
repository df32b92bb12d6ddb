"""The normalized event and the carrier's delivery estimate as the stages handle them: slotted
records, converted to and from Avro dicts at the topic boundary only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any


@dataclass(slots=True)
class TrackingEvent:
    event_id: str
    tracking_number: str
    carrier: str
    status: str
    reason: str
    carrier_code: str
    description: str
    occurred_at_ms: int
    received_at_ms: int
    zone_assumed: bool
    city: str
    region: str
    postal_code: str
    country: str
    raw_event_id: str
    source: str
    # The carrier's id of the shipment (connectors.CarrierScan.shipment_id, FedEx
    # trackingNumberUniqueId), "" when it gives none: which lifecycle of a reused tracking
    # number the scan belongs to (tracking/state.py, "Shipments").
    shipment_id: str = ""

    def to_record(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "tracking_number": self.tracking_number,
            "carrier": self.carrier,
            "status": self.status,
            "reason": self.reason,
            "carrier_code": self.carrier_code,
            "description": self.description,
            "occurred_at": self.occurred_at_ms,
            "received_at": self.received_at_ms,
            "zone_assumed": self.zone_assumed,
            "location": {
                "city": self.city,
                "region": self.region,
                "postal_code": self.postal_code,
                "country": self.country,
            },
            "raw_event_id": self.raw_event_id,
            "source": self.source,
            "shipment_id": self.shipment_id,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TrackingEvent:
        location = record["location"]
        return cls(
            record["event_id"],
            record["tracking_number"],
            record["carrier"],
            record["status"],
            record["reason"],
            record["carrier_code"],
            record["description"],
            record["occurred_at"],
            record["received_at"],
            record["zone_assumed"],
            location["city"],
            location["region"],
            location["postal_code"],
            location["country"],
            record["raw_event_id"],
            record["source"],
            record.get("shipment_id", ""),
        )


@dataclass(slots=True)
class TrackingEta:
    """A carrier's delivery estimate (connectors.CarrierEta) as received: a fact about the
    parcel, never a scan, so it travels next to the scans in a TrackingEventBatch and never
    enters the event-time fold of the parcel's history (see tracking/carrier_eta.py)."""

    tracking_number: str
    carrier: str
    estimated_at_ms: int
    window_start_ms: int  # 0: the carrier gives no such bound
    window_end_ms: int
    kind: str  # connectors.base.ETA_KINDS
    zone_assumed: bool
    shipment_id: str
    received_at_ms: int  # when the envelope that carried it arrived: newest wins
    raw_event_id: str
    source: str


# Column order of TrackingEventBatch = field order of TrackingEvent, so a batch decodes with
# one `map(TrackingEvent, *columns)`.
_FIELDS = tuple(f.name for f in fields(TrackingEvent))
_COLUMNS = tuple(name.removesuffix("_ms") for name in _FIELDS)


_ETA_FIELDS = tuple(f.name for f in fields(TrackingEta))
_ETA_COLUMNS = tuple(name.removesuffix("_ms") for name in _ETA_FIELDS)


def to_columns(events: Sequence[TrackingEvent], etas: Sequence[TrackingEta] = ()) -> dict[str, Any]:
    """A TrackingEventBatch record: the events' columns, and the estimates' under `etas`."""
    batch: dict[str, Any] = {
        column: [getattr(event, name) for event in events]
        for column, name in zip(_COLUMNS, _FIELDS, strict=True)
    }
    batch["etas"] = {
        column: [getattr(eta, name) for eta in etas]
        for column, name in zip(_ETA_COLUMNS, _ETA_FIELDS, strict=True)
    }
    return batch


def from_columns(batch: dict[str, Any]) -> list[TrackingEvent]:
    # A batch written before events carried a shipment id has no such column (MessagePack) or
    # an empty one (Avro's default): the field's default fills it then.
    shipment_ids = batch.get("shipment_id", ())
    columns = _COLUMNS if len(shipment_ids) == len(batch["event_id"]) else _COLUMNS[:-1]
    return list(map(TrackingEvent, *(batch[column] for column in columns)))


def etas_from_columns(batch: dict[str, Any]) -> list[TrackingEta]:
    """The batch's carrier estimates; none in a batch written before they were carried."""
    columns = batch.get("etas")
    if not columns:
        return []
    return list(map(TrackingEta, *(columns[column] for column in _ETA_COLUMNS)))
