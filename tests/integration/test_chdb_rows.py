"""chDB inserts: rows go in as one JSON body; a row that JSON cannot carry (a lone surrogate
that slipped past every stage) is refused alone and set aside, the rest of the batch lands."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.sinks import tables
from pipeline.sinks.clickhouse import ClickHouseSink
from pipeline.sinks.engines import ChdbEngine
from pipeline.sinks.migrations import migrate
from tracking.events import TrackingEvent

pytestmark = pytest.mark.integration


def event(event_id: str, city: str) -> TrackingEvent:
    return TrackingEvent(event_id, "TN1", "acme", "in_transit", "", "IT", "Départ — 出発", 1_000,
                         2_000, False, city, "", "", "NO", "raw", "test")  # fmt: skip


def test_a_row_json_cannot_carry_is_set_aside_alone(tmp_path: Path) -> None:
    engine = ChdbEngine(tmp_path / "chdb", "rows_test")
    try:
        migrate(engine)
        sink = ClickHouseSink(engine)
        sink.add(tables.TRACKING_EVENTS, [event("e1", "Oslo"), event("e2", "Bad\udfff"),
                                          event("e3", "Tromsø")])  # fmt: skip
        sink.flush()
        stored = engine.query(
            "SELECT event_id, city, description FROM rows_test.tracking_events ORDER BY event_id"
        )
        assert stored == [("e1", "Oslo", "Départ — 出発"), ("e3", "Tromsø", "Départ — 出発")]
        assert sink.rows_refused == 1
        letters = engine.query("SELECT stage, topic FROM rows_test.dead_letters")
        assert letters == [("sink", "tracking_events")]
    finally:
        engine.close()
