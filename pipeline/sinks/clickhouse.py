"""Batching ClickHouse writer: `add()` rows, `flush()` them, then (and only then) commit.

The agents call `flush()` at the end of every input batch, before Faust acknowledges the
batch's offsets; the batch itself is bounded by count and time (`batch_max`, `batch_within`),
so inserts are large and at most that old. A failed insert is retried with capped backoff
rather than skipped: the partition waits for ClickHouse instead of losing rows, and because
every table is keyed by a deterministic id, a retried or replayed insert never double-counts.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from agents.events import TrackingEvent
from agents.orders import OrderState
from agents.state import ParcelState
from pipeline.sinks.engines import ClickHouseError, Engine
from pipeline.sinks.migrations import (
    DEAD_LETTER_COLUMNS,
    EXCEPTION_COLUMNS,
    NOTIFICATION_COLUMNS,
    ORDER_STATE_COLUMNS,
    PARCEL_STATE_COLUMNS,
    TRACKING_EVENT_COLUMNS,
)

log = logging.getLogger(__name__)

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "tracking_events": TRACKING_EVENT_COLUMNS,
    "parcel_state": PARCEL_STATE_COLUMNS,
    "notifications": NOTIFICATION_COLUMNS,
    "dead_letters": DEAD_LETTER_COLUMNS,
    "exceptions": EXCEPTION_COLUMNS,
    "order_state": ORDER_STATE_COLUMNS,
}


def _seconds(ms: int | None) -> int | None:
    return None if ms is None else ms // 1000


def event_row(e: TrackingEvent) -> tuple[Any, ...]:
    return (
        e.event_id,
        e.tracking_number,
        e.carrier,
        e.status,
        e.reason,
        e.carrier_code,
        e.description,
        e.occurred_at_ms // 1000,
        e.received_at_ms // 1000,
        int(e.zone_assumed),
        e.city,
        e.region,
        e.postal_code,
        e.country,
        e.raw_event_id,
        e.source,
    )


def state_row(s: ParcelState) -> tuple[Any, ...]:
    return (
        s.tracking_number,
        s.version,
        s.carrier,
        s.status,
        s.reason,
        _seconds(s.status_at_ms),
        _seconds(s.last_event_at_ms),
        s.updated_at_ms // 1000,
        len(s.history),
        s.city,
        s.country,
        s.order_id or "",
        s.service_level,
        s.customer_ref,
        s.customer_segment,
        _seconds(s.promised_delivery_ms),
        int(s.is_return),
        s.origin_region,
        s.destination_region,
        _seconds(s.milestones.get("picked_up")),
        _seconds(s.milestones.get("delivered")),
        _seconds(s.eta_ms),
        _seconds(s.eta_low_ms),
        _seconds(s.eta_high_ms),
        s.eta_level,
        int(s.predicted_late),
        sorted(s.open_exceptions),
    )


def notification_row(n: dict[str, Any]) -> tuple[Any, ...]:
    return (
        n["notification_id"],
        n["kind"],
        n["tracking_number"],
        n["order_id"] or "",
        n["carrier"],
        n["status"],
        n["reason"],
        n["occurred_at"] // 1000,
        n["created_at"] // 1000,
        n["customer_segment"],
        n["service_level"],
        n["message"],
    )


def exception_row(x: dict[str, Any]) -> tuple[Any, ...]:
    return (
        x["exception_id"],
        x["state"],
        x["tracking_number"],
        x["order_id"] or "",
        x["carrier"],
        x["kind"],
        x["severity"],
        x["opened_at"] // 1000,
        _seconds(x["resolved_at"]),
        x["detected_at"] // 1000,
        x["parcel_status"],
        x["customer_segment"],
        x["service_level"],
    )


def order_row(o: OrderState) -> tuple[Any, ...]:
    return (
        o.order_id,
        o.version,
        o.status,
        o.return_status,
        _seconds(o.return_received_at_ms),
        _seconds(o.delivered_at_ms),
        _seconds(o.eta_ms),
        _seconds(o.promised_ms),
        o.customer_ref,
        o.customer_segment,
        o.updated_at_ms // 1000,
        len(o.parcels),
        o.open_exceptions(),
    )


def dead_letter_row(d: dict[str, Any]) -> tuple[Any, ...]:
    return (
        d["topic"],
        d["partition"],
        d["offset"],
        d["stage"],
        d["error"],
        d["raw_event_id"] or "",
        d["carrier"] or "",
        d["payload_format"] or "",
        base64.b64encode(d["payload"]).decode(),
        d["failed_at"] // 1000,
    )


class ClickHouseSink:
    def __init__(
        self,
        engine: Engine,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self._pending: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLE_COLUMNS}
        self._max_backoff = max_backoff
        self._sleep = sleep
        self.rows_written: dict[str, int] = dict.fromkeys(TABLE_COLUMNS, 0)

    def add(self, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
        self._pending[table].extend(rows)

    def flush(self) -> None:
        for table, rows in self._pending.items():
            if not rows:
                continue
            self._insert_with_retry(table, rows)
            self.rows_written[table] += len(rows)
            self._pending[table] = []

    def _insert_with_retry(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        delay = 0.5
        while True:
            try:
                self.engine.insert(table, TABLE_COLUMNS[table], rows)
                return
            except ClickHouseError as exc:
                log.error(
                    "insert of %d rows into %s failed, retrying in %.1fs: %s",
                    len(rows),
                    table,
                    delay,
                    exc,
                )
                self._sleep(delay)
                delay = min(delay * 2, self._max_backoff)
