"""The process that runs the batch steps, apart from the Faust process.

Measured: with the steps in threads of the Faust process, parse, track and Faust's event loop
share one GIL, and each step ran at a third of its single-threaded speed while the second core
idled. Here Faust keeps consuming, committing and rebalancing in its process, and one child
process runs every step (parse, track, orders, timer ticks) in arrival order, at full speed.
One child, not one per step: chDB allows one session per process, and one queue keeps the
steps of a partition strictly ordered. The child exits if the Faust process disappears, so a
crashed worker never leaves a process holding the chDB directory.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

from pipeline.runtime import Pipeline
from pipeline.settings import get_settings
from pipeline.sinks.engines import open_engine
from pipeline.sinks.migrations import migrate

log = logging.getLogger(__name__)
_pipeline: Pipeline | None = None


def _exit_with_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(0.5)


def start(parent: int) -> None:
    """ProcessPoolExecutor initializer: open ClickHouse, migrate, build the pipeline."""
    global _pipeline
    settings = get_settings()
    logging.basicConfig(
        level=settings.worker_log_level.upper(),
        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s",
    )
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    url = settings.clickhouse_url.get_secret_value() if settings.clickhouse_url else None
    engine = open_engine(url, settings.chdb_dir, settings.clickhouse_database)
    applied = migrate(engine)
    log.info("clickhouse (%s) ready; migrations applied: %s", engine.name, applied or "none")
    _pipeline = Pipeline(settings, engine)


def _runtime() -> Pipeline:
    if _pipeline is None:
        raise RuntimeError("runtime process not started")
    return _pipeline


def run(step: str, messages: list[Any]) -> Any:
    """Run one batch step by name; returns its StepStats for the parent's metrics."""
    return getattr(_runtime(), step)(messages)


def tick() -> int:
    return _runtime().tick()


def drop(partitions: Iterable[int]) -> None:
    _runtime().drop_partitions(partitions)


def loaded() -> list[int]:
    return _runtime().loaded_partitions()
