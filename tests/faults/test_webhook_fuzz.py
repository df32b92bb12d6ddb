"""The webhook receiver (`parcelstream webhook`, a real process on a real port) fuzzed with a
few thousand seeded random bodies while a worker runs: never a 5xx, every accepted (202) body's
scans stored in ClickHouse, every rejected (422) body in the dead_letters table."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

import connectors
from connectors import ParseContext
from pipeline.ingestion.publisher import raw_event_id
from pipeline.settings import Settings
from pipeline.topics import RAW
from tests.faults.conftest import Fleet
from tests.faults.fuzz import bodies
from tests.faults.harness import LagMonitor, Outcome, clickhouse, notification_ids_on_topic
from tests.faults.record import FaultRecord
from tests.kafka_helpers import read_records
from tools.drain import wait_drained
from tools.workers import env_for, free_port

BODIES = 3000
CONCURRENCY = 16
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def receiver(settings: Settings, log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`parcelstream webhook` on a free port; up once /healthz answers."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "webhook", "--port", str(port)],
            env=env_for(settings), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"webhook exited with {process.returncode}; see {log}"
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310
                    break
            except OSError:
                assert time.monotonic() < deadline, f"webhook not up within 60 s; see {log}"
                time.sleep(0.3)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def post_all(base: str, posts: list[tuple[str, bytes]]) -> list[tuple[int, dict]]:
    limit = asyncio.Semaphore(CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as http:

        async def post(fmt: str, body: bytes) -> tuple[int, dict]:
            async with limit, http.post(f"{base}/webhooks/{fmt}", data=body) as reply:
                try:
                    answer = await reply.json(content_type=None)
                except ValueError:
                    answer = {}
                return reply.status, answer if isinstance(answer, dict) else {}

        return list(await asyncio.gather(*(post(fmt, body) for fmt, body in posts)))


@pytest.mark.timeout(600)
def test_webhook_fuzzed_while_a_worker_runs(
    fault_settings: Settings, fleet: Fleet, fault_record: FaultRecord, tmp_path: Path
) -> None:
    settings = fault_settings
    posts = bodies(BODIES)
    fault_record.fault = f"webhook fuzzed with {BODIES} random bodies"
    worker = fleet.worker(settings, "worker")
    log = tmp_path / "logs" / "webhook.log"
    with LagMonitor(settings, fault_record), receiver(settings, log) as (base, process):
        started = time.monotonic()
        answers = asyncio.run(post_all(base, posts))
        posted = time.monotonic()
        assert process.poll() is None, "the webhook receiver died"
        wait_drained(settings, timeout=300, alive=worker.alive)
        fault_record.recover_seconds = time.monotonic() - posted
    worker.stop()

    statuses = Counter(status for status, _ in answers)
    envelopes = {r["event_id"]: r for _, r in read_records(settings.kafka_bootstrap,
                                                           RAW.topic(settings))}  # fmt: skip
    engine = clickhouse(settings)
    try:
        db = engine.database
        stored = {r[0] for r in engine.query(f"SELECT DISTINCT event_id FROM {db}.tracking_events")}
        rows, unique = engine.query(
            f"SELECT count(), uniqExact(event_id) FROM {db}.tracking_events FINAL"
        )[0]
        dead = {r[0] for r in engine.query(f"SELECT DISTINCT raw_event_id FROM {db}.dead_letters")}
        notified = {r[0] for r in engine.query(
            f"SELECT DISTINCT notification_id FROM {db}.notifications")}  # fmt: skip
    finally:
        engine.close()

    lost: dict[str, str] = {}  # event id -> the scan, once however many bodies carried it
    unparsed, unenveloped, undead = [], [], []
    for (fmt, body), (status, answer) in zip(posts, answers, strict=True):
        if status == 202:
            envelope = envelopes.get(answer.get("accepted", ""))
            if envelope is None:
                unenveloped.append(fmt)
                continue
            # Exactly what the worker's parse step does with the envelope (normalize_payload).
            ctx = ParseContext(envelope["carrier"], envelope["received_at"], envelope["source"])
            try:
                scans = connectors.parse(fmt, envelope["payload"], ctx).scans
            except Exception as exc:  # noqa: BLE001 - accepted, yet the worker cannot parse it
                unparsed.append(f"{fmt}: {type(exc).__name__}: {exc}")
                continue
            lost.update((s.event_id, f"{fmt}: {s}") for s in scans if s.event_id not in stored)
        elif status == 422 and raw_event_id(fmt, fmt, body) not in dead:
            undead.append(fmt)
    on_topic = notification_ids_on_topic(settings)
    fault_record.outcome = Outcome(
        lost=len(lost),
        duplicated=int(rows) - int(unique),
        missing_notifications=len(on_topic - notified),
        extra_notifications=len(notified - on_topic),
    )
    fault_record.note = (
        f"answers {dict(sorted(statuses.items()))}, posted in {posted - started:.1f}s; "
        "final statuses n/a (random feed)"
    )

    assert not [s for s in statuses if s >= 500], statuses
    assert not unenveloped, f"202 but no envelope on the raw topic: {Counter(unenveloped)}"
    assert not unparsed, f"202 but the worker cannot parse it: {unparsed[:5]}"
    assert not undead, f"422 but not in the dead_letters table: {Counter(undead)}"
    assert not lost, f"202 but {len(lost)} scans not stored, e.g. {list(lost.values())[:3]}"
    assert fault_record.outcome.exact, fault_record.outcome
