"""Versioned DDL for every table the pipeline owns; applied in order, each exactly once.

Portable on purpose: the same statements run on chDB (current ClickHouse) and on ClickHouse
18.16 (Debian's server package). So: DateTime('UTC') in seconds rather than DateTime64, String
rather than LowCardinality(String), no TTL clauses. Idempotent replays come from
ReplacingMergeTree keyed by deterministic ids (event_id, notification_id) or by version
(parcel_state); queries read with FINAL or argMax to see one row per key before merges run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pipeline.sinks.engines import ClickHouseError, Engine


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


TRACKING_EVENT_COLUMNS = (
    "event_id", "tracking_number", "carrier", "status", "reason", "carrier_code", "description",
    "occurred_at", "received_at", "zone_assumed", "city", "region", "postal_code", "country",
    "raw_event_id", "source",
)  # fmt: skip
PARCEL_STATE_COLUMNS = (
    "tracking_number", "version", "carrier", "status", "reason", "status_at", "last_event_at",
    "updated_at", "event_count", "city", "country", "order_id", "service_level", "customer_ref",
    "customer_segment", "promised_delivery", "is_return", "origin_region", "destination_region",
    "picked_up_at", "delivered_at", "eta", "eta_low", "eta_high", "eta_level", "predicted_late",
    "open_exceptions",
)  # fmt: skip
NOTIFICATION_COLUMNS = (
    "notification_id", "kind", "tracking_number", "order_id", "carrier", "status", "reason",
    "occurred_at", "created_at", "customer_segment", "service_level", "message",
)  # fmt: skip
DEAD_LETTER_COLUMNS = (
    "topic", "partition", "offset", "stage", "error", "raw_event_id", "carrier", "payload_format",
    "payload_b64", "failed_at",
)  # fmt: skip

EXCEPTION_COLUMNS = (
    "exception_id", "state", "tracking_number", "order_id", "carrier", "kind", "severity",
    "opened_at", "resolved_at", "detected_at", "parcel_status", "customer_segment",
    "service_level",
)  # fmt: skip
ORDER_STATE_COLUMNS = (
    "order_id", "version", "status", "return_status", "return_received_at", "delivered_at",
    "eta", "promised_delivery", "customer_ref", "customer_segment", "updated_at",
    "parcel_count", "open_exceptions",
)  # fmt: skip

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "core tables",
        (
            """CREATE TABLE IF NOT EXISTS {db}.tracking_events (
                event_id String, tracking_number String, carrier String, status String,
                reason String, carrier_code String, description String,
                occurred_at DateTime('UTC'), received_at DateTime('UTC'), zone_assumed UInt8,
                city String, region String, postal_code String, country String,
                raw_event_id String, source String
            ) ENGINE = ReplacingMergeTree()
            PARTITION BY toYYYYMM(occurred_at)
            ORDER BY (tracking_number, occurred_at, event_id)""",
            """CREATE TABLE IF NOT EXISTS {db}.parcel_state (
                tracking_number String, version UInt64, carrier String, status String,
                reason String, status_at Nullable(DateTime('UTC')),
                last_event_at Nullable(DateTime('UTC')), updated_at DateTime('UTC'),
                event_count UInt32, city String, country String, order_id String,
                service_level String, customer_ref String, customer_segment String,
                promised_delivery Nullable(DateTime('UTC')), is_return UInt8,
                origin_region String, destination_region String,
                picked_up_at Nullable(DateTime('UTC')), delivered_at Nullable(DateTime('UTC'))
            ) ENGINE = ReplacingMergeTree(version)
            ORDER BY tracking_number""",
            """CREATE TABLE IF NOT EXISTS {db}.notifications (
                notification_id String, kind String, tracking_number String, order_id String,
                carrier String, status String, reason String, occurred_at DateTime('UTC'),
                created_at DateTime('UTC'), customer_segment String, service_level String,
                message String
            ) ENGINE = ReplacingMergeTree()
            PARTITION BY toYYYYMM(created_at)
            ORDER BY notification_id""",
            """CREATE TABLE IF NOT EXISTS {db}.dead_letters (
                topic String, partition UInt32, offset UInt64, stage String, error String,
                raw_event_id String, carrier String, payload_format String, payload_b64 String,
                failed_at DateTime('UTC')
            ) ENGINE = ReplacingMergeTree()
            ORDER BY (topic, partition, offset)""",
        ),
    ),
    Migration(
        2,
        "ETA, exceptions and orders",
        (
            # 18.16 has no ADD COLUMN IF NOT EXISTS; `migrate` treats "already exists" as done.
            "ALTER TABLE {db}.parcel_state ADD COLUMN eta Nullable(DateTime('UTC'))",
            "ALTER TABLE {db}.parcel_state ADD COLUMN eta_low Nullable(DateTime('UTC'))",
            "ALTER TABLE {db}.parcel_state ADD COLUMN eta_high Nullable(DateTime('UTC'))",
            "ALTER TABLE {db}.parcel_state ADD COLUMN eta_level String",
            "ALTER TABLE {db}.parcel_state ADD COLUMN predicted_late UInt8",
            "ALTER TABLE {db}.parcel_state ADD COLUMN open_exceptions Array(String)",
            """CREATE TABLE IF NOT EXISTS {db}.exceptions (
                exception_id String, state String, tracking_number String, order_id String,
                carrier String, kind String, severity String, opened_at DateTime('UTC'),
                resolved_at Nullable(DateTime('UTC')), detected_at DateTime('UTC'),
                parcel_status String, customer_segment String, service_level String
            ) ENGINE = ReplacingMergeTree()
            PARTITION BY toYYYYMM(opened_at)
            ORDER BY (exception_id, state)""",
            """CREATE TABLE IF NOT EXISTS {db}.order_state (
                order_id String, version UInt64, status String, return_status String,
                return_received_at Nullable(DateTime('UTC')),
                delivered_at Nullable(DateTime('UTC')), eta Nullable(DateTime('UTC')),
                promised_delivery Nullable(DateTime('UTC')), customer_ref String,
                customer_segment String, updated_at DateTime('UTC'), parcel_count UInt32,
                open_exceptions Array(String)
            ) ENGINE = ReplacingMergeTree(version)
            ORDER BY order_id""",
        ),
    ),
)


def migrate(engine: Engine) -> list[int]:
    """Apply the migrations this database has not seen; returns the versions applied."""
    db = engine.database
    engine.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    engine.execute(
        f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations "
        "(version UInt32, name String, applied_at DateTime('UTC')) "
        "ENGINE = MergeTree() ORDER BY version"
    )
    done = {int(row[0]) for row in engine.query(f"SELECT version FROM {db}.schema_migrations")}
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for statement in migration.statements:
            try:
                engine.execute(statement.format(db=db))
            except ClickHouseError as exc:
                # A migration interrupted half-way is re-run from its start.
                if "already exists" not in str(exc):
                    raise
        engine.insert(
            "schema_migrations",
            ("version", "name", "applied_at"),
            [(migration.version, migration.name, int(time.time()))],
        )
        applied.append(migration.version)
    return applied
