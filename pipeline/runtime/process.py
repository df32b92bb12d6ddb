"""The processes that run the batch steps, apart from the Faust process.

Measured: with the steps in threads of the Faust process, parse, track and Faust's event loop
share one GIL, and each step ran at a third of its single-threaded speed while the second core
idled. Here Faust keeps consuming, committing and rebalancing in its process, and two child
processes run the steps at full speed, on two cores: one parses (stateless), the other runs
the keyed steps (track, orders, timer ticks) in arrival order. The keyed steps share one
process, so one queue keeps a partition's steps strictly ordered; parsing needs no order with
them (its output reaches them through the events topic). A child exits if the Faust process
disappears. The children write Kafka only; ClickHouse belongs to the sink stage
(`pipeline/sinks/stage.py`), so an outage there never stalls these steps.

The Faust process calls the module-level functions below through a ProcessPoolExecutor per
child; each names its step explicitly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.health import Health, exit_with_parent, name_process, tune_gc
from pipeline.runtime.common import InputMessage, Resources, StepStats
from pipeline.runtime.orders import OrderStep
from pipeline.runtime.parse import ParseStep
from pipeline.runtime.track import TrackStep
from pipeline.settings import get_settings

log = logging.getLogger(__name__)


PARSE, KEYED = "parse", "keyed"  # the two children (their process names end so)


@dataclass(slots=True)
class Steps:
    resources: Resources
    parse: ParseStep | None = None
    track: TrackStep | None = None
    orders: OrderStep | None = None

    @classmethod
    def build(cls, resources: Resources, role: str) -> Steps:
        if role == PARSE:
            return cls(resources, parse=ParseStep(resources))
        return cls(resources, track=TrackStep(resources), orders=OrderStep(resources))


_steps: Steps | None = None


def start(parent: int, health: Health, role: str = KEYED) -> None:
    """ProcessPoolExecutor initializer: build this child's steps, sharing the parent's health
    flags."""
    global _steps
    settings = get_settings()
    logging.basicConfig(
        level=settings.worker_log_level.upper(),
        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s",
    )
    exit_with_parent(parent)
    name_process(f"pstream-{role}")
    _steps = Steps.build(Resources(settings, health), role)
    tune_gc()


def _running() -> Steps:
    if _steps is None:
        raise RuntimeError("runtime process not started")
    return _steps


def _keyed() -> tuple[TrackStep, OrderStep]:
    steps = _running()
    if steps.track is None or steps.orders is None:
        raise RuntimeError("the keyed steps run in the keyed child")
    return steps.track, steps.orders


def parse(messages: list[InputMessage]) -> StepStats:
    step = _running().parse
    if step is None:
        raise RuntimeError("parse runs in the parse child")
    return step.run(messages)


def track(messages: list[InputMessage]) -> StepStats:
    return _keyed()[0].run(messages)


def orders(messages: list[InputMessage]) -> StepStats:
    return _keyed()[1].run(messages)


def tick() -> StepStats:
    """The timer: deadlines and retention; `events` counts the parcels and orders changed."""
    track_step, order_step = _keyed()
    started = time.perf_counter()
    stats = StepStats("tick")
    stats.events = track_step.tick(stats) + order_step.tick()
    stats.seconds = time.perf_counter() - started
    return stats


def drop(partitions: Iterable[int]) -> None:
    track_step, order_step = _keyed()
    partitions = list(partitions)
    track_step.drop(partitions)
    order_step.drop(partitions)


def loaded() -> list[int]:
    return _keyed()[0].loaded()


def state_sizes() -> dict[int, dict[str, float]]:
    return _keyed()[0].state_sizes()


def started() -> bool:
    return _steps is not None
