"""Finished orders leave the order stage after the retention, driven by their deadlines; an
order with a parcel still under way, or changed since, stays."""

from __future__ import annotations

from tracking.orders import OrderState, expired_orders, process_updates
from tracking.records import OrderParcelUpdate
from tracking.timers import DeadlineHeap

DAY = 86_400_000
RETENTION = 7 * DAY


def summary(order_id: str, tn: str, status: str, version: int = 1) -> OrderParcelUpdate:
    delivered = 5 if status == "delivered" else None
    return OrderParcelUpdate(order_id, tn, version, "acme", status, False, True, delivered, None,
                             None, [], "c1", "standard")  # fmt: skip


def test_a_finished_order_leaves_after_the_retention_and_not_before() -> None:
    orders: dict[str, OrderState] = {}
    timers = DeadlineHeap()
    updates = [summary("O1", "A", "delivered"), summary("O2", "B", "delivered"),
               summary("O2", "C", "in_transit")]  # fmt: skip
    process_updates(orders, updates, 0, timers, RETENTION)
    assert expired_orders(orders, timers, RETENTION - 1, RETENTION) == []
    assert expired_orders(orders, timers, RETENTION, RETENTION) == ["O1"]
    assert set(orders) == {"O2"}, "O2 still has a parcel under way"


def test_a_change_after_finishing_restarts_the_retention() -> None:
    orders: dict[str, OrderState] = {}
    timers = DeadlineHeap()
    process_updates(orders, [summary("O1", "A", "delivered")], 0, timers, RETENTION)
    process_updates(orders, [summary("O1", "A", "returned", 2)], 3 * DAY, timers, RETENTION)
    assert expired_orders(orders, timers, RETENTION, RETENTION) == []
    assert expired_orders(orders, timers, 3 * DAY + RETENTION, RETENTION) == ["O1"]


def test_without_a_retention_nothing_is_scheduled() -> None:
    orders: dict[str, OrderState] = {}
    timers = DeadlineHeap()
    process_updates(orders, [summary("O1", "A", "delivered")], 0, timers, None)
    assert len(timers) == 0
