-- parcelstream: ready-to-run queries for data teams
--
-- Run them as they are with `clickhouse-client --multiquery < docs/queries.sql`, or one at a
-- time. The database is written `parcelstream`: replace it if yours is named otherwise.
-- Every query is exact however often the pipeline replayed its input: tables are
-- ReplacingMergeTrees read with FINAL (one row per key before background merges ran), and the
-- analytics views of migration 3 keep only states a repeated row cannot move (uniqExact of
-- deterministic ids, argMax by version). They run unchanged on ClickHouse 18.16 and on current
-- ClickHouse (chDB): no `WITH x AS (subquery)`, one JOIN per SELECT, strictness spelled out.
--
-- Retention (18.16 has no TTL): partitions are months (toYYYYMM). List them with
--   SELECT table, partition, sum(rows) FROM system.parts
--   WHERE database = 'parcelstream' AND active GROUP BY table, partition ORDER BY partition
-- and drop what is past the retention period (13 months is the suggested default), for every
-- monthly table and view: tracking_events, notifications, exceptions, parcel_facts,
-- exceptions_daily, notifications_daily and carrier_parcels_daily, e.g.
--   ALTER TABLE parcelstream.tracking_events DROP PARTITION 202401
-- parcel_state, order_state and dead_letters are not partitioned and are not aged out this way.

-- name: carrier_scorecard
-- One line per carrier over all delivered parcels: on-time rate against the merchant's promise,
-- transit time pickup -> delivery (p50/p90 hours, exact quantiles), first-attempt delivery rate
-- (delivered with no failed_attempt scan), and the share of the carrier's parcels that had at
-- least one exception.
SELECT carrier, delivered, on_time_rate, transit_p50_hours, transit_p90_hours,
    first_attempt_rate, parcels, parcels_with_exception,
    round(parcels_with_exception / parcels, 4) AS exception_rate
FROM (
    SELECT carrier, delivered, on_time_rate, transit_p50_hours, transit_p90_hours,
        first_attempt_rate, parcels
    FROM (
        SELECT carrier,
            count() AS delivered,
            if(sum(has_promise) = 0, NULL, round(sum(on_time) / sum(has_promise), 4))
                AS on_time_rate,
            round(quantileExact(0.5)(transit_hours), 2) AS transit_p50_hours,
            round(quantileExact(0.9)(transit_hours), 2) AS transit_p90_hours,
            round(sum(first_attempt) / count(), 4) AS first_attempt_rate
        FROM parcelstream.parcel_outcomes
        GROUP BY carrier
    ) AS performance
    ANY LEFT JOIN (
        SELECT carrier, uniqExactMerge(parcels) AS parcels
        FROM parcelstream.carrier_parcels_daily
        GROUP BY carrier
    ) AS active USING carrier
) AS scored
ANY LEFT JOIN (
    SELECT carrier, uniqExactMerge(parcels) AS parcels_with_exception
    FROM parcelstream.exceptions_daily
    GROUP BY carrier
) AS troubled USING carrier
ORDER BY carrier;

-- name: carrier_lane_daily
-- The same scorecard by delivery day and lane (origin region -> destination region), straight
-- from the carrier_performance_daily view.
SELECT day, carrier, origin_region, destination_region, delivered, on_time_rate,
    transit_p50_hours, transit_p90_hours, first_attempt_rate
FROM parcelstream.carrier_performance_daily
ORDER BY day, carrier, origin_region, destination_region;

-- name: status_funnel
-- How many parcels ever reached each status (from the scans), and how many sit in it now (from
-- the latest parcel state), in lifecycle order.
SELECT status, parcels_reached, parcels_now
FROM (
    SELECT status, uniqExact(tracking_number) AS parcels_reached
    FROM parcelstream.tracking_events
    GROUP BY status
) AS reached
ANY LEFT JOIN (
    SELECT status, count() AS parcels_now
    FROM parcelstream.parcel_state FINAL
    GROUP BY status
) AS now_at USING status
ORDER BY indexOf(['pending', 'info_received', 'picked_up', 'in_transit', 'exception',
    'failed_attempt', 'out_for_delivery', 'available_for_pickup', 'delivered',
    'return_to_sender', 'returned', 'cancelled', 'expired', 'unknown'], status), status;

-- name: exceptions_by_reason
-- Exceptions by kind (carrier reasons such as damaged or lost, and derived ones such as stuck
-- or late) and carrier: how many opened, how many resolved since, how many parcels they hit,
-- and that as a share of the carrier's parcels.
SELECT kind, carrier, opened, resolved, opened - resolved AS still_open, parcels_affected,
    round(parcels_affected / parcels, 4) AS parcel_rate
FROM (
    SELECT kind, carrier, uniqExactMerge(opened) AS opened,
        uniqExactIfMerge(resolved) AS resolved, uniqExactMerge(parcels) AS parcels_affected
    FROM parcelstream.exceptions_daily
    GROUP BY kind, carrier
) AS exceptions
ANY LEFT JOIN (
    SELECT carrier, uniqExactMerge(parcels) AS parcels
    FROM parcelstream.carrier_parcels_daily
    GROUP BY carrier
) AS active USING carrier
ORDER BY opened DESC, kind, carrier;

-- name: eta_accuracy
-- ETA accuracy per carrier: the first ETA given at or after pickup against the actual
-- delivery. Mean and p50/p90 absolute error in hours, and how often the delivery fell inside
-- the promised interval [eta_low, eta_high]. Sums are taken over whole seconds so the result
-- does not depend on the order rows are added in.
SELECT carrier,
    count() AS parcels,
    round(sum(eta_error_seconds) / count() / 3600, 2) AS mean_abs_error_hours,
    round(quantileExact(0.5)(eta_error_seconds) / 3600, 2) AS p50_abs_error_hours,
    round(quantileExact(0.9)(eta_error_seconds) / 3600, 2) AS p90_abs_error_hours,
    round(sum(eta_covered) / count(), 4) AS interval_coverage
FROM parcelstream.parcel_outcomes
WHERE eta IS NOT NULL
GROUP BY carrier
ORDER BY carrier;

-- name: notifications_by_kind_per_day
-- Notifications by kind per day of the event they announce (a notification's send time is
-- wall-clock and is not stable across replays, its event time is part of its id).
SELECT day, kind, uniqExactMerge(notifications) AS notifications,
    uniqExactMerge(parcels) AS parcels
FROM parcelstream.notifications_daily
GROUP BY day, kind
ORDER BY day, kind;

-- name: parcels_stuck
-- Parcels currently stuck: the pipeline's stuck exception is open (no scan for longer than the
-- lane's usual gap at this status). Add dateDiff('hour', last_event_at, now()) for the age.
SELECT tracking_number, carrier, status, last_event_at, order_id, customer_segment,
    service_level, destination_region
FROM parcelstream.parcel_state FINAL
WHERE has(open_exceptions, 'stuck')
ORDER BY last_event_at, tracking_number;

-- name: orders_partially_delivered
-- Orders with some but not all outbound parcels delivered, with how many arrived so far.
SELECT order_id, customer_segment, parcel_count, parcels_delivered, promised_delivery, eta
FROM (
    SELECT order_id, customer_segment, parcel_count, promised_delivery, eta
    FROM parcelstream.order_state FINAL
    WHERE status = 'partially_delivered'
) AS orders
ANY LEFT JOIN (
    SELECT order_id, countIf(delivered_at IS NOT NULL) AS parcels_delivered
    FROM parcelstream.parcel_state FINAL
    WHERE order_id != '' AND is_return = 0
    GROUP BY order_id
) AS delivered USING order_id
ORDER BY order_id;
