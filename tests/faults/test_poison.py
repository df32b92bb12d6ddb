"""Poison on every input topic (see poison.py for the set) between the waves of a normal feed:
each poison message the pipeline cannot read is dead-lettered once, with its original bytes,
on the topic and in the dead_letters table; each raw payload it can parse is stored; and the
feed around them is processed exactly, by a worker that never stops."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, Message, Producer

from pipeline.codec import AvroCodec
from pipeline.settings import Settings
from pipeline.topics import DEAD_LETTERS
from tests.faults import poison as poisons
from tests.faults.conftest import Fleet
from tests.faults.harness import LagMonitor, clickhouse, outcome, publish_in_waves
from tests.faults.record import FaultRecord
from tests.kafka_helpers import read_records
from tools.drain import wait_drained
from tools.simulator import simulate

PARCELS = 500


def produce(settings: Settings, batch: list[poisons.Poison]) -> None:
    """Exactly these bytes (or no value at all), noting where each one landed."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "acks": "all",
                         "message.max.bytes": 1_000_000})  # fmt: skip
    failures: list[str] = []

    def landed(item: poisons.Poison) -> object:
        def callback(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failures.append(f"{item.kind}: {error}")
                return
            item.partition, item.offset = int(message.partition()), int(message.offset())

        return callback

    for i, item in enumerate(batch):
        producer.produce(item.topic.topic(settings), item.value, key=f"poison-{i}".encode(),
                         partition=i % settings.partitions, on_delivery=landed(item))  # fmt: skip
        producer.poll(0)
    assert producer.flush(60) == 0, "poison not delivered"
    assert not failures, failures[:5]


@pytest.mark.timeout(600)
def test_poison_on_every_input_topic_is_dead_lettered_and_the_rest_proceeds(
    fault_settings: Settings, fleet: Fleet, fault_record: FaultRecord
) -> None:
    settings, simulation = fault_settings, simulate(PARCELS, seed=95)
    codec = AvroCodec()
    batch = poisons.build(codec)
    fault_record.fault = f"{len(batch)} poison messages on raw, shipments, events, order-updates"
    worker = fleet.worker(settings, "worker")

    with LagMonitor(settings, fault_record):
        halves = batch[0::2], batch[1::2]
        publish_in_waves(simulation, settings, [lambda: produce(settings, halves[0]),
                                                lambda: produce(settings, halves[1])])  # fmt: skip
        last_poison = time.monotonic()
        wait_drained(settings, timeout=300, alive=worker.alive)
        fault_record.recover_seconds = time.monotonic() - last_poison
    worker.stop()

    result = outcome(settings, simulation)
    engine = clickhouse(settings)
    try:
        db = engine.database
        stored = {r[0] for r in engine.query(f"SELECT DISTINCT event_id FROM {db}.tracking_events")}
        in_table = {(t, int(p), int(o)) for t, p, o in engine.query(
            f"SELECT topic, partition, offset FROM {db}.dead_letters FINAL")}  # fmt: skip
    finally:
        engine.close()
    letters = {
        (r["topic"], r["partition"], r["offset"]): r
        for _, r in read_records(settings.kafka_bootstrap, DEAD_LETTERS.topic(settings))
    }
    where = {(p.topic.topic(settings), p.partition, p.offset): p for p in batch}
    missing_letters = [p.kind for at, p in where.items() if p.dead_letter and at not in letters]
    missing_rows = [p.kind for at, p in where.items() if p.dead_letter and at not in in_table]
    wrong_letters = [p.kind for at, p in where.items() if not p.dead_letter and at in letters]
    wrong_bytes = [p.kind for at, p in where.items()
                   if at in letters and letters[at]["payload"] != p.payload]  # fmt: skip
    unstored = [p.kind for p in batch if not p.dead_letter and not p.scan_ids <= stored]
    others = [at for at in letters if at not in where]
    result.lost += sum(len(p.scan_ids - stored) for p in batch if not p.dead_letter)
    fault_record.outcome = result
    fault_record.note = (
        f"dead letters expected {sum(p.dead_letter for p in batch)}, missing on topic "
        f"{len(missing_letters)}, missing in table {len(missing_rows)}, unexpected "
        f"{len(wrong_letters)}; payloads with scans not stored {len(unstored)}"
    )

    assert not missing_letters, f"not dead-lettered: {sorted(set(missing_letters))}"
    assert not missing_rows, f"dead-lettered but not in ClickHouse: {sorted(set(missing_rows))}"
    assert not wrong_letters, f"dead-lettered although readable: {sorted(set(wrong_letters))}"
    assert not wrong_bytes, f"dead letters without the original bytes: {sorted(set(wrong_bytes))}"
    assert not unstored, f"parsed but scans not stored: {sorted(set(unstored))[:10]}"
    # Besides the poison: the feed's malformed payloads, and one letter per bad item of a
    # payload whose other items were good (ParseResult.rejects).
    rejects = sum(p.rejects for p in batch)
    assert len(others) == simulation.manifest.malformed_payloads + rejects, others
    assert result.exact, result
