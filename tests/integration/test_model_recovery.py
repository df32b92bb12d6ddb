"""Learned models survive a restart: saved to the compacted `models` topic, recovered with
their partition, predicting exactly as before."""

from __future__ import annotations

import pytest

from pipeline.runtime.common import Resources
from pipeline.runtime.track import TrackStep
from pipeline.settings import Settings
from pipeline.sinks.engines import ChdbEngine
from pipeline.sinks.migrations import migrate
from tracking.events import TrackingEvent
from tracking.parcels import lane_of, process_batch

pytestmark = pytest.mark.integration
H = 3_600_000


def scan(tn: str, status: str, hour: float) -> TrackingEvent:
    at = int(hour * H)
    return TrackingEvent(f"{tn}-{status}", tn, "acme", status, "", "X", "", at, at, False,
                         "Oslo", "", "", "NO", "raw", "test")  # fmt: skip


def test_models_are_saved_and_recovered(run_settings: Settings) -> None:
    engine = ChdbEngine(run_settings.chdb_dir, run_settings.clickhouse_database)
    try:
        migrate(engine)
        first = TrackStep(Resources(run_settings))
        part = first.partition(0)
        for i in range(40):  # deliveries teach the ETA model and the gap model
            events = [scan(f"P{i}", "picked_up", 0), scan(f"P{i}", "delivered", 30 + i)]
            assert process_batch(part, events, [], now_ms=200 * H).new_events
        assert part.models_changed
        first._snapshot_models(0, part, now=200 * H)
        first.outputs.flush()
        lane = lane_of(part.parcels["P0"])
        before = part.eta.predict(lane, "picked_up", 0)
        assert before is not None
        first.close()  # a restarted worker: its local store is opened once at a time

        second = TrackStep(Resources(run_settings))
        recovered = second.partition(0)
        after = recovered.eta.predict(lane, "picked_up", 0)
        assert after == before
        assert recovered.gaps.to_dict() == part.gaps.to_dict()
        assert len(recovered.parcels) == 0, "parcels come from their own changelog, not models"
    finally:
        engine.close()
