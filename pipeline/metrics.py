"""Prometheus metrics: what an operator of the pipeline pages on and looks at.

Where each is recorded, and why there:

- The runtime children (parse, parcel and order stages) count per batch into the `StepStats`
  each step returns to the Faust process anyway (pipeline/runtime/common.py); the Faust
  process records them here and serves them on its web port at /metrics. One pickled result
  per batch costs nothing per scan, where prometheus_client's multiprocess mode would need an
  environment variable set before any import, a shared directory of mmap files per pid to
  clean up, and cannot export the callback gauges below (lag, degraded-since).
- The sink stage is a process of its own (in the worker, or `parcelstream sink` apart) and
  serves its own /metrics on `sink_metrics_port` (`serve`): it has no result to hand back.
- Gauges that describe the moment (consumer lag, degraded-since, restore progress) are read at
  scrape time, not pushed.

Latencies are binned in bulk (`BulkHistogram`): a batch hands over its values in one call.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from pipeline.health import Health
    from pipeline.runtime.common import StepStats

log = logging.getLogger(__name__)


class BulkHistogram:
    """A labelled histogram fed a batch of values at a time: binned with bisect outside the
    lock, added under it once per batch (prometheus_client's Histogram locks per value)."""

    def __init__(self, name: str, documentation: str, label: str, buckets: Sequence[float]) -> None:
        self.name, self.documentation, self.label = name, documentation, label
        self._bounds = tuple(sorted(buckets))
        self._series: dict[str, tuple[list[int], list[float]]] = {}
        self._lock = threading.Lock()
        REGISTRY.register(self)

    def observe_many(self, label_value: str, values: Iterable[float]) -> None:
        bounds = self._bounds
        counts = [0] * (len(bounds) + 1)
        total = 0.0
        for value in values:
            counts[bisect.bisect_left(bounds, value)] += 1  # le: value <= bound
            total += value
        with self._lock:
            mine, sums = self._series.setdefault(label_value, ([0] * len(counts), [0.0]))
            for index, count in enumerate(counts):
                mine[index] += count
            sums[0] += total

    def describe(self) -> list[Metric]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=[self.label])]

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label])
        with self._lock:
            series = {k: (list(c), s[0]) for k, (c, s) in self._series.items()}
        for label_value, (counts, total) in sorted(series.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*self._bounds, float("inf")), counts, strict=True):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            family.add_metric([label_value], buckets, total)
        yield family


# -- the steps (Faust process, from each batch's StepStats) ---------------------------------

MESSAGES = Counter("parcelstream_messages_total", "Input messages processed", ["step"])
EVENTS = Counter("parcelstream_events_total", "Scan events processed", ["step"])
DUPLICATES = Counter("parcelstream_duplicate_events_total", "Scan events dropped as duplicates")
NOTIFICATIONS = Counter("parcelstream_notifications_total", "Notifications produced")
DEAD_LETTERS = Counter(
    "parcelstream_dead_letters_total",
    "Messages (or items of one) dead-lettered, by stage, reason (an error class) and carrier "
    "(empty when the message did not say)",
    ["stage", "reason", "carrier"],
)
SCANS = Counter("parcelstream_scans_total", "Scans parsed, by carrier", ["carrier"])
UNKNOWN_CODES = Counter(
    "parcelstream_unknown_codes_total",
    "Scans whose carrier code is in no mapping (status unknown), by carrier",
    ["carrier"],
)
EXCEPTIONS_OPENED = Counter(
    "parcelstream_exceptions_opened_total", "Parcel exceptions opened, by kind", ["kind"]
)
BATCH_SECONDS = Histogram(
    "parcelstream_batch_seconds",
    "Time to process and flush one input batch",
    ["step"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# The objective is p99 <= 500 ms raw -> notification: buckets are fine around it (the bench
# reads its quantiles from them), coarse past a few seconds (a sink batch, an outage).
LATENCY_BUCKETS = (
    0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 1, 1.25, 1.5, 2, 3, 5,
    10, 30, 60, 300, 1800,
)  # fmt: skip
LATENCY = BulkHistogram(
    "parcelstream_end_to_end_latency_seconds",
    "From a raw envelope's received_at to its notification acknowledged by the broker "
    "(to=notification) or its scan's row committed in ClickHouse (to=clickhouse)",
    "to",
    LATENCY_BUCKETS,
)


def observe_step(stats: StepStats) -> None:
    step = stats.step
    MESSAGES.labels(step).inc(stats.messages)
    EVENTS.labels(step).inc(stats.events)
    BATCH_SECONDS.labels(step).observe(stats.seconds)
    for (stage, reason, carrier), count in stats.dead_letter_reasons.items():
        DEAD_LETTERS.labels(stage, reason, carrier).inc(count)
    for carrier, count in stats.scans_by_carrier.items():
        SCANS.labels(carrier).inc(count)
        UNKNOWN_CODES.labels(carrier)  # a carrier's series exists at 0: ratios see its scans
    for carrier, count in stats.unknown_codes.items():
        UNKNOWN_CODES.labels(carrier).inc(count)
    for kind, count in stats.exceptions_opened.items():
        EXCEPTIONS_OPENED.labels(kind).inc(count)
    if stats.notification_latencies:
        LATENCY.observe_many("notification", stats.notification_latencies)
    if step in ("track", "tick"):
        DUPLICATES.inc(stats.duplicates)
        NOTIFICATIONS.inc(stats.notifications)


# -- the sink stage (its own process and endpoint) -----------------------------------------

CLICKHOUSE_INSERT_SECONDS = Histogram(
    "parcelstream_clickhouse_insert_seconds",
    "One ClickHouse insert, retries included, by table",
    ["table"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
)
CLICKHOUSE_RETRIES = Counter(
    "parcelstream_clickhouse_retries_total",
    "ClickHouse inserts retried because the server was unavailable, by table",
    ["table"],
)
CLICKHOUSE_ROWS = Counter(
    "parcelstream_clickhouse_rows_total", "Rows inserted into ClickHouse, by table", ["table"]
)


def serve(port: int, host: str) -> bool:
    """/metrics of this process on its own port (the sink); False if the port is taken (the
    stage goes on: metrics are not worth stopping a sink for)."""
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.error("metrics: cannot serve on %s:%d (%s); this process exports none", host, port, exc)
        return False
    log.info("metrics on http://%s:%d/metrics", host, port)
    return True


# -- state (keyed children, read by the Faust process every timer tick) ---------------------

STATE_KEYS = Gauge(
    "parcelstream_state_store_keys", "Keys in a partition's state store (estimate)", ["partition"]
)
STATE_BYTES = Gauge(
    "parcelstream_state_store_bytes", "Live data in a partition's state store (estimate)",
    ["partition"],
)  # fmt: skip
STATE_HOT = Gauge(
    "parcelstream_state_hot_parcels", "Decoded parcels in a partition's hot set", ["partition"]
)
RECOVERED = Gauge(
    "parcelstream_state_recovered_messages",
    "Changelog messages the partition's last recovery replayed",
    ["partition"],
)
RECOVERY_SECONDS = Gauge(
    "parcelstream_state_recovery_seconds", "How long the partition's last recovery took",
    ["partition"],
)  # fmt: skip
RESTORE_REMAINING = Gauge(
    "parcelstream_state_restore_remaining_messages",
    "Changelog messages still to restore (recovery progress; 0 = none running)",
)


def observe_state(sizes: dict[int, dict[str, float]]) -> None:
    """Set the state gauges from the keyed children's `state_sizes()`; partitions no longer
    loaded (revoked) disappear."""
    gauges = {"keys": STATE_KEYS, "bytes": STATE_BYTES, "hot": STATE_HOT,
              "recovered_messages": RECOVERED, "recovery_seconds": RECOVERY_SECONDS}  # fmt: skip
    for gauge in gauges.values():
        gauge.clear()
    for partition, values in sizes.items():
        for name, gauge in gauges.items():
            gauge.labels(str(partition)).set(values[name])


# -- the moment: dependencies and lag, read at scrape time ---------------------------------

WAITING = Gauge(
    "parcelstream_waiting_since_seconds",
    "Since when (epoch seconds) the worker waits for a dependency; 0 = not waiting",
    ["dependency"],
)


def watch_health(health: Health) -> None:
    """The waiting gauges (and restore progress) read the shared health flags at every
    scrape."""
    from pipeline.health import DEPENDENCIES

    for dependency in DEPENDENCIES:
        WAITING.labels(dependency).set_function(
            lambda d=dependency: health.waiting().get(d, 0.0)  # type: ignore[misc]
        )
    RESTORE_REMAINING.set_function(health.restore_remaining)


LagSource = Callable[[], Iterable[tuple[str, str, int, int]]]


class ConsumerLag:
    """parcelstream_consumer_lag{group, topic, partition}: a partition's end offset minus
    the group's committed offset, for the partitions this process is assigned. Sources are
    read at each scrape; one failing is logged and skipped."""

    def __init__(self) -> None:
        self.sources: list[LagSource] = []
        REGISTRY.register(self)

    def describe(self) -> list[Metric]:
        return [self._family()]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "parcelstream_consumer_lag",
            "Messages between a partition's end and the consumer group's committed offset",
            labels=["group", "topic", "partition"],
        )

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for source in self.sources:
            try:
                for group, topic, partition, lag in source():
                    family.add_metric([group, topic, str(partition)], max(0, lag))
            except Exception:  # noqa: BLE001 - a scrape must not fail on a rebalance
                log.debug("consumer lag source failed", exc_info=True)
        yield family


LAG = ConsumerLag()


def watch_lag(source: LagSource) -> None:
    LAG.sources.append(source)


def faust_lag(app: object) -> LagSource:
    """Lag of a Faust app's assigned partitions: the consumer's last known high watermark
    (from its fetches; no broker round trip at scrape time) minus the offset committed last.
    A partition never committed counts from offset 0."""

    def read() -> Iterator[tuple[str, str, int, int]]:
        consumer = app._consumer  # type: ignore[attr-defined]  # `.consumer` would create one
        if consumer is None:
            return
        committed = app.monitor.tp_committed_offsets  # type: ignore[attr-defined]
        group = app.conf.id  # type: ignore[attr-defined]
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is not None:
                yield group, tp.topic, tp.partition, end - (committed.get(tp) or 0)

    return read
