"""The Kafka side of a step's outputs, with the same `add()` / `flush()` as the ClickHouse sink:
a step adds everything it produced, flushes both sinks, and only then may its input offsets be
committed (`pipeline.runtime.common.Step.flush`)."""

from __future__ import annotations

from typing import Any

from pipeline.codec import AvroCodec
from pipeline.kafka_io import BatchProducer
from pipeline.records import to_avro
from pipeline.settings import Settings
from pipeline.topics import TopicSpec


class TopicSink:
    """Encodes records with their topic's value schema and produces them; `flush()` returns
    once the broker acknowledged every one (or raises KafkaWriteError)."""

    def __init__(self, producer: BatchProducer, codec: AvroCodec, settings: Settings) -> None:
        self._producer = producer
        self._encode = codec.encode
        self._settings = settings
        self._names: dict[TopicSpec, str] = {}

    def name(self, spec: TopicSpec) -> str:
        name = self._names.get(spec)
        if name is None:
            name = self._names[spec] = spec.topic(self._settings)
        return name

    def add(
        self,
        spec: TopicSpec,
        record: Any,
        key: str | None = None,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """`record` is a record object (see pipeline/records.py) or an Avro dict."""
        value = self._encode(spec.value_schema, record if type(record) is dict else to_avro(record))
        self._producer.produce(
            self.name(spec),
            value,
            key=None if key is None else key.encode(),
            partition=partition,
            headers=headers,
        )

    def flush(self) -> None:
        self._producer.flush()
