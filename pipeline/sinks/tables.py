"""Every ClickHouse table the sink writes: its columns and how one item becomes one row.

Records (notifications, exceptions, dead letters) derive theirs from their definition; parcel
state, order state and tracking events are domain objects, so their rows are listed here as
(column, expression) pairs, one line per column: the column list and the row tuple are built
from the same pairs and cannot drift apart. `tests/unit/pipeline/test_tables.py` checks each
column list against the table's DDL in `migrations.py`.
"""

from __future__ import annotations

from pipeline.records import DeadLetter, Table, table
from tracking.records import Notification, ParcelException

TRACKING_EVENTS = Table.of(
    "tracking_events",
    "e",
    (
        ("event_id", "e.event_id"),
        ("tracking_number", "e.tracking_number"),
        ("carrier", "e.carrier"),
        ("status", "e.status"),
        ("reason", "e.reason"),
        ("carrier_code", "e.carrier_code"),
        ("description", "e.description"),
        ("occurred_at", "e.occurred_at_ms // 1000"),
        ("received_at", "e.received_at_ms // 1000"),
        ("zone_assumed", "int(e.zone_assumed)"),
        ("city", "e.city"),
        ("region", "e.region"),
        ("postal_code", "e.postal_code"),
        ("country", "e.country"),
        ("raw_event_id", "e.raw_event_id"),
        ("source", "e.source"),
    ),
)

PARCEL_STATE = Table.of(
    "parcel_state",
    "s",
    (
        ("tracking_number", "s.tracking_number"),
        ("version", "s.version"),
        ("carrier", "s.carrier"),
        ("status", "s.status"),
        ("reason", "s.reason"),
        ("status_at", "seconds(s.status_at_ms)"),
        ("last_event_at", "seconds(s.last_event_at_ms)"),
        ("updated_at", "s.updated_at_ms // 1000"),
        ("event_count", "len(s.history)"),
        ("city", "s.city"),
        ("country", "s.country"),
        ("order_id", "s.order_id or ''"),
        ("service_level", "s.service_level"),
        ("customer_ref", "s.customer_ref"),
        ("customer_segment", "s.customer_segment"),
        ("promised_delivery", "seconds(s.promised_delivery_ms)"),
        ("is_return", "int(s.is_return)"),
        ("origin_region", "s.origin_region"),
        ("destination_region", "s.destination_region"),
        ("picked_up_at", "seconds(s.milestones.get('picked_up'))"),
        ("delivered_at", "seconds(s.milestones.get('delivered'))"),
        ("eta", "seconds(s.eta_ms)"),
        ("eta_low", "seconds(s.eta_low_ms)"),
        ("eta_high", "seconds(s.eta_high_ms)"),
        ("eta_level", "s.eta_level"),
        ("predicted_late", "int(s.predicted_late)"),
        ("open_exceptions", "sorted(s.open_exceptions)"),
    ),
)

ORDER_STATE = Table.of(
    "order_state",
    "o",
    (
        ("order_id", "o.order_id"),
        ("version", "o.version"),
        ("status", "o.status"),
        ("return_status", "o.return_status"),
        ("return_received_at", "seconds(o.return_received_at_ms)"),
        ("delivered_at", "seconds(o.delivered_at_ms)"),
        ("eta", "seconds(o.eta_ms)"),
        ("promised_delivery", "seconds(o.promised_ms)"),
        ("customer_ref", "o.customer_ref"),
        ("customer_segment", "o.customer_segment"),
        ("updated_at", "o.updated_at_ms // 1000"),
        ("parcel_count", "len(o.parcels)"),
        ("open_exceptions", "o.open_exceptions()"),
    ),
)

NOTIFICATIONS = table(Notification, "notifications")
EXCEPTIONS = table(ParcelException, "exceptions")
DEAD_LETTERS = table(DeadLetter, "dead_letters")

TABLES: dict[str, Table] = {
    t.name: t
    for t in (TRACKING_EVENTS, PARCEL_STATE, ORDER_STATE, NOTIFICATIONS, EXCEPTIONS, DEAD_LETTERS)
}
