"""Every ClickHouse table the sink writes: its columns and how one item becomes one row.

Records (notifications, exceptions, dead letters) derive theirs from their definition; tracking
events (TrackingEvent objects) and parcel and order state (their changelog records) list their
rows here as (column, expression) pairs, one line per column: the column list and the row
tuple are built from the same pairs and cannot drift apart. `tests/unit/pipeline/test_records.py`
checks each column list against the table's DDL in `migrations.py`.
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
        ("shipment_id", "e.shipment_id"),
    ),
)

# Parcel and order state rows come from their changelog records (the Avro dicts on the
# parcel-state and order-state topics), which is what the sink stage consumes.
PARCEL_STATE = Table.of(
    "parcel_state",
    "r",
    (
        ("tracking_number", "r['tracking_number']"),
        ("version", "r['version']"),
        ("carrier", "r['carrier']"),
        ("status", "r['status']"),
        ("reason", "r['reason']"),
        ("status_at", "seconds(r['status_at'])"),
        ("last_event_at", "seconds(r['last_event_at'])"),
        ("updated_at", "r['updated_at'] // 1000"),
        ("event_count", "r['event_count']"),
        ("city", "r['location']['city']"),
        ("country", "r['location']['country']"),
        ("order_id", "r['order_id'] or ''"),
        ("service_level", "r['service_level']"),
        ("customer_ref", "r['customer_ref']"),
        ("customer_segment", "r['customer_segment']"),
        ("promised_delivery", "seconds(r['promised_delivery'])"),
        ("is_return", "int(r['is_return'])"),
        ("origin_region", "r['origin_region']"),
        ("destination_region", "r['destination_region']"),
        ("picked_up_at", "seconds(r['milestones'].get('picked_up'))"),
        ("delivered_at", "seconds(r['milestones'].get('delivered'))"),
        ("eta", "seconds(r['eta'])"),
        ("eta_low", "seconds(r['eta_low'])"),
        ("eta_high", "seconds(r['eta_high'])"),
        ("eta_level", "r['eta_level']"),
        ("predicted_late", "int(r['predicted_late'])"),
        ("open_exceptions", "sorted(r['open_exceptions'])"),
        ("eta_source", "r['eta_source']"),
        ("carrier_eta", "seconds(r['carrier_eta'])"),
        ("carrier_eta_low", "seconds(r['carrier_eta_low'])"),
        ("carrier_eta_high", "seconds(r['carrier_eta_high'])"),
        ("carrier_eta_kind", "r['carrier_eta_kind']"),
        ("carrier_eta_first", "seconds(r['carrier_eta_first'])"),
        ("eta_first", "seconds(r['eta_first'])"),
        ("p_late", "r['p_late']"),
    ),
)

ORDER_STATE = Table.of(
    "order_state",
    "r",
    (
        ("order_id", "r['order_id']"),
        ("version", "r['version']"),
        ("status", "r['status']"),
        ("return_status", "r['return_status']"),
        ("return_received_at", "seconds(r['return_received_at'])"),
        ("delivered_at", "seconds(r['delivered_at'])"),
        ("eta", "seconds(r['eta'])"),
        ("promised_delivery", "seconds(r['promised_delivery'])"),
        ("customer_ref", "r['customer_ref']"),
        ("customer_segment", "r['customer_segment']"),
        ("updated_at", "r['updated_at'] // 1000"),
        ("parcel_count", "len(r['parcels'])"),
        ("open_exceptions", "list(r['open_exceptions'])"),
    ),
)

NOTIFICATIONS = table(Notification, "notifications")
EXCEPTIONS = table(ParcelException, "exceptions")
DEAD_LETTERS = table(DeadLetter, "dead_letters")

TABLES: dict[str, Table] = {
    t.name: t
    for t in (TRACKING_EVENTS, PARCEL_STATE, ORDER_STATE, NOTIFICATIONS, EXCEPTIONS, DEAD_LETTERS)
}
