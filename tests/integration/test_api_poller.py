"""The poller against a local stub of a carrier's tracking API (a real aiohttp server on
127.0.0.1) that throttles, fails, then answers; what it publishes is read off the real broker."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from pipeline.codec import AvroCodec
from pipeline.ingestion import ApiRequest, ApiResponse, CarrierApi, Poller, PollError
from pipeline.ingestion.publisher import Publisher
from pipeline.settings import Settings
from pipeline.topics import RAW
from tests.kafka_helpers import read_records
from tools.workers import free_port

pytestmark = pytest.mark.integration

RETRY_AFTER_SECONDS = 1


@dataclass
class CarrierStub:
    """Scripted failures first, then 200s whose cursor counts the successful answers."""

    script: list[tuple[int, dict[str, str]]] = field(
        default_factory=lambda: [(429, {"Retry-After": str(RETRY_AFTER_SECONDS)}), (503, {})]
    )
    requests: list[tuple[float, str, dict[str, str]]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    async def track(self, request: web.Request) -> web.Response:
        self.requests.append((time.monotonic(), request.path, dict(request.query)))
        if request.path == "/v1/down":
            return web.Response(status=503, text="maintenance")
        if request.path == "/v1/gone":
            return web.Response(status=404, text="no such endpoint")
        if self.script:
            status, headers = self.script.pop(0)
            return web.Response(status=status, headers=headers, text="slow down")
        numbers = request.query["numbers"].split(",")
        body = json.dumps({
            "carrier": "orbit-logistics",
            "next_cursor": f"c{len(self.bodies) + 1}",
            "events": [{"tracking_number": n, "code": "AF", "description": "Arrived",
                        "occurred_at": f"2026-11-20T10:{len(self.bodies):02d}:00Z"}
                       for n in numbers],
        }).encode()  # fmt: skip
        self.bodies.append(body)
        return web.Response(body=body, content_type="application/json")


class OrbitApi(CarrierApi):
    payload_format = "generic"

    def __init__(self, base_url: str, carrier: str = "orbit-logistics", path: str = "/v1/track"):
        self.base_url, self.carrier, self.path = base_url, carrier, path

    def build_request(self, tracking_numbers: Sequence[str], cursor: str | None) -> ApiRequest:
        params = {"numbers": ",".join(tracking_numbers)}
        if cursor is not None:
            params["since"] = cursor
        return ApiRequest(f"{self.base_url}{self.path}", params=params)

    def parse_cursor(self, response: ApiResponse) -> str | None:
        return response.json().get("next_cursor")  # type: ignore[no-any-return]


@pytest.fixture
async def stub() -> AsyncIterator[tuple[str, CarrierStub]]:
    carrier = CarrierStub()
    app = web.Application()
    app.router.add_get("/v1/{name}", carrier.track)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", carrier
    finally:
        await runner.cleanup()


async def test_backoff_rate_limit_and_publishing(
    run_settings: Settings, stub: tuple[str, CarrierStub]
) -> None:
    base, carrier = stub
    settings = run_settings.model_copy(update={"poll_rate_per_second": 5.0})
    publisher = Publisher(settings, AvroCodec())
    async with aiohttp.ClientSession() as session:
        poller = Poller(settings, publisher, [OrbitApi(base)], session, base_delay=0.2)
        response = await poller.poll("orbit-logistics", ["ORB1"])
        assert response.status == 200
        times = [t for t, _, _ in carrier.requests]
        assert len(times) == 3  # 429, 503, 200
        assert times[1] - times[0] >= RETRY_AFTER_SECONDS - 0.01  # Retry-After honoured
        # No Retry-After on the 503: attempt 1's step is 0.4s, "equal jitter" waits >= half.
        assert 0.2 - 0.01 <= times[2] - times[1] < RETRY_AFTER_SECONDS

        for _ in range(4):
            await poller.poll("orbit-logistics", ["ORB1", "ORB2"])
        poller.close()

    times = [t for t, _, _ in carrier.requests]
    gaps = [b - a for a, b in zip(times[2:], times[3:], strict=False)]
    assert len(gaps) == 4 and min(gaps) >= 1 / 5 - 0.01, gaps  # 5 calls/s, no bursts
    # Each poll asked from where the previous answer left off.
    sinces = [query.get("since") for _, _, query in carrier.requests[2:]]
    assert sinces == [None, "c1", "c2", "c3", "c4"]

    raw = read_records(settings.kafka_bootstrap, RAW.topic(settings))
    assert [record["payload"] for _, record in raw if record["tracking_number"] == "ORB1"] == [
        carrier.bodies[0]
    ]
    assert sorted(record["payload"] for _, record in raw) == sorted(carrier.bodies)
    assert {record["source"] for _, record in raw} == {"api_poll"}
    assert {record["payload_format"] for _, record in raw} == {"generic"}


async def test_cursor_survives_a_restart(
    run_settings: Settings, stub: tuple[str, CarrierStub]
) -> None:
    base, carrier = stub
    carrier.script.clear()
    settings = run_settings.model_copy(update={"poll_rate_per_second": 50.0})
    publisher = Publisher(settings, AvroCodec())
    async with aiohttp.ClientSession() as session:
        first = Poller(settings, publisher, [OrbitApi(base)], session)
        await first.poll("orbit-logistics", ["ORB9"])
        await first.poll("orbit-logistics", ["ORB9"])
        first.close()
        restarted = Poller(settings, publisher, [OrbitApi(base)], session)
        await restarted.poll("orbit-logistics", ["ORB9"])
        restarted.close()
    assert [query.get("since") for _, _, query in carrier.requests] == [None, "c1", "c2"]


async def test_errors_surface_after_capped_retries(
    run_settings: Settings, stub: tuple[str, CarrierStub]
) -> None:
    base, carrier = stub
    settings = run_settings.model_copy(update={"poll_rate_per_second": 50.0})
    apis = [OrbitApi(base, "down", "/v1/down"), OrbitApi(base, "gone", "/v1/gone")]
    async with aiohttp.ClientSession() as session:
        poller = Poller(settings, Publisher(settings, AvroCodec()), apis, session,
                        max_attempts=3, base_delay=0.05, max_delay=0.1)  # fmt: skip
        with pytest.raises(PollError) as down:
            await poller.poll("down", ["ORB1"])
        assert down.value.status == 503 and "gave up after 3 attempts" in down.value.reason
        with pytest.raises(PollError) as gone:  # 404 is not worth a retry
            await poller.poll("gone", ["ORB1"])
        assert gone.value.status == 404
        poller.close()
    paths = [path for _, path, _ in carrier.requests]
    assert paths == ["/v1/down"] * 3 + ["/v1/gone"]
    assert read_records(settings.kafka_bootstrap, RAW.topic(settings), timeout=5) == []
