"""`make demo`: a fresh run (own topics, group and database), the worker, the simulated feed,
wait for the drain, then the report from ClickHouse checked against what was sent, its
charts as PNGs under the run's folder, and three tracking links and an API call, checked
against the lookup API serving the run's state."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

import aiohttp
from aiohttp import web

from pipeline.api.auth import hash_key, new_key
from pipeline.api.config import ApiKey
from pipeline.api.reader import LiveState
from pipeline.api.server import LookupApi, link_secret
from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import Publisher
from pipeline.settings import Settings, get_settings
from pipeline.sinks.engines import open_engine_from
from pipeline.topics import ensure_topics
from tools.drain import wait_drained
from tools.report import build_report, check_against, render, write_charts
from tools.simulator import Simulation, publish, simulate
from tools.workers import WorkerProcess, fresh_run

# The feed goes out in this many time-ordered waves, each drained before the next: a day of
# traffic rather than one burst, so ETAs made at pickup exist before those parcels deliver.
DEMO_WAVES = 6


def run_demo(parcels: int, seed: int, timeout: float) -> int:
    demo_key = new_key()
    run_id, settings = fresh_run(
        get_settings(), "demo", api_keys=[ApiKey(name="demo", sha256=hash_key(demo_key))]
    )
    run_dir = settings.state_dir / "runs" / run_id
    print(f"demo run {run_id}: topics {settings.topic_prefix}.*, logs in {run_dir}")
    ensure_topics(settings)
    simulation = simulate(parcels, seed)
    (run_dir).mkdir(parents=True, exist_ok=True)
    (run_dir / "manifest.json").write_text(simulation.manifest.to_json())

    worker = WorkerProcess(settings, run_dir / "worker.log")
    print("starting worker ...")
    worker.start()
    try:
        print(
            f"publishing {simulation.manifest.payloads:,} carrier payloads "
            f"({simulation.manifest.unique_events:,} unique scans, "
            f"{simulation.manifest.duplicate_deliveries:,} re-sent) for "
            f"{simulation.manifest.parcels:,} parcels ..."
        )
        started = time.monotonic()
        publish(
            simulation,
            Publisher(settings, AvroCodec(settings.schema_registry_url)),
            waves=DEMO_WAVES,
            between_waves=lambda: wait_drained(settings, timeout=timeout, alive=worker.alive),
        )
        elapsed = time.monotonic() - started
    finally:
        worker.stop()

    engine = open_engine_from(settings)
    report = build_report(engine)
    engine.close()
    check_against(report, simulation.manifest)
    delivered = simulation.manifest.unique_events + simulation.manifest.duplicate_deliveries
    throughput = (
        f"throughput               {delivered / elapsed:>10,.0f} scans/s end to end "
        f"({delivered:,} scans incl. re-sent, {elapsed:.1f}s publish-to-drained in "
        f"{DEMO_WAVES} waves)"
    )
    print(render(report, throughput))
    charts = write_charts(report, run_dir / "charts")
    print(f"\ncharts ({run_dir / 'charts'}):")
    for path in charts:
        print(f"  {path.name}")
    links_ok = asyncio.run(_show_lookups(settings, simulation, demo_key))
    return 0 if report.ok and links_ok else 1


async def _show_lookups(settings: Settings, simulation: Simulation, key: str) -> bool:
    """Serve the run's state read-only (what `parcelstream api` does), print three tracking
    links and an API call, check each answers, and keep serving while an interactive user
    looks (Ctrl-C ends it)."""
    live = LiveState(settings)
    lookup = LookupApi(settings, live, link_secret(settings))
    runner = web.AppRunner(lookup.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.api_host, settings.api_port).start()
    try:
        picks = _three_parcels(live, simulation)
        print("\ntracking pages (signed links):")
        ok = True
        async with aiohttp.ClientSession() as http:
            for label, number in picks:
                link = lookup.tracking_link(number)
                async with http.get(link, headers={"Accept-Language": "en"}) as page:
                    ok &= page.status == 200
                    print(f"  {label:<22} {link}  [{'ok' if page.status == 200 else page.status}]")
            number = picks[0][1]
            url = f"{settings.api_base_url}/v1/parcels/{number}"
            async with http.get(url, headers={"Authorization": f"Bearer {key}"}) as answer:
                body = await answer.json()
                ok &= answer.status == 200
            print("\nlookup API (OpenAPI document at /v1/openapi.json):")
            print(f'  curl -H "Authorization: Bearer {key}" {url}')
            print(f"  -> {answer.status}: status {body.get('status')!r}, "
                  f"{len(body.get('events', []))} events, eta {body.get('eta')}")  # fmt: skip
        print(f"  order lookup form: {settings.api_links_url}/track")
        if sys.stdin.isatty():
            print("\nserving these until Ctrl-C ...")
            with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
                await asyncio.Event().wait()
        return ok
    finally:
        await runner.cleanup()
        live.close()


def _three_parcels(live: LiveState, simulation: Simulation) -> list[tuple[str, str]]:
    """A delivered parcel, one on its way and one with an open exception, when the run has
    them (else whichever come first)."""
    wanted: dict[str, str | None] = dict.fromkeys(("delivered", "on its way", "with an exception"))
    for shipment in simulation.shipments:
        state = live.parcel(shipment["tracking_number"])
        if state is None:
            continue
        kind = (
            "with an exception" if state.open_exceptions
            else "delivered" if state.status == "delivered" else "on its way"
        )  # fmt: skip
        if wanted[kind] is None:
            wanted[kind] = state.tracking_number
    found: list[tuple[str, str]] = []
    for label, number in wanted.items():
        if number is not None:
            found.append((label, number))
    spare = (s["tracking_number"] for s in simulation.shipments)
    while len(found) < 3:
        number = next(spare)
        if number not in dict(found).values():
            found.append(("parcel", number))
    return found
