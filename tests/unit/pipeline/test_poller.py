"""The poller's pure parts: token bucket, backoff, Retry-After and the cursor store.
The HTTP + Kafka behaviour is in tests/integration/test_api_poller.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from pipeline.ingestion.poller import (
    CursorStore,
    TokenBucket,
    backoff_delay,
    retry_after_seconds,
)


async def test_token_bucket_spaces_calls_at_the_rate() -> None:
    bucket = TokenBucket(rate=20.0)
    started = time.monotonic()
    stamps = []
    for _ in range(6):
        await bucket.acquire()
        stamps.append(time.monotonic() - started)
    assert stamps[0] < 0.02  # a full bucket lets the first call through at once
    assert all(b - a >= 1 / 20 - 0.005 for a, b in zip(stamps, stamps[1:], strict=False))


async def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=10.0, burst=3.0)
    started = time.monotonic()
    for _ in range(3):
        await bucket.acquire()
    assert time.monotonic() - started < 0.02
    await bucket.acquire()
    assert time.monotonic() - started >= 0.1 - 0.005


def test_backoff_grows_is_jittered_and_capped() -> None:
    for attempt in range(8):
        step = min(5.0, 0.5 * 2**attempt)
        delays = [backoff_delay(attempt, 0.5, 5.0, None) for _ in range(200)]
        assert all(step / 2 <= d <= step for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert backoff_delay(0, 0.5, 5.0, retry_after=3.0) == 3.0
    assert backoff_delay(0, 0.5, 5.0, retry_after=3600.0) == 5.0  # a carrier cannot park us


def test_retry_after_seconds_and_http_date() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    now = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC).timestamp()
    later = format_datetime(datetime(2026, 11, 20, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert retry_after_seconds(later, now=now) == 30.0
    assert retry_after_seconds(later, now=now + 60) == 0.0


def test_cursor_store_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "state" / "cursors.sqlite3"
    first = CursorStore(path)
    assert first.get("orbit") is None
    first.put("orbit", "c1")
    first.put("orbit", "c2")
    first.put("acme", "a1")
    first.close()
    second = CursorStore(path)
    assert (second.get("orbit"), second.get("acme")) == ("c2", "a1")
    second.close()
