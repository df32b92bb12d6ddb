"""The processes that run the batch steps, apart from the Faust process.

Measured: with the steps in threads of the Faust process, parse, track and Faust's event loop
share one GIL, and each step ran at a third of its single-threaded speed while the second core
idled. Here Faust keeps consuming, committing and rebalancing in its process, and child
processes run the steps at full speed: one parses (stateless); the keyed children run the
parcel stage, each for its share of the partitions (partition p in child p mod
`keyed_processes`), and the first of them also the order stage and its ticks. A partition's
steps always run in one child, in arrival order, so one queue keeps them strictly ordered;
parsing needs no order with them (its output reaches them through the events topic).

Why more than one keyed child: the parcel stage costs more than parsing and the sink together.
With one keyed child, the bench's drain ended with that child busy alone for seconds after
parsing had finished, the second core half idle (`make bench` prints each process's share).

A child exits if the Faust process disappears. The children write Kafka only; ClickHouse
belongs to the sink stage (`pipeline/sinks/stage.py`), so an outage there never stalls these
steps. The Faust process calls the module-level functions below through a ProcessPoolExecutor
per child; each names its step explicitly.
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


# The children's roles (their process names end so): the parse child, the first keyed child
# (parcels and orders), the other keyed children (parcels).
PARSE, KEYED, PARCELS = "parse", "keyed", "parcels"


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
        orders = OrderStep(resources) if role == KEYED else None
        return cls(resources, track=TrackStep(resources), orders=orders)


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


def _track() -> TrackStep:
    step = _running().track
    if step is None:
        raise RuntimeError("the parcel stage runs in the keyed children")
    return step


def parse(messages: list[InputMessage]) -> StepStats:
    step = _running().parse
    if step is None:
        raise RuntimeError("parse runs in the parse child")
    return step.run(messages)


def track(messages: list[InputMessage]) -> StepStats:
    return _track().run(messages)


def orders(messages: list[InputMessage]) -> StepStats:
    step = _running().orders
    if step is None:
        raise RuntimeError("the order stage runs in the first keyed child")
    return step.run(messages)


def tick() -> StepStats:
    """The timer: deadlines and retention of this child's parcels (and orders, in the first
    keyed child); `events` counts the parcels and orders changed."""
    steps = _running()
    started = time.perf_counter()
    stats = StepStats("tick")
    stats.events = _track().tick(stats) + (steps.orders.tick() if steps.orders else 0)
    stats.seconds = time.perf_counter() - started
    return stats


def drop(partitions: Iterable[int]) -> None:
    steps, partitions = _running(), list(partitions)
    _track().drop(partitions)
    if steps.orders is not None:
        steps.orders.drop(partitions)


def loaded() -> list[int]:
    return _track().loaded()


def state_sizes() -> dict[int, dict[str, float]]:
    return _track().state_sizes()


def started() -> bool:
    return _steps is not None
