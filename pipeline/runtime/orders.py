"""Step 3, orders: OrderParcelUpdateBatch messages (each update in the partition of its order
id; single OrderParcelUpdate messages, keyed by order id, are read too) -> one view per order
and its changelog (which the ClickHouse sink reads). The pure work is
`tracking.orders.process_updates`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline import topics
from pipeline.codec import CodecError
from pipeline.records import from_avro
from pipeline.runtime.common import (
    InputMessage,
    PartitionedStep,
    Resources,
    StepStats,
    now_ms,
)
from pipeline.state.changelog import ChangelogStore
from tracking.orders import OrderState, expired_orders, process_updates, schedule_retention
from tracking.records import OrderParcelUpdate
from tracking.timers import DeadlineHeap


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
        self._timers: dict[int, DeadlineHeap] = {}
        self.clock = now_ms  # epoch ms; tests move it to reach retention

    def load(self, partition: int) -> Any:
        return self.orders(partition)

    def orders(self, partition: int) -> dict[str, OrderState]:
        orders = self._orders.get(partition)
        if orders is None:
            orders = self._orders[partition] = self.order_store.read_partition(partition)
            timers = self._timers[partition] = DeadlineHeap()
            retention = self.settings.state_retention_ms
            if retention is not None:
                for order in orders.values():
                    schedule_retention(order, timers, retention)
        return orders

    def drop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._orders.pop(partition, None)
            self._timers.pop(partition, None)

    def tick(self) -> int:
        """Finished orders whose retention ran out leave state, with a changelog tombstone
        (their rows stay in ClickHouse); returns how many."""
        retention = self.settings.state_retention_ms
        if retention is None:
            return 0
        now, gone = self.clock(), 0
        for partition, orders in list(self._orders.items()):
            for order_id in expired_orders(orders, self._timers[partition], now, retention):
                self.outputs.add_encoded(self.order_store.topic, None, order_id.encode(), partition)
                gone += 1
        if gone:
            self.outputs.flush()
        return gone

    def split(self, message: InputMessage) -> list[InputMessage] | None:
        """A batch of updates that fails alone: its halves, down to single updates."""
        try:
            name, record = self.resources.codec.decode(message.value)
        except CodecError:
            return None
        updates = record.get("updates", []) if name == "OrderParcelUpdateBatch" else []
        if len(updates) < 2:
            return None
        middle, encode = len(updates) // 2, self.resources.codec.encode
        return [
            message._replace(value=encode("OrderParcelUpdateBatch", {"updates": half}))
            for half in (updates[:middle], updates[middle:])
        ]

    def process(self, messages: list[InputMessage], stats: StepStats) -> None:
        updates: dict[int, list[OrderParcelUpdate]] = {}
        for message in messages:
            decoded = self.decode(message, stats, ("OrderParcelUpdateBatch", "OrderParcelUpdate"))
            if decoded is None:
                continue
            name, record = decoded
            records = record["updates"] if name == "OrderParcelUpdateBatch" else [record]
            batch = updates.setdefault(message.partition, [])
            batch.extend(from_avro(OrderParcelUpdate, r) for r in records)
            stats.events += len(records)
        now, retention = self.clock(), self.settings.state_retention_ms
        for partition, batch in updates.items():
            orders = self.orders(partition)
            changed = process_updates(orders, batch, now, self._timers[partition], retention)
            self.order_store.write(partition, changed, self.outputs)
