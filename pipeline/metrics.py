"""Prometheus metrics, served by the worker's web server at /metrics. The steps run in the
runtime process; the Faust process records the StepStats each one returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from pipeline.health import Health
    from pipeline.runtime.common import StepStats

MESSAGES = Counter("parcelstream_messages_total", "Input messages processed", ["step"])
EVENTS = Counter("parcelstream_events_total", "Scan events processed", ["step"])
DUPLICATES = Counter("parcelstream_duplicate_events_total", "Scan events dropped as duplicates")
NOTIFICATIONS = Counter("parcelstream_notifications_total", "Notifications produced")
DEAD_LETTERS = Counter("parcelstream_dead_letters_total", "Messages dead-lettered", ["step"])
BATCH_SECONDS = Histogram(
    "parcelstream_batch_seconds",
    "Time to process and flush one input batch",
    ["step"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def observe_step(stats: StepStats) -> None:
    step = stats.step
    MESSAGES.labels(step).inc(stats.messages)
    EVENTS.labels(step).inc(stats.events)
    BATCH_SECONDS.labels(step).observe(stats.seconds)
    DEAD_LETTERS.labels(step).inc(stats.dead_letters)
    if step == "track":
        DUPLICATES.inc(stats.duplicates)
        NOTIFICATIONS.inc(stats.notifications)


WAITING = Gauge(
    "parcelstream_waiting_since_seconds",
    "Since when (epoch seconds) the worker waits for a dependency; 0 = not waiting",
    ["dependency"],
)


def watch_health(health: Health) -> None:
    """The waiting gauges read the shared health flags at every scrape."""
    from pipeline.health import DEPENDENCIES

    for dependency in DEPENDENCIES:
        WAITING.labels(dependency).set_function(
            lambda d=dependency: health.waiting().get(d, 0.0)  # type: ignore[misc]
        )
