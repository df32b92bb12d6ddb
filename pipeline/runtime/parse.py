"""Step 1, parse: RawCarrierEvent messages -> one TrackingEventBatch per events-topic partition.

Stateless: any worker can parse any raw message. Scans are grouped by the partition of their
tracking number, so the keyed stage receives each parcel's scans in one place, in columnar
batches that decode in one call.
"""

from __future__ import annotations

from connectors import ConnectorError
from pipeline import topics
from pipeline.runtime.common import InputMessage, Resources, Step, StepStats
from tracking.events import TrackingEvent, to_columns
from tracking.normalize import Normalizer, normalize_payload

# Keeps one events-topic message well under Kafka's 1 MB default message size.
MAX_EVENTS_PER_BUNDLE = 2000


class ParseStep(Step):
    name = "parse"

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.normalizer = Normalizer()

    def process(self, messages: list[InputMessage], stats: StepStats) -> None:
        partitions = self.settings.partitions
        partition_of: dict[str, int] = {}  # murmur2 in Python costs; parcels repeat in a batch
        bundles: dict[int, list[TrackingEvent]] = {}
        for message in messages:
            decoded = self.decode(message, stats, ("RawCarrierEvent",))
            if decoded is None:
                continue
            raw = decoded[1]
            try:
                events = normalize_payload(raw, self.normalizer)
            except ConnectorError as exc:
                self.dead_letter(message, "parse", str(exc), raw["payload"], stats, raw)
                continue
            for event in events:
                partition = partition_of.get(event.tracking_number)
                if partition is None:
                    partition = partition_of[event.tracking_number] = topics.partition_for(
                        event.tracking_number, partitions
                    )
                bundles.setdefault(partition, []).append(event)
            stats.events += len(events)
        for partition, records in bundles.items():
            for start in range(0, len(records), MAX_EVENTS_PER_BUNDLE):
                chunk = records[start : start + MAX_EVENTS_PER_BUNDLE]
                self.outputs.add(topics.EVENTS, to_columns(chunk), partition=partition)
