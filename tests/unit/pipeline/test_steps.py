"""The runtime steps without a broker: their staged outputs (nothing is produced before
`flush`). Bad items of a readable payload are dead-lettered one by one while its good scans go
on; the carriers' estimates travel to their parcel's partition next to the scans, and survive
the track step's bisection of a failing batch."""

from __future__ import annotations

import json
from typing import Any

from connectors import Reject
from pipeline import topics
from pipeline.codec import AvroCodec
from pipeline.health import Health
from pipeline.ingestion.publisher import raw_envelope
from pipeline.runtime.common import InputMessage, StepStats
from pipeline.runtime.parse import ParseStep, reject_letters
from pipeline.runtime.track import TrackStep
from pipeline.settings import Settings
from tests.unit.tracking.test_parcels import scan
from tracking.events import TrackingEta, etas_from_columns, from_columns, to_columns

CODEC = AvroCodec()


class StubResources:
    """What a step reads from Resources, with no producer: the test never flushes."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.codec = CODEC
        self.producer = None
        self.health = Health()


def run(*envelopes: dict[str, Any]) -> tuple[StepStats, dict[str, list[tuple[Any, ...]]]]:
    step = ParseStep(StubResources())  # type: ignore[arg-type]
    raw_topic = topics.RAW.topic(step.settings)
    messages = [
        InputMessage(raw_topic, 0, offset, CODEC.encode("RawCarrierEvent", envelope))
        for offset, envelope in enumerate(envelopes)
    ]
    stats = StepStats("parse")
    step.process(messages, stats)
    staged: dict[str, list[tuple[Any, ...]]] = {}
    for out in step.outputs._staged:
        staged.setdefault(out.topic, []).append(
            (out.key, out.partition, CODEC.decode(out.value)[1])
        )
    return stats, staged


def generic_body(*events: dict[str, Any]) -> bytes:
    return json.dumps({"carrier": "acme", "events": list(events)}).encode()


GOOD = {"tracking_number": "T1", "code": "DL", "occurred_at": "2026-11-20T14:03:00+01:00"}


def test_bad_events_are_dead_lettered_alone_and_the_good_ones_go_on() -> None:
    body = generic_body(
        GOOD,
        {"tracking_number": "T2", "code": "DL"},  # no time
        {**GOOD, "tracking_number": "T3", "code": "PU"},
        "not an object",
    )
    envelope = raw_envelope("acme", "generic", body, "test", received_at_ms=1_000)
    stats, staged = run(envelope)
    settings = Settings()
    batches = staged[topics.EVENTS.topic(settings)]
    assert sorted(e.tracking_number for b in batches for e in from_columns(b[2])) == ["T1", "T3"]
    letters = staged[topics.DEAD_LETTERS.topic(settings)]
    assert stats.dead_letters == len(letters) == 2 and stats.events == 2
    keys = [key for key, _, _ in letters]
    assert keys == [f"{envelope['event_id']}:0".encode(), f"{envelope['event_id']}:1".encode()]
    records = [record for _, _, record in letters]
    assert len({(r["topic"], r["partition"], r["offset"]) for r in records}) == 2, "two rows"
    for record in records:
        assert record["stage"] == "parse" and record["partition"] == -1
        assert record["raw_event_id"] == envelope["event_id"]
        assert (record["carrier"], record["payload_format"]) == ("acme", "generic")
    assert "occurred_at" in records[0]["error"]
    assert json.loads(records[0]["payload"]) == {"tracking_number": "T2", "code": "DL"}
    assert json.loads(records[1]["payload"]) == "not an object"


def test_reject_letters_are_stable_across_a_replay() -> None:
    message = InputMessage("raw", 3, 17, b"")
    raw = {"event_id": "r1", "carrier": "acme", "payload_format": "generic"}
    rejects = [Reject("bad time", b"{}"), Reject("bad time", b"{}")]
    first = reject_letters(message, raw, rejects, 5)
    assert first == reject_letters(message, raw, rejects, 5)
    assert first[0][1].offset != first[1][1].offset and first[0][0] != first[1][0]


def test_a_payload_with_only_bad_events_is_one_dead_letter() -> None:
    body = generic_body({"tracking_number": "T2", "code": "DL"})
    stats, staged = run(raw_envelope("acme", "generic", body, "test"))
    (letter,) = staged[topics.DEAD_LETTERS.topic(Settings())]
    assert letter[2]["payload"] == body and letter[2]["partition"] == 0
    assert topics.EVENTS.topic(Settings()) not in staged and stats.dead_letters == 1


def test_carrier_estimates_go_to_their_parcels_partition() -> None:
    number = "794612345670"
    track = {
        "trackingNumberInfo": {"trackingNumber": number, "carrierCode": "FDXE"},
        "estimatedDeliveryTimeWindow": {
            "window": {"begins": "2026-11-21T10:00:00+00:00", "ends": "2026-11-21T14:00:00+00:00"}
        },
        "scanEvents": [{"date": "2026-11-20T09:00:00+00:00", "eventType": "PU",
                        "scanLocation": {"city": "MEMPHIS", "countryCode": "US"}}],
    }  # fmt: skip
    body = json.dumps(
        {"output": {"completeTrackResults": [{"trackingNumber": number, "trackResults": [track]}]}}
    ).encode()
    envelope = raw_envelope("fedex", "fedex", body, "poll", received_at_ms=7_000)
    _, staged = run(envelope)
    (batch,) = staged[topics.EVENTS.topic(Settings())]
    assert batch[1] == topics.partition_for(number, Settings().partitions)
    (estimate,) = etas_from_columns(batch[2])
    assert (estimate.tracking_number, estimate.kind, estimate.received_at_ms) == (
        number,
        "estimated",
        7_000,
    )
    assert estimate.estimated_at_ms == estimate.window_end_ms == 1_795_269_600_000
    assert estimate.window_start_ms == 1_795_255_200_000
    assert estimate.raw_event_id == envelope["event_id"] and estimate.source == "poll"
    assert [e.carrier_code for e in from_columns(batch[2])] == ["PU"]


def test_a_failing_events_batch_splits_down_to_single_scans_and_estimates() -> None:
    step = TrackStep(StubResources())  # type: ignore[arg-type]
    events = [scan("P1", "a", "picked_up", 1), scan("P2", "b", "delivered", 2)]
    etas = [TrackingEta(f"P{i}", "fedex", 9, 0, 9, "estimated", False, "", 3, "r", "poll")
            for i in range(3)]  # fmt: skip
    pending = [InputMessage("events", 0, 5, CODEC.encode("TrackingEventBatch",
                                                         to_columns(events, etas)))]  # fmt: skip
    singles = []
    while pending:
        message = pending.pop()
        parts = step.split(message)
        if parts is None:
            singles.append(CODEC.decode(message.value)[1])
        else:
            assert len(parts) == 2 and all(p.offset == 5 for p in parts)
            pending.extend(parts)
    assert sorted(e.event_id for b in singles for e in from_columns(b)) == ["a", "b"]
    assert sorted(t.tracking_number for b in singles for t in etas_from_columns(b)) == [
        "P0",
        "P1",
        "P2",
    ]
    assert all(len(from_columns(b)) + len(etas_from_columns(b)) == 1 for b in singles)
