"""p_late reaches ClickHouse (chDB): the parcel_state and notifications columns of migration 5,
filled from a parcel stage run's records."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.sinks import tables
from pipeline.sinks.clickhouse import ClickHouseSink
from pipeline.sinks.engines import ChdbEngine
from pipeline.sinks.migrations import migrate
from tests.unit.tracking.test_eta_calibration import DAY_MS, T0, scan, shipment, stage
from tracking.parcels import process_batch

pytestmark = pytest.mark.integration


def test_p_late_is_a_column_of_parcel_state_and_notifications(tmp_path: Path) -> None:
    part, policy = stage(0.3)
    out = process_batch(part, [scan("P1", "a", "picked_up", T0)],
                        [shipment("P1", T0 + 5 * DAY_MS + DAY_MS // 2)], now_ms=T0,
                        policy=policy)  # fmt: skip
    state = part.parcels["P1"]
    assert state.p_late is not None and out.notifications
    engine = ChdbEngine(tmp_path / "chdb", "p_late_test")
    try:
        migrate(engine)
        sink = ClickHouseSink(engine)
        sink.add(tables.PARCEL_STATE, [state.to_record()])
        sink.add(tables.NOTIFICATIONS, out.notifications)
        sink.flush()
        db = "p_late_test"
        [(stored,)] = engine.query(f"SELECT p_late FROM {db}.parcel_state")
        assert stored == pytest.approx(state.p_late)
        notified = engine.query(f"SELECT kind, p_late FROM {db}.notifications")
        assert notified == [("shipped", pytest.approx(state.p_late))]
    finally:
        engine.close()
