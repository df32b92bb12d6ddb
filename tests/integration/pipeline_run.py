"""Drive a real worker over a simulated feed and read back what it wrote (shared by the
integration tests for both ClickHouse engines)."""

from __future__ import annotations

import signal
from pathlib import Path

from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import Publisher
from pipeline.settings import Settings
from pipeline.sinks.engines import Engine, open_engine_from
from tools.drain import wait_drained
from tools.simulator import Simulation, publish
from tools.workers import WorkerProcess

# What a SIGTERM'd worker may exit with: Faust's own clean exit, or the signal's default when
# it lands while Faust is still starting its services.
CLEAN_EXIT = (0, -signal.SIGTERM)


def run_worker_over(settings: Settings, simulation: Simulation, log: Path) -> None:
    worker = WorkerProcess(settings, log)
    worker.start()
    try:
        publish(simulation, Publisher(settings, AvroCodec()))
        wait_drained(settings, timeout=180, alive=worker.alive)
    finally:
        code = worker.stop()
    assert code in CLEAN_EXIT, f"the worker did not stop cleanly ({code}); see {log}"


def engine_for(settings: Settings) -> Engine:
    return open_engine_from(settings)
