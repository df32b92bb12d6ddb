"""Compacted changelog topics: the durability of every stage's state.

The order stage and the models keep their state in plain dicts rebuilt from here; the parcel
stage keeps its parcels in a local store (pipeline/state/local.py) that only catches up the
changelog's tail.

Why not a Faust table: a table write sends one changelog message per write and cannot be used
inside `stream.take()` batches (measured ~3.5k events/s). Here a batch's changed items are
produced to the changelog together and flushed before the batch's offsets are committed, so
the changelog is never behind the committed input. A partition is rebuilt from its changelog
partition the first time a batch needs it (after start, or after a rebalance moved it here).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from pipeline.codec import AvroCodec
from pipeline.kafka_io import KafkaUnavailable
from pipeline.sinks.kafka import TopicSink

log = logging.getLogger(__name__)
T = TypeVar("T")


def read_changelog(
    bootstrap: str, topic: str, partition: int, start: int = 0, stall_seconds: float = 60.0
) -> Iterator[list[tuple[bytes, bytes | None, int]]]:
    """(key, value, offset) of one partition from `start` to its end as of now, in chunks;
    None = tombstone. Our changelogs are always keyed. The last chunk may run past that end
    when more was written meanwhile, which is just as consistent. No deadline however large
    the partition: only a read that makes no progress for `stall_seconds` raises
    KafkaUnavailable (the caller waits it out)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "parcelstream-recovery",  # assign() only: no group membership
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
        }
    )
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
        if low is None or high is None or high <= max(low, start):
            return
        consumer.assign([TopicPartition(topic, partition, max(start, low) or OFFSET_BEGINNING)])
        # Short polls: consume() waits its whole timeout to fill a batch, so a long timeout
        # would cost that much per partition even when the end is already reached.
        progress = time.monotonic()
        while time.monotonic() - progress < stall_seconds:
            chunk: list[tuple[bytes, bytes | None, int]] = []
            append = chunk.append
            done = False
            for message in consumer.consume(10000, timeout=0.1):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        done = True
                        break
                    raise KafkaUnavailable(f"changelog {topic}[{partition}] read failed: {error}")
                append((message.key(), message.value(), message.offset()))  # type: ignore[arg-type]
            if chunk:
                progress = time.monotonic()
                if chunk[-1][2] >= high - 1:
                    done = True
                yield chunk
            if done:
                return
        raise KafkaUnavailable(
            f"changelog {topic}[{partition}]: no progress in {stall_seconds:.0f}s"
        )
    finally:
        consumer.close()


def end_offset(bootstrap: str, topic: str, partition: int) -> int:
    """The offset the partition's next message will get (its high watermark)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "parcelstream-recovery"})
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
        return int(high)
    finally:
        consumer.close()


def read_compacted(
    bootstrap: str, topic: str, partition: int
) -> Iterator[tuple[str, bytes | None]]:
    """(key, value) of one partition from its start to its end as of now; None = tombstone."""
    for chunk in read_changelog(bootstrap, topic, partition):
        for key, value, _ in chunk:
            yield key.decode(), value


class ChangelogStore(Generic[T]):
    """Reads and writes one kind of item (parcel, order, model snapshot) in its changelog."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        codec: AvroCodec,
        schema: str,
        to_record: Callable[[T], dict[str, Any]],
        from_record: Callable[[dict[str, Any]], T],
        key_of: Callable[[T], str],
    ) -> None:
        self._bootstrap = bootstrap
        self.topic = topic
        self._codec = codec
        self._schema = schema
        self._to_record = to_record
        self._from_record = from_record
        self._key_of = key_of

    def read_partition(self, partition: int) -> dict[str, T]:
        """Every item of one partition; KafkaUnavailable (or KafkaException) when the broker
        cannot serve it now, which callers wait out."""
        started = time.monotonic()
        items: dict[str, T] = {}
        for key, value in read_compacted(self._bootstrap, self.topic, partition):
            if value is None:
                items.pop(key, None)
            else:
                items[key] = self._from_record(self._codec.decode_as(self._schema, value))
        log.info(
            "recovered %d items of %s[%d] in %.2fs",
            len(items),
            self.topic,
            partition,
            time.monotonic() - started,
        )
        return items

    def write(
        self, partition: int, items: list[T], outputs: TopicSink
    ) -> list[tuple[bytes, bytes]]:
        """Queue the items on the changelog; returns the (key, value) bytes queued."""
        encode, schema, to_record, key_of = (
            self._codec.encode,
            self._schema,
            self._to_record,
            self._key_of,
        )
        add, topic = outputs.add_encoded, self.topic
        written = []
        for item in items:
            key, value = key_of(item).encode(), encode(schema, to_record(item))
            add(topic, value, key, partition, state=True)
            written.append((key, value))
        return written
