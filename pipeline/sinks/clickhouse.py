"""Batching ClickHouse writer: `add()` rows, `flush()` them, then (and only then) commit.

The runtime steps call `flush()` at the end of every input batch, before Faust acknowledges the
batch's offsets; the batch itself is bounded by count and time (`batch_max`, `batch_within`),
so inserts are large and at most that old. A failed insert is retried with capped backoff
rather than skipped: the partition waits for ClickHouse instead of losing rows, and because
every table is keyed by a deterministic id, a retried or replayed insert never double-counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from pipeline.records import Table
from pipeline.sinks.engines import ClickHouseError, Engine
from pipeline.sinks.tables import TABLES

log = logging.getLogger(__name__)


class ClickHouseSink:
    def __init__(
        self,
        engine: Engine,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self._pending: dict[Table, list[tuple[Any, ...]]] = {t: [] for t in TABLES.values()}
        self._max_backoff = max_backoff
        self._sleep = sleep
        self.rows_written: dict[str, int] = dict.fromkeys(TABLES, 0)

    def add(self, table: Table, items: Iterable[Any]) -> None:
        """Queue one row per item (a record or state object), built as the table says."""
        self._pending[table].extend(map(table.row, items))

    def flush(self) -> None:
        for table, rows in self._pending.items():
            if not rows:
                continue
            self._insert_with_retry(table, rows)
            self.rows_written[table.name] += len(rows)
            self._pending[table] = []

    def _insert_with_retry(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        delay = 0.5
        while True:
            try:
                self.engine.insert(table.name, table.columns, rows)
                return
            except ClickHouseError as exc:
                log.error(
                    "insert of %d rows into %s failed, retrying in %.1fs: %s",
                    len(rows),
                    table.name,
                    delay,
                    exc,
                )
                self._sleep(delay)
                delay = min(delay * 2, self._max_backoff)
