"""`make bench`'s lookup line: GET /v1/parcels/{tracking number} on the worker's API over
localhost, with the bench's parcels in state: the most requests per second a closed loop of
clients gets, then p50/p99 latency at a steady 1,000 requests/s (open loop: each latency is
counted from when its request was due, so a stall is not hidden by the requests it delays)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence

import aiohttp

from pipeline.settings import Settings

BENCH_KEY = "psk_bench_lookup_key_not_a_secret"
RATE = 1000
STEADY_SECONDS = 10.0
MAX_SECONDS = 5.0
CLIENTS = 16


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _lookups(base: str, numbers: Sequence[str]) -> tuple[float, float, float, int]:
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(base_url=base, headers=headers, connector=connector) as http:
        rng = random.Random(7)
        errors = 0

        async def get(number: str) -> None:
            nonlocal errors
            async with http.get(f"/v1/parcels/{number}") as response:
                await response.read()
                errors += response.status != 200

        for number in numbers[:50]:  # warm up: connections, first reads
            await get(number)

        done = 0
        stop = time.perf_counter() + MAX_SECONDS

        async def client() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                await get(rng.choice(numbers))
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        max_rate = done / (time.perf_counter() - started)

        latencies: list[float] = []

        async def timed(due: float, number: str) -> None:
            await get(number)
            latencies.append(time.perf_counter() - due)

        tasks = []
        start = time.perf_counter()
        for i in range(int(RATE * STEADY_SECONDS)):
            due = start + i / RATE
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(timed(due, rng.choice(numbers))))
        await asyncio.gather(*tasks)
    p50, p99 = _percentile(latencies, 0.50) * 1000, _percentile(latencies, 0.99) * 1000
    return max_rate, p50, p99, errors


def lookup_bench_line(settings: Settings, numbers: Sequence[str]) -> str:
    max_rate, p50, p99, errors = asyncio.run(_lookups(settings.api_base_url, list(numbers)))
    return (
        f"lookup: GET /v1/parcels/{{tracking_number}} with {len(numbers):,} parcels in state: "
        f"max {max_rate:,.0f} requests/s ({CLIENTS} clients); at {RATE:,} requests/s: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (goal: p99 <= 20 ms); {errors} errors"
    )
