"""Parcel state held in plain dicts per partition, made durable by a compacted changelog topic.

Why not a Faust table: a table write sends one changelog message per write and cannot be used
inside `stream.take()` batches (measured ~3.5k events/s). Here a batch's changed parcels are
produced to the changelog together and flushed before the batch's offsets are committed, so
the changelog is never behind the committed input. A partition's dict is rebuilt from its
changelog partition the first time a batch needs it (after start, or after a rebalance moved
the partition here) and dropped when the partition is revoked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from agents.state import ParcelState
from pipeline.codec import AvroCodec
from pipeline.kafka_io import BatchProducer

log = logging.getLogger(__name__)


class ParcelStore:
    def __init__(self, bootstrap: str, changelog_topic: str, codec: AvroCodec) -> None:
        self._bootstrap = bootstrap
        self._topic = changelog_topic
        self._codec = codec
        self._partitions: dict[int, dict[str, ParcelState]] = {}

    def parcels(self, partition: int) -> dict[str, ParcelState]:
        parcels = self._partitions.get(partition)
        if parcels is None:
            parcels = self._partitions[partition] = self.recover(partition)
        return parcels

    def drop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._partitions.pop(partition, None)

    def loaded_partitions(self) -> list[int]:
        return sorted(self._partitions)

    def write_changelog(
        self, partition: int, changed: list[ParcelState], producer: BatchProducer
    ) -> None:
        encode = self._codec.encode
        for state in changed:
            producer.produce(
                self._topic,
                encode("ParcelState", state.to_record()),
                key=state.tracking_number.encode(),
                partition=partition,
            )

    def recover(self, partition: int) -> dict[str, ParcelState]:
        """Read the changelog partition from its start up to its end as of now."""
        started = time.monotonic()
        consumer = Consumer(
            {
                "bootstrap.servers": self._bootstrap,
                "group.id": "parcelstream-recovery",  # assign() only: no group membership
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        parcels: dict[str, ParcelState] = {}
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(self._topic, partition), timeout=30
            )
            if high > low:
                consumer.assign([TopicPartition(self._topic, partition, OFFSET_BEGINNING)])
                done = False
                while not done:
                    for message in consumer.consume(10000, timeout=5):
                        if message.error():
                            if message.error().code() == -191:  # _PARTITION_EOF
                                done = True
                                break
                            raise RuntimeError(f"changelog read failed: {message.error()}")
                        if message.offset() >= high - 1:
                            done = True
                        value = message.value()
                        key = message.key().decode()
                        if value is None:
                            parcels.pop(key, None)
                        else:
                            record = self._codec.decode_as("ParcelState", value)
                            parcels[key] = ParcelState.from_record(record)
        finally:
            consumer.close()
        log.info(
            "recovered %d parcels of partition %d in %.2fs",
            len(parcels),
            partition,
            time.monotonic() - started,
        )
        return parcels
