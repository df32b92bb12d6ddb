"""What the three ingestion modes share: validating bytes with their connector, describing an
envelope from the parse, dead-lettering what does not parse, and "acked means on Kafka".

Ingestion parses only to *validate* and to fill the envelope's routing fields (carrier,
tracking number); the envelope still carries the original bytes, and the pipeline parses them
again, so a parser fix can be replayed over everything ever received.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import connectors
from connectors import ParseContext, ParseResult
from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import raw_event_id
from pipeline.kafka_io import BatchProducer
from pipeline.records import DeadLetter, no_offset, to_avro
from pipeline.settings import Settings
from pipeline.topics import DEAD_LETTERS, RAW

T = TypeVar("T")


# librdkafka refuses messages over message.max.bytes (1,000,000 by default, the broker's own
# limit is about the same) before sending; keep room for the envelope around the payload.
KAFKA_PAYLOAD_LIMIT = 1_000_000 - 16 * 1024


class IngestionError(Exception):
    """Root of everything pipeline.ingestion raises."""


class ConnectorMissing(IngestionError):
    """The format is registered but its connector module is not installed (yet)."""


class KafkaUnavailable(IngestionError):
    """Kafka did not acknowledge what we produced; the sender should retry later."""


def parse_payload(payload_format: str, payload: bytes, ctx: ParseContext) -> ParseResult:
    """connectors.parse, with a registered-but-absent module reported as ConnectorMissing
    (the registry imports lazily, so that surfaces as ImportError, not as a ConnectorError)."""
    try:
        connectors.parser_for(payload_format)
    except ImportError as exc:
        raise ConnectorMissing(f"connector for {payload_format!r} is not installed: {exc}") from exc
    return connectors.parse(payload_format, payload, ctx)


def describe(result: ParseResult, fallback_carrier: str) -> tuple[str, str | None]:
    """(carrier, tracking number) for the envelope: the scans' own values when they all agree.

    The raw topic is keyed by tracking number when there is exactly one, so a parcel's
    payloads stay in order on one partition; mixed payloads fall back to the event id.
    """
    carriers = {scan.carrier for scan in result.scans}
    numbers = {scan.tracking_number for scan in result.scans}
    carrier = carriers.pop() if len(carriers) == 1 else fallback_carrier
    return carrier, (numbers.pop() if len(numbers) == 1 else None)


def now_ms() -> int:
    return int(time.time() * 1000)


class DeadLetters:
    """Writes input that failed validation at the edge to the dead-letter topic.

    Same DeadLetter record the worker writes (schemas/DeadLetter.avsc), with stage "ingest"
    and partition -1: the bytes never reached the raw topic, so they have no offset of their
    own (`records.no_offset` gives them a stable one, so each stays its own row).
    """

    def __init__(self, settings: Settings, codec: AvroCodec | None = None) -> None:
        self._codec = codec or AvroCodec(settings.schema_registry_url)
        self._producer = BatchProducer(settings.kafka_bootstrap)
        self._topic = DEAD_LETTERS.topic(settings)
        self._raw_topic = RAW.topic(settings)

    def record(self, carrier: str, payload_format: str | None, payload: bytes, error: str) -> None:
        event_id = raw_event_id(carrier, payload_format or "", payload)
        letter = DeadLetter(
            error, "ingest", self._raw_topic, -1, no_offset(event_id), event_id, carrier,
            payload_format, payload, now_ms(),
        )  # fmt: skip
        self._producer.produce(
            self._topic, self._codec.encode("DeadLetter", to_avro(letter)), key=event_id.encode()
        )

    def flush(self) -> None:
        self._producer.flush()


class AckedSender(Generic[T]):
    """Group commit: many coroutines hand over items; each returns once a flush covering its
    item succeeded, or raises KafkaUnavailable if that flush failed.

    One flush at a time per sender, so a delivery error is never reported to a caller whose
    item it was not (BatchProducer keeps one error list per producer), while concurrent
    requests still share a flush instead of paying ~linger.ms each, one after another.
    """

    def __init__(self, produce: Callable[[T], None], flush: Callable[[], None]) -> None:
        self._produce = produce
        self._flush = flush
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._lock = threading.Lock()

    async def send(self, item: T) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await loop.run_in_executor(None, self._send_batch, [item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - any failure means "not acked"
                error = KafkaUnavailable(f"{type(exc).__name__}: {exc}")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    def _send_batch(self, items: list[T]) -> None:
        with self._lock:
            for item in items:
                self._produce(item)
            self._flush()
