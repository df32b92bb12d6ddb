"""The ClickHouse sink stage: ClickHouse fed by a consumer of the stages' output topics.

The way Kafka Connect sinks, ClickPipes and ClickHouse's Kafka engine do it: the runtime steps
write Kafka only (scans after dedup, parcel and order state changelogs, notifications,
exceptions, dead letters, the ingestion side's included), and this stage consumes those topics
as its own consumer group (`<app_id>-sink`), inserts in large batches (`sink_batch_rows` rows
or `sink_batch_seconds`, whichever comes first), and commits its offsets only after the insert.

So a ClickHouse outage builds lag here alone while parsing, tracking and notifications go on,
and a crash anywhere replays into ClickHouse what it had not confirmed: every table is keyed by
a deterministic id (ReplacingMergeTree), so a replayed insert changes nothing after FINAL. In
the embedded default (chDB) this is the one process that holds the chDB directory.

Parcel state is read from its compacted changelog: a sink that lags past a compaction sees
only a parcel's newest version, which is what `parcel_state FINAL` shows anyway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from pipeline import metrics, topics
from pipeline.codec import AvroCodec, CodecError
from pipeline.health import Health, Stopping
from pipeline.records import DeadLetter, Table, from_avro
from pipeline.settings import Settings
from pipeline.sinks import tables
from pipeline.sinks.clickhouse import ClickHouseSink
from pipeline.sinks.engines import Engine
from tracking import state_codec
from tracking.events import from_columns
from tracking.records import Notification, ParcelException

log = logging.getLogger(__name__)


def _records(cls: type) -> Callable[[dict[str, Any]], list[Any]]:
    return lambda record: [from_avro(cls, record)]


# topic -> (value schema, table, the items of one decoded message)
SOURCES: dict[topics.TopicSpec, tuple[Table, Callable[[dict[str, Any]], list[Any]]]] = {
    topics.TRACKED_EVENTS: (tables.TRACKING_EVENTS, from_columns),
    topics.PARCEL_STATE: (tables.PARCEL_STATE, lambda record: [record]),
    topics.ORDER_STATE: (tables.ORDER_STATE, lambda record: [record]),
    topics.NOTIFICATIONS: (tables.NOTIFICATIONS, _records(Notification)),
    topics.EXCEPTIONS: (tables.EXCEPTIONS, _records(ParcelException)),
    topics.DEAD_LETTERS: (tables.DEAD_LETTERS, _records(DeadLetter)),
}


def sink_group(settings: Settings) -> str:
    return f"{settings.app_id}-sink"


class SinkStage:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        health: Health | None = None,
        codec: AvroCodec | None = None,
    ) -> None:
        self.settings = settings
        self.health = health or Health()
        self.codec = codec or AvroCodec(settings.schema_registry_url)
        self.sink = ClickHouseSink(engine, self.health)
        self._by_topic = {spec.topic(settings): (spec, *SOURCES[spec]) for spec in SOURCES}
        self._offsets: dict[tuple[str, int], int] = {}
        self._first_pending = 0.0
        self._tracked = topics.TRACKED_EVENTS.topic(settings)
        self._received: list[list[int]] = []  # received_at columns of the pending scans
        self._committed: dict[tuple[str, int], int] = {}
        self._lag: list[tuple[str, str, int, int]] = []
        self._lag_at = 0.0
        self.consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "group.id": sink_group(settings),
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                # An insert may wait out a long ClickHouse outage without polling; past this
                # the group moves the partitions and the replay is harmless (keyed tables).
                "max.poll.interval.ms": 3_600_000,
                "session.timeout.ms": int(settings.session_timeout * 1000),
            }
        )
        self.consumer.subscribe(list(self._by_topic))

    def run(self) -> None:
        """Consume, insert, commit, until a stop is requested."""
        log.info("sink: consuming %s as %s", ", ".join(self._by_topic), sink_group(self.settings))
        try:
            while not self.health.stopping:
                self.step()
        except Stopping:
            log.info("sink: stopped while waiting; uncommitted rows will be replayed")
        finally:
            self.consumer.close()

    def step(self, timeout: float = 0.5) -> int:
        """One poll, and an insert + commit when the batch is full or old enough; returns the
        number of messages consumed."""
        messages = self.consumer.consume(5000, timeout=timeout)
        for message in messages:
            self._add(message)
        if self._offsets and (
            self.sink.pending >= self.settings.sink_batch_rows
            or time.monotonic() - self._first_pending >= self.settings.sink_batch_seconds
        ):
            self.flush()
        if time.monotonic() - self._lag_at >= 2.0:
            self._measure_lag()
        return len(messages)

    def _measure_lag(self) -> None:
        """End offsets (librdkafka's, cached from fetches) minus what this stage committed,
        for its assigned partitions; read by the metrics at a scrape (`lag`)."""
        self._lag_at = time.monotonic()
        group, lag = sink_group(self.settings), []
        for tp in self.consumer.assignment():
            _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0:
                done = self._committed.get((tp.topic, tp.partition), 0)
                lag.append((group, tp.topic, tp.partition, high - done))
        self._lag = lag

    def lag(self) -> list[tuple[str, str, int, int]]:
        return self._lag

    def _add(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if not error.retriable() and error.fatal():
                raise KafkaException(error)
            log.debug("sink: consumer event %s", error)
            return
        topic, partition, offset = (
            str(message.topic()),
            message.partition() or 0,
            message.offset() or 0,
        )
        if not self._offsets:
            self._first_pending = time.monotonic()
        self._offsets[(topic, partition)] = offset + 1
        value = message.value()
        if value is None or state_codec.is_marker(value):
            return  # the parcel left the store (tombstone, eviction marker); its rows stay
        spec, table, items = self._by_topic[topic]
        try:
            record = self.codec.decode_as(spec.value_schema, value)
            self.sink.add(table, items(record))
            if topic == self._tracked:
                self._received.append(record["received_at"])
        except (CodecError, KeyError, TypeError, ValueError) as exc:
            metrics.DEAD_LETTERS.labels("sink", type(exc).__name__, "").inc()
            log.error("sink: %s[%d]@%d unreadable, set aside: %s", topic, partition, offset, exc)
            letter = DeadLetter(str(exc), "sink", topic, partition, offset, None, None, None,
                                value, int(time.time() * 1000))  # fmt: skip
            self.sink.add(tables.DEAD_LETTERS, [letter])

    def flush(self) -> None:
        """Insert what is pending, then commit the offsets it came from."""
        self.sink.flush()
        if self._received:  # the scans' rows are committed in ClickHouse: end of their path
            now_ms = time.time() * 1000
            metrics.LATENCY.observe_many(
                "clickhouse", ((now_ms - at) / 1000 for column in self._received for at in column)
            )
            self._received = []
        if not self._offsets:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._offsets.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
            self._committed.update(self._offsets)
        except KafkaException as exc:
            # Lost the partitions (rebalance) or the broker: the rows are in ClickHouse, and
            # whoever consumes them next inserts them again, which the keyed tables absorb.
            log.warning("sink: commit failed, the rows will be inserted again: %s", exc)
        self._offsets.clear()


def run_sink(settings: Settings, health: Health | None = None) -> None:
    """Serve this process's /metrics, open ClickHouse (waiting for a server that is not up
    yet), migrate, and sink until a stop is requested: `parcelstream sink`, or the worker's
    sink child."""
    from pipeline.sinks.engines import ClickHouseUnavailable, open_engine_from
    from pipeline.sinks.migrations import migrate

    health = health or Health()
    metrics.watch_health(health)
    metrics.serve(settings.sink_metrics_port or settings.web_port + 1, settings.web_host)
    engine = open_engine_from(settings)
    try:
        applied = health.wait_out("clickhouse", lambda: migrate(engine), (ClickHouseUnavailable,),
                                  "migrate")  # fmt: skip
        log.info("clickhouse (%s) ready; migrations applied: %s", engine.name, applied or "none")
        stage = SinkStage(settings, engine, health)
        metrics.watch_lag(stage.lag)
        stage.run()
    except Stopping:
        log.info("sink: stopped before it started")
    finally:
        engine.close()


def sink_child(parent: int, health: Health) -> None:
    """The worker's sink process (spawned): ends with the worker or on its stop request."""
    from pipeline.health import exit_with_parent, name_process, tune_gc
    from pipeline.settings import get_settings

    settings = get_settings()
    logging.basicConfig(
        level=settings.worker_log_level.upper(),
        format="[%(asctime)s] [%(process)d] [%(levelname)s] sink: %(message)s",
    )
    exit_with_parent(parent)
    name_process("pstream-sink")
    tune_gc()
    run_sink(settings, health)
