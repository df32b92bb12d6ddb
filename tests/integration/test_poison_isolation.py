"""A stage survives its input (issue 9): bad messages on an input topic are dead-lettered with
their original bytes and the reason, everything else in the batch proceeds. On the real
broker, driving the runtime steps directly (no Faust), so each case is exact and quick."""

from __future__ import annotations

import json
import struct

import pytest

from pipeline import topics
from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import raw_envelope
from pipeline.runtime.common import InputMessage, Resources, StepStats
from pipeline.runtime.parse import ParseStep
from pipeline.runtime.track import TrackStep
from pipeline.settings import Settings
from tests.kafka_helpers import read_records
from tracking.events import from_columns, to_columns
from tracking.normalize import Normalizer, normalize_payload

pytestmark = pytest.mark.integration


def generic(tracking_number: str, description: str = "Delivered") -> bytes:
    event = {"tracking_number": tracking_number, "code": "DL", "description": description,
             "occurred_at": "2026-11-20T14:03:00+01:00", "location": {"country": "DE"}}  # fmt: skip
    return json.dumps({"carrier": "acme", "events": [event]}).encode()


def raw(codec: AvroCodec, payload: bytes) -> bytes:
    return codec.encode("RawCarrierEvent", raw_envelope("acme", "generic", payload, "test"))


def messages(settings: Settings, values: list[bytes | None]) -> list[InputMessage]:
    topic = topics.RAW.topic(settings)
    return [InputMessage(topic, 0, offset, value) for offset, value in enumerate(values)]  # type: ignore[arg-type]


def dead_letters(settings: Settings, expect: int) -> list[dict]:
    return [r for _, r in read_records(settings.kafka_bootstrap,
                                       topics.DEAD_LETTERS.topic(settings), expect)]  # fmt: skip


def test_every_kind_of_bad_raw_message_is_dead_lettered_alone(run_settings: Settings) -> None:
    codec = AvroCodec()
    unknown_schema = struct.pack(">bI", 0, 999_999) + b"\x00"
    wrong_type = codec.encode("Address", {"city": "", "region": "", "postal_code": "",
                                          "country": ""})  # fmt: skip
    values: list[bytes | None] = [
        raw(codec, generic("T0")),
        None,  # a null value
        b"not avro at all",
        unknown_schema,
        wrong_type,
        raw(codec, generic("T5", "x\udfff".encode("utf-8", "surrogatepass").decode("latin-1"))),
        raw(codec, b'{"carrier": "acme", "events": [{"tracking_number": "T6", "code": "DL", '
                   b'"description": "x\\udfff", "occurred_at": "2026-11-20T14:03:00Z"}]}'),
        raw(codec, b"{not json"),
        raw(codec, generic("T8", "y" * 900_000)),  # a 900 KB payload
        raw(codec, generic("T9")),
    ]  # fmt: skip
    step = ParseStep(Resources(run_settings))
    stats = step.run(messages(run_settings, values))

    bad = {1: "decode", 2: "decode", 3: "decode", 4: "decode", 7: "parse"}
    assert stats.dead_letters == len(bad)
    letters = dead_letters(run_settings, len(bad))
    assert {r["offset"]: r["stage"] for r in letters} == bad
    for letter in letters:
        original = values[letter["offset"]]
        expected = b"" if original is None else original
        if letter["stage"] == "parse":  # the parse stage keeps the carrier payload itself
            expected = b"{not json"
        assert letter["payload"] == expected and letter["error"]
    batches = read_records(run_settings.kafka_bootstrap, topics.EVENTS.topic(run_settings))
    numbers = sorted(e.tracking_number for _, b in batches for e in from_columns(b))
    assert numbers == ["T0", "T5", "T6", "T8", "T9"], "a lone surrogate is cleaned, not fatal"


class FragileParse(ParseStep):
    """A step with a bug that only some inputs trigger, to watch the isolation narrow it."""

    def process(self, messages: list[InputMessage], stats: StepStats) -> None:
        if any(b"BOOM" in (m.value or b"") for m in messages):
            raise RuntimeError("boom")
        super().process(messages, stats)


def test_a_failing_batch_is_bisected_to_the_messages_that_fail(run_settings: Settings) -> None:
    codec = AvroCodec()
    numbers = [f"N{i}" for i in range(9)]
    values = [raw(codec, generic(n, "BOOM" if n in ("N2", "N7") else "ok")) for n in numbers]
    stats = FragileParse(Resources(run_settings)).run(messages(run_settings, values))

    assert stats.dead_letters == 2 and stats.events == 7, "counted once, not per attempt"
    letters = dead_letters(run_settings, 2)
    assert sorted(r["offset"] for r in letters) == [2, 7]
    assert all(r["error"] == "RuntimeError: boom" and r["stage"] == "parse" for r in letters)
    payloads = [r["payload"] for r in sorted(letters, key=lambda r: r["offset"])]
    assert payloads == [values[2], values[7]]
    batches = read_records(run_settings.kafka_bootstrap, topics.EVENTS.topic(run_settings))
    seen = sorted(e.tracking_number for _, b in batches for e in from_columns(b))
    assert seen == sorted(set(numbers) - {"N2", "N7"}), "each good scan sent exactly once"


class FragileTrack(TrackStep):
    def process(self, messages: list[InputMessage], stats: StepStats) -> None:
        codec = self.resources.codec
        for message in messages:
            if any(
                e.tracking_number == "BAD" for e in from_columns(codec.decode(message.value)[1])
            ):
                raise RuntimeError("bad parcel")
        super().process(messages, stats)


def test_one_bad_scan_in_an_events_batch_costs_only_that_scan(run_settings: Settings) -> None:
    codec, normalizer = AvroCodec(), Normalizer()
    events = []
    for number in ["P1", "P2", "BAD", "P3", "P4", "P5"]:
        envelope = raw_envelope("acme", "generic", generic(number), "test")
        events += normalize_payload(envelope, normalizer).events
    batch = codec.encode("TrackingEventBatch", to_columns(events))
    message = InputMessage(topics.EVENTS.topic(run_settings), 0, 41, batch)
    stats = FragileTrack(Resources(run_settings)).run([message])

    assert stats.dead_letters == 1 and stats.events == 5
    (letter,) = dead_letters(run_settings, 1)
    assert letter["offset"] == 41 and letter["error"] == "RuntimeError: bad parcel"
    (only,) = from_columns(codec.decode(letter["payload"])[1])
    assert only.tracking_number == "BAD", "the dead letter holds just the failing scan"
    states = read_records(run_settings.kafka_bootstrap, topics.PARCEL_STATE.topic(run_settings), 5)
    assert sorted(r["tracking_number"] for _, r in states) == ["P1", "P2", "P3", "P4", "P5"]
