"""The process that runs the batch steps, apart from the Faust process.

Measured: with the steps in threads of the Faust process, parse, track and Faust's event loop
share one GIL, and each step ran at a third of its single-threaded speed while the second core
idled. Here Faust keeps consuming, committing and rebalancing in its process, and one child
process runs every step (parse, track, orders, timer ticks) in arrival order, at full speed.
One child, not one per step: one queue keeps the steps of a partition strictly ordered. The
child exits if the Faust process disappears. It writes Kafka only; ClickHouse belongs to the
sink stage (`pipeline/sinks/stage.py`), so an outage there never stalls these steps.

The Faust process calls the module-level functions below through a ProcessPoolExecutor; each
names its step explicitly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.health import Health, exit_with_parent
from pipeline.runtime.common import InputMessage, Resources, StepStats
from pipeline.runtime.orders import OrderStep
from pipeline.runtime.parse import ParseStep
from pipeline.runtime.track import TrackStep
from pipeline.settings import get_settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Steps:
    resources: Resources
    parse: ParseStep
    track: TrackStep
    orders: OrderStep

    @classmethod
    def build(cls, resources: Resources) -> Steps:
        return cls(resources, ParseStep(resources), TrackStep(resources), OrderStep(resources))

    def close(self) -> None:
        self.resources.close()
        self.track.close()


_steps: Steps | None = None


def start(parent: int, health: Health) -> None:
    """ProcessPoolExecutor initializer: build the steps, sharing the parent's health flags."""
    global _steps
    settings = get_settings()
    logging.basicConfig(
        level=settings.worker_log_level.upper(),
        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s",
    )
    exit_with_parent(parent)
    _steps = Steps.build(Resources(settings, health))


def _running() -> Steps:
    if _steps is None:
        raise RuntimeError("runtime process not started")
    return _steps


def parse(messages: list[InputMessage]) -> StepStats:
    return _running().parse.run(messages)


def track(messages: list[InputMessage]) -> StepStats:
    return _running().track.run(messages)


def orders(messages: list[InputMessage]) -> StepStats:
    return _running().orders.run(messages)


def tick() -> int:
    return _running().track.tick()


def drop(partitions: Iterable[int]) -> None:
    steps = _running()
    partitions = list(partitions)
    steps.track.drop(partitions)
    steps.orders.drop(partitions)


def loaded() -> list[int]:
    return _running().track.loaded()
