"""The production path: the worker writes to a real ClickHouse server over the native protocol
(Debian's 18.16 server, started by the suite), with the same DDL as chDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import Publisher
from pipeline.settings import Settings
from pipeline.sinks.engines import NativeEngine
from pipeline.sinks.migrations import migrate
from tools.drain import wait_drained
from tools.report import build_report, check_against
from tools.simulator import publish, simulate
from tools.workers import WorkerProcess

pytestmark = pytest.mark.integration


def test_worker_writes_to_clickhouse_server(
    run_settings: Settings, clickhouse_server: Any, tmp_path: Path
) -> None:
    url = f"clickhouse://{clickhouse_server.host}:{clickhouse_server.port}/{run_settings.clickhouse_database}"
    settings = run_settings.model_copy(update={"clickhouse_url": SecretStr(url)})
    simulation = simulate(80, seed=9)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        publish(simulation, Publisher(settings, AvroCodec()))
        wait_drained(settings, timeout=180, alive=worker.alive)
    finally:
        worker.stop()

    engine = NativeEngine(url)
    version = engine.query("SELECT version()")[0][0]
    report = build_report(engine)
    assert migrate(engine) == [], "migrations are applied once"
    engine.close()
    assert version.startswith("18.16"), version
    check_against(report, simulation.manifest)
    assert report.ok, report.checks
