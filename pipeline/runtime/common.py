"""What every step of the runtime process shares: its input messages, its stats and log, the
resources built once per process, poison isolation and decode-or-dead-letter."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple, TypeVar

from confluent_kafka import KafkaException

from pipeline import topics
from pipeline.codec import AvroCodec, CodecError
from pipeline.health import Health, Stopping
from pipeline.kafka_io import BatchProducer, KafkaUnavailable, KafkaWriteError
from pipeline.notification_rules import load_rules
from pipeline.records import DeadLetter
from pipeline.settings import Settings
from pipeline.sinks.kafka import TopicSink
from tracking.exceptions import ExceptionPolicy
from tracking.notify import NotificationRules

log = logging.getLogger(__name__)
K = TypeVar("K")


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
    # What the metrics break down, counted once per batch (pipeline/metrics.py records them
    # in the Faust process): dead letters by (stage, reason, carrier), scans and unknown codes
    # by carrier, exceptions opened by kind, and the raw `received_at` (epoch ms) behind each
    # notification.
    dead_letter_reasons: dict[tuple[str, str, str], int] = field(default_factory=dict)
    scans_by_carrier: dict[str, int] = field(default_factory=dict)
    unknown_codes: dict[str, int] = field(default_factory=dict)
    exceptions_opened: dict[str, int] = field(default_factory=dict)
    notified_received_ms: list[int] = field(default_factory=list)
    # seconds from received_at to the broker's ack of each notification, set after the flush
    notification_latencies: list[float] = field(default_factory=list)

    def add(self, other: StepStats) -> None:
        """Add what a successful attempt counted."""
        self.events += other.events
        self.duplicates += other.duplicates
        self.notifications += other.notifications
        self.dead_letters += other.dead_letters
        _add_counts(self.dead_letter_reasons, other.dead_letter_reasons)
        _add_counts(self.scans_by_carrier, other.scans_by_carrier)
        _add_counts(self.unknown_codes, other.unknown_codes)
        _add_counts(self.exceptions_opened, other.exceptions_opened)
        self.notified_received_ms.extend(other.notified_received_ms)

    def dead_lettered(self, stage: str, reason: str, carrier: str = "", count: int = 1) -> None:
        self.dead_letters += count
        key = (stage, reason, carrier)
        self.dead_letter_reasons[key] = self.dead_letter_reasons.get(key, 0) + count


def _add_counts(mine: dict[K, int], theirs: dict[K, int]) -> None:
    for key, count in theirs.items():
        mine[key] = mine.get(key, 0) + count


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
    """Built once per runtime process and shared by its steps: one codec, one producer, the
    shared health flags. Steps run one at a time, so sharing them needs no locks. The runtime
    writes Kafka only; ClickHouse is fed by the sink stage (`pipeline/sinks/stage.py`)."""

    def __init__(
        self, settings: Settings, health: Health | None = None, codec: AvroCodec | None = None
    ) -> None:
        self.settings = settings
        self.health = health or Health()
        self.codec = codec or AvroCodec(settings.schema_registry_url)
        self.producer = BatchProducer(settings.kafka_bootstrap)
        self.policy: ExceptionPolicy = settings.exception_policy
        self.rules: NotificationRules = load_rules(settings.notification_rules_file)

    def close(self) -> None:
        self.producer.flush()


class Step:
    """A batch step. `run` processes a batch, flushes its outputs and only then returns, so the
    caller may acknowledge the input.

    A stage survives its input: when processing a batch raises, the attempt's outputs are
    dropped (nothing was produced yet, see TopicSink), the state it touched is reloaded
    (`forget`), and the batch is bisected until the messages that fail are alone; each is
    dead-lettered with the exception and its original bytes, and the rest proceed. Exceptions
    that mean the machine is broken (Stopping, KafkaWriteError) are not input and propagate.
    """

    name = "step"

    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.settings = resources.settings
        self.outputs = TopicSink(
            resources.producer, resources.codec, resources.settings, resources.health
        )
        self.log = StepLog(self.name)

    # -- what a step implements --------------------------------------------------------------

    def process(self, messages: list[InputMessage], stats: StepStats) -> None:
        """Add the outputs of these messages to `self.outputs`; raise on what cannot be done."""
        raise NotImplementedError

    def prepare(self, messages: list[InputMessage]) -> None:
        """Load the state these messages need (outside the attempt, so that a broker that is
        away while state recovers is waited for, never mistaken for bad input)."""

    def forget(self, messages: list[InputMessage]) -> None:
        """Drop in-memory state these messages may have changed; it reloads from Kafka."""

    def split(self, message: InputMessage) -> list[InputMessage] | None:
        """A message that fails alone may hold many items (an events batch): its parts, each a
        message of its own, or None when it cannot be split."""
        return None

    # -- the mechanism -------------------------------------------------------------------------

    def run(self, messages: list[InputMessage]) -> StepStats:
        started = time.perf_counter()
        stats = StepStats(self.name, messages=len(messages))
        self._isolate(messages, stats)
        self.outputs.flush()
        if stats.notified_received_ms:  # produced = acknowledged by the broker, just now
            acked = time.time() * 1000
            stats.notification_latencies = [
                (acked - received) / 1000 for received in stats.notified_received_ms
            ]
            stats.notified_received_ms = []
        stats.seconds = time.perf_counter() - started
        self.log.add(stats)
        return stats

    def _isolate(self, messages: list[InputMessage], stats: StepStats) -> None:
        self.prepare(messages)
        mark = self.outputs.mark()
        attempt = StepStats(self.name)
        try:
            self.process(messages, attempt)
        except _NOT_INPUT:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure on input is narrowed, never fatal
            self.outputs.rollback(mark)
            # What earlier parts of the batch produced becomes durable before state reloads.
            self.outputs.flush()
            self.forget(messages)
            if len(messages) > 1:
                middle = len(messages) // 2
                self._isolate(messages[:middle], stats)
                self._isolate(messages[middle:], stats)
                return
            parts = self.split(messages[0])
            if parts is not None and len(parts) > 1:
                for part in parts:
                    self._isolate([part], stats)
                return
            error = f"{type(exc).__name__}: {exc}"
            self.dead_letter(messages[0], self.name, error, messages[0].value or b"", stats,
                             reason=type(exc).__name__)  # fmt: skip
            return
        stats.add(attempt)

    def dead_letter(
        self,
        message: InputMessage,
        stage: str,
        error: str,
        payload: bytes,
        stats: StepStats,
        raw: dict[str, Any] | None = None,
        reason: str = "error",
    ) -> None:
        """`reason` is the metrics' label: a short, bounded name (an exception class), never
        the error text."""
        raw = raw or {}
        record = DeadLetter(
            error[:10_000],
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
        stats.dead_lettered(stage, reason, raw.get("carrier") or raw.get("payload_format") or "")
        log.warning(
            "dead-lettered %s[%d]@%d (%s): %s",
            message.topic,
            message.partition,
            message.offset,
            stage,
            error[:500],
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
            self.dead_letter(message, "decode", str(exc), message.value or b"", stats,
                             reason=type(exc).__name__)  # fmt: skip
            return None
        return name, record


class PartitionedStep(Step):
    """A step whose state lives per input partition (parcels, orders): `load(partition)`
    returns it, recovering it from its changelog on first use; `drop` forgets it."""

    def load(self, partition: int) -> Any:
        raise NotImplementedError

    def drop(self, partitions: Iterable[int]) -> None:
        raise NotImplementedError

    def prepare(self, messages: list[InputMessage]) -> None:
        for partition in sorted({message.partition for message in messages}):
            self.resources.health.wait_out(
                "kafka", partial(self.load, partition), RECOVERY_ERRORS, "recover state"
            )

    def forget(self, messages: list[InputMessage]) -> None:
        self.drop({message.partition for message in messages})


# Failures that are not caused by the input: retrying a smaller part cannot help.
_NOT_INPUT: tuple[type[BaseException], ...] = (
    Stopping,
    KafkaWriteError,
    KafkaUnavailable,
    KafkaException,
)

# What loading a partition's state from its changelog raises while the broker is away.
RECOVERY_ERRORS: tuple[type[BaseException], ...] = (KafkaUnavailable, KafkaException)
