"""`make demo`: a fresh run (own topics, group and database), the worker, the simulated feed,
wait for the drain, then the report from ClickHouse checked against what was sent, and its
charts as PNGs under the run's folder."""

from __future__ import annotations

import time

from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import Publisher
from pipeline.settings import get_settings
from pipeline.sinks.engines import open_engine_from
from pipeline.topics import ensure_topics
from tools.drain import wait_drained
from tools.report import build_report, check_against, render, write_charts
from tools.simulator import publish, simulate
from tools.workers import WorkerProcess, fresh_run

# The feed goes out in this many time-ordered waves, each drained before the next: a day of
# traffic rather than one burst, so ETAs made at pickup exist before those parcels deliver.
DEMO_WAVES = 6


def run_demo(parcels: int, seed: int, timeout: float) -> int:
    run_id, settings = fresh_run(get_settings(), "demo")
    run_dir = settings.state_dir / "runs" / run_id
    print(f"demo run {run_id}: topics {settings.topic_prefix}.*, logs in {run_dir}")
    ensure_topics(settings)
    simulation = simulate(parcels, seed)
    (run_dir).mkdir(parents=True, exist_ok=True)
    (run_dir / "manifest.json").write_text(simulation.manifest.to_json())

    worker = WorkerProcess(settings, run_dir / "worker.log")
    print("starting worker ...")
    worker.start()
    try:
        print(
            f"publishing {simulation.manifest.payloads:,} carrier payloads "
            f"({simulation.manifest.unique_events:,} unique scans, "
            f"{simulation.manifest.duplicate_deliveries:,} re-sent) for "
            f"{simulation.manifest.parcels:,} parcels ..."
        )
        started = time.monotonic()
        publish(
            simulation,
            Publisher(settings, AvroCodec(settings.schema_registry_url)),
            waves=DEMO_WAVES,
            between_waves=lambda: wait_drained(settings, timeout=timeout, alive=worker.alive),
        )
        elapsed = time.monotonic() - started
    finally:
        worker.stop()

    engine = open_engine_from(settings)
    report = build_report(engine)
    engine.close()
    check_against(report, simulation.manifest)
    delivered = simulation.manifest.unique_events + simulation.manifest.duplicate_deliveries
    throughput = (
        f"throughput               {delivered / elapsed:>10,.0f} scans/s end to end "
        f"({delivered:,} scans incl. re-sent, {elapsed:.1f}s publish-to-drained in "
        f"{DEMO_WAVES} waves)"
    )
    print(render(report, throughput))
    charts = write_charts(report, run_dir / "charts")
    print(f"\ncharts ({run_dir / 'charts'}):")
    for path in charts:
        print(f"  {path.name}")
    return 0 if report.ok else 1
