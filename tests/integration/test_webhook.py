"""The webhook receiver on a real port, posting over real HTTP, checked on the real broker."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

import connectors
from pipeline.codec import AvroCodec
from pipeline.ingestion import build_app, sign
from pipeline.ingestion.publisher import Publisher
from pipeline.records import no_offset
from pipeline.settings import Settings
from pipeline.topics import DEAD_LETTERS, RAW
from tests.kafka_helpers import read_records
from tools.workers import free_port

pytestmark = pytest.mark.integration

SECRET = "s3cret-for-generic"


def payload(tracking_number: str, code: str = "DL") -> bytes:
    return json.dumps(
        {"carrier": "acme-express",
         "events": [{"tracking_number": tracking_number, "code": code, "description": "Delivered",
                     "occurred_at": "2026-11-20T14:03:00+01:00",
                     "location": {"city": "Berlin", "postal_code": "10115", "country": "DE"}}]}
    ).encode()  # fmt: skip


def signed_headers(body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "X-Parcelstream-Timestamp": str(ts),
        "X-Parcelstream-Signature": sign(SECRET, ts, body),
        "Content-Type": "application/json",
    }


@pytest.fixture
async def receiver(
    run_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[str, Settings]]:
    # A second path to the generic parser, as a carrier posting generic JSON under its own
    # name would have: it has no secret, so it exercises the unsigned path.
    monkeypatch.setitem(connectors.REGISTRY, "acme", "connectors.generic_json")
    settings = run_settings.model_copy(
        update={"webhook_secrets": {"generic": SecretStr(SECRET)}, "webhook_max_body_bytes": 4096}
    )
    app = build_app(settings, Publisher(settings, AvroCodec()))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", settings
    finally:
        await runner.cleanup()


async def test_webhook_accepts_signed_and_unsigned_rejects_the_rest(
    receiver: tuple[str, Settings],
) -> None:
    base, settings = receiver
    signed_body, unsigned_body = payload("TRACK-SIGNED"), payload("TRACK-UNSIGNED")
    malformed = b'{"carrier": "acme-express", "events": [{"code": "DL"}]}'
    async with aiohttp.ClientSession() as http:

        async def post(
            path: str, body: bytes, headers: dict[str, str] | None = None
        ) -> tuple[int, Any]:
            async with http.post(f"{base}{path}", data=body, headers=headers or {}) as reply:
                return reply.status, await reply.json()

        async with http.get(f"{base}/healthz") as reply:
            assert reply.status == 200

        status, answer = await post("/webhooks/generic", signed_body, signed_headers(signed_body))
        assert status == 202, answer
        assert answer["scans"] == 1

        status, answer = await post("/webhooks/generic", payload("TRACK-NOSIG"))
        assert status == 401 and "signed" in answer["error"]

        bad = signed_headers(payload("TRACK-BADSIG"))
        bad["X-Parcelstream-Signature"] = "sha256=" + "0" * 64
        status, answer = await post("/webhooks/generic", payload("TRACK-BADSIG"), bad)
        assert status == 401 and "signature" in answer["error"]

        stale_body = payload("TRACK-STALE")
        too_old = int(time.time()) - settings.webhook_tolerance_seconds - 60
        stale = signed_headers(stale_body, too_old)
        status, answer = await post("/webhooks/generic", stale_body, stale)
        assert status == 401 and "timestamp" in answer["error"]

        status, answer = await post("/webhooks/acme", unsigned_body)
        assert status == 202, answer

        status, answer = await post("/webhooks/acme", malformed)
        assert status == 422
        assert "tracking_number is missing" in answer["error"]

        oversize = b"{" + b" " * 5000 + b"}"
        status, answer = await post("/webhooks/acme", oversize)
        assert status == 413

        status, answer = await post("/webhooks/nope", unsigned_body)
        assert status == 404 and "generic" in answer["known"]

    raw = read_records(settings.kafka_bootstrap, RAW.topic(settings))
    assert {name for name, _ in raw} == {"RawCarrierEvent"}
    by_number = {record["tracking_number"]: record for _, record in raw}
    assert set(by_number) == {"TRACK-SIGNED", "TRACK-UNSIGNED"}
    assert by_number["TRACK-SIGNED"]["payload"] == signed_body
    assert by_number["TRACK-SIGNED"]["metadata"]["signature"] == "verified"
    assert by_number["TRACK-SIGNED"]["metadata"]["path"] == "/webhooks/generic"
    assert by_number["TRACK-SIGNED"]["carrier"] == "acme-express"
    assert by_number["TRACK-UNSIGNED"]["payload"] == unsigned_body
    assert by_number["TRACK-UNSIGNED"]["metadata"]["signature"] == "unsigned"
    assert by_number["TRACK-UNSIGNED"]["payload_format"] == "acme"
    assert all(r["source"] == "webhook" for r in by_number.values())

    dead = read_records(settings.kafka_bootstrap, DEAD_LETTERS.topic(settings))
    assert len(dead) == 1
    name, letter = dead[0]
    assert name == "DeadLetter"
    assert letter["payload"] == malformed
    assert letter["stage"] == "ingest"
    assert "tracking_number is missing" in letter["error"]
    assert (letter["topic"], letter["partition"], letter["offset"]) == (
        RAW.topic(settings), -1, no_offset(letter["raw_event_id"]))  # fmt: skip


async def test_concurrent_posts_share_flushes_and_all_land(receiver: tuple[str, Settings]) -> None:
    """Group commit: 202s for concurrent requests each wait for a flush covering them."""
    base, settings = receiver
    bodies = [payload(f"TRACK-{i:03d}") for i in range(40)]
    async with aiohttp.ClientSession() as http:

        async def post(body: bytes) -> int:
            async with http.post(f"{base}/webhooks/acme", data=body) as reply:
                return reply.status

        statuses = await asyncio.gather(*(post(body) for body in bodies))
    assert statuses == [202] * len(bodies)
    raw = read_records(settings.kafka_bootstrap, RAW.topic(settings), expect=len(bodies))
    assert sorted(record["payload"] for _, record in raw) == sorted(bodies)
