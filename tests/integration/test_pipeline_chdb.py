"""The whole path on the real broker with the embedded ClickHouse (chDB)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import Publisher
from pipeline.settings import Settings
from pipeline.topics import DEAD_LETTERS, NOTIFICATIONS, PARCEL_STATE
from tests.integration.pipeline_run import engine_for
from tests.kafka_helpers import read_records, read_topic
from tools.drain import wait_drained
from tools.report import build_report, check_against
from tools.simulator import publish, simulate
from tools.workers import WorkerProcess

pytestmark = pytest.mark.integration


def test_feed_to_clickhouse_and_notification_topic(run_settings: Settings, tmp_path: Path) -> None:
    simulation = simulate(120, seed=3)
    worker = WorkerProcess(run_settings, tmp_path / "worker.log")
    worker.start()
    try:
        publisher = Publisher(run_settings, AvroCodec())
        publish(simulation, publisher)
        publisher.publish_raw_bytes(b"this is not avro", key=b"junk")
        publisher.flush()
        wait_drained(run_settings, timeout=180, alive=worker.alive)
    finally:
        worker.stop()

    engine = engine_for(run_settings)
    report = build_report(engine)
    notified = engine.query(
        f"SELECT notification_id, kind FROM {engine.database}.notifications FINAL"
    )
    engine.close()

    simulation.manifest.malformed_payloads += 1  # plus the non-Avro message
    check_against(report, simulation.manifest)
    assert report.ok, report.checks

    # Notifications: Avro in the Confluent wire format, one per ClickHouse row, keyed by parcel.
    messages = read_records(
        run_settings.kafka_bootstrap, NOTIFICATIONS.topic(run_settings), len(notified)
    )
    assert {name for name, _ in messages} == {"Notification"}
    assert sorted(r["notification_id"] for _, r in messages) == sorted(n for n, _ in notified)
    delivered = simulation.manifest.final_status["delivered"]
    arrived = [r["kind"] for _, r in messages if r["kind"] in ("delivered", "return_received")]
    assert len(arrived) == delivered, "every delivery is announced once (returns as received)"

    # Dead letters keep the original bytes and say why.
    dead = read_records(run_settings.kafka_bootstrap, DEAD_LETTERS.topic(run_settings), 2)
    stages = sorted(r["stage"] for _, r in dead)
    assert stages.count("decode") == 1 and stages.count("parse") == len(dead) - 1
    assert any(r["payload"] == b"this is not avro" for _, r in dead)
    assert all(r["error"] for _, r in dead)


def test_crash_and_restart_loses_nothing_and_counts_nothing_twice(
    run_settings: Settings, tmp_path: Path
) -> None:
    """kill -9 mid-stream, restart: state comes back from the changelog, replayed inputs are
    deduplicated, ClickHouse (read with FINAL) shows every event exactly once."""
    # The killed worker's partitions move once its session times out.
    run_settings = run_settings.model_copy(update={"session_timeout": 6.0})
    simulation = simulate(300, seed=5)
    publisher = Publisher(run_settings, AvroCodec())
    worker = WorkerProcess(run_settings, tmp_path / "worker-1.log")
    worker.start()
    publish(simulation, publisher)
    time.sleep(1.5)
    worker.kill()

    worker = WorkerProcess(run_settings, tmp_path / "worker-2.log")
    worker.start()
    try:
        wait_drained(run_settings, timeout=180, alive=worker.alive)
    finally:
        worker.stop()
    # Third run over the same feed: everything is a duplicate now.
    worker = WorkerProcess(run_settings, tmp_path / "worker-3.log")
    worker.start()
    try:
        publish(simulation, publisher)
        wait_drained(run_settings, timeout=180, alive=worker.alive)
    finally:
        worker.stop()

    engine = engine_for(run_settings)
    report = build_report(engine)
    engine.close()
    simulation.manifest.malformed_payloads *= 2  # the same broken payloads were sent twice
    check_against(report, simulation.manifest)
    assert report.ok, report.checks
    changelog = read_topic(run_settings.kafka_bootstrap, PARCEL_STATE.topic(run_settings))
    assert len({key for key, _ in changelog}) == simulation.manifest.parcels
