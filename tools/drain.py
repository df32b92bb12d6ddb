"""Has the pipeline caught up? Offsets are committed only after outputs are durable (Kafka for
the stages, ClickHouse for the sink), so groups whose committed offsets equal the end offsets
have written everything."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from pipeline.settings import Settings
from pipeline.sinks.stage import SOURCES, sink_group
from pipeline.topics import EVENTS, ORDER_UPDATES, RAW, SHIPMENTS


def group_lag(
    settings: Settings, topics: list[str], timeout: float = 10.0, group: str | None = None
) -> int:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": group or settings.app_id,
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
    """Wait until every stage consumed all its input, the ClickHouse sink included; returns
    seconds waited.

    Checked in the order data flows (raw, then the keyed topics raw fills, then order updates,
    then the sink's topics), and once more from the start when all were at zero, since an
    earlier stage may have written to a later one between two checks.
    """
    started = time.monotonic()
    app, sink = settings.app_id, sink_group(settings)
    stages = [
        (app, [RAW.topic(settings)]),
        (app, [EVENTS.topic(settings), SHIPMENTS.topic(settings)]),
        (app, [ORDER_UPDATES.topic(settings)]),
        (sink, [spec.topic(settings) for spec in SOURCES]),
    ]
    while True:
        lags = [group_lag(settings, names, group=group) for group, names in stages]
        if not any(lags) and not any(
            group_lag(settings, names, group=group) for group, names in stages
        ):
            return time.monotonic() - started
        if not alive():
            raise RuntimeError("the worker died before the pipeline drained; see its log")
        if time.monotonic() - started > timeout:
            raise TimeoutError(
                f"pipeline not drained after {timeout:.0f}s: lag raw, keyed, orders, sink = {lags}"
            )
        time.sleep(poll)
