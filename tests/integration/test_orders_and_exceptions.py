"""Order state, returns and timer-driven exceptions on the real broker with a real worker."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import Publisher, raw_envelope
from pipeline.settings import Settings
from pipeline.topics import EXCEPTIONS, ORDER_STATE
from tests.integration.pipeline_run import engine_for
from tests.kafka_helpers import read_records
from tools.drain import wait_drained
from tools.workers import WorkerProcess

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000


def shipment(order: str, tn: str, now_ms: int, is_return: bool = False) -> dict:
    place = {"city": "Austin", "region": "TX", "postal_code": "78701", "country": "US"}
    return {
        "order_id": order,
        "tracking_number": tn,
        "carrier": "acme",
        "service_level": "expedited",
        "promised_delivery": now_ms + 10 * DAY_MS,
        "customer_ref": "C1",
        "customer_segment": "vip",
        "origin": place,
        "destination": place,
        "is_return": is_return,
        "registered_at": now_ms,
    }


def scans(*items: tuple[str, str, int]) -> dict:
    """A generic-format webhook bundle of (tracking number, code, epoch ms)."""
    return raw_envelope(
        "acme",
        "generic",
        json.dumps(
            {
                "carrier": "acme",
                "events": [
                    {
                        "tracking_number": tn,
                        "code": code,
                        "occurred_at": time.strftime(
                            "%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(at / 1000)
                        ),
                    }
                    for tn, code, at in items
                ],
            }
        ).encode(),
        source="test",
    )


def test_orders_returns_and_stuck_parcels(run_settings: Settings, tmp_path: Path) -> None:
    settings = run_settings.model_copy(
        update={
            "stuck_default_seconds": 4,
            "stuck_min_seconds": 1,
            "stuck_max_seconds": 4,
            "timer_interval": 0.5,
            "exception_settle_seconds": 1,
        }
    )
    publisher = Publisher(settings, AvroCodec())
    now = int(time.time()) * 1000
    for record in (
        shipment("O1", "A1", now),
        shipment("O1", "B1", now),
        shipment("O1", "R1", now, is_return=True),
        shipment("O2", "S1", now),
    ):
        publisher.publish_shipment(record)
    publisher.publish_raw(
        scans(("A1", "PU", now - 60_000), ("B1", "CR", now - 60_000), ("S1", "PU", now - 1_000))
    )
    publisher.flush()

    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        wait_drained(settings, timeout=120, alive=worker.alive)
        publisher.publish_raw(scans(("B1", "PU", now + 1_000), ("A1", "DL", now + 2_000)))
        publisher.flush()
        wait_drained(settings, timeout=120, alive=worker.alive)
        publisher.publish_raw(scans(("B1", "DL", now + 3_000), ("R1", "PU", now + 4_000)))
        publisher.publish_raw(scans(("R1", "DL", now + 5_000)))
        publisher.flush()
        wait_drained(settings, timeout=120, alive=worker.alive)
        # S1 gets no scan again: only the timer can notice it is stuck.
        deadline = time.monotonic() + 30
        stuck: list[dict] = []
        while not stuck and time.monotonic() < deadline:
            time.sleep(1)
            exceptions = read_records(settings.kafka_bootstrap, EXCEPTIONS.topic(settings))
            stuck = [
                r for _, r in exceptions if r["kind"] == "stuck" and r["tracking_number"] == "S1"
            ]
    finally:
        worker.stop()

    assert stuck and stuck[0]["state"] == "opened"
    assert stuck[0]["severity"] == "critical", "stuck (medium) + vip + expedited"
    order_log = [
        r
        for _, r in read_records(settings.kafka_bootstrap, ORDER_STATE.topic(settings))
        if r["order_id"] == "O1"
    ]
    statuses = [r["status"] for r in order_log]
    assert "partially_shipped" in statuses
    assert statuses.index("partially_delivered") < statuses.index("delivered")
    assert order_log[-1]["return_status"] == "return_received"
    assert order_log[-1]["return_received_at"] == now + 5_000

    engine = engine_for(settings)
    db = engine.database
    rows = engine.query(
        f"SELECT status, return_status FROM {db}.order_state FINAL ORDER BY order_id"
    )
    stuck_rows = engine.query(
        f"SELECT tracking_number FROM {db}.exceptions FINAL "
        "WHERE kind = 'stuck' AND state = 'opened'"
    )
    engine.close()
    assert rows[0] == ("delivered", "return_received")
    assert ("S1",) in stuck_rows
