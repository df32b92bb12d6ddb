"""The normalized event as the stages handle it: a slotted record, converted to and from Avro
dicts at the topic boundary only."""

from __future__ import annotations

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
        )


# Column order of TrackingEventBatch = field order of TrackingEvent, so a batch decodes with
# one `map(TrackingEvent, *columns)`.
_FIELDS = tuple(f.name for f in fields(TrackingEvent))
_COLUMNS = tuple(name.removesuffix("_ms") for name in _FIELDS)


def to_columns(events: list[TrackingEvent]) -> dict[str, list[Any]]:
    """A TrackingEventBatch record."""
    return {
        column: [getattr(event, name) for event in events]
        for column, name in zip(_COLUMNS, _FIELDS, strict=True)
    }


def from_columns(batch: dict[str, list[Any]]) -> list[TrackingEvent]:
    return list(map(TrackingEvent, *(batch[column] for column in _COLUMNS)))
