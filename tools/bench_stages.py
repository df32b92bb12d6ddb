"""The per-stage cost of a scan, in µs, measured in one process on the bench's own data (no
Kafka, no ClickHouse): where the pipeline's time goes, stage by stage, for `make bench`.

Each row times one piece of work over the whole data set and divides by the scans it carried.
The pieces are the ones the runtime does, in its order; what the table leaves out is Kafka
(consume, produce, commit), Faust and the ClickHouse insert itself.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tracking.parcels
from connectors import ConnectorError
from connectors.native import compiled
from pipeline.codec import AvroCodec
from pipeline.health import tune_gc
from pipeline.ingestion.publisher import raw_envelope
from pipeline.sinks import tables
from pipeline.state.local import LocalStore
from tools.simulator import Simulation
from tracking import state_codec
from tracking.events import TrackingEvent, etas_from_columns, from_columns, to_columns
from tracking.normalize import Normalizer, normalize_payload
from tracking.parcels import PartitionState, process_batch

# Parcel-stage batches of this many scans (a take() of events-topic messages).
TRACK_BATCH = 4000


def _timed(rows: list[tuple[str, float]], name: str, work: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = work()
    rows.append((name, time.perf_counter() - started))
    return result


def stage_costs(simulation: Simulation, now_ms: int) -> tuple[int, list[tuple[str, float]]]:
    """(scans, [(stage, seconds)]) over the simulation's payloads."""
    codec = AvroCodec()
    rows: list[tuple[str, float]] = []
    raw = [
        codec.encode("RawCarrierEvent", raw_envelope(c, f, b, source="bench"))
        for c, f, b in simulation.payloads
    ]
    envelopes = _timed(
        rows, "raw envelope decode (Avro)", lambda: [codec.decode(m)[1] for m in raw]
    )
    normalizer = Normalizer()

    def parse() -> list[TrackingEvent]:
        events: list[TrackingEvent] = []
        for envelope in envelopes:
            try:
                events.extend(normalize_payload(envelope, normalizer).events)
            except ConnectorError:  # the simulator's deliberately malformed payloads
                continue
        return events

    events = _timed(rows, "parse + normalize (connectors)", parse)
    chunks = [events[i : i + TRACK_BATCH] for i in range(0, len(events), TRACK_BATCH)]
    encoded = _timed(
        rows,
        "events batch encode (to the events topic)",
        lambda: [codec.encode("TrackingEventBatch", to_columns(c)) for c in chunks],
    )
    decoded = _timed(
        rows,
        "events batch decode (in the parcel stage)",
        lambda: [
            (from_columns(r), etas_from_columns(r)) for r in (codec.decode(m)[1] for m in encoded)
        ],
    )
    part = PartitionState(retention_ms=30 * 86_400_000)
    shipments = list(simulation.shipments)
    values: list[list[tuple[bytes, bytes | None]]] = []
    new_events: list[TrackingEvent] = []
    fold = encode = 0.0
    clock = time.perf_counter
    for index, (batch, etas) in enumerate(decoded):
        started = clock()
        out = process_batch(part, batch, shipments if index == 0 else [], now_ms, etas=etas)
        between = clock()
        # Each batch's changed parcels as they are after it, as the step encodes them.
        values.append([(s.tracking_number.encode(), state_codec.encode(s)) for s in out.changed])
        fold, encode = fold + between - started, encode + clock() - between
        new_events.extend(out.new_events)
    rows.append(("parcel stage: fold, ETA, exceptions, notify", fold))
    rows.append(("parcel state encode (compact, changelog)", encode))
    with tempfile.TemporaryDirectory() as directory:
        store = LocalStore(Path(directory) / "bench")

        def write() -> None:
            for batch in values:
                store.write(batch)

        _timed(rows, "local store write (RocksDB)", write)
        store.close()
    _timed(
        rows,
        "sink: event rows",
        lambda: [tables.TRACKING_EVENTS.row(e) for e in new_events],
    )
    _timed(
        rows,
        "sink: parcel-state decode + rows",
        lambda: [tables.PARCEL_STATE.row(codec.decode(value)[1]) for v in values for _, value in v],
    )
    return len(events), rows


def print_stage_costs(simulation: Simulation, now_ms: int) -> None:
    tune_gc()  # as the runtime's processes do
    scans, rows = stage_costs(simulation, now_ms)
    core = "compiled (mypyc)" if compiled(tracking.parcels) else "pure Python"
    print(
        f"per-stage cost, in process, {scans:,} scans (no Kafka, no ClickHouse insert; "
        f"core: {core}):"
    )
    print(f"  {'stage':46}{'µs/scan':>9}")
    for name, seconds in rows:
        print(f"  {name:46}{seconds / scans * 1e6:>9.1f}")
    total = sum(seconds for _, seconds in rows)
    print(
        f"  {'total':46}{total / scans * 1e6:>9.1f}  (= {scans / total:,.0f} scans/s on one core)"
    )
