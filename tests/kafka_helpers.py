"""Reading what the pipeline wrote, for assertions: every message of a topic, decoded."""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError

from pipeline.codec import AvroCodec

# Errors that only mean "nothing (more) here yet": the end of a partition, or a topic nobody
# has written to yet.
_NOTHING_YET = (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART)


def read_topic(
    bootstrap: str, topic: str, expect: int | None = None, timeout: float = 30.0
) -> list[tuple[bytes | None, bytes]]:
    """All (key, value) pairs on `topic`; waits until `expect` arrived when given."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    found: list[tuple[bytes | None, bytes]] = []
    deadline = time.monotonic() + timeout
    idle_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(1000, timeout=0.5)
            for message in batch:
                if message.error():
                    if message.error().code() in _NOTHING_YET:
                        continue
                    raise RuntimeError(str(message.error()))
                found.append((message.key(), message.value()))
            if batch:
                idle_since = time.monotonic()
            if expect is not None and len(found) >= expect:
                break
            if expect is None and found and time.monotonic() - idle_since > 2:
                break
            if expect is None and not found and time.monotonic() - idle_since > 5:
                break
    finally:
        consumer.close()
    return found


def read_records(
    bootstrap: str, topic: str, expect: int | None = None, timeout: float = 30.0
) -> list[tuple[str, dict[str, Any]]]:
    codec = AvroCodec()
    return [codec.decode(value) for _, value in read_topic(bootstrap, topic, expect, timeout)]
