"""`make bench`'s latency line: raw `received_at` -> notification acknowledged by the broker,
at a steady rate below the pipeline's measured maximum (50 % of it in `make bench`).

A real worker (its sink inside, as in the throughput run) on fresh topics; the simulator's
shipments are registered and drained first, then its carrier payloads are published at a
steady rate, each envelope stamped `received_at` as it is sent, for ~`seconds`. The quantiles
come from the worker's own histogram (`parcelstream_end_to_end_latency_seconds{to=
"notification"}`, scraped before and after the feed), interpolated within its buckets as
Prometheus's `histogram_quantile` does: what an operator's dashboard would show.
"""

from __future__ import annotations

import math
import time
import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import Publisher, raw_envelope
from pipeline.settings import Settings
from pipeline.topics import ensure_topics
from tools.drain import wait_drained
from tools.simulator import simulate
from tools.workers import WorkerProcess, fresh_run

SCANS_PER_PARCEL = 10.8  # the simulator's mix (215,474 scans for 20,000 parcels)


@dataclass
class Latency:
    scans_per_s: float
    seconds: float
    notifications: int
    p50: float
    p95: float
    p99: float

    def line(self) -> str:
        return (
            f"latency: raw -> notification at {self.scans_per_s:,.0f} scans/s for "
            f"{self.seconds:.0f}s ({self.notifications:,} notifications): "
            f"p50={self.p50 * 1000:.0f}ms p95={self.p95 * 1000:.0f}ms "
            f"p99={self.p99 * 1000:.0f}ms (objective p99 <= 500ms)"
        )


def notification_buckets(port: int) -> dict[float, float]:
    """Cumulative bucket counts (upper bound -> count) of the worker's notification latency."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "parcelstream_end_to_end_latency_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket") and sample.labels.get("to") == "notification":
                buckets[float(sample.labels["le"])] = sample.value
    return buckets


def quantile(q: float, buckets: dict[float, float]) -> float:
    """`histogram_quantile` over cumulative buckets: linear within the bucket holding rank
    q * total (from 0 for the first); the last finite bound when it falls in +Inf."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return math.nan
    rank, lower, below = q * total, 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


def run_latency(
    base: Settings, scans_per_s: float, seconds: float = 30.0, seed: int = 17
) -> Latency:
    run_id, settings = fresh_run(base, "latency", commit_interval=0.5)
    ensure_topics(settings)
    parcels = max(50, math.ceil(scans_per_s * seconds / SCANS_PER_PARCEL))
    simulation = simulate(parcels, seed)
    manifest = simulation.manifest
    scans = manifest.unique_events + manifest.duplicate_deliveries
    messages_per_s = max(scans_per_s, 1.0) * manifest.payloads / max(scans, 1)

    worker = WorkerProcess(settings, settings.state_dir / "runs" / run_id / "worker.log")
    worker.start()
    try:
        publisher = Publisher(settings, AvroCodec())
        for shipment in simulation.shipments:
            publisher.publish_shipment(shipment)
        publisher.flush()
        wait_drained(settings, timeout=600, poll=0.2, alive=worker.alive)
        before = notification_buckets(settings.web_port)

        started = time.perf_counter()
        for index, (carrier, payload_format, body) in enumerate(simulation.payloads):
            delay = started + index / messages_per_s - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            publisher.publish_raw(raw_envelope(carrier, payload_format, body, source="bench"))
        publisher.flush()
        sent_for = time.perf_counter() - started
        wait_drained(settings, timeout=600, poll=0.2, alive=worker.alive)
        after = notification_buckets(settings.web_port)
    finally:
        worker.stop()
    delta = {bound: count - before.get(bound, 0.0) for bound, count in after.items()}
    return Latency(
        scans / sent_for,
        sent_for,
        int(delta.get(math.inf, 0)),
        quantile(0.5, delta),
        quantile(0.95, delta),
        quantile(0.99, delta),
    )
