"""The ClickHouse sink is its own consumer (issue 9): it inserts what the stages wrote to Kafka,
commits only after the insert, sets unreadable messages aside, and a replay changes nothing."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Producer

from pipeline import topics
from pipeline.codec import AvroCodec
from pipeline.runtime.common import InputMessage, Resources
from pipeline.runtime.parse import ParseStep
from pipeline.runtime.track import TrackStep
from pipeline.settings import Settings
from pipeline.sinks.engines import ChdbEngine, Engine
from pipeline.sinks.migrations import migrate
from pipeline.sinks.stage import SOURCES, SinkStage, sink_group
from tests.integration.test_poison_isolation import generic, messages, raw
from tests.kafka_helpers import read_topic
from tools.drain import group_lag

pytestmark = pytest.mark.integration


def sink_until_drained(stage: SinkStage, settings: Settings, group: str) -> None:
    names = [spec.topic(settings) for spec in SOURCES]
    deadline = time.monotonic() + 60
    while group_lag(settings, names, group=group) and time.monotonic() < deadline:
        stage.step(timeout=0.2)
        stage.flush()
    assert group_lag(settings, names, group=group) == 0


def count(engine: Engine, sql: str) -> int:
    return int(engine.query(sql.format(db=engine.database))[0][0])


def test_sink_inserts_commits_and_replays_harmlessly(run_settings: Settings) -> None:
    codec = AvroCodec()
    resources = Resources(run_settings)
    numbers = [f"S{i}" for i in range(20)]
    ParseStep(resources).run(messages(run_settings, [raw(codec, generic(n)) for n in numbers]))
    events_topic = topics.EVENTS.topic(run_settings)
    batches = read_topic(run_settings.kafka_bootstrap, events_topic)
    inputs = [InputMessage(events_topic, 0, i, value) for i, (_, value) in enumerate(batches)]
    TrackStep(resources).run(inputs)
    junk = Producer({"bootstrap.servers": run_settings.kafka_bootstrap})
    junk.produce(topics.NOTIFICATIONS.topic(run_settings), b"not a notification", key=b"x")
    junk.flush(10)

    engine = ChdbEngine(run_settings.chdb_dir, run_settings.clickhouse_database)
    try:
        migrate(engine)
        stage = SinkStage(run_settings, engine)
        sink_until_drained(stage, run_settings, sink_group(run_settings))
        stage.consumer.close()
        on_topic = read_topic(
            run_settings.kafka_bootstrap, topics.NOTIFICATIONS.topic(run_settings)
        )
        notified = {
            codec.decode(value)[1]["notification_id"]
            for _, value in on_topic
            if value != b"not a notification"
        }

        def totals() -> tuple[int, ...]:
            return (
                count(engine, "SELECT count() FROM {db}.tracking_events FINAL"),
                count(engine, "SELECT count() FROM {db}.parcel_state FINAL"),
                count(engine, "SELECT uniqExact(notification_id) FROM {db}.notifications"),
                count(engine, "SELECT count() FROM {db}.dead_letters FINAL WHERE stage = 'sink'"),
            )

        assert totals() == (20, 20, len(notified), 1)
        assert len(notified) == 20

        # Another sink group replays everything: keyed tables absorb it.
        replay = run_settings.model_copy(update={"app_id": run_settings.app_id + "-replay"})
        again = SinkStage(replay, engine)
        sink_until_drained(again, replay, sink_group(replay))
        again.consumer.close()
        assert totals() == (20, 20, 20, 1)
    finally:
        engine.close()
