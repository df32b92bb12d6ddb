"""The two batch steps of the hot path, independent of Faust so they can be tested and
benchmarked directly:

    parse_step:  RawCarrierEvent messages -> TrackingEventBatch per events-topic partition
    track_step:  TrackingEventBatch + ShipmentRegistered messages of one or more partitions
                 -> parcel state (changelog), deduplicated events, notifications, ClickHouse

Each step produces its outputs, flushes them (Kafka and ClickHouse) and only then returns, so
the caller may acknowledge the input offsets. Bad input is dead-lettered, never raised.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from agents.events import TrackingEvent, from_columns, to_columns
from agents.normalize import Normalizer
from agents.parse import normalize_payload
from agents.track import process_batch
from connectors import ConnectorError
from pipeline import metrics
from pipeline.codec import AvroCodec, CodecError
from pipeline.kafka_io import BatchProducer
from pipeline.settings import Settings
from pipeline.sinks.clickhouse import (
    ClickHouseSink,
    dead_letter_row,
    event_row,
    notification_row,
    state_row,
)
from pipeline.sinks.engines import Engine
from pipeline.store import ParcelStore
from pipeline.topics import DEAD_LETTERS, EVENTS, NOTIFICATIONS, PARCEL_STATE, partition_for

log = logging.getLogger(__name__)

# Keeps one events-topic message well under Kafka's 1 MB default message size.
MAX_EVENTS_PER_BUNDLE = 2000


class InputMessage(NamedTuple):
    topic: str
    partition: int
    offset: int
    value: bytes


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class StepStats:
    messages: int = 0
    events: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    notifications: int = 0
    seconds: float = 0.0
    extra: dict[str, int] = field(default_factory=dict)


class StepLog:
    """Logs, every `every` seconds, how busy a step was: batches, messages, events and the
    share of wall time spent inside the step (the rest is Faust fetching or idle)."""

    def __init__(self, step: str, every: float = 10.0) -> None:
        self.step = step
        self.every = every
        self._reset(time.monotonic())

    def _reset(self, now: float) -> None:
        self.since = now
        self.batches = self.messages = self.events = 0
        self.busy = 0.0

    def add(self, stats: StepStats) -> None:
        self.batches += 1
        self.messages += stats.messages
        self.events += stats.events
        self.busy += stats.seconds
        now = time.monotonic()
        if now - self.since >= self.every:
            wall = now - self.since
            log.info("%s: %d batches, %d msgs, %d events (%.0f/s), busy %.0f%%",
                     self.step, self.batches, self.messages, self.events, self.events / wall,
                     100 * self.busy / wall)  # fmt: skip
            self._reset(now)


class Pipeline:
    def __init__(self, settings: Settings, engine: Engine, codec: AvroCodec | None = None) -> None:
        self.settings = settings
        self.codec = codec or AvroCodec(settings.schema_registry_url)
        self.normalizer = Normalizer()
        self.producer = BatchProducer(settings.kafka_bootstrap)
        self.engine = engine
        # One sink per step: each step flushes only its own rows before its own commit.
        self.parse_sink = ClickHouseSink(engine)
        self.track_sink = ClickHouseSink(engine)
        self.events_topic = settings.topic(EVENTS.suffix)
        self.notifications_topic = settings.topic(NOTIFICATIONS.suffix)
        self.dead_letter_topic = settings.topic(DEAD_LETTERS.suffix)
        self.parse_log = StepLog("parse")
        self.track_log = StepLog("track")
        self.store = ParcelStore(
            settings.kafka_bootstrap, settings.topic(PARCEL_STATE.suffix), self.codec
        )

    # -- dead letters ---------------------------------------------------------------------

    def _dead_letter(
        self,
        sink: ClickHouseSink,
        message: InputMessage,
        stage: str,
        error: str,
        payload: bytes,
        raw: dict[str, Any] | None = None,
    ) -> None:
        record = {
            "error": error,
            "stage": stage,
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "raw_event_id": raw and raw["event_id"],
            "carrier": raw and raw["carrier"],
            "payload_format": raw and raw["payload_format"],
            "payload": payload,
            "failed_at": now_ms(),
        }
        key = (raw["event_id"] if raw else f"{message.topic}:{message.partition}:{message.offset}")
        self.producer.produce(
            self.dead_letter_topic, self.codec.encode("DeadLetter", record), key=key.encode()
        )
        sink.add("dead_letters", [dead_letter_row(record)])
        metrics.DEAD_LETTERS.labels(stage).inc()
        log.warning("dead-lettered %s[%d]@%d (%s): %s",
                    message.topic, message.partition, message.offset, stage, error)  # fmt: skip

    # -- step 1: parse + normalize --------------------------------------------------------

    def parse_step(self, messages: list[InputMessage]) -> StepStats:
        started = time.perf_counter()
        stats = StepStats(messages=len(messages))
        partitions = self.settings.partitions
        bundles: dict[int, list[TrackingEvent]] = {}
        partition_of: dict[str, int] = {}  # murmur2 in Python costs; parcels repeat in a batch
        for message in messages:
            try:
                raw = self.codec.decode_as("RawCarrierEvent", message.value)
            except CodecError as exc:
                self._dead_letter(self.parse_sink, message, "decode", str(exc), message.value)
                stats.dead_letters += 1
                continue
            try:
                events = normalize_payload(raw, self.normalizer)
            except ConnectorError as exc:
                self._dead_letter(self.parse_sink, message, "parse", str(exc), raw["payload"], raw)
                stats.dead_letters += 1
                continue
            for event in events:
                partition = partition_of.get(event.tracking_number)
                if partition is None:
                    partition = partition_of[event.tracking_number] = partition_for(
                        event.tracking_number, partitions
                    )
                bundles.setdefault(partition, []).append(event)
            stats.events += len(events)
        encode = self.codec.encode
        for partition, records in bundles.items():
            for start in range(0, len(records), MAX_EVENTS_PER_BUNDLE):
                chunk = records[start : start + MAX_EVENTS_PER_BUNDLE]
                self.producer.produce(
                    self.events_topic,
                    encode("TrackingEventBatch", to_columns(chunk)),
                    partition=partition,
                )
        self.producer.flush()
        self.parse_sink.flush()
        stats.seconds = time.perf_counter() - started
        metrics.observe_step("parse", stats)
        self.parse_log.add(stats)
        return stats

    # -- step 2: dedup + state + notifications --------------------------------------------

    def track_step(self, messages: list[InputMessage]) -> StepStats:
        started = time.perf_counter()
        stats = StepStats(messages=len(messages))
        events: dict[int, list[TrackingEvent]] = {}
        shipments: dict[int, list[dict[str, Any]]] = {}
        for message in messages:
            try:
                name, record = self.codec.decode(message.value)
            except CodecError as exc:
                self._dead_letter(self.track_sink, message, "decode", str(exc), message.value)
                stats.dead_letters += 1
                continue
            if name == "TrackingEventBatch":
                events.setdefault(message.partition, []).extend(from_columns(record))
            elif name == "ShipmentRegistered":
                shipments.setdefault(message.partition, []).append(record)
            else:
                self._dead_letter(self.track_sink, message, "decode",
                                  f"unexpected {name} on {message.topic}", message.value)  # fmt: skip
                stats.dead_letters += 1
        now = now_ms()
        encode = self.codec.encode
        for partition in sorted(set(events) | set(shipments)):
            batch_events = events.get(partition, [])
            out = process_batch(
                self.store.parcels(partition), batch_events, shipments.get(partition, []), now
            )
            stats.events += len(batch_events)
            stats.duplicates += out.duplicates
            stats.notifications += len(out.notifications)
            self.track_sink.add("tracking_events", map(event_row, out.new_events))
            self.track_sink.add("parcel_state", map(state_row, out.changed))
            self.track_sink.add("notifications", map(notification_row, out.notifications))
            self.store.write_changelog(partition, out.changed, self.producer)
            for notification in out.notifications:
                self.producer.produce(
                    self.notifications_topic,
                    encode("Notification", notification),
                    key=notification["tracking_number"].encode(),
                )
        # Kafka first: if ClickHouse then fails, the replay finds the changelog already
        # updated, and the ClickHouse rows are keyed so a re-insert changes nothing.
        self.producer.flush()
        self.track_sink.flush()
        stats.seconds = time.perf_counter() - started
        metrics.observe_step("track", stats)
        self.track_log.add(stats)
        return stats

    def close(self) -> None:
        self.producer.flush()
        self.engine.close()
