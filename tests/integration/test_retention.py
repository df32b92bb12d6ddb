"""Retention: a delivered parcel leaves the parcel stage's state once its retention ran out
(with the clock injected), the changelog and the local store keep a marker instead, and a late
scan for it is still passed on to be stored but announces nothing, also after the store was
lost and restored from the changelog."""

from __future__ import annotations

import shutil

import pytest

from pipeline import topics
from pipeline.codec import AvroCodec
from pipeline.runtime.common import InputMessage, Resources
from pipeline.runtime.track import TrackStep
from pipeline.settings import Settings
from tests.kafka_helpers import read_topic
from tracking import state_codec
from tracking.events import TrackingEvent, from_columns, to_columns

pytestmark = pytest.mark.integration
DAY = 86_400_000
T0 = 1_790_000_000_000
TN = "RETAIN-1"
CODEC = AvroCodec()


def scan(event_id: str, status: str, at: int) -> TrackingEvent:
    return TrackingEvent(event_id, TN, "acme", status, "", status[:2].upper(), "", at, at,
                         False, "Oslo", "", "", "NO", "raw", "webhook")  # fmt: skip


def batch(settings: Settings, *events: TrackingEvent) -> list[InputMessage]:
    partition = topics.partition_for(TN, settings.partitions)
    value = CODEC.encode("TrackingEventBatch", to_columns(list(events)))
    return [InputMessage(topics.EVENTS.topic(settings), partition, 0, value)]


def notifications(settings: Settings) -> list[str]:
    return [
        CODEC.decode(value)[1]["kind"]
        for _, value in read_topic(settings.kafka_bootstrap, topics.NOTIFICATIONS.topic(settings))
    ]


def tracked(settings: Settings) -> list[str]:
    topic = topics.TRACKED_EVENTS.topic(settings)
    return [
        event.event_id
        for _, value in read_topic(settings.kafka_bootstrap, topic)
        for event in from_columns(CODEC.decode(value)[1])
    ]


def step_at(settings: Settings, now: list[int]) -> TrackStep:
    step = TrackStep(Resources(settings))
    step.clock = lambda: now[0]
    return step


def test_a_delivered_parcel_is_evicted_and_a_late_scan_stays_quiet(run_settings: Settings) -> None:
    settings = run_settings.model_copy(update={"state_retention_days": 2.0})
    partition = topics.partition_for(TN, settings.partitions)
    now = [T0]
    step = step_at(settings, now)
    step.run(batch(settings, scan("e1", "picked_up", T0 - 2 * DAY), scan("e2", "delivered", T0)))
    sent = notifications(settings)
    assert "delivered" in sent

    now[0] = T0 + 1 * DAY
    assert step.tick() == 0, "retention has not run out yet"
    now[0] = T0 + 2 * DAY + 1
    assert step.tick() == 1
    store = step._stores[partition]
    assert state_codec.is_marker(store.get(TN) or b""), "the store keeps a marker, not the state"
    changelog = read_topic(settings.kafka_bootstrap, topics.PARCEL_STATE.topic(settings))
    assert state_codec.is_marker(changelog[-1][1]) and changelog[-1][0] == TN.encode()

    # A late scan (a carrier re-sending its history, a straggling hub scan) after eviction.
    step.run(batch(settings, scan("e3", "in_transit", T0 - DAY)))
    assert "e3" in tracked(settings), "the late scan still goes to ClickHouse"
    assert notifications(settings) == sent, "and announces nothing"

    # The store is lost: restored from the changelog, the marker keeps the parcel quiet.
    step.close()
    shutil.rmtree(settings.stores_dir)
    restored = step_at(settings, now)
    restored.run(batch(settings, scan("e4", "out_for_delivery", T0 - DAY // 2)))
    assert restored.recoveries[partition]["from_offset"] == 0
    assert "e4" in tracked(settings)
    assert notifications(settings) == sent
    state = restored.partition(partition).parcels.get(TN)
    assert state is not None and state.evicted_at_ms == T0 + 2 * DAY + 1
    restored.close()


def test_an_active_parcel_is_never_evicted(run_settings: Settings) -> None:
    settings = run_settings.model_copy(update={"state_retention_days": 1.0})
    partition = topics.partition_for(TN, settings.partitions)
    now = [T0]
    step = step_at(settings, now)
    step.run(batch(settings, scan("e1", "in_transit", T0)))
    now[0] = T0 + 10 * DAY
    step.tick()
    state = step.partition(partition).parcels.get(TN)
    assert state is not None and state.history and state.evicted_at_ms is None
    step.close()


def test_a_finished_order_leaves_with_a_changelog_tombstone(run_settings: Settings) -> None:
    from pipeline.records import to_avro
    from pipeline.runtime.orders import OrderStep
    from tests.unit.tracking.test_order_retention import summary

    settings = run_settings.model_copy(update={"state_retention_days": 2.0})
    now = [T0]
    step = OrderStep(Resources(settings))
    step.clock = lambda: now[0]
    updates = {"updates": [to_avro(summary("O1", "A", "delivered"))]}
    topic = topics.ORDER_UPDATES.topic(settings)
    partition = topics.partition_for("O1", settings.partitions)
    step.run([InputMessage(topic, partition, 0, CODEC.encode("OrderParcelUpdateBatch", updates))])
    assert step.tick() == 0
    now[0] = T0 + 2 * DAY
    assert step.tick() == 1 and "O1" not in step.orders(partition)
    changelog = read_topic(settings.kafka_bootstrap, topics.ORDER_STATE.topic(settings))
    assert [key for key, _ in changelog] == [b"O1", b"O1"] and changelog[-1][1] is None
