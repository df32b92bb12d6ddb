"""`make bench`: the pipeline's throughput next to a plain confluent-kafka passthrough, in one
run on the same pre-filled raw topic (the machines are noisy, so only same-run ratios count).

- passthrough: consume raw -> decode the Avro envelope -> produce it to another topic.
  The floor a Kafka-to-Kafka hop costs in Python, with no parsing and no state.
- pipeline: a real `parcelstream worker` (Faust) from its consumer group becoming stable
  until its committed offsets reach the end of raw, events and shipments: parse, normalize,
  dedup, parcel state + changelog, notifications and ClickHouse (chDB) inserts included.
- lookup: then, with that worker's parcels in state, its lookup API under load
  (tools/bench_lookup.py).
- latency: a steady feed at 50 % of the pipeline's rate just measured, p50/p95/p99 of raw
  `received_at` -> notification acknowledged (tools/bench_latency.py), ~30 s.
"""

from __future__ import annotations

import os
import time

from confluent_kafka import Consumer

from pipeline.api.auth import hash_key
from pipeline.api.config import ApiKey
from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import Publisher
from pipeline.kafka_io import BatchProducer
from pipeline.settings import Settings, get_settings
from pipeline.topics import RAW, ensure_topics
from tools.bench_latency import run_latency
from tools.bench_lookup import BENCH_KEY, lookup_bench_line
from tools.bench_parsers import run_parser_bench
from tools.bench_stages import print_stage_costs
from tools.drain import wait_drained
from tools.simulator import publish, simulate
from tools.workers import WorkerProcess, cpu_seconds, fresh_run


def passthrough(settings: Settings, expected: int) -> float:
    """Seconds to consume, decode and re-produce `expected` raw messages."""
    codec = AvroCodec()
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{settings.app_id}-passthrough",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    producer = BatchProducer(settings.kafka_bootstrap)
    target = settings.topic("passthrough")
    consumer.subscribe([RAW.topic(settings)])
    seen = 0
    started = 0.0
    try:
        while seen < expected:
            batch = consumer.consume(1000, timeout=1.0)
            if batch and not started:
                started = time.perf_counter()
            for message in batch:
                value = message.value()
                if message.error() or value is None:
                    continue
                codec.decode(value)
                producer.produce(target, value, key=message.key())
                seen += 1
        producer.flush()
        consumer.commit(asynchronous=False)
        return time.perf_counter() - started
    finally:
        consumer.close()


def _cpu_line(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    """Where the drain's time went: each worker process's CPU as a share of one core."""
    used = {name: total - before.get(name, 0.0) for name, total in after.items()}
    shares = ", ".join(
        f"{name} {100 * cpu / seconds:.0f}%"
        for name, cpu in sorted(used.items(), key=lambda x: -x[1])
    )
    return f"cpu during the drain (% of one core; {os.cpu_count()} cores): {shares}"


def run_bench(parcels: int, seed: int) -> int:
    print("connector parse throughput (one core, golden fixtures):")
    run_parser_bench()
    print()
    bench_key = ApiKey(name="bench", sha256=hash_key(BENCH_KEY))
    run_id, settings = fresh_run(get_settings(), "bench", commit_interval=0.5, api_keys=[bench_key])
    ensure_topics(settings)
    simulation = simulate(parcels, seed)
    manifest = simulation.manifest
    scans = manifest.unique_events + manifest.duplicate_deliveries
    print(
        f"pre-filling {RAW.topic(settings)}: {manifest.payloads:,} raw messages "
        f"carrying {scans:,} scans for {manifest.parcels:,} parcels ..."
    )
    publish(simulation, Publisher(settings, AvroCodec()))

    pass_seconds = passthrough(settings, manifest.payloads)

    worker = WorkerProcess(settings, settings.state_dir / "runs" / run_id / "worker.log")
    worker.start()
    started = time.perf_counter()
    group = worker.pid or 0
    cpu_before = cpu_seconds(group)
    try:
        wait_drained(settings, timeout=1800, poll=0.2, alive=worker.alive)
        pipe_seconds = time.perf_counter() - started
        cpu_line = _cpu_line(cpu_before, cpu_seconds(group), pipe_seconds)
        lookup = [shipment["tracking_number"] for shipment in simulation.shipments]
        lookup_line = lookup_bench_line(settings, lookup)
    finally:
        worker.stop()

    rows = [
        ("plain confluent-kafka passthrough", pass_seconds),
        ("parcelstream pipeline (Faust worker)", pipe_seconds),
    ]
    print(f"\n{'':38}{'seconds':>9}{'raw msgs/s':>12}{'scans/s':>11}")
    for name, seconds in rows:
        print(
            f"{name:38}{seconds:>9.2f}{manifest.payloads / seconds:>12,.0f}"
            f"{scans / seconds:>11,.0f}"
        )
    print(
        f"\npipeline / passthrough: {pass_seconds / pipe_seconds:.2f}x of the passthrough rate "
        f"(~{scans / manifest.payloads:.1f} scans per raw message; pipeline time includes "
        f"state, changelog, notifications and ClickHouse inserts, measured up to the last "
        f"offset commit)"
    )
    print(cpu_line)
    print(lookup_line)
    print()
    print_stage_costs(simulation, int(time.time() * 1000))
    print()
    # Latency at a load the pipeline keeps up with: half the maximum just measured.
    print(run_latency(get_settings(), 0.5 * scans / pipe_seconds).line())
    return 0
