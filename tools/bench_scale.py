"""`make bench-scale`: the parcel stage with millions of parcels in state, on the real broker.

1. Preload: N parcels of realistic state (the simulator's lifecycles run through the parcel
   stage, then copied under new tracking numbers, each re-encoded) produced to a fresh
   parcel-state changelog, as a worker that had tracked them would have left it.
2. Restore from the changelog: a new parcel stage with no local store copies every partition
   into its store (`restore_from_changelog_parcels_per_s`). RocksDB then compacts what it
   took in the background; the bench waits for that (and says how long) before (3), which
   measures the steady state.
3. Throughput with N parcels in state against the same stage with none
   (`scans_per_s_full`, `scans_per_s_empty`): the same simulated scan stream through
   TrackStep.run (decode, fold, changelog and output writes flushed to Kafka, store writes).
4. RSS of this process per parcel held (`rss_bytes_per_parcel`), after (3): the hot sets,
   RocksDB's caches and memtables included.
5. Restart with the store intact: a new stage reopens the stores, catches up the (empty)
   tail and processes a batch again (`restart_with_store_s`).
"""

from __future__ import annotations

import random
import resource
import time

from connectors import ConnectorError
from pipeline import topics
from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import raw_envelope
from pipeline.kafka_io import BatchProducer
from pipeline.runtime.common import InputMessage, Resources
from pipeline.runtime.track import TrackStep
from pipeline.settings import Settings, get_settings
from pipeline.topics import ensure_topics
from tools.simulator import Simulation, simulate
from tools.workers import fresh_run
from tracking import state_codec
from tracking.events import TrackingEvent, to_columns
from tracking.normalize import Normalizer, normalize_payload
from tracking.parcels import PartitionState, process_batch
from tracking.state import ParcelState

DAY = 86_400_000
BATCH_SCANS = 2000  # scans per events-topic message, as the parse step writes them


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def scans_of(simulation: Simulation) -> list[TrackingEvent]:
    """The simulator's feed normalized, as the parse step does it (its deliberately malformed
    payloads, which the step dead-letters, left out)."""
    normalizer = Normalizer()
    events: list[TrackingEvent] = []
    for carrier, payload_format, body in simulation.payloads:
        envelope = raw_envelope(carrier, payload_format, body, "bench")
        try:
            events.extend(normalize_payload(envelope, normalizer).events)
        except ConnectorError:
            continue
    return events


def sample_states(parcels: int, seed: int, now_ms: int) -> list[ParcelState]:
    """Parcels as the stage leaves them: the simulator's feed through process_batch."""
    simulation = simulate(parcels, seed)
    part = PartitionState()
    process_batch(part, scans_of(simulation), list(simulation.shipments), now_ms)
    return [s for s in part.parcels.values() if s.history]  # type: ignore[attr-defined]


def preload(settings: Settings, parcels: int, now_ms: int) -> int:
    """Produce `parcels` states to the parcel-state changelog; returns bytes produced."""
    samples = sample_states(2000, 23, now_ms)
    rng = random.Random(5)
    producer = BatchProducer(settings.kafka_bootstrap, **{"linger.ms": 50})
    topic = topics.PARCEL_STATE.topic(settings)
    produced = 0
    encode = state_codec.encode
    for i in range(parcels):
        state = samples[i % len(samples)]
        state.tracking_number = f"SCALE{i:010d}"
        deadline = now_ms + rng.randrange(DAY, 30 * DAY)
        value = encode(state, deadline)
        producer.produce(topic, value, key=state.tracking_number.encode())
        produced += len(value)
        if i % 100_000 == 99_999:
            producer.flush(120)
    producer.flush(300)
    return produced


def scan_batches(settings: Settings, parcels: int, seed: int) -> tuple[list[InputMessage], int]:
    """Events-topic messages of a simulated feed, partitioned as the parse step would."""
    codec = AvroCodec()
    by_partition: dict[int, list[TrackingEvent]] = {}
    for event in scans_of(simulate(parcels, seed)):
        partition = topics.partition_for(event.tracking_number, settings.partitions)
        by_partition.setdefault(partition, []).append(event)
    messages = []
    events_topic = topics.EVENTS.topic(settings)
    scans = 0
    for partition, events in sorted(by_partition.items()):
        for start in range(0, len(events), BATCH_SCANS):
            chunk = events[start : start + BATCH_SCANS]
            scans += len(chunk)
            value = codec.encode("TrackingEventBatch", to_columns(chunk))
            messages.append(InputMessage(events_topic, partition, 0, value))
    rng = random.Random(seed)
    rng.shuffle(messages)
    return messages, scans


def throughput(step: TrackStep, messages: list[InputMessage], scans: int) -> float:
    step.load_partitions(list(range(step.settings.partitions)))  # recovery is measured apart
    started = time.perf_counter()
    for start in range(0, len(messages), 4):
        step.run(messages[start : start + 4])
    return scans / (time.perf_counter() - started)


def run_bench_scale(parcels: int, scan_parcels: int, seed: int) -> int:
    base = get_settings()
    now = int(time.time() * 1000)
    _, full = fresh_run(base, "scale")
    _, empty = fresh_run(base, "scaleempty")
    for settings in (full, empty):
        ensure_topics(settings)
    messages, scans = scan_batches(full, scan_parcels, seed)

    started = time.perf_counter()
    produced = preload(full, parcels, now)
    print(f"preloaded {parcels:,} parcel states ({produced / parcels:,.0f} bytes each) into "
          f"{topics.PARCEL_STATE.topic(full)} in {time.perf_counter() - started:.1f}s")  # fmt: skip

    rss_before = rss_bytes()
    step = TrackStep(Resources(full))
    started = time.perf_counter()
    step.load_partitions(list(range(full.partitions)))
    restored = sum(r["messages"] for r in step.recoveries.values())
    restore_rate = restored / (time.perf_counter() - started)
    settled = time.perf_counter()
    while any(store.compacting() for store in step._stores.values()):
        if time.perf_counter() - settled > 300:
            break
        time.sleep(0.5)
    print(f"RocksDB compactions after the restore settled in {time.perf_counter() - settled:.1f}s")
    full_rate = throughput(step, messages, scans)
    rss_per_parcel = (rss_bytes() - rss_before) / parcels
    step.close()
    del step

    empty_step = TrackStep(Resources(empty))
    empty_rate = throughput(empty_step, messages, scans)
    empty_step.close()

    restart_started = time.perf_counter()
    again = TrackStep(Resources(full))
    again.load_partitions(list(range(full.partitions)))  # every partition, not just one
    again.run(messages[:1])
    restart_seconds = time.perf_counter() - restart_started
    again.close()

    print(f"scale: parcels={parcels} rss_bytes_per_parcel={rss_per_parcel:.0f}")
    print(f"scale: restart_with_store_s={restart_seconds:.2f} "
          f"restore_from_changelog_parcels_per_s={restore_rate:.0f}")  # fmt: skip
    print(f"scale: scans_per_s_empty={empty_rate:.0f} scans_per_s_full={full_rate:.0f}")
    print(f"(scan stream: {scans:,} scans of {scan_parcels:,} new parcels; "
          f"restored {restored:,} changelog messages)")  # fmt: skip
    return 0
