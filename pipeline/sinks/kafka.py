"""The Kafka side of a step's outputs: `add()` while the step works, `flush()` before its input
may be committed (`pipeline.runtime.common.Step.run`).

Outputs are encoded at `add()` and only handed to the producer at `flush()`. So a step that
fails halfway has produced nothing: `rollback(mark)` forgets what the failed attempt added, and
the step can retry a part of its batch (poison isolation) without having sent half of it. A
record that cannot be encoded fails in `add()`, inside the attempt that made it.

State changelogs go last (`add_encoded(..., state=True)`): `flush()` sends them only once every
other output of the batch is acknowledged. A process killed mid-flush could otherwise leave a
parcel's new state in its changelog while the scans that made it never reached tracked-events;
restored from that changelog, the state would count the replayed scans as duplicates and they
would be lost. In this order, a state in a changelog implies its batch's outputs are in Kafka,
and a crash before it replays the batch, whose outputs carry deterministic ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from pipeline.codec import AvroCodec
from pipeline.health import Health
from pipeline.kafka_io import BatchProducer, KafkaUnavailable
from pipeline.records import to_avro
from pipeline.settings import Settings
from pipeline.topics import TopicSpec


class Output(NamedTuple):
    topic: str
    value: bytes | None  # None: a tombstone
    key: bytes | None
    partition: int | None
    headers: list[tuple[str, bytes]] | None


class TopicSink:
    """Encodes records with their topic's value schema and keeps them until `flush()`, which
    returns once the broker acknowledged every one, waiting out an outage however long it is
    (raises health.Stopping on a stop request, KafkaWriteError when the broker refuses)."""

    def __init__(
        self, producer: BatchProducer, codec: AvroCodec, settings: Settings, health: Health
    ) -> None:
        self._producer = producer
        self._encode = codec.encode
        self._settings = settings
        self._health = health
        self._names: dict[TopicSpec, str] = {}
        self._staged: list[Output] = []
        self._state: list[Output] = []  # changelog writes, sent after the rest is acknowledged
        self._after: list[Callable[[], None]] = []

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
        self._staged.append(
            Output(
                self.name(spec), value, None if key is None else key.encode(), partition, headers
            )
        )

    def add_encoded(
        self, topic: str, value: bytes | None, key: bytes, partition: int, state: bool = False
    ) -> None:
        """Already encoded bytes; `state`: a changelog write, sent last (see above)."""
        (self._state if state else self._staged).append(Output(topic, value, key, partition, None))

    def after(self, action: Callable[[], None]) -> None:
        """Run `action` once everything added so far is acknowledged (a local store's write
        of what its changelog now holds); dropped with a rollback like any output."""
        self._after.append(action)

    def mark(self) -> tuple[int, int, int]:
        return len(self._staged), len(self._state), len(self._after)

    def rollback(self, mark: tuple[int, int, int]) -> None:
        del self._staged[mark[0] :]
        del self._state[mark[1] :]
        del self._after[mark[2] :]

    def flush(self) -> None:
        staged, self._staged = self._staged, []
        state, self._state = self._state, []
        after, self._after = self._after, []
        self._send(staged)
        self._send(state)
        for action in after:
            action()

    def _send(self, outputs: list[Output]) -> None:
        if not outputs:
            return
        produce = self._producer.produce
        for out in outputs:
            produce(out.topic, out.value, key=out.key, partition=out.partition, headers=out.headers)
        self._health.wait_out(
            "kafka", lambda: self._producer.flush(10.0), (KafkaUnavailable,), "flush outputs"
        )
