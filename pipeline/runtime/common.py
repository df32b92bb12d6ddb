"""What every step of the runtime process shares: its input messages, its stats and log, the
resources built once per process, and decode-or-dead-letter."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from pipeline import topics
from pipeline.codec import AvroCodec, CodecError
from pipeline.kafka_io import BatchProducer
from pipeline.notification_rules import load_rules
from pipeline.records import DeadLetter
from pipeline.settings import Settings
from pipeline.sinks import tables
from pipeline.sinks.clickhouse import ClickHouseSink
from pipeline.sinks.engines import Engine
from pipeline.sinks.kafka import TopicSink
from tracking.exceptions import ExceptionPolicy
from tracking.notify import NotificationRules

log = logging.getLogger(__name__)


class InputMessage(NamedTuple):
    topic: str
    partition: int
    offset: int
    value: bytes


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class StepStats:
    step: str
    messages: int = 0
    events: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    notifications: int = 0
    seconds: float = 0.0


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


class Resources:
    """Built once per runtime process and shared by its steps: one codec, one producer, one
    ClickHouse engine. Steps run one at a time, so sharing them needs no locks."""

    def __init__(self, settings: Settings, engine: Engine, codec: AvroCodec | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.codec = codec or AvroCodec(settings.schema_registry_url)
        self.producer = BatchProducer(settings.kafka_bootstrap)
        self.policy: ExceptionPolicy = settings.exception_policy
        self.rules: NotificationRules = load_rules(settings.notification_rules_file)

    def close(self) -> None:
        self.producer.flush()
        self.engine.close()


class Step:
    """A batch step: its own outputs (Kafka and ClickHouse), flushed together before the
    caller may acknowledge the input; Kafka first (see `flush`)."""

    name = "step"

    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.settings = resources.settings
        self.outputs = TopicSink(resources.producer, resources.codec, resources.settings)
        self.rows = ClickHouseSink(resources.engine)
        self.log = StepLog(self.name)

    def stats(self, messages: list[InputMessage]) -> StepStats:
        return StepStats(self.name, messages=len(messages))

    def flush(self, stats: StepStats, started: float) -> StepStats:
        # Kafka first: if ClickHouse then fails, the replay finds the changelog already
        # updated, and the ClickHouse rows are keyed so a re-insert changes nothing.
        self.outputs.flush()
        self.rows.flush()
        stats.seconds = time.perf_counter() - started
        self.log.add(stats)
        return stats

    def dead_letter(
        self,
        message: InputMessage,
        stage: str,
        error: str,
        payload: bytes,
        stats: StepStats,
        raw: dict[str, Any] | None = None,
    ) -> None:
        raw = raw or {}
        record = DeadLetter(
            error,
            stage,
            message.topic,
            message.partition,
            message.offset,
            raw.get("event_id"),
            raw.get("carrier"),
            raw.get("payload_format"),
            payload,
            now_ms(),
        )
        key = raw.get("event_id") or f"{message.topic}:{message.partition}:{message.offset}"
        self.outputs.add(topics.DEAD_LETTERS, record, key=key)
        self.rows.add(tables.DEAD_LETTERS, [record])
        stats.dead_letters += 1
        log.warning(
            "dead-lettered %s[%d]@%d (%s): %s",
            message.topic,
            message.partition,
            message.offset,
            stage,
            error,
        )

    def decode(
        self, message: InputMessage, stats: StepStats, expected: tuple[str, ...]
    ) -> tuple[str, dict[str, Any]] | None:
        """The message's (schema name, record), or None after dead-lettering what is not one
        of the `expected` message types."""
        try:
            name, record = self.resources.codec.decode(message.value)
            if name not in expected:
                raise CodecError(f"unexpected {name} on {message.topic}")
        except CodecError as exc:
            self.dead_letter(message, "decode", str(exc), message.value, stats)
            return None
        return name, record
