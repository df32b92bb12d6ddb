"""Versioned DDL for every table the pipeline owns; applied in order, each exactly once.

Portable on purpose: the same statements run on chDB (current ClickHouse) and on ClickHouse
18.16 (Debian's server package). So: DateTime('UTC') in seconds rather than DateTime64, String
rather than LowCardinality(String), no TTL clauses. Idempotent replays come from
ReplacingMergeTree keyed by deterministic ids (event_id, notification_id) or by version
(parcel_state); queries read with FINAL or argMax to see one row per key before merges run.

Migration 3 is the analytics model (carrier performance by day and lane, exception rates,
notification counts): materialized views whose aggregate states cannot move when a row is
inserted twice, and plain views for the ratios and percentiles no MV state can keep exact under
replay. Why each is built the way it is: the comment above ANALYTICS_STATEMENTS.

Migration 4 adds the carriers' delivery estimates to parcel_state (tools/report.py compares
their accuracy with ours on delivered parcels).
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


# -- Migration 3: the analytics model ------------------------------------------------------------
#
# Every source table is a ReplacingMergeTree, and a materialized view sees each INSERT, not the
# merged table: a replayed batch, a retried insert and every new parcel_state version reach it
# again. So each view below only uses aggregate states that a repeated row cannot move:
#
# - uniqExactState(<deterministic id>): a set; inserting the same event_id, exception_id or
#   notification_id twice leaves it unchanged. The grouping columns (day, carrier, kind) are
#   functions of that id (the id hashes the parcel, kind and event time), so a repeat can never
#   land in a second group either. Days come from event time (occurred_at, opened_at), never
#   from wall-clock columns (created_at, detected_at), which a regenerated row would change.
# - argMaxState(tuple(...), version) / argMinIfState(..., version, ...): the newest (or the
#   first qualifying) parcel_state version wins whatever the arrival order, and a repeat of a
#   version carries the same values. Fields are packed in one tuple because argMax(x, v)
#   skips rows where x is NULL (measured on both engines: it would return an older non-NULL
#   value), and a parcel's promise or pickup may well be NULL. Nullable times go in as epoch
#   seconds with 0 for NULL because 18.16 returns garbage for a NULL inside a tuple-typed
#   argMax state (measured: a NULL promise came back as 1994-08-29).
#
# Ratios and percentiles (on-time rate, transit p50/p90, first-attempt rate, exception rate)
# cannot be kept exact inside an MV state (a quantile state counts a replayed sample twice), so
# they are plain views that merge the per-parcel states first (one row per parcel, like FINAL)
# and aggregate after. States are merged at query time with GROUP BY, so results never depend
# on background merges having run.
#
# uniqExact keeps every id's 16-byte hash (plus hash-table slack) per (day, group): a few
# hundred MB of state for 10M ids a day. Past that, uniqCombined64State trades exactness for
# ~1% error and kilobytes; we keep exact. parcel_facts is partitioned by the month of the
# version's updated_at (the only time every version has); a parcel updated in two months has
# a row in each, merged by the GROUP BY in parcel_outcomes.
#
# Partitions are months, so retention is `ALTER TABLE <db>.<mv> DROP PARTITION 202401` (18.16
# has no TTL); see docs/queries.sql. An MV created over existing data is backfilled by the
# INSERT ... SELECT after it; the states make a backfill overlapping live inserts harmless.

_PARCEL_FACTS_SELECT = """SELECT tracking_number, toStartOfMonth(updated_at) AS month,
    argMaxState(tuple(carrier, service_level, customer_segment, origin_region,
        destination_region, is_return, status, ifNull(toUInt32(promised_delivery), 0),
        ifNull(toUInt32(picked_up_at), 0), ifNull(toUInt32(delivered_at), 0)),
        version) AS latest,
    argMinIfState(tuple(ifNull(toUInt32(eta), 0), ifNull(toUInt32(eta_low), 0),
        ifNull(toUInt32(eta_high), 0)), version,
        picked_up_at IS NOT NULL AND delivered_at IS NULL AND eta IS NOT NULL) AS eta_at_pickup
FROM {db}.parcel_state
GROUP BY tracking_number, month"""

_EXCEPTIONS_DAILY_SELECT = """SELECT toDate(opened_at) AS day, carrier, kind,
    uniqExactState(exception_id) AS opened,
    uniqExactIfState(exception_id, state = 'resolved') AS resolved,
    uniqExactState(tracking_number) AS parcels
FROM {db}.exceptions
GROUP BY day, carrier, kind"""

_NOTIFICATIONS_DAILY_SELECT = """SELECT toDate(occurred_at) AS day, kind, carrier,
    uniqExactState(notification_id) AS notifications,
    uniqExactState(tracking_number) AS parcels
FROM {db}.notifications
GROUP BY day, kind, carrier"""

_CARRIER_PARCELS_DAILY_SELECT = """SELECT toDate(occurred_at) AS day, carrier,
    uniqExactState(tracking_number) AS parcels,
    uniqExactState(event_id) AS scans
FROM {db}.tracking_events
GROUP BY day, carrier"""


_PARCEL_OUTCOMES_VIEW = """CREATE VIEW IF NOT EXISTS {db}.parcel_outcomes AS
    SELECT tracking_number, carrier, service_level, customer_segment, origin_region,
        destination_region, is_return, promised_delivery, picked_up_at, delivered_at,
        toDate(delivered_at) AS day,
        promised_delivery IS NOT NULL AS has_promise,
        ifNull(delivered_at <= promised_delivery, 0) AS on_time,
        dateDiff('second', picked_up_at, delivered_at) / 3600 AS transit_hours,
        failed_attempts, failed_attempts = 0 AS first_attempt,
        eta, eta_low, eta_high,
        abs(dateDiff('second', eta, delivered_at)) AS eta_error_seconds,
        eta_error_seconds / 3600 AS eta_error_hours,
        delivered_at >= eta_low AND delivered_at <= eta_high AS eta_covered
    FROM (
        SELECT tracking_number, argMaxMerge(latest) AS f, argMinIfMerge(eta_at_pickup) AS e,
            tupleElement(f, 1) AS carrier, tupleElement(f, 2) AS service_level,
            tupleElement(f, 3) AS customer_segment, tupleElement(f, 4) AS origin_region,
            tupleElement(f, 5) AS destination_region, tupleElement(f, 6) AS is_return,
            _EPOCHS_
        FROM {db}.parcel_facts
        GROUP BY tracking_number
    ) AS parcel
    ANY LEFT JOIN (
        SELECT tracking_number, uniqExact(event_id) AS failed_attempts
        FROM {db}.tracking_events
        WHERE status = 'failed_attempt'
        GROUP BY tracking_number
    ) AS attempts USING tracking_number
    WHERE delivered_at IS NOT NULL""".replace(
    "_EPOCHS_",
    ", ".join(
        # 0 is the NULL sentinel (see above); DateTime cannot hold 1970-01-01 00:00 in practice.
        f"if(tupleElement({t}, {i}) = 0, NULL, toDateTime(tupleElement({t}, {i}), 'UTC')) AS {n}"
        for t, i, n in (
            ("f", 8, "promised_delivery"),
            ("f", 9, "picked_up_at"),
            ("f", 10, "delivered_at"),
            ("e", 1, "eta"),
            ("e", 2, "eta_low"),
            ("e", 3, "eta_high"),
        )
    ),
)


def _aggregating_view(name: str, select: str, partition: str, order_by: str) -> tuple[str, str]:
    """The MV and its backfill from rows written before the MV existed."""
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.{name}\n"
        f"ENGINE = AggregatingMergeTree() PARTITION BY {partition} ORDER BY {order_by}\n"
        f"AS {select}",
        f"INSERT INTO {{db}}.{name} {select}",
    )


ANALYTICS_STATEMENTS: tuple[str, ...] = (
    # One row per parcel: its latest facts and the first ETA given after pickup.
    *_aggregating_view("parcel_facts", _PARCEL_FACTS_SELECT, "toYYYYMM(month)", "tracking_number"),
    *_aggregating_view(
        "exceptions_daily", _EXCEPTIONS_DAILY_SELECT, "toYYYYMM(day)", "(day, carrier, kind)"
    ),
    *_aggregating_view(
        "notifications_daily", _NOTIFICATIONS_DAILY_SELECT, "toYYYYMM(day)", "(day, kind, carrier)"
    ),
    *_aggregating_view(
        "carrier_parcels_daily", _CARRIER_PARCELS_DAILY_SELECT, "toYYYYMM(day)", "(day, carrier)"
    ),
    # Per delivered parcel: promise kept, transit time, failed attempts, ETA error. JOINs are
    # written `ANY LEFT JOIN ... USING` because 18.16 needs the strictness spelled out.
    _PARCEL_OUTCOMES_VIEW,
    """CREATE VIEW IF NOT EXISTS {db}.carrier_performance_daily AS
    SELECT day, carrier, origin_region, destination_region,
        count() AS delivered,
        sum(has_promise) AS promised,
        sum(on_time) AS delivered_on_time,
        if(promised = 0, NULL, round(delivered_on_time / promised, 4)) AS on_time_rate,
        round(quantileExact(0.5)(transit_hours), 2) AS transit_p50_hours,
        round(quantileExact(0.9)(transit_hours), 2) AS transit_p90_hours,
        sum(first_attempt) AS delivered_first_attempt,
        round(delivered_first_attempt / delivered, 4) AS first_attempt_rate
    FROM {db}.parcel_outcomes
    GROUP BY day, carrier, origin_region, destination_region""",
    """CREATE VIEW IF NOT EXISTS {db}.exception_rates_daily AS
    SELECT day, carrier, kind, opened, resolved, parcels_affected, parcels_active,
        if(parcels_active = 0, NULL, round(parcels_affected / parcels_active, 4)) AS parcel_rate
    FROM (
        SELECT day, carrier, kind, uniqExactMerge(opened) AS opened,
            uniqExactIfMerge(resolved) AS resolved, uniqExactMerge(parcels) AS parcels_affected
        FROM {db}.exceptions_daily
        GROUP BY day, carrier, kind
    ) AS opened
    ANY LEFT JOIN (
        SELECT day, carrier, uniqExactMerge(parcels) AS parcels_active
        FROM {db}.carrier_parcels_daily
        GROUP BY day, carrier
    ) AS active USING day, carrier""",
)

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
            PARTITION BY toYYYYMM(occurred_at)
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
    Migration(3, "analytics model", ANALYTICS_STATEMENTS),
    Migration(
        4,
        "carrier ETAs",
        (
            # The carrier's newest estimate, its first after pickup and ours of that moment
            # (tracking/carrier_eta.py), and whose ETA `eta` is. Same rule as migration 2.
            "ALTER TABLE {db}.parcel_state ADD COLUMN eta_source String",
            "ALTER TABLE {db}.parcel_state ADD COLUMN carrier_eta Nullable(DateTime('UTC'))",
            "ALTER TABLE {db}.parcel_state ADD COLUMN carrier_eta_low Nullable(DateTime('UTC'))",
            "ALTER TABLE {db}.parcel_state ADD COLUMN carrier_eta_high Nullable(DateTime('UTC'))",
            "ALTER TABLE {db}.parcel_state ADD COLUMN carrier_eta_kind String",
            "ALTER TABLE {db}.parcel_state ADD COLUMN carrier_eta_first Nullable(DateTime('UTC'))",
            "ALTER TABLE {db}.parcel_state ADD COLUMN eta_first Nullable(DateTime('UTC'))",
        ),
    ),
    Migration(
        5,
        "shipment ids",
        # Which shipment under a reused tracking number a scan belongs to (tracking/state.py,
        # "Shipments"). Same rule as migration 2.
        ("ALTER TABLE {db}.tracking_events ADD COLUMN shipment_id String",),
    ),
    Migration(
        6,
        "probability of lateness",
        (
            # tracking/eta_calibration.py: P(delivery after the promise), on the parcel and on
            # each notification when it was made. Same rule as migration 2.
            "ALTER TABLE {db}.parcel_state ADD COLUMN p_late Nullable(Float64)",
            "ALTER TABLE {db}.notifications ADD COLUMN p_late Nullable(Float64)",
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
