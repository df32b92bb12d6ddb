"""Two FedEx shipments under one tracking number, end to end (worker, broker, chDB): every scan
is stored with its shipment id, the parcel shows the newest shipment alone, and the older one's
delivery is announced to no one (tracking/shipments.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import Publisher, raw_envelope
from pipeline.settings import Settings
from tests.integration.pipeline_run import engine_for
from tools.drain import wait_drained
from tools.workers import WorkerProcess

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "fedex" / "eta_reused_number.json"
TN = "771234567890"
NEWER, OLDER = "12029~771234567890~FDEG", "11874~771234567890~FDEG"


def test_the_newest_shipment_is_the_parcel_and_the_older_is_only_stored(
    run_settings: Settings, tmp_path: Path
) -> None:
    worker = WorkerProcess(run_settings, tmp_path / "worker.log")
    worker.start()
    try:
        publisher = Publisher(run_settings, AvroCodec())
        publisher.publish_raw(raw_envelope("fedex", "fedex", FIXTURE.read_bytes(), "api_poll", TN))
        publisher.flush()
        wait_drained(run_settings, timeout=120, alive=worker.alive)
    finally:
        worker.stop()

    engine = engine_for(run_settings)
    db = engine.database
    stored = engine.query(
        f"SELECT shipment_id, status FROM {db}.tracking_events FINAL "
        f"WHERE tracking_number = '{TN}' ORDER BY occurred_at"
    )
    state = engine.query(
        f"SELECT status, delivered_at, toUnixTimestamp(carrier_eta) FROM {db}.parcel_state FINAL "
        f"WHERE tracking_number = '{TN}'"
    )
    kinds = engine.query(
        f"SELECT kind FROM {db}.notifications FINAL WHERE tracking_number = '{TN}'"
    )
    engine.close()

    assert stored == [
        (OLDER, "in_transit"),
        (OLDER, "delivered"),
        (NEWER, "picked_up"),
        (NEWER, "in_transit"),
    ]
    # The 2026 shipment's window ends 14:00 at -06:00; the 2025 shipment's delivery is not its.
    (status, delivered_at, carrier_eta), *rest = state
    assert rest == [] and (status, delivered_at) == ("in_transit", None)
    assert int(carrier_eta) == datetime(2026, 11, 24, 20, 0, tzinfo=UTC).timestamp()
    # Merged, the 2025 delivery would hold against later progress scans and be announced; the
    # newer shipment went from nothing to in transit within this one batch: nothing to announce.
    assert kinds == []
