"""Step 3, orders: OrderParcelUpdate messages (keyed by order id) -> one view per order and its
changelog (which the ClickHouse sink reads). The pure work is `tracking.orders.process_updates`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline import topics
from pipeline.records import from_avro
from pipeline.runtime.common import (
    InputMessage,
    PartitionedStep,
    Resources,
    StepStats,
    now_ms,
)
from pipeline.state.changelog import ChangelogStore
from tracking.orders import OrderState, process_updates
from tracking.records import OrderParcelUpdate


class OrderStep(PartitionedStep):
    name = "orders"

    def __init__(self, resources: Resources) -> None:
        super().__init__(resources)
        settings = resources.settings
        self.order_store: ChangelogStore[OrderState] = ChangelogStore(
            settings.kafka_bootstrap,
            topics.ORDER_STATE.topic(settings),
            resources.codec,
            "OrderState",
            OrderState.to_record,
            OrderState.from_record,
            lambda o: o.order_id,
        )
        self._orders: dict[int, dict[str, OrderState]] = {}

    def load(self, partition: int) -> Any:
        return self.orders(partition)

    def orders(self, partition: int) -> dict[str, OrderState]:
        orders = self._orders.get(partition)
        if orders is None:
            orders = self._orders[partition] = self.order_store.read_partition(partition)
        return orders

    def drop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._orders.pop(partition, None)

    def process(self, messages: list[InputMessage], stats: StepStats) -> None:
        updates: dict[int, list[OrderParcelUpdate]] = {}
        for message in messages:
            decoded = self.decode(message, stats, ("OrderParcelUpdate",))
            if decoded is not None:
                update = from_avro(OrderParcelUpdate, decoded[1])
                updates.setdefault(message.partition, []).append(update)
                stats.events += 1
        now = now_ms()
        for partition, batch in updates.items():
            changed = process_updates(self.orders(partition), batch, now)
            self.order_store.write(partition, changed, self.outputs)
