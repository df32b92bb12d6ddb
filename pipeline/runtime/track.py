"""Step 2, track: TrackingEventBatch (scans and carrier estimates) + ShipmentRegistered messages
-> parcel state (changelog),
deduplicated events (tracked-events), ETA, exceptions, notifications and order summaries; and
the timer tick that runs the same exception rules for parcels whose deadlines passed with no
scan. Everything goes to Kafka; the ClickHouse sink stage reads it from there.

The pure work is `tracking.parcels.process_batch` / `process_timers`; this step owns the
partitions' recovery from their changelogs, the outputs' topics and tables, and the periodic
model snapshots.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterable
from typing import Any

from pipeline import topics
from pipeline.codec import CodecError
from pipeline.runtime.common import (
    InputMessage,
    PartitionedStep,
    Resources,
    StepStats,
    now_ms,
)
from pipeline.runtime.parse import MAX_EVENTS_PER_BUNDLE
from pipeline.store import ChangelogStore
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


class TrackStep(PartitionedStep):
    name = "track"

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        settings, codec = resources.settings, resources.codec
        bootstrap = settings.kafka_bootstrap
        self.parcel_store: ChangelogStore[ParcelState] = ChangelogStore(
            bootstrap,
            topics.PARCEL_STATE.topic(settings),
            codec,
            "ParcelState",
            ParcelState.to_record,
            ParcelState.from_record,
            lambda s: s.tracking_number,
        )
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
        self._snapshot_at: dict[int, int] = {}

    # -- partitions -----------------------------------------------------------------------

    def load(self, partition: int) -> Any:
        return self.partition(partition)

    def partition(self, partition: int) -> PartitionState:
        part = self._partitions.get(partition)
        if part is None:
            part = self._partitions[partition] = self._load_partition(partition)
        return part

    def drop(self, partitions: Iterable[int]) -> None:
        """A revoked partition may change elsewhere: reload it if it comes back."""
        for partition in partitions:
            self._partitions.pop(partition, None)

    def loaded(self) -> list[int]:
        return sorted(self._partitions)

    def _load_partition(self, partition: int) -> PartitionState:
        parcels = self.parcel_store.read_partition(partition)
        models = self.model_store.read_partition(partition)
        part = PartitionState(parcels)
        if "eta" in models:
            part.eta = EtaModel.from_dict(json.loads(zlib.decompress(models["eta"]["model"])))
        if "gaps" in models:
            part.gaps = GapModel.from_dict(json.loads(zlib.decompress(models["gaps"]["model"])))
        if "carrier_eta" in models:
            part.carrier_etas = CarrierEtaScores.from_dict(
                json.loads(zlib.decompress(models["carrier_eta"]["model"]))
            )
        now = now_ms()
        policy = self.resources.policy
        for state in parcels.values():
            part.schedule(state, now, policy)
        return part

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
        now = now_ms()
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
            self._emit(partition, part, out, now)

    def tick(self) -> int:
        """Deadlines that passed with no scan (stuck, late, expired); returns parcels changed."""
        now = now_ms()
        changed = 0
        policy, rules = self.resources.policy, self.resources.rules
        for partition, part in list(self._partitions.items()):
            out = process_timers(part, now, policy, rules)
            if out.changed:
                changed += len(out.changed)
                self._emit(partition, part, out, now)
        if changed:
            self.outputs.flush()
        return changed

    def _emit(self, partition: int, part: PartitionState, out: BatchOutput, now: int) -> None:
        """Queue every output of a parcel-stage batch; `flush` makes them durable."""
        add = self.outputs.add
        new_events = out.new_events
        for start in range(0, len(new_events), MAX_EVENTS_PER_BUNDLE):
            chunk = new_events[start : start + MAX_EVENTS_PER_BUNDLE]
            add(topics.TRACKED_EVENTS, to_columns(chunk), partition=partition)
        self.parcel_store.write(partition, out.changed, self.outputs)
        for notification in out.notifications:
            add(
                topics.NOTIFICATIONS,
                notification,
                key=notification.tracking_number,
                headers=notification_headers(notification),
            )
        for exception in out.exceptions:
            add(topics.EXCEPTIONS, exception, key=exception.tracking_number)
        for update in out.order_updates:
            add(topics.ORDER_UPDATES, update, key=update.order_id)
        if part.models_changed and now - self._snapshot_at.get(partition, 0) >= (
            self.settings.model_snapshot_seconds * 1000
        ):
            self._snapshot_models(partition, part, now)

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
