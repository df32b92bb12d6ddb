"""The batch steps of the pipeline, independent of Faust so they can be tested and benchmarked
directly:

    parse_step:  RawCarrierEvent messages -> TrackingEventBatch per events-topic partition
    track_step:  TrackingEventBatch + ShipmentRegistered messages of one or more partitions
                 -> parcel state (changelog), deduplicated events, ETA, exceptions,
                 notifications, order summaries, ClickHouse
    tick:        the same exception rules on a timer, for parcels whose deadlines passed
    order_step:  OrderParcelUpdate messages -> order state (changelog), ClickHouse

Each step produces its outputs, flushes them (Kafka and ClickHouse) and only then returns, so
the caller may acknowledge the input offsets. Bad input is dead-lettered, never raised.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from agents.eta import EtaModel
from agents.events import TrackingEvent, from_columns, to_columns
from agents.exceptions import GapModel
from agents.normalize import Normalizer
from agents.orders import OrderState
from agents.parse import normalize_payload
from agents.state import ParcelState
from agents.track import BatchOutput, PartitionState, process_batch, process_timers
from connectors import ConnectorError
from pipeline.codec import AvroCodec, CodecError
from pipeline.kafka_io import BatchProducer
from pipeline.notification_rules import load_rules
from pipeline.settings import Settings
from pipeline.sinks.clickhouse import (
    ClickHouseSink,
    dead_letter_row,
    event_row,
    exception_row,
    notification_row,
    order_row,
    state_row,
)
from pipeline.sinks.engines import Engine
from pipeline.store import ChangelogStore
from pipeline.topics import (
    DEAD_LETTERS,
    EVENTS,
    EXCEPTIONS,
    MODELS,
    NOTIFICATIONS,
    ORDER_STATE,
    ORDER_UPDATES,
    PARCEL_STATE,
    partition_for,
)

log = logging.getLogger(__name__)

# Keeps one events-topic message well under Kafka's 1 MB default message size.
MAX_EVENTS_PER_BUNDLE = 2000
MODEL_SNAPSHOT_WARN_BYTES = 8_000_000


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


NOTIFICATION_HEADERS = (
    "notification_id",
    "kind",
    "tracking_number",
    "order_id",
    "customer_ref",
    "message",
)


def notification_headers(notification: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Routing fields as plain UTF-8 headers, for consumers that cannot read Avro (kcat)."""
    return [
        (name, str(notification[name]).encode())
        for name in NOTIFICATION_HEADERS
        if notification[name] is not None
    ]


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
            log.info(
                "%s: %d batches, %d msgs, %d events (%.0f/s), busy %.0f%%",
                self.step,
                self.batches,
                self.messages,
                self.events,
                self.events / wall,
                100 * self.busy / wall,
            )
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
        self.order_sink = ClickHouseSink(engine)
        self.policy = settings.exception_policy
        self.rules = load_rules(settings.notification_rules_file)
        self.events_topic = settings.topic(EVENTS.suffix)
        self.notifications_topic = settings.topic(NOTIFICATIONS.suffix)
        self.dead_letter_topic = settings.topic(DEAD_LETTERS.suffix)
        self.parse_log = StepLog("parse")
        self.track_log = StepLog("track")
        self.exceptions_topic = settings.topic(EXCEPTIONS.suffix)
        self.order_updates_topic = settings.topic(ORDER_UPDATES.suffix)
        bootstrap = settings.kafka_bootstrap
        self.parcel_store: ChangelogStore[ParcelState] = ChangelogStore(
            bootstrap,
            settings.topic(PARCEL_STATE.suffix),
            self.codec,
            "ParcelState",
            ParcelState.to_record,
            ParcelState.from_record,
            lambda s: s.tracking_number,
        )
        self.order_store: ChangelogStore[OrderState] = ChangelogStore(
            bootstrap,
            settings.topic(ORDER_STATE.suffix),
            self.codec,
            "OrderState",
            OrderState.to_record,
            OrderState.from_record,
            lambda o: o.order_id,
        )
        self.model_store: ChangelogStore[dict[str, Any]] = ChangelogStore(
            bootstrap,
            settings.topic(MODELS.suffix),
            self.codec,
            "ModelSnapshot",
            dict,
            dict,
            lambda m: m["name"],
        )
        self._partitions: dict[int, PartitionState] = {}
        self._orders: dict[int, dict[str, OrderState]] = {}
        self._snapshot_at: dict[int, int] = {}

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
        key = raw["event_id"] if raw else f"{message.topic}:{message.partition}:{message.offset}"
        self.producer.produce(
            self.dead_letter_topic, self.codec.encode("DeadLetter", record), key=key.encode()
        )
        sink.add("dead_letters", [dead_letter_row(record)])
        log.warning(
            "dead-lettered %s[%d]@%d (%s): %s",
            message.topic,
            message.partition,
            message.offset,
            stage,
            error,
        )

    def _decode(
        self,
        sink: ClickHouseSink,
        message: InputMessage,
        stats: StepStats,
        expected: tuple[str, ...],
    ) -> tuple[str, dict[str, Any]] | None:
        """The message's (schema name, record), or None after dead-lettering what is not one
        of the `expected` message types."""
        try:
            name, record = self.codec.decode(message.value)
            if name not in expected:
                raise CodecError(f"unexpected {name} on {message.topic}")
        except CodecError as exc:
            self._dead_letter(sink, message, "decode", str(exc), message.value)
            stats.dead_letters += 1
            return None
        return name, record

    # -- step 1: parse + normalize --------------------------------------------------------

    def parse_step(self, messages: list[InputMessage]) -> StepStats:
        started = time.perf_counter()
        stats = StepStats(messages=len(messages))
        partitions = self.settings.partitions
        bundles: dict[int, list[TrackingEvent]] = {}
        partition_of: dict[str, int] = {}  # murmur2 in Python costs; parcels repeat in a batch
        for message in messages:
            decoded = self._decode(self.parse_sink, message, stats, ("RawCarrierEvent",))
            if decoded is None:
                continue
            raw = decoded[1]
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
        self._flush(self.parse_sink)
        stats.seconds = time.perf_counter() - started
        self.parse_log.add(stats)
        return stats

    # -- step 2: dedup + state + ETA + exceptions + notifications ---------------------------

    def partition(self, partition: int) -> PartitionState:
        part = self._partitions.get(partition)
        if part is None:
            part = self._partitions[partition] = self._load_partition(partition)
        return part

    def drop_partitions(self, partitions: Iterable[int]) -> None:
        """A revoked partition may change elsewhere: reload it if it comes back."""
        for partition in partitions:
            self._partitions.pop(partition, None)
            self._orders.pop(partition, None)

    def loaded_partitions(self) -> list[int]:
        return sorted(self._partitions)

    def _load_partition(self, partition: int) -> PartitionState:
        parcels = self.parcel_store.read_partition(partition)
        models = self.model_store.read_partition(partition)
        part = PartitionState(parcels)
        if "eta" in models:
            part.eta = EtaModel.from_dict(json.loads(zlib.decompress(models["eta"]["model"])))
        if "gaps" in models:
            part.gaps = GapModel.from_dict(json.loads(zlib.decompress(models["gaps"]["model"])))
        now = now_ms()
        for state in parcels.values():
            part.schedule(state, now, self.policy)
        return part

    def track_step(self, messages: list[InputMessage]) -> StepStats:
        started = time.perf_counter()
        stats = StepStats(messages=len(messages))
        events: dict[int, list[TrackingEvent]] = {}
        shipments: dict[int, list[dict[str, Any]]] = {}
        for message in messages:
            decoded = self._decode(
                self.track_sink, message, stats, ("TrackingEventBatch", "ShipmentRegistered")
            )
            if decoded is None:
                continue
            name, record = decoded
            if name == "TrackingEventBatch":
                events.setdefault(message.partition, []).extend(from_columns(record))
            else:
                shipments.setdefault(message.partition, []).append(record)
        now = now_ms()
        for partition in sorted(set(events) | set(shipments)):
            batch_events = events.get(partition, [])
            part = self.partition(partition)
            out = process_batch(
                part, batch_events, shipments.get(partition, []), now, self.policy, self.rules
            )
            stats.events += len(batch_events)
            stats.duplicates += out.duplicates
            stats.notifications += len(out.notifications)
            self.track_sink.add("tracking_events", map(event_row, out.new_events))
            self._emit(partition, part, out, now)
        self._flush(self.track_sink)
        stats.seconds = time.perf_counter() - started
        self.track_log.add(stats)
        return stats

    def tick(self) -> int:
        """Deadlines that passed with no scan (stuck, late, expired); returns parcels changed."""
        now = now_ms()
        changed = 0
        for partition, part in list(self._partitions.items()):
            out = process_timers(part, now, self.policy, self.rules)
            if out.changed:
                changed += len(out.changed)
                self._emit(partition, part, out, now)
        if changed:
            self._flush(self.track_sink)
        return changed

    def _emit(self, partition: int, part: PartitionState, out: BatchOutput, now: int) -> None:
        """Queue every output of a parcel-stage batch; `_flush` makes them durable."""
        encode = self.codec.encode
        sink = self.track_sink
        sink.add("parcel_state", map(state_row, out.changed))
        sink.add("notifications", map(notification_row, out.notifications))
        sink.add("exceptions", map(exception_row, out.exceptions))
        self.parcel_store.write(partition, out.changed, self.producer)
        for notification in out.notifications:
            self.producer.produce(
                self.notifications_topic,
                encode("Notification", notification),
                key=notification["tracking_number"].encode(),
                headers=notification_headers(notification),
            )
        for exception in out.exceptions:
            self.producer.produce(
                self.exceptions_topic,
                encode("ParcelException", exception),
                key=exception["tracking_number"].encode(),
            )
        for update in out.order_updates:
            self.producer.produce(
                self.order_updates_topic,
                encode("OrderParcelUpdate", update),
                key=update["order_id"].encode(),
            )
        if part.models_changed and now - self._snapshot_at.get(partition, 0) >= (
            self.settings.model_snapshot_seconds * 1000
        ):
            self._snapshot_models(partition, part, now)

    def _snapshot_models(self, partition: int, part: PartitionState, now: int) -> None:
        snapshots = []
        for name, model in (("eta", part.eta), ("gaps", part.gaps)):
            blob = zlib.compress(json.dumps(model.to_dict()).encode(), 6)
            if len(blob) > MODEL_SNAPSHOT_WARN_BYTES:
                log.warning("%s model of partition %d is %.1f MB compressed; the models topic "
                            "takes 16 MB", name, partition, len(blob) / 1e6)  # fmt: skip
            snapshots.append({"name": name, "partition": partition, "updated_at": now,
                              "model": blob})  # fmt: skip
        self.model_store.write(partition, snapshots, self.producer)
        part.models_changed = False
        self._snapshot_at[partition] = now

    def _flush(self, sink: ClickHouseSink) -> None:
        # Kafka first: if ClickHouse then fails, the replay finds the changelog already
        # updated, and the ClickHouse rows are keyed so a re-insert changes nothing.
        self.producer.flush()
        sink.flush()

    # -- step 3: orders --------------------------------------------------------------------

    def orders(self, partition: int) -> dict[str, OrderState]:
        orders = self._orders.get(partition)
        if orders is None:
            orders = self._orders[partition] = self.order_store.read_partition(partition)
        return orders

    def order_step(self, messages: list[InputMessage]) -> StepStats:
        started = time.perf_counter()
        stats = StepStats(messages=len(messages))
        now = now_ms()
        changed: dict[int, dict[str, OrderState]] = {}
        for message in messages:
            decoded = self._decode(self.order_sink, message, stats, ("OrderParcelUpdate",))
            if decoded is None:
                continue
            update = decoded[1]
            orders = self.orders(message.partition)
            order = orders.get(update["order_id"])
            if order is None:
                order = orders[update["order_id"]] = OrderState(update["order_id"])
            if order.apply(update, now):
                changed.setdefault(message.partition, {})[order.order_id] = order
            stats.events += 1
        for partition, orders_changed in changed.items():
            items = list(orders_changed.values())
            self.order_store.write(partition, items, self.producer)
            self.order_sink.add("order_state", map(order_row, items))
        self._flush(self.order_sink)
        stats.seconds = time.perf_counter() - started
        return stats

    def close(self) -> None:
        self.producer.flush()
        self.engine.close()
