"""Step 1, parse: RawCarrierEvent messages -> one TrackingEventBatch per events-topic partition.

Stateless: any worker can parse any raw message. Scans and the carriers' delivery estimates are
grouped by the partition of their tracking number, so the keyed stage receives each parcel's
scans and estimates in one place, in columnar batches that decode in one call.

A payload the parser cannot read at all is dead-lettered whole. One bad item inside a readable
payload (a `connectors.Reject`) is dead-lettered on its own, with its fragment and reason, while
the payload's good scans go on (STYLE 16: a stage survives its input).
"""

from __future__ import annotations

import logging
from typing import Any

from connectors import ConnectorError, Reject
from pipeline import topics
from pipeline.records import DeadLetter, no_offset
from pipeline.runtime.common import InputMessage, Resources, Step, StepStats, now_ms
from tracking.events import TrackingEta, TrackingEvent, to_columns
from tracking.normalize import Normalizer, normalize_payload

log = logging.getLogger(__name__)

# Keeps one events-topic message well under Kafka's 1 MB default message size.
MAX_EVENTS_PER_BUNDLE = 2000


def reject_letters(
    message: InputMessage, raw: dict[str, Any], rejects: list[Reject], failed_at_ms: int
) -> list[tuple[str, DeadLetter]]:
    """(Kafka key, dead letter) per reject of one raw message.

    The letters of one message would share its (topic, partition, offset), which keys the
    `dead_letters` table, and so collapse into one row; each gets instead partition -1 and a
    stable offset made from the message's position and the item's index (`no_offset`), so a
    replay of the message lands on the same rows. The raw event id still names the envelope
    for a replay after a parser fix.
    """
    letters = []
    where = f"{message.topic}:{message.partition}:{message.offset}"
    for index, reject in enumerate(rejects):
        key = f"{raw.get('event_id') or where}:{index}"
        letter = DeadLetter(
            reject.reason[:10_000],
            "parse",
            message.topic,
            -1,
            no_offset(f"{where}:reject:{index}"),
            raw.get("event_id"),
            raw.get("carrier"),
            raw.get("payload_format"),
            reject.fragment,
            failed_at_ms,
        )
        letters.append((key, letter))
    return letters


class ParseStep(Step):
    name = "parse"

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        self.normalizer = Normalizer()

    def process(self, messages: list[InputMessage], stats: StepStats) -> None:
        partitions = self.settings.partitions
        partition_of: dict[str, int] = {}  # murmur2 in Python costs; parcels repeat in a batch

        def partition(tracking_number: str) -> int:
            found = partition_of.get(tracking_number)
            if found is None:
                found = partition_of[tracking_number] = topics.partition_for(
                    tracking_number, partitions
                )
            return found

        bundles: dict[int, tuple[list[TrackingEvent], list[TrackingEta]]] = {}
        scans, unknown_codes = stats.scans_by_carrier, stats.unknown_codes
        # The normalizer counts unknown codes per (mapping, code); emptied per batch, its total
        # grows by a message's unknown scans (a few distinct codes to add, not every scan).
        unknown = self.normalizer.unknown_codes
        unknown.clear()
        counted = 0
        for message in messages:
            decoded = self.decode(message, stats, ("RawCarrierEvent",))
            if decoded is None:
                continue
            raw = decoded[1]
            try:
                parsed = normalize_payload(raw, self.normalizer)
            except ConnectorError as exc:
                self.dead_letter(message, "parse", str(exc), raw["payload"], stats, raw,
                                 reason=type(exc).__name__)  # fmt: skip
                continue
            if parsed.rejects:
                self._dead_letter_rejects(message, raw, parsed.rejects, stats)
            for event in parsed.events:
                bundles.setdefault(partition(event.tracking_number), ([], []))[0].append(event)
            for eta in parsed.etas:
                bundles.setdefault(partition(eta.tracking_number), ([], []))[1].append(eta)
            stats.events += len(parsed.events)
            carrier = raw["carrier"] or raw["payload_format"]
            scans[carrier] = scans.get(carrier, 0) + len(parsed.events)
            if unknown and (total := unknown.total()) > counted:
                unknown_codes[carrier] = unknown_codes.get(carrier, 0) + total - counted
                counted = total
        unknown.clear()
        for number, (events, etas) in bundles.items():
            size = MAX_EVENTS_PER_BUNDLE
            for start in range(0, max(len(events), len(etas)), size):
                batch = to_columns(events[start : start + size], etas[start : start + size])
                self.outputs.add(topics.EVENTS, batch, partition=number)

    def _dead_letter_rejects(
        self, message: InputMessage, raw: dict[str, Any], rejects: list[Reject], stats: StepStats
    ) -> None:
        for key, letter in reject_letters(message, raw, rejects, now_ms()):
            self.outputs.add(topics.DEAD_LETTERS, letter, key=key)
            stats.dead_lettered("parse", "reject", raw["carrier"] or raw["payload_format"])
        log.warning(
            "dead-lettered %d bad item(s) of %s[%d]@%d (raw event %s), kept the rest: %s",
            len(rejects),
            message.topic,
            message.partition,
            message.offset,
            raw.get("event_id"),
            rejects[0].reason[:500],
        )
