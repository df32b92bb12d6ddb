"""The Faust app: `faust -A pipeline.app worker -l info` or `parcelstream worker`.

Faust does what it is good at here: the app, topic subscriptions, partition assignment
(events and shipments are co-partitioned, so one worker owns a parcel), offset commits,
rebalancing, the CLI and web views. The per-message work is done per batch by
the steps of `pipeline/runtime/` in two runtime processes (`pipeline.runtime.process`: one
parses, one runs the keyed steps): Faust's per-message and per-table-write costs cap throughput
far below what a tracking backbone needs, and one interpreter cannot use two cores.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.process import BaseProcess
from typing import Any, cast

import faust
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline import metrics
from pipeline.api.reader import LiveState
from pipeline.api.server import Assignment, LookupApi, link_secret
from pipeline.health import Health, Stopping, tune_gc
from pipeline.runtime import process as runtime
from pipeline.runtime.common import InputMessage, StepStats
from pipeline.settings import get_settings
from pipeline.sinks.stage import sink_child
from pipeline.topics import EVENTS, ORDER_UPDATES, RAW, SHIPMENTS, ensure_topics

log = logging.getLogger(__name__)
settings = get_settings()
settings.state_dir.mkdir(parents=True, exist_ok=True)  # Faust's datadir lives under it


_SPAWN = multiprocessing.get_context("spawn")  # Faust has threads: never fork
health = Health(_SPAWN)


class ParcelstreamApp(faust.App):
    """Creates topics, then starts the runtime processes and (unless the sink runs apart) the
    ClickHouse sink process before the consumer subscribes."""

    # The keyed children: the parcel stage for partition p in keyed[p % len(keyed)], the order
    # stage in keyed[0]; each ticks its own state.
    keyed: tuple[ProcessPoolExecutor, ...] = ()
    parser: ProcessPoolExecutor | None = None  # the parse step
    sink: BaseProcess | None = None
    api: web.AppRunner | None = None  # the lookup API and tracking pages

    async def on_first_start(self) -> None:
        await super().on_first_start()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, ensure_topics, settings)
        roles = [runtime.KEYED] + [runtime.PARCELS] * (settings.keyed_processes - 1)
        self.keyed = tuple(_child(role) for role in roles)
        self.parser = _child(runtime.PARSE)
        for child in [*self.keyed, self.parser]:
            await loop.run_in_executor(child, runtime.started)
        if settings.sink_in_worker:
            self.sink = _SPAWN.Process(
                target=sink_child, args=(os.getpid(), health), name="parcelstream-sink"
            )
            self.sink.start()
        if settings.api_enabled:
            self.api = await _start_api(self)
        tune_gc()  # Faust allocates per message: the same reasoning as for the children

    async def on_stop(self) -> None:
        """SIGTERM: end every wait for Kafka or ClickHouse, stop the sink, then let Faust stop
        its consumer. A step still waiting exits the process without committing (see
        `_in_runtime`); whatever happens, the process is gone after `shutdown_seconds`."""
        health.request_stop()
        threading.Thread(target=_exit_after, args=(settings.shutdown_seconds,), daemon=True).start()
        if self.sink is not None:
            await asyncio.get_running_loop().run_in_executor(None, _join, self.sink, 10.0)
        if self.api is not None:
            await self.api.cleanup()
        await super().on_stop()


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
    broker_session_timeout=settings.session_timeout,
    broker_heartbeat_interval=min(3.0, settings.session_timeout / 4),
    web_port=settings.web_port,
    web_host=settings.web_host,
    datadir=str(settings.state_dir / "faust"),
    # Members learn each other's URL from the assignment; the lookup API routes by it.
    canonical_url=settings.api_base_url,
)

raw_topic = app.topic(RAW.topic(settings), value_serializer="raw", key_serializer="raw")
# Scans and shipment registrations share a subscription so Faust assigns partition p of both
# to the same worker: the parcel's state sees both.
keyed_topics = app.topic(
    EVENTS.topic(settings),
    SHIPMENTS.topic(settings),
    value_serializer="raw",
    key_serializer="raw",
)

order_updates_topic = app.topic(
    ORDER_UPDATES.topic(settings), value_serializer="raw", key_serializer="raw"
)


def _child(role: str) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        1, mp_context=_SPAWN, initializer=runtime.start, initargs=(os.getpid(), health, role)
    )


async def _start_api(faust_app: ParcelstreamApp) -> web.AppRunner:
    """Serve the lookup API beside Faust's web views, on its own port (public, where the
    views are not). A partition another member owns is read from that member."""
    own = settings.api_base_url
    # PartitionAssignorT does not declare it; faust.assignor.PartitionAssignor has it.
    assignment = Assignment(lambda: faust_app.assignor.external_topic_distribution, own)  # type: ignore[attr-defined]
    lookup = LookupApi(
        settings, LiveState(settings), link_secret(settings), assignment.owner, assignment.others
    )
    runner = web.AppRunner(lookup.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.api_host, settings.api_port).start()
    log.info("lookup API on %s (tracking pages at %s/t/...)", own, settings.api_links_url)
    return runner


def _exit_after(seconds: float) -> None:
    time.sleep(seconds)
    log.error("not stopped after %.0fs; exiting without committing", seconds)
    logging.shutdown()
    os._exit(0)


def _join(process: BaseProcess, timeout: float) -> None:
    process.join(timeout)
    if process.is_alive():
        process.terminate()
        process.join(2.0)


metrics.watch_health(health)
metrics.watch_lag(metrics.faust_lag(app))


def _inputs(events: Any) -> list[InputMessage]:
    return [
        InputMessage(e.message.topic, e.message.partition, e.message.offset, e.message.value)
        for e in events
    ]


async def _in_runtime(
    function: Callable[..., Any], *args: Any, child: ProcessPoolExecutor | None = None
) -> Any:
    """Call `function` in a runtime process (`child`; by default the parse child for `parse`,
    the first keyed child otherwise); if it fails, stop *before* any commit.

    Faust acknowledges a `take()` batch even when the agent body raises, and its supervisor
    then restarts the agent: the batch would be committed unprocessed. Bad input never gets
    here (it is dead-lettered) and Kafka/ClickHouse outages are retried inside the steps, so
    what remains is a bug or a broken machine: exit hard, and the restarted worker replays
    the batch from the last commit.
    """
    try:
        executor = child or (app.parser if function is runtime.parse else app.keyed[0])
        result = await asyncio.get_running_loop().run_in_executor(executor, function, *args)
    except Stopping:
        log.warning("stopped while runtime.%s waited; exiting without committing its batch",
                    function.__name__)  # fmt: skip
        logging.shutdown()
        os._exit(0)
    except Exception:  # noqa: BLE001
        log.critical("runtime.%s failed; exiting without committing", function.__name__,
                     exc_info=True)  # fmt: skip
        logging.shutdown()
        os._exit(70)
    if isinstance(result, StepStats):
        metrics.observe_step(result)
    return result


@app.agent(raw_topic)
async def parse_raw(stream: faust.StreamT) -> None:
    """Raw carrier payloads -> normalized events, batched per events-topic partition."""
    async for events in cast(faust.Stream, stream).take_events(
        settings.batch_max, settings.batch_within
    ):
        await _in_runtime(runtime.parse, _inputs(events))


@app.agent(keyed_topics)
async def track_parcels(stream: faust.StreamT) -> None:
    """Normalized events + shipments -> parcel state, notifications, exceptions, orders."""
    async for events in cast(faust.Stream, stream).take_events(
        settings.batch_max, settings.batch_within
    ):
        keyed = app.keyed
        shares: list[list[InputMessage]] = [[] for _ in keyed]
        for message in _inputs(events):
            shares[message.partition % len(keyed)].append(message)
        await asyncio.gather(
            *(
                _in_runtime(runtime.track, share, child=c)
                for c, share in zip(keyed, shares, strict=True)
                if share
            )
        )


@app.agent(order_updates_topic)
async def track_orders(stream: faust.StreamT) -> None:
    """Parcel summaries keyed by order id -> one view per order."""
    async for events in cast(faust.Stream, stream).take_events(
        settings.batch_max, settings.batch_within
    ):
        await _in_runtime(runtime.orders, _inputs(events))


@app.timer(interval=settings.timer_interval)
async def check_deadlines() -> None:
    """Silence is news: parcels whose stuck/late/expiry deadline passed with no scan."""
    sizes: dict[int, dict[str, float]] = {}
    for child in app.keyed:
        await _in_runtime(runtime.tick, child=child)
        sizes.update(await _in_runtime(runtime.state_sizes, child=child))
    if app.keyed:
        metrics.observe_state(sizes)


@app.on_partitions_revoked.connect
async def _forget_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
    """A revoked partition's state may change elsewhere; reload it from the changelog if it
    comes back rather than trusting a stale copy."""
    revoked = args[0] if args else kwargs.get("revoked", ())
    keyed = {EVENTS.topic(settings), ORDER_UPDATES.topic(settings)}
    partitions = {tp.partition for tp in revoked if tp.topic in keyed}
    for child in app.keyed:
        await _in_runtime(runtime.drop, partitions, child=child)


@app.page("/health")
async def health_report(web: Any, request: Any) -> Any:
    """ok, or degraded with what the worker waits for and since when (it waits, never exits)."""
    report = health.report()
    report["sink"] = (
        "in worker" if app.sink is not None and app.sink.is_alive() else
        "stopped" if app.sink is not None else "apart"
    )  # fmt: skip
    return web.json(report)


@app.page("/metrics")
async def prometheus_metrics(web: Any, request: Any) -> Any:
    return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])


@app.page("/parcelstream/state")
async def store_status(web: Any, request: Any) -> Any:
    loaded = [p for child in app.keyed for p in await _in_runtime(runtime.loaded, child=child)]
    return web.json({"loaded_partitions": loaded})
