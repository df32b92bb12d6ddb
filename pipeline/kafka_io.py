"""A confluent-kafka producer for the pipeline's outputs, flushed once per batch.

aiokafka's producer (Faust's) costs tens of microseconds a message in Python; librdkafka
batches in C. Outputs are produced here and `flush()` is called before the input batch is
acknowledged, so an offset is never committed ahead of what it produced.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

log = logging.getLogger(__name__)


class KafkaWriteError(Exception):
    """The broker refused some output messages for good (too large, no such topic, ...)."""


class KafkaUnavailable(Exception):
    """Output messages are still waiting for the broker's acknowledgement."""


class BatchProducer:
    def __init__(self, bootstrap: str, **overrides: Any) -> None:
        config = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,  # retries never duplicate or reorder within a partition
            "acks": "all",
            "linger.ms": 5,
            "batch.num.messages": 10000,
            "compression.type": "lz4",
            "partitioner": "murmur2_random",  # same partition as Java clients for the same key
            "queue.buffering.max.messages": 500000,
            # Model snapshots may be megabytes; every other topic keeps the broker's 1 MB limit.
            "message.max.bytes": 20_000_000,
            # Never give up on a message: a broker outage is waited out by `flush` (which the
            # step calls before its input may be committed), however long it lasts.
            "message.timeout.ms": 0,
        }
        config.update(overrides)
        self._producer = Producer(config)
        self._errors: list[str] = []
        # (topic, partition) -> offset of the newest acknowledged message, for the topics in
        # `watched`: a local store records the changelog offset its write is consistent with.
        self.watched: set[str] = set()
        self.acked: dict[tuple[str, int], int] = {}

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")
        elif self.watched and (topic := msg.topic()) in self.watched:
            self.acked[(topic, msg.partition() or 0)] = msg.offset() or 0

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"key": key, "on_delivery": self._on_delivery}
        if partition is not None:
            kwargs["partition"] = partition
        if headers:
            kwargs["headers"] = headers
        while True:
            try:
                self._producer.produce(topic, value, **kwargs)
                break
            except BufferError:
                # Local queue full: let librdkafka drain some, then retry.
                self._producer.poll(0.05)

    def flush(self, timeout: float = 60.0) -> None:
        """Return once every message is acknowledged: KafkaUnavailable if some are still
        waiting after `timeout` (they stay queued), KafkaWriteError if some were refused."""
        remaining = self._producer.flush(timeout)
        if self._errors:
            errors, self._errors = self._errors, []
            raise KafkaWriteError(f"{len(errors)} deliveries failed, first: {errors[0]}")
        if remaining:
            raise KafkaUnavailable(f"{remaining} messages not acknowledged within {timeout:.0f}s")
