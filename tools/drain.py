"""Has the pipeline caught up? Offsets are committed only after outputs are durable, so a
consumer group whose committed offsets equal the end offsets has written everything."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from pipeline.settings import Settings
from pipeline.topics import EVENTS, RAW, SHIPMENTS


def group_lag(settings: Settings, topics: list[str], timeout: float = 10.0) -> int:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": settings.app_id,
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in range(settings.partitions)]
        committed = consumer.committed(partitions, timeout=timeout)
        lag = 0
        for tp in committed:
            _, high = consumer.get_watermark_offsets(tp, timeout=timeout)
            lag += high - max(tp.offset, 0)
        return lag
    finally:
        consumer.close()


def wait_drained(
    settings: Settings,
    timeout: float = 300.0,
    poll: float = 1.0,
    alive: Callable[[], bool] = lambda: True,
) -> float:
    """Wait until raw, events and shipments are fully consumed; returns seconds waited.

    Raw is checked first and the keyed topics after, because parsing raw fills `events`.
    """
    started = time.monotonic()
    raw = [RAW.topic(settings)]
    keyed = [EVENTS.topic(settings), SHIPMENTS.topic(settings)]
    while True:
        if group_lag(settings, raw) == 0 and group_lag(settings, keyed) == 0:
            return time.monotonic() - started
        if not alive():
            raise RuntimeError("the worker died before the pipeline drained; see its log")
        if time.monotonic() - started > timeout:
            raise TimeoutError(
                f"pipeline not drained after {timeout:.0f}s: lag raw={group_lag(settings, raw)} "
                f"keyed={group_lag(settings, keyed)}"
            )
        time.sleep(poll)
