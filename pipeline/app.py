"""The Faust app: `faust -A pipeline.app worker -l info` or `parcelstream worker`.

Faust does what it is good at here: the app, topic subscriptions, partition assignment
(events and shipments are co-partitioned, so one worker owns a parcel), offset commits,
rebalancing, the CLI and web views. The per-message work is done per batch by
`pipeline.runtime.Pipeline` in a worker thread, because Faust's own per-message and per-table-
write costs cap throughput far below what a tracking backbone needs.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.runtime import InputMessage, Pipeline
from pipeline.settings import get_settings
from pipeline.sinks.engines import open_engine
from pipeline.sinks.migrations import migrate
from pipeline.topics import EVENTS, ORDER_UPDATES, RAW, SHIPMENTS, ensure_topics

log = logging.getLogger(__name__)
settings = get_settings()
settings.state_dir.mkdir(parents=True, exist_ok=True)  # Faust's datadir lives under it


class ParcelstreamApp(faust.App):
    """Creates topics and ClickHouse tables before the consumer subscribes."""

    pipeline: Pipeline | None = None

    async def on_first_start(self) -> None:
        await super().on_first_start()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, ensure_topics, settings)
        url = settings.clickhouse_url.get_secret_value() if settings.clickhouse_url else None
        engine = await loop.run_in_executor(
            None, open_engine, url, settings.chdb_dir, settings.clickhouse_database
        )
        applied = await loop.run_in_executor(None, migrate, engine)
        log.info("clickhouse (%s) ready; migrations applied: %s", engine.name, applied or "none")
        self.pipeline = Pipeline(settings, engine)


app = ParcelstreamApp(
    settings.app_id,
    broker=f"kafka://{settings.kafka_bootstrap}",
    store="memory://",
    value_serializer="raw",
    key_serializer="raw",
    topic_partitions=settings.partitions,
    topic_allow_declare=False,  # ensure_topics() owns creation, with the right configs
    consumer_auto_offset_reset="earliest",
    broker_commit_interval=settings.commit_interval,
    web_port=settings.web_port,
    web_host="127.0.0.1",
    datadir=str(settings.state_dir / "faust"),
)

raw_topic = app.topic(settings.topic(RAW.suffix), value_serializer="raw", key_serializer="raw")
# Scans and shipment registrations share a subscription so Faust assigns partition p of both
# to the same worker: the parcel's state sees both.
keyed_topics = app.topic(
    settings.topic(EVENTS.suffix),
    settings.topic(SHIPMENTS.suffix),
    value_serializer="raw",
    key_serializer="raw",
)

order_updates_topic = app.topic(
    settings.topic(ORDER_UPDATES.suffix), value_serializer="raw", key_serializer="raw"
)

# One thread per stage keeps each stage's batches in order while the event loop keeps fetching;
# the deadline timer runs in the parcel stage's thread, so it never races a batch.
_parse_thread = ThreadPoolExecutor(1, thread_name_prefix="parse")
_track_thread = ThreadPoolExecutor(1, thread_name_prefix="track")
_order_thread = ThreadPoolExecutor(1, thread_name_prefix="orders")


def _inputs(events: Any) -> list[InputMessage]:
    return [
        InputMessage(e.message.topic, e.message.partition, e.message.offset, e.message.value)
        for e in events
    ]


async def _run_step(thread: ThreadPoolExecutor, step: Callable[..., Any], *args: Any) -> None:
    """Run a batch step; if it fails, stop the process *before* any commit.

    Faust acknowledges a `take()` batch even when the agent body raises, and its supervisor
    then restarts the agent: the batch would be committed unprocessed. Bad input never gets
    here (it is dead-lettered) and Kafka/ClickHouse outages are retried inside the steps, so
    what remains is a bug or a broken machine: exit hard, and the restarted worker replays
    the batch from the last commit.
    """
    try:
        await asyncio.get_running_loop().run_in_executor(thread, step, *args)
    except Exception:  # noqa: BLE001
        log.critical(
            "batch step %s failed; exiting without committing it", step.__name__, exc_info=True
        )
        logging.shutdown()
        os._exit(70)


def _pipeline() -> Pipeline:
    if app.pipeline is None:
        raise RuntimeError("pipeline used before the app started")
    return app.pipeline


@app.agent(raw_topic)
async def parse_raw(stream: faust.StreamT) -> None:
    """Raw carrier payloads -> normalized events, batched per events-topic partition."""
    async for events in cast(faust.Stream, stream).take_events(
        settings.batch_max, settings.batch_within
    ):
        await _run_step(_parse_thread, _pipeline().parse_step, _inputs(events))


@app.agent(keyed_topics)
async def track_parcels(stream: faust.StreamT) -> None:
    """Normalized events + shipments -> parcel state, notifications, ClickHouse rows."""
    async for events in cast(faust.Stream, stream).take_events(
        settings.batch_max, settings.batch_within
    ):
        await _run_step(_track_thread, _pipeline().track_step, _inputs(events))


@app.agent(order_updates_topic)
async def track_orders(stream: faust.StreamT) -> None:
    """Parcel summaries keyed by order id -> one view per order."""
    async for events in cast(faust.Stream, stream).take_events(
        settings.batch_max, settings.batch_within
    ):
        await _run_step(_order_thread, _pipeline().order_step, _inputs(events))


@app.timer(interval=settings.timer_interval)
async def check_deadlines() -> None:
    """Silence is news: parcels whose stuck/late/expiry deadline passed with no scan."""
    if app.pipeline is not None:
        await _run_step(_track_thread, app.pipeline.tick)


@app.on_partitions_revoked.connect
async def _forget_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
    """A revoked partition's state may change elsewhere; reload it from the changelog if it
    comes back rather than trusting a stale copy."""
    revoked = args[0] if args else kwargs.get("revoked", ())
    if app.pipeline is not None:
        keyed = {settings.topic(EVENTS.suffix), settings.topic(ORDER_UPDATES.suffix)}
        app.pipeline.drop_partitions({tp.partition for tp in revoked if tp.topic in keyed})


@app.page("/metrics")
async def prometheus_metrics(web: Any, request: Any) -> Any:
    return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])


@app.page("/parcelstream/state")
async def store_status(web: Any, request: Any) -> Any:
    loaded = app.pipeline.loaded_partitions() if app.pipeline else []
    return web.json({"loaded_partitions": loaded})
