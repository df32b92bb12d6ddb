"""Step 2, track: TrackingEventBatch (scans and carrier estimates) + ShipmentRegistered messages
-> parcel state (changelog),
deduplicated events (tracked-events), ETA, exceptions, notifications and order summaries; and
the timer tick that runs the same exception rules for parcels whose deadlines passed with no
scan. Everything goes to Kafka; the ClickHouse sink stage reads it from there.

The pure work is `tracking.parcels.process_batch` / `process_timers`; this step owns the
partitions' local stores (pipeline/state/local.py) and their catch-up from the changelogs, the
outputs' topics, and the periodic model snapshots.

A changed parcel is encoded once (tracking/state_codec.py); the same bytes go to the changelog
and, once the broker acknowledged them, to the local store with the changelog offset they
reached. A parcel evicted after its retention is replaced by a marker in both.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from pipeline import topics
from pipeline.codec import AvroCodec, CodecError
from pipeline.records import to_avro
from pipeline.runtime.common import (
    RECOVERY_ERRORS,
    InputMessage,
    PartitionedStep,
    Resources,
    StepStats,
    now_ms,
)
from pipeline.runtime.parse import MAX_EVENTS_PER_BUNDLE
from pipeline.state.changelog import ChangelogStore, end_offset, read_changelog
from pipeline.state.local import LocalStore, StoredParcels, restore_partition
from tracking import state_codec
from tracking.carrier_eta import CarrierEtaScores
from tracking.eta import EtaModel
from tracking.events import TrackingEta, TrackingEvent, etas_from_columns, from_columns, to_columns
from tracking.exceptions import GapModel
from tracking.parcels import BatchOutput, PartitionState, process_batch, process_timers
from tracking.records import Notification
from tracking.state import ParcelState

log = logging.getLogger(__name__)

MODEL_SNAPSHOT_WARN_BYTES = 8_000_000

NOTIFICATION_HEADERS = (
    "notification_id",
    "kind",
    "tracking_number",
    "order_id",
    "customer_ref",
    "message",
)


def notification_headers(notification: Notification) -> list[tuple[str, bytes]]:
    """Routing fields as plain UTF-8 headers, for consumers that cannot read Avro (kcat)."""
    headers = []
    for name in NOTIFICATION_HEADERS:
        value = getattr(notification, name)
        if value is not None:
            headers.append((name, str(value).encode()))
    return headers


def compact_value(codec: AvroCodec, value: bytes | None) -> bytes | None:
    """A changelog value as the store keeps it. A changelog written before the compact
    encoding holds Avro ParcelState records: those (only those) are decoded and re-encoded,
    with a deadline due at once, so the next tick re-evaluates and reschedules them."""
    if value is None or value[:1] != b"\x00":
        return value
    state = ParcelState.from_record(codec.decode_as("ParcelState", value))
    return state_codec.encode(state, 1)


def _count_for_metrics(stats: StepStats, events: list[TrackingEvent], out: BatchOutput) -> None:
    """Exceptions opened by kind, and the raw `received_at` of the scan behind each
    notification (its parcel's last scan in the batch), for the end-to-end latency."""
    for exception in out.exceptions:
        if exception.state == "opened":
            opened = stats.exceptions_opened
            opened[exception.kind] = opened.get(exception.kind, 0) + 1
    if out.notifications and events:
        received = {event.tracking_number: event.received_at_ms for event in events}
        for notification in out.notifications:
            at = received.get(notification.tracking_number)
            if at is not None:
                stats.notified_received_ms.append(at)


class TrackStep(PartitionedStep):
    name = "track"

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        settings, codec = resources.settings, resources.codec
        bootstrap = settings.kafka_bootstrap
        self.changelog = topics.PARCEL_STATE.topic(settings)
        self.model_store: ChangelogStore[dict[str, Any]] = ChangelogStore(
            bootstrap,
            topics.MODELS.topic(settings),
            codec,
            "ModelSnapshot",
            dict,
            dict,
            lambda m: m["name"],
        )
        self._partitions: dict[int, PartitionState] = {}
        self._stores: dict[int, LocalStore] = {}
        self._snapshot_at: dict[int, int] = {}
        self.clock = now_ms  # epoch ms; tests move it to reach retention and deadlines
        self._order_partitions: dict[str, int] = {}  # murmur2 in Python costs
        # What the last recovery of each partition did (also logged), for bench-scale and tests.
        self.recoveries: dict[int, dict[str, Any]] = {}

    # -- partitions -----------------------------------------------------------------------

    def load(self, partition: int) -> Any:
        return self.partition(partition)

    def partition(self, partition: int) -> PartitionState:
        part = self._partitions.get(partition)
        if part is None:
            self.load_partitions([partition])
            part = self._partitions[partition]
        return part

    def prepare(self, messages: list[InputMessage]) -> None:
        missing = sorted({message.partition for message in messages} - set(self._partitions))
        if missing:
            self.resources.health.wait_out(
                "kafka", partial(self.load_partitions, missing), RECOVERY_ERRORS, "recover state"
            )

    def load_partitions(self, partitions: list[int]) -> None:
        """Bring these partitions' stores up to their changelogs, together: reading the
        changelog (librdkafka) and writing RocksDB release the GIL, so a thread per partition
        makes a restore use both cores (measured on 4 partitions of 500k parcels: 55k
        parcels/s one at a time, 109k in threads)."""
        todo = [p for p in partitions if p not in self._partitions]
        if not todo:
            return
        if len(todo) == 1:
            stores = [self._catch_up(todo[0])]
        else:
            with ThreadPoolExecutor(min(4, len(todo)), thread_name_prefix="restore") as pool:
                stores = list(pool.map(self._catch_up, todo))
        for partition, store in zip(todo, stores, strict=True):
            self._partitions[partition] = self._load_partition(partition, store)

    def drop(self, partitions: Iterable[int]) -> None:
        """A revoked partition may change elsewhere, and a failed attempt may have changed the
        hot set: forget what is in memory; the store catches up with the changelog when the
        partition is needed again."""
        for partition in partitions:
            part = self._partitions.pop(partition, None)
            if part is not None and isinstance(part.parcels, StoredParcels):
                part.parcels.forget()

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()

    def loaded(self) -> list[int]:
        return sorted(self._partitions)

    def state_sizes(self) -> dict[int, dict[str, float]]:
        """Per loaded partition: the store's estimated keys and live bytes, the hot set, and
        what its last recovery replayed (for the metrics)."""
        sizes = {}
        for partition, part in self._partitions.items():
            store = self._stores.get(partition)
            keys, size = store.size() if store is not None else (0, 0)
            recovery = self.recoveries.get(partition, {})
            sizes[partition] = {
                "keys": keys,
                "bytes": size,
                "hot": len(part.parcels) if isinstance(part.parcels, StoredParcels) else 0,
                "recovered_messages": recovery.get("messages", 0),
                "recovery_seconds": recovery.get("seconds", 0.0),
            }
        return sizes

    def _load_partition(self, partition: int, store: LocalStore) -> PartitionState:
        parcels = StoredParcels(store, self.settings.state_cache_parcels)
        models = self.model_store.read_partition(partition)
        part = PartitionState(
            parcels, timers=parcels, retention_ms=self.settings.state_retention_ms
        )
        if "eta" in models:
            part.eta = EtaModel.from_dict(json.loads(zlib.decompress(models["eta"]["model"])))
        if "gaps" in models:
            part.gaps = GapModel.from_dict(json.loads(zlib.decompress(models["gaps"]["model"])))
        if "carrier_eta" in models:
            part.carrier_etas = CarrierEtaScores.from_dict(
                json.loads(zlib.decompress(models["carrier_eta"]["model"]))
            )
        return part

    def _catch_up(self, partition: int) -> LocalStore:
        """The partition's local store, brought up to the end of its changelog: only the tail
        past the store's offset is read (all of it for a new or lost store), copied as bytes."""
        started = time.monotonic()
        topic = self.changelog
        store = self._stores.get(partition)
        if store is None:
            path = self.settings.stores_dir / topic / str(partition)
            store = self._stores[partition] = LocalStore(path)
        start = store.next_offset()
        end = end_offset(self.settings.kafka_bootstrap, topic, partition)
        if start > end:  # the changelog was recreated or truncated: the store is not its copy
            log.warning("store of %s[%d] is at offset %d past the changelog's end %d; "
                        "restoring it anew", topic, partition, start, end)  # fmt: skip
            store.destroy()
            store = self._stores[partition] = LocalStore(store.path)
            start = 0
        chunks = read_changelog(self.settings.kafka_bootstrap, topic, partition, start)
        with self.resources.health.restoring(start, end) as progress:  # read at a scrape
            copied = restore_partition(
                store, self._legacy_converted(chunks), f"{topic}[{partition}]", progress
            )
        seconds = time.monotonic() - started
        self.recoveries[partition] = {"from_offset": start, "to_offset": end,
                                      "messages": copied, "seconds": seconds}  # fmt: skip
        log.info("recovered %s[%d]: replayed %d changelog messages (offsets %d..%d) into the "
                 "local store in %.2fs", topic, partition, copied, start, end, seconds)  # fmt: skip
        return store

    def _legacy_converted(
        self, chunks: Iterable[list[tuple[bytes, bytes | None, int]]]
    ) -> Iterable[list[tuple[bytes, bytes | None, int]]]:
        codec = self.resources.codec
        for chunk in chunks:
            yield [(key, compact_value(codec, value), offset) for key, value, offset in chunk]

    # -- the step and the timer --------------------------------------------------------------

    def split(self, message: InputMessage) -> list[InputMessage] | None:
        """An events batch that fails alone: its halves, re-encoded, down to single scans or
        estimates."""
        try:
            name, record = self.resources.codec.decode(message.value)
        except CodecError:
            return None
        if name != "TrackingEventBatch":
            return None
        events, etas = from_columns(record), etas_from_columns(record)
        if len(events) + len(etas) < 2:
            return None
        encode = self.resources.codec.encode
        halves: tuple[tuple[list[TrackingEvent], list[TrackingEta]], ...]
        if len(events) >= 2 or not etas:
            middle = len(events) // 2
            halves = ((events[:middle], etas), (events[middle:], []))
        else:  # one scan or none left: split the estimates, the scan goes with the first half
            middle = len(etas) // 2
            halves = ((events, etas[:middle]), ([], etas[middle:]))
        return [
            message._replace(value=encode("TrackingEventBatch", to_columns(e, t)))
            for e, t in halves
        ]

    def process(self, messages: list[InputMessage], stats: StepStats) -> None:
        events: dict[int, list[TrackingEvent]] = {}
        etas: dict[int, list[TrackingEta]] = {}
        shipments: dict[int, list[dict[str, Any]]] = {}
        for message in messages:
            decoded = self.decode(message, stats, ("TrackingEventBatch", "ShipmentRegistered"))
            if decoded is None:
                continue
            name, record = decoded
            if name == "TrackingEventBatch":
                events.setdefault(message.partition, []).extend(from_columns(record))
                etas.setdefault(message.partition, []).extend(etas_from_columns(record))
            else:
                shipments.setdefault(message.partition, []).append(record)
        now = self.clock()
        policy, rules = self.resources.policy, self.resources.rules
        for partition in sorted(set(events) | set(shipments)):
            batch_events = events.get(partition, [])
            part = self.partition(partition)
            out = process_batch(
                part,
                batch_events,
                shipments.get(partition, []),
                now,
                policy,
                rules,
                etas.get(partition, ()),
            )
            stats.events += len(batch_events)
            stats.duplicates += out.duplicates
            stats.notifications += len(out.notifications)
            _count_for_metrics(stats, batch_events, out)
            self._emit(partition, part, out, now)

    def tick(self, stats: StepStats | None = None) -> int:
        """Deadlines that passed with no scan (stuck, late, expired) and retention that ran
        out; returns parcels changed or evicted (and counts into `stats`, if given)."""
        now = self.clock()
        changed = 0
        policy, rules = self.resources.policy, self.resources.rules
        for partition, part in list(self._partitions.items()):
            out = process_timers(part, now, policy, rules)
            changed += len(out.changed) + len(out.evicted)
            if stats is not None:
                stats.notifications += len(out.notifications)
                _count_for_metrics(stats, [], out)
            self._emit(partition, part, out, now)
        self.outputs.flush()
        return changed

    def _emit(self, partition: int, part: PartitionState, out: BatchOutput, now: int) -> None:
        """Queue every output of a parcel-stage batch; `flush` makes them durable, then writes
        the local store."""
        add = self.outputs.add
        new_events = out.new_events
        for start in range(0, len(new_events), MAX_EVENTS_PER_BUNDLE):
            chunk = new_events[start : start + MAX_EVENTS_PER_BUNDLE]
            add(topics.TRACKED_EVENTS, to_columns(chunk), partition=partition)
        self._write_parcels(partition, part, out, now)
        for notification in out.notifications:
            add(
                topics.NOTIFICATIONS,
                notification,
                key=notification.tracking_number,
                headers=notification_headers(notification),
            )
        for exception in out.exceptions:
            add(topics.EXCEPTIONS, exception, key=exception.tracking_number)
        self._write_order_updates(out)
        if part.models_changed and now - self._snapshot_at.get(partition, 0) >= (
            self.settings.model_snapshot_seconds * 1000
        ):
            self._snapshot_models(partition, part, now)

    def _write_order_updates(self, out: BatchOutput) -> None:
        """One OrderParcelUpdateBatch per order-updates partition, each update in the
        partition of its order id (where keying by order id would have put it)."""
        if not out.order_updates:
            return
        partitions, partition_of = self.settings.partitions, self._order_partitions
        batches: dict[int, list[dict[str, Any]]] = {}
        for update in out.order_updates:
            number = partition_of.get(update.order_id)
            if number is None:
                if len(partition_of) > 100_000:
                    partition_of.clear()
                number = partition_of[update.order_id] = topics.partition_for(
                    update.order_id, partitions
                )
            batches.setdefault(number, []).append(to_avro(update))
        for number, updates in sorted(batches.items()):
            self.outputs.add(topics.ORDER_UPDATES, {"updates": updates}, partition=number)

    def _write_parcels(
        self, partition: int, part: PartitionState, out: BatchOutput, now: int
    ) -> None:
        """The changed parcels' bytes (and evicted ones' markers) to the changelog, and to the
        store once the changelog has them."""
        parcels = part.parcels
        if not isinstance(parcels, StoredParcels):
            raise TypeError("the track step keeps its parcels in a local store")
        topic, add, encode = self.changelog, self.outputs.add_encoded, state_codec.encode
        deadlines, reached = parcels.take_changes()
        changed: list[tuple[bytes, bytes | None]] = []
        for state in out.changed:
            key = state.tracking_number.encode()
            value = encode(state, deadlines.pop(state.tracking_number, None))
            add(topic, value, key, partition, state=True)
            changed.append((key, value))
        for state in out.evicted:
            key = state.tracking_number.encode()
            deadlines.pop(state.tracking_number, None)
            value = state_codec.encode_marker(
                state.tracking_number, now, None, state.shipment_id, state.retired_shipments
            )
            add(topic, value, key, partition, state=True)
            changed.append((key, value))
        # Parcels a tick rescheduled without changing them: the store's copy gets the new
        # deadline in its header; the changelog's need not (see pipeline/state/local.py).
        rescheduled: list[tuple[bytes, bytes | None]] = []
        for name, deadline in deadlines.items():
            unchanged = parcels.get(name)
            if unchanged is not None:
                rescheduled.append((name.encode(), encode(unchanged, deadline)))
        if not changed and not rescheduled and not reached:
            return
        producer, store = self.resources.producer, parcels.store
        producer.watched.add(topic)
        acked = producer.acked

        def write_store() -> None:
            offset = acked.get((topic, partition)) if changed else None
            store.write(changed + rescheduled, reached, None if offset is None else offset + 1)
            parcels.written()

        self.outputs.after(write_store)

    def _snapshot_models(self, partition: int, part: PartitionState, now: int) -> None:
        snapshots = []
        models = (("eta", part.eta), ("gaps", part.gaps), ("carrier_eta", part.carrier_etas))
        for name, model in models:
            blob = zlib.compress(json.dumps(model.to_dict()).encode(), 6)
            if len(blob) > MODEL_SNAPSHOT_WARN_BYTES:
                log.warning("%s model of partition %d is %.1f MB compressed; the models topic "
                            "takes 16 MB", name, partition, len(blob) / 1e6)  # fmt: skip
            snapshots.append({"name": name, "partition": partition, "updated_at": now,
                              "model": blob})  # fmt: skip
        self.model_store.write(partition, snapshots, self.outputs)
        part.models_changed = False
        self._snapshot_at[partition] = now
