"""A batch's state changelog writes reach Kafka only after every other output of the batch is
acknowledged (pipeline/sinks/kafka.py): a worker killed mid-flush cannot leave a parcel state
in its changelog whose scans never reached tracked-events (restored, the state would count the
replayed scans as duplicates, and they would be lost)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.codec import AvroCodec
from pipeline.health import Health
from pipeline.kafka_io import BatchProducer
from pipeline.settings import Settings
from pipeline.sinks.kafka import TopicSink
from pipeline.topics import NOTIFICATIONS, PARCEL_STATE, TRACKED_EVENTS
from tests.unit.tracking.test_parcels import scan
from tracking.events import to_columns

pytestmark = pytest.mark.integration


class Recording(BatchProducer):
    """The real producer, noting when each message is handed over and when flushes return."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(bootstrap)
        self.log: list[tuple[str, Any]] = []

    def produce(self, topic: str, value: bytes | None, **kwargs: Any) -> None:
        self.log.append(("produce", topic))
        super().produce(topic, value, **kwargs)

    def flush(self, timeout: float = 60.0) -> None:
        super().flush(timeout)
        self.log.append(("acked", None))


def test_changelog_writes_follow_the_acknowledged_outputs(run_settings: Settings) -> None:
    producer = Recording(run_settings.kafka_bootstrap)
    sink = TopicSink(producer, AvroCodec(), run_settings, Health())
    changelog = PARCEL_STATE.topic(run_settings)
    written: list[str] = []
    sink.add(TRACKED_EVENTS, to_columns([scan("e1", "picked_up", 1_000, 2_000)]), partition=0)
    sink.add_encoded(changelog, b"P-state", b"TN1", 0, state=True)
    sink.add_encoded(NOTIFICATIONS.topic(run_settings), b"a notification", b"TN1", 0)
    sink.after(lambda: written.append("store"))
    mark = sink.mark()
    sink.add_encoded(changelog, b"rolled back", b"TN2", 0, state=True)
    sink.rollback(mark)
    sink.flush()

    topics_in_order = [topic for event, topic in producer.log if event == "produce"]
    first_state = topics_in_order.index(changelog)
    assert set(topics_in_order[:first_state]) == {
        TRACKED_EVENTS.topic(run_settings), NOTIFICATIONS.topic(run_settings)
    }  # fmt: skip
    assert ("acked", None) in producer.log[: producer.log.index(("produce", changelog))]
    assert topics_in_order.count(changelog) == 1, "the rolled-back write is not sent"
    assert producer.log[-1] == ("acked", None) and written == ["store"]
