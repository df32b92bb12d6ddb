"""Batching ClickHouse writer: `add()` rows, `flush()` them, then (and only then) commit.

The sink stage (`stage.py`) calls `flush()` before it commits the offsets of what it consumed.
An unreachable server is waited out with capped backoff, for as long as it is away (the sink
builds lag; nothing is skipped), and because every table is keyed by a deterministic id, a
retried or replayed insert never double-counts. An insert the server refuses for its data is
bisected down to the rows it refuses; those are logged and set aside as dead-letter rows, the
rest are written.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from pipeline import metrics
from pipeline.health import Health
from pipeline.records import DeadLetter, Table, no_offset
from pipeline.sinks.engines import ClickHouseError, ClickHouseUnavailable, Engine
from pipeline.sinks.tables import DEAD_LETTERS, TABLES

log = logging.getLogger(__name__)


class ClickHouseSink:
    def __init__(self, engine: Engine, health: Health | None = None) -> None:
        self.engine = engine
        self.health = health or Health()
        self._pending: dict[Table, list[tuple[Any, ...]]] = {t: [] for t in TABLES.values()}
        self.rows_written: dict[str, int] = dict.fromkeys(TABLES, 0)
        self.rows_refused = 0
        for name in TABLES:  # every table's series exists from the start, so rate() sees a 0
            metrics.CLICKHOUSE_RETRIES.labels(name)
            metrics.CLICKHOUSE_ROWS.labels(name)

    def add(self, table: Table, items: Iterable[Any]) -> None:
        """Queue one row per item (a record or state object), built as the table says."""
        self._pending[table].extend(map(table.row, items))

    @property
    def pending(self) -> int:
        return sum(map(len, self._pending.values()))

    def flush(self) -> None:
        for table, rows in self._pending.items():
            if not rows:
                continue
            self._insert(table, rows)
            self.rows_written[table.name] += len(rows)
            self._pending[table] = []
        refused = self._pending[DEAD_LETTERS]
        if refused:  # rows set aside by _insert, as dead letters
            self._insert(DEAD_LETTERS, refused)
            self._pending[DEAD_LETTERS] = []

    def _insert(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        attempts = 0

        def attempt() -> None:
            nonlocal attempts
            attempts += 1
            self.engine.insert(table.name, table.columns, rows)

        started = time.perf_counter()
        try:
            self.health.wait_out(
                "clickhouse", attempt, (ClickHouseUnavailable,),
                f"insert {len(rows)} rows into {table.name}",
            )  # fmt: skip
            metrics.CLICKHOUSE_INSERT_SECONDS.labels(table.name).observe(
                time.perf_counter() - started
            )
            metrics.CLICKHOUSE_ROWS.labels(table.name).inc(len(rows))
        except ClickHouseUnavailable:
            raise
        except ClickHouseError as exc:
            if len(rows) > 1:
                middle = len(rows) // 2
                self._insert(table, rows[:middle])
                self._insert(table, rows[middle:])
                return
            self.rows_refused += 1
            metrics.DEAD_LETTERS.labels("sink", "refused", "").inc()
            log.error("%s refused a row, set aside as a dead letter: %s", table.name, exc)
            if table is not DEAD_LETTERS:
                row = json.dumps(dict(zip(table.columns, rows[0], strict=True)), default=str)
                letter = DeadLetter(
                    str(exc)[:10_000], "sink", table.name, -1, no_offset(row), None, None, None,
                    row.encode(), int(time.time() * 1000),
                )  # fmt: skip
                self._pending[DEAD_LETTERS].append(DEAD_LETTERS.row(letter))
        finally:
            if attempts > 1:
                metrics.CLICKHOUSE_RETRIES.labels(table.name).inc(attempts - 1)
