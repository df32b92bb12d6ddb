"""Raw carrier payload -> normalized TrackingEvents: the stateless first step of the hot path."""

from __future__ import annotations

from typing import Any

import connectors
from agents.events import TrackingEvent
from agents.normalize import Normalizer


def normalize_payload(raw: dict[str, Any], normalizer: Normalizer) -> list[TrackingEvent]:
    """Parse one RawCarrierEvent record and map every scan to the canonical taxonomy.

    Raises connectors.ParseError (or UnknownCarrier) for input that cannot be read; the caller
    dead-letters it.
    """
    payload_format = raw["payload_format"]
    ctx = connectors.ParseContext(raw["carrier"], raw["received_at"], raw["source"])
    result = connectors.parse(payload_format, raw["payload"], ctx)
    mapping = connectors.mapping_for(payload_format)
    canonical = normalizer.canonical
    raw_event_id = raw["event_id"]
    received_at_ms = raw["received_at"]
    source = raw["source"]
    events = []
    for scan in result.scans:
        mapped = canonical(mapping, scan.code)
        events.append(
            TrackingEvent(
                scan.event_id,
                scan.tracking_number,
                scan.carrier,
                mapped.status.value,
                mapped.reason.value,
                scan.code,
                scan.description,
                scan.occurred_at_ms,
                received_at_ms,
                scan.zone_assumed,
                scan.city,
                scan.region,
                scan.postal_code,
                scan.country,
                raw_event_id,
                source,
            )
        )
    return events
