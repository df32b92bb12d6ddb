"""What every fault test does around its fault: watch lag and health while it lasts, take a
service away and bring it back, and count what ended up in ClickHouse against what was sent.

Counts, not booleans: the closing table of issue 9 wants, per fault, how many scans were lost
and how many rows were duplicated, so a failing run says how badly it failed.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import Publisher
from pipeline.settings import Settings
from pipeline.sinks.engines import NativeEngine
from pipeline.topics import (
    ALL_TOPICS,
    EVENTS,
    MODELS,
    NOTIFICATIONS,
    ORDER_UPDATES,
    RAW,
    SHIPMENTS,
)
from tests.kafka_helpers import read_topic
from tools.simulator import Simulation, publish

STAGE_INPUTS = (RAW, SHIPMENTS, EVENTS, ORDER_UPDATES)
# The sink consumes every output a data team reads; whatever the stages add to ALL_TOPICS later
# (a deduped events topic, say) is counted without a change here. Models are not sunk.
SINK_INPUTS = tuple(spec for spec in ALL_TOPICS if spec not in (*STAGE_INPUTS, MODELS))


def sink_group(settings: Settings) -> str:
    return f"{settings.app_id}-sink"


def group_lag(settings: Settings, group: str, topics: list[str], timeout: float = 5.0) -> int:
    """Messages on `topics` that `group` has not committed yet (never committed = all)."""
    # log_level 0: during a broker outage librdkafka logs every refused connect, per consumer.
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": group,
         "enable.auto.commit": False, "log_level": 0}
    )  # fmt: skip
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in range(settings.partitions)]
        lag = 0
        for tp in consumer.committed(partitions, timeout=timeout):
            _, high = consumer.get_watermark_offsets(tp, timeout=timeout)
            lag += high - max(tp.offset, 0)
        return lag
    finally:
        consumer.close()


def stage_lag(settings: Settings) -> int:
    return group_lag(settings, settings.app_id, [s.topic(settings) for s in STAGE_INPUTS])


def sink_lag(settings: Settings) -> int:
    return group_lag(settings, sink_group(settings), [s.topic(settings) for s in SINK_INPUTS])


class LagMonitor:
    """Samples the lag of the stages plus the sink's about once a second in a thread and keeps
    the peak. A sample that fails (the broker is the fault) is skipped: the peak is what was
    measurable. The sink's lag counts once its group has been seen, so a pipeline without a
    sink consumer (ClickHouse written by the stages) is not charged with every output."""

    def __init__(self, settings: Settings, into: Any = None, every: float = 1.0) -> None:
        self.settings = settings
        self.into = into  # a FaultRecord: gets the peak even when the test fails midway
        self.every = every
        self.peak = 0
        self.samples = 0
        self.sink_seen = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-monitor", daemon=True)

    def __enter__(self) -> LagMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        if self.into is not None:
            self.into.lag_peak = self.peak

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                lag = stage_lag(self.settings)
                self.sink_seen = (
                    self.sink_seen
                    or group_members(self.settings, sink_group(self.settings), stable=False) > 0
                )
                if self.sink_seen:
                    lag += sink_lag(self.settings)
                self.peak = max(self.peak, lag)
                self.samples += 1
            except Exception:  # noqa: BLE001, S110 - unreachable broker: no sample this time
                pass
            self._stop.wait(self.every)


def group_members(settings: Settings, group: str, stable: bool = True) -> int:
    """Members of a consumer group (with `stable`, 0 unless it is stable: a rebalancing
    group's member list is not settled)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap, "log_level": 0})
    try:
        described = admin.describe_consumer_groups([group], request_timeout=5)[group].result()
    except Exception:  # noqa: BLE001 - no such group yet
        return 0
    if stable and not str(described.state).endswith("STABLE"):
        return 0
    return len(described.members)


def wait_members(settings: Settings, group: str, more_than: int, timeout: float = 60) -> int:
    """Wait until `group` is stable with more than `more_than` members; returns how many."""
    until = time.monotonic() + timeout
    while (members := group_members(settings, group)) <= more_than:
        assert time.monotonic() < until, f"{group}: still {members} members after {timeout:.0f}s"
        time.sleep(0.5)
    return members


def health(settings: Settings) -> dict[str, Any] | None:
    """The worker's GET /health, or None when it does not answer (yet)."""
    url = f"http://127.0.0.1:{settings.web_port}/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as reply:  # noqa: S310 - our own worker
            return dict(json.loads(reply.read()))
    except Exception:  # noqa: BLE001 - refused, timed out, 404 before it lands: no answer
        return None


def waiting_for(answer: dict[str, Any] | None) -> set[str]:
    return {str(w.get("for")) for w in (answer or {}).get("waiting", [])}


def watch_health(settings: Settings, seconds: float, every: float = 2.0) -> list[dict[str, Any]]:
    """Sleep `seconds` (the outage), asking the worker's health every `every` seconds."""
    seen: list[dict[str, Any]] = []
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        answer = health(settings)
        if answer is not None:
            seen.append(answer)
        time.sleep(min(every, max(left, 0)))
    return seen


def wait_health(
    settings: Settings, predicate: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any] | None:
    """First health answer for which `predicate(answer)` holds, or None after `timeout`."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        answer = health(settings)
        if answer is not None and predicate(answer):
            return answer
        time.sleep(1.0)
    return None


class Service(Protocol):
    def stop(self) -> None: ...
    def start(self) -> None: ...


class Outage:
    """A service taken away (`begin`) and brought back with the same data and port (`end`).
    As a context manager it always ends, also when the test fails inside it, so the next
    test finds the service up."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.began: float | None = None
        self.ended: float | None = None

    def begin(self) -> None:
        self.service.stop()
        self.began = time.monotonic()

    def end(self) -> None:
        if self.began is not None and self.ended is None:
            self.service.start()
            self.ended = time.monotonic()

    def left(self, total: float) -> float:
        """Seconds until the outage has lasted `total`."""
        assert self.began is not None
        return max(0.0, self.began + total - time.monotonic())

    def __enter__(self) -> Outage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()


def publish_in_waves(
    simulation: Simulation, settings: Settings, after_wave: list[Callable[[], object]]
) -> None:
    """The simulator's feed in len(after_wave) waves, calling after_wave[i] after wave i: the
    faults happen mid-stream, between waves the pipeline is still busy with."""
    calls = iter(after_wave)
    publish(simulation, Publisher(settings, AvroCodec()), waves=len(after_wave),
            between_waves=lambda: next(calls)())  # fmt: skip


@dataclass
class Outcome:
    """What ClickHouse holds against what the simulator sent (its parcels only)."""

    lost: int = 0  # unique scans sent but not in tracking_events
    duplicated: int = 0  # rows beyond one per scan (events) or per parcel (states) after FINAL
    wrong_status: int = 0  # parcels not counted under the final status their lifecycle ended in
    missing_notifications: int = 0  # ids on the notifications topic but not in ClickHouse
    extra_notifications: int = 0  # ids in ClickHouse that the topic never carried
    dead_letters: int = 0  # rows in dead_letters (FINAL)
    problems: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (self.lost or self.duplicated or self.wrong_status
                    or self.missing_notifications or self.extra_notifications)  # fmt: skip


def clickhouse(settings: Settings) -> NativeEngine:
    assert settings.clickhouse_url is not None, "the fault suite runs on a ClickHouse server"
    return NativeEngine(settings.clickhouse_url.get_secret_value())


def notification_ids_on_topic(settings: Settings) -> set[str]:
    codec = AvroCodec()
    ids = set()
    for _, value in read_topic(settings.kafka_bootstrap, NOTIFICATIONS.topic(settings)):
        name, record = codec.decode(value)
        assert name == "Notification", name
        ids.add(record["notification_id"])
    return ids


def outcome(settings: Settings, simulation: Simulation) -> Outcome:
    """Count lost, duplicated and wrong, per parcel of `simulation`; rows of other parcels (a
    test's own payloads) are ignored here and checked by that test."""
    sent = Counter(scan.tracking_number for scan in simulation.scans)
    engine = clickhouse(settings)
    db = engine.database
    try:
        stored = dict(engine.query(
            f"SELECT tracking_number, count() FROM {db}.tracking_events FINAL "
            "GROUP BY tracking_number"
        ))  # fmt: skip
        states = engine.query(
            f"SELECT tracking_number, count(), any(status) FROM {db}.parcel_state FINAL "
            "GROUP BY tracking_number"
        )
        stored_ids = {row[0] for row in engine.query(
            f"SELECT DISTINCT notification_id FROM {db}.notifications"
        )}  # fmt: skip
        notification_rows = int(engine.query(f"SELECT count() FROM {db}.notifications FINAL")[0][0])
        dead = int(engine.query(f"SELECT count() FROM {db}.dead_letters FINAL")[0][0])
    finally:
        engine.close()
    result = Outcome(dead_letters=dead)
    for tn, want in sent.items():
        got = int(stored.get(tn, 0))
        result.lost += max(0, want - got)
        result.duplicated += max(0, got - want)
    ours = [(tn, int(n), status) for tn, n, status in states if tn in sent]
    result.duplicated += sum(n - 1 for _, n, _ in ours)
    result.duplicated += notification_rows - len(stored_ids)
    statuses = Counter(status for _, _, status in ours)
    want_status = simulation.manifest.final_status
    result.wrong_status = sum(max(0, n - statuses.get(s, 0)) for s, n in want_status.items())
    if result.wrong_status:
        result.problems.append(f"final statuses {dict(statuses)}, sent {want_status}")
    on_topic = notification_ids_on_topic(settings)
    result.missing_notifications = len(on_topic - stored_ids)
    result.extra_notifications = len(stored_ids - on_topic)
    return result
