"""What a worker is waiting for, shared by its processes, and how it waits.

An outage of Kafka or ClickHouse is not an error to exit on: the process waits it out with
capped backoff, for as long as it lasts, and says so once per backoff step (not once per
message) in the log, on `/health` and in the `parcelstream_waiting_since_seconds` metric. A
stop request (SIGTERM) ends any wait: the step raises `Stopping`, commits nothing, and the
restarted worker replays from the last commit.

The flags are `multiprocessing` shared values created by the Faust process and handed to the
runtime and sink children when they start, so `/health` in the Faust process sees them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

DEPENDENCIES = ("kafka", "clickhouse")


class Stopping(Exception):
    """A stop was requested while waiting; nothing was committed."""


class Health:
    """Per dependency, since when (epoch seconds, 0 = not waiting) a process waits for it."""

    def __init__(self, context: BaseContext | None = None) -> None:
        if context is None:  # one process only (tests, `parcelstream sink` run alone)
            import multiprocessing

            context = multiprocessing.get_context("spawn")
        self._since = {name: context.Value("d", 0.0) for name in DEPENDENCIES}
        self._stop = context.Event()
        self._restoring = context.Value("d", 0.0)  # changelog messages left to restore

    @contextmanager
    def restoring(self, start: int, end: int) -> Iterator[Callable[[int], None]]:
        """Count a restore of changelog offsets start..end into the messages left to restore
        (the recovery-progress metric): yields the callback that takes the offset reached;
        whatever happens, what is left of this restore is taken off at the end."""
        reached = start

        def progress(offset: int) -> None:
            nonlocal reached
            self._add_restoring(reached - offset)
            reached = offset

        self._add_restoring(end - start)
        try:
            yield progress
        finally:
            self._add_restoring(reached - end)

    def _add_restoring(self, delta: float) -> None:
        with self._restoring.get_lock():  # restores of several partitions run in threads
            self._restoring.value = max(0.0, self._restoring.value + delta)

    def restore_remaining(self) -> float:
        return float(self._restoring.value)

    # -- read by /health and the metrics ---------------------------------------------------

    def waiting(self) -> dict[str, float]:
        return {name: v.value for name, v in self._since.items() if v.value}

    def report(self) -> dict[str, Any]:
        waiting = self.waiting()
        return {
            "status": "degraded" if waiting else "ok",
            "waiting": [
                {"for": name, "since_ms": int(since * 1000), "seconds": round(time.time() - since)}
                for name, since in sorted(waiting.items())
            ],
        }

    # -- stop requests ----------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- waiting out an outage --------------------------------------------------------------

    def wait_out(
        self,
        dependency: str,
        attempt: Callable[[], T],
        retry_on: tuple[type[BaseException], ...],
        what: str,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """`attempt()` until it returns, backing off 0.5 s, 1 s, ... up to `max_backoff`
        while it raises one of `retry_on`. Raises Stopping if a stop is requested meanwhile."""
        delay = 0.5
        since = 0.0
        while True:
            try:
                result = attempt()
            except retry_on as exc:
                if self.stopping:
                    raise Stopping(f"stop requested while waiting for {dependency}") from exc
                if not since:
                    since = time.time()
                    self._since[dependency].value = since
                log.warning("%s: %s unavailable (%s); retrying in %.1fs, waiting for %.0fs",
                            what, dependency, exc, delay, time.time() - since)  # fmt: skip
                self._sleep_unless_stopped(delay, sleep)
                delay = min(delay * 2, max_backoff)
                continue
            if since:
                self._since[dependency].value = 0.0
                log.warning("%s: %s back after %.0fs", what, dependency, time.time() - since)
            return result

    def _sleep_unless_stopped(self, seconds: float, sleep: Callable[[float], None]) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.stopping:
                raise Stopping("stop requested during a backoff")
            sleep(min(left, 0.25))


def exit_with_parent(parent: int) -> None:
    """A child process ends when the worker that started it is gone (a crash, kill -9), so it
    never lingers holding the chDB directory or a consumer group membership."""
    import os
    import threading

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def name_process(name: str) -> None:
    """Name this process for `ps`, `top` and the bench's CPU breakdown (Linux: /proc/self/comm,
    at most 15 bytes); elsewhere a no-op."""
    import contextlib

    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as comm:
        comm.write(name[:15])


# Allocations (net of frees) between two young-generation collections; CPython's default is 700.
# A batch step keeps tens of thousands of container objects alive until the batch ends (events,
# parcel states, rows), so at 700 the collector runs dozens of times per batch and traverses the
# same survivors again and again. Measured on the bench's 208k scans, `process_batch` alone in
# batches of 4,000 (as tools/bench_stages.py feeds it), compiled core, runs alternated: default
# 51-79 µs/scan, 10,000 60-68, 50,000 42-48, collector off 36-49. Garbage that reference
# counting frees is freed at once either way; only cycles wait longer.
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """For a process that works in batches: collect the young generation every
    `GC_YOUNG_THRESHOLD` allocations, and move what exists now (modules, models, settings, the
    objects built at start) out of the collector's sight for good with `gc.freeze()`."""
    import gc

    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
