"""Step 3, orders: OrderParcelUpdateBatch messages (each update in the partition of its order
id; single OrderParcelUpdate messages, keyed by order id, are read too) -> one view per order
and its changelog (which the ClickHouse sink reads). The pure work is
`tracking.orders.process_updates`.

Orders live in memory, rebuilt from their changelog when a partition is assigned. A copy of
each partition's orders is kept in a LocalStore (`<stores>/<order-state topic>/<p>`), written
once the changelog acknowledged each change, with an index by customer reference
(`r<customer_ref>\0<order id>`): what the lookup API (pipeline/api) reads from another process.
"""

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
from pipeline.state.local import LocalStore
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
        self._copies: dict[int, LocalStore] = {}
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
            self._copy_all(partition, orders)
        return orders

    # -- the copy the lookup API reads ---------------------------------------------------------

    def _copy_all(self, partition: int, orders: dict[str, OrderState]) -> None:
        """Make the partition's copy equal to the orders just recovered."""
        copy = self._copies.get(partition)
        if copy is None:
            path = self.settings.stores_dir / self.order_store.topic / str(partition)
            copy = self._copies[partition] = LocalStore(path, deadlines=False)
        stale = [(key, None) for key in copy.keys(b"r")]
        stale += [(key, None) for key in copy.keys(b"s") if key[1:].decode() not in orders]
        encode = self.resources.codec.encode
        values = [
            (order_id.encode(), encode("OrderState", order.to_record()))
            for order_id, order in orders.items()
        ]
        copy.write(values, extra=stale + [_ref_key(o) for o in orders.values()], bulk=True)
        copy.restored()

    def _copy_after(
        self, partition: int, values: list[tuple[bytes, bytes | None]], refs: list[bytes]
    ) -> None:
        """Write these orders (None: gone) into the copy once their changelog writes are
        acknowledged (index keys of gone orders are dropped by the reader's check)."""
        copy = self._copies[partition]
        extra: list[tuple[bytes, bytes | None]] = [(ref, b"") for ref in refs]
        self.outputs.after(lambda: copy.write(values, extra=extra))

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
            expired = expired_orders(orders, self._timers[partition], now, retention)
            for order_id in expired:
                self.outputs.add_encoded(
                    self.order_store.topic, None, order_id.encode(), partition, state=True
                )
                gone += 1
            if expired:
                self._copy_after(partition, [(o.encode(), None) for o in expired], [])
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
            written = self.order_store.write(partition, changed, self.outputs)
            self._copy_after(partition, list(written), [_ref_key(o)[0] for o in changed])


def _ref_key(order: OrderState) -> tuple[bytes, bytes]:
    return b"r" + order.customer_ref.encode() + b"\0" + order.order_id.encode(), b""
