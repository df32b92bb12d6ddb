"""API poller framework: for carriers that only answer questions, never call us.

A carrier plugs in as a `CarrierApi` subclass that knows how to ask (`build_request`) and
where the carrier says "you have seen up to here" (`parse_cursor`). The `Poller` owns what
every carrier needs alike: a token bucket per carrier (their contracts cap calls per second),
retries with exponential backoff and jitter that obey `Retry-After` on 429 and 5xx, and a
cursor persisted under `state_dir` only after Kafka acknowledged the response it came with,
so a restart resumes where the last durable poll ended and never skips a response.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import random
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from pipeline.ingestion.common import AckedSender, IngestionError, now_ms
from pipeline.ingestion.publisher import Publisher, raw_envelope
from pipeline.settings import Settings

log = logging.getLogger(__name__)

RETRYABLE = frozenset({429, 500, 502, 503, 504})


class PollError(IngestionError):
    """A poll failed for good: a non-retryable status, or retries exhausted."""

    def __init__(self, carrier: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{carrier}: {reason}")
        self.carrier, self.reason, self.status = carrier, reason, status


@dataclass(frozen=True, slots=True)
class ApiRequest:
    url: str
    method: str = "GET"
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class ApiResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class CarrierApi(ABC):
    """One carrier's tracking API. `carrier` names the bucket and cursor; `payload_format` is
    the connector registry name that parses its response bodies."""

    carrier: str
    payload_format: str

    @abstractmethod
    def build_request(self, tracking_numbers: Sequence[str], cursor: str | None) -> ApiRequest:
        """The request asking for news about these parcels since `cursor` (None: first poll)."""

    @abstractmethod
    def parse_cursor(self, response: ApiResponse) -> str | None:
        """The cursor to resume from after this response; None keeps the previous one."""


class TokenBucket:
    """`rate` calls per second on average, at most `burst` back to back."""

    def __init__(self, rate: float, burst: float = 1.0) -> None:
        self.rate, self.burst = rate, burst
        self._tokens, self._updated = burst, time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:  # FIFO: waiters are served in arrival order
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate)
                self._tokens, self._updated = 1.0, time.monotonic()
            self._tokens -= 1


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None) -> float:
    """The carrier's Retry-After wins (capped); otherwise exponential with "equal jitter":
    half the step is fixed, so a retry never fires immediately, half random, so many pollers
    that failed together do not retry together."""
    if retry_after is not None:
        return min(cap, retry_after)
    step = min(cap, base * 2**attempt)
    return step / 2 + random.uniform(0, step / 2)


class CursorStore:
    """carrier -> last durable cursor, in sqlite under state_dir (atomic, survives crashes)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS cursors (carrier TEXT PRIMARY KEY, cursor TEXT,"
            " updated_at INTEGER)"
        )

    def get(self, carrier: str) -> str | None:
        query = "SELECT cursor FROM cursors WHERE carrier = ?"
        row = self._db.execute(query, (carrier,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, carrier: str, cursor: str) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO cursors VALUES (?, ?, ?)", (carrier, cursor, now_ms())
            )

    def close(self) -> None:
        self._db.close()


class Poller:
    """Polls several carriers' APIs, each through its own token bucket, and publishes every
    successful response body as a RawCarrierEvent (source "api_poll")."""

    def __init__(
        self,
        settings: Settings,
        publisher: Publisher,
        apis: Sequence[CarrierApi],
        session: aiohttp.ClientSession,
        *,
        max_attempts: int = 6,
        base_delay: float = 0.5,
        max_delay: float = 60.0,
    ) -> None:
        self.apis = {api.carrier: api for api in apis}
        self.session = session
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.buckets = {name: TokenBucket(settings.poll_rate_per_second) for name in self.apis}
        self.cursors = CursorStore(settings.state_dir / "ingestion" / "poll_cursors.sqlite3")
        self._sender: AckedSender[dict[str, Any]] = AckedSender(
            publisher.publish_raw, publisher.flush
        )

    async def fetch(self, carrier: str, request: ApiRequest) -> ApiResponse:
        """One logical request: rate-limited attempts until a 2xx, a final error, or the cap."""
        last = "no attempt made"
        status: int | None = None
        for attempt in range(self.max_attempts):
            await self.buckets[carrier].acquire()
            retry_after: float | None = None
            try:
                async with self.session.request(
                    request.method, request.url, params=dict(request.params),
                    headers=dict(request.headers), data=request.body,
                ) as reply:  # fmt: skip
                    body = await reply.read()
                    status = reply.status
                    if 200 <= status < 300:
                        return ApiResponse(status, dict(reply.headers), body)
                    last = f"HTTP {status}: {body[:200].decode(errors='replace')}"
                    if status not in RETRYABLE:
                        raise PollError(carrier, last, status)
                    retry_after = retry_after_seconds(reply.headers.get("Retry-After"))
            except (TimeoutError, aiohttp.ClientError) as exc:
                status, last = None, f"{type(exc).__name__}: {exc}"
            if attempt + 1 < self.max_attempts:
                delay = backoff_delay(attempt, self.base_delay, self.max_delay, retry_after)
                log.info("%s: %s; retry %d in %.2fs", carrier, last, attempt + 1, delay)
                await asyncio.sleep(delay)
        reason = f"gave up after {self.max_attempts} attempts, last: {last}"
        raise PollError(carrier, reason, status)

    async def poll(self, carrier: str, tracking_numbers: Sequence[str]) -> ApiResponse:
        """Ask, publish the body losslessly, and only then advance the stored cursor."""
        api = self.apis[carrier]
        cursor = self.cursors.get(carrier)
        request = api.build_request(tracking_numbers, cursor)
        response = await self.fetch(carrier, request)
        next_cursor = api.parse_cursor(response)
        metadata = {"url": request.url, "status": str(response.status), "cursor": cursor or ""}
        if next_cursor is not None:
            metadata["next_cursor"] = next_cursor
        only = tracking_numbers[0] if len(tracking_numbers) == 1 else None
        await self._sender.send(
            raw_envelope(api.carrier, api.payload_format, response.body, "api_poll", only, metadata)
        )
        if next_cursor is not None:
            self.cursors.put(carrier, next_cursor)
        return response

    async def run(
        self, tracking_numbers: Mapping[str, Sequence[str]], interval: float, stop: asyncio.Event
    ) -> None:
        """Poll every carrier each `interval` until `stop`; one carrier's outage is logged and
        retried next round instead of stopping the others."""
        while not stop.is_set():
            results = await asyncio.gather(
                *(self.poll(c, numbers) for c, numbers in tracking_numbers.items()),
                return_exceptions=True,
            )
            for carrier, result in zip(tracking_numbers, results, strict=True):
                if isinstance(result, BaseException):
                    log.error("poll %s failed: %s", carrier, result)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    def close(self) -> None:
        self.cursors.close()
