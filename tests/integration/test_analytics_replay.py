"""The analytics model stays exact when the pipeline replays its input.

A real worker runs a simulated feed; every query of docs/queries.sql is recorded. Then the same
raw and shipments topics are consumed again from offset 0 by a fresh worker under a new consumer
group (same ClickHouse database; state recovers from the shared changelog, as after losing a
worker's disk), and finally every row of every source table is inserted once more, which is
what a crash between a ClickHouse insert and its offset commit does and what each materialized
view then sees. Every query must return what it returned after the single pass. On chDB and on
the real 18.16 server.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import Publisher
from pipeline.settings import Settings
from pipeline.sinks.engines import Engine
from tests.integration.pipeline_run import engine_for
from tools.drain import wait_drained
from tools.report import build_report, write_charts
from tools.simulator import Simulation, publish, simulate
from tools.workers import WorkerProcess

pytestmark = pytest.mark.integration

QUERIES = Path(__file__).resolve().parents[2] / "docs" / "queries.sql"
PHASES = 5
SOURCE_TABLES = ("tracking_events", "parcel_state", "notifications", "exceptions", "order_state")


def named_queries(database: str) -> dict[str, str]:
    """docs/queries.sql split on `;`, keyed by each query's `-- name:` line."""
    queries = {}
    for chunk in QUERIES.read_text().split(";"):
        sql = "\n".join(line for line in chunk.splitlines() if not line.lstrip().startswith("--"))
        if not sql.strip():
            continue  # the header: comments only
        name = re.search(r"^-- name: (\w+)$", chunk, re.MULTILINE)
        assert name, f"query without a `-- name:` line:\n{chunk}"
        queries[name.group(1)] = sql.replace("parcelstream.", f"{database}.")
    return queries


def run_queries(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    return {name: engine.query(sql) for name, sql in named_queries(engine.database).items()}


def replay_with_new_group(settings: Settings, log: Path) -> None:
    """A second consumer group reads raw and shipments again from offset 0."""
    replay = settings.model_copy(update={"app_id": f"{settings.app_id}-replay"})
    worker = WorkerProcess(replay, log)
    worker.start()
    try:
        wait_drained(replay, timeout=180, alive=worker.alive)
    finally:
        worker.stop()


def run_feed_in_phases(settings: Settings, simulation: Simulation, log: Path) -> None:
    """Publish the carrier feed in parts, each drained before the next, like a live feed:
    parcels then reach ClickHouse in several versions, among them ETAs given between pickup and
    delivery once the ETA model has seen enough deliveries (sent at once, each lifecycle would
    land in one version and no ETA before delivery would be stored)."""
    worker = WorkerProcess(settings, log)
    worker.start()
    try:
        publisher = Publisher(settings, AvroCodec())
        payloads = simulation.payloads
        cuts = [len(payloads) * i // PHASES for i in range(PHASES + 1)]
        for phase, (start, end) in enumerate(itertools.pairwise(cuts)):
            shipments = simulation.shipments if phase == 0 else []
            publish(Simulation(shipments, payloads[start:end], simulation.manifest), publisher)
            wait_drained(settings, timeout=180, alive=worker.alive)
    finally:
        worker.stop()


def check_replays_change_nothing(settings: Settings, simulation: Simulation, tmp: Path) -> None:
    run_feed_in_phases(settings, simulation, tmp / "worker-1.log")
    engine = engine_for(settings)
    once = run_queries(engine)
    engine.close()
    assert once["carrier_scorecard"] and once["status_funnel"], once
    assert once["exceptions_by_reason"] and once["notifications_by_kind_per_day"], once
    assert once["eta_accuracy"], once

    replay_with_new_group(settings, tmp / "worker-2.log")
    engine = engine_for(settings)
    try:
        after_topic_replay = run_queries(engine)
        db = engine.database
        # Every row again, through every materialized view. (Counting rows before and after
        # would race the background merges that collapse the copies.)
        for table in SOURCE_TABLES:
            engine.execute(f"INSERT INTO {db}.{table} SELECT * FROM {db}.{table}")
        after_insert_replay = run_queries(engine)
        report = build_report(engine)
    finally:
        engine.close()

    for name, rows in once.items():
        assert after_topic_replay[name] == rows, f"{name} changed after the topic replay"
        assert after_insert_replay[name] == rows, f"{name} changed after re-inserting every row"

    assert report.scorecard and report.funnel and report.exception_kinds
    charts = write_charts(report, tmp / "charts")
    assert [p.name for p in charts] == [
        "carrier_scorecard.png", "status_funnel.png", "exceptions_by_reason.png",
        "eta_error_histogram.png",
    ]  # fmt: skip
    assert all(p.stat().st_size > 10_000 for p in charts)


def test_analytics_exact_under_replay_chdb(run_settings: Settings, tmp_path: Path) -> None:
    check_replays_change_nothing(run_settings, simulate(120, seed=21), tmp_path)


def test_analytics_exact_under_replay_clickhouse_server(
    run_settings: Settings, clickhouse_server: Any, tmp_path: Path
) -> None:
    url = (
        f"clickhouse://{clickhouse_server.host}:{clickhouse_server.port}/"
        f"{run_settings.clickhouse_database}"
    )
    settings = run_settings.model_copy(update={"clickhouse_url": SecretStr(url)})
    check_replays_change_nothing(settings, simulate(120, seed=22), tmp_path)
