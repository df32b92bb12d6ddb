"""One view per order, aggregated from its parcels' latest summaries.

Parcels of one order can live in different partitions of the parcel stage (they are keyed by
tracking number), so the parcel stage sends a small summary per change, keyed by order id, and
this stage owns the order. The order is a pure function of its parcels' latest summaries
(each summary replaces the previous one of that parcel by version), so replays and reordering
cannot corrupt it.

Status rules over outbound parcels (returns are tracked separately):
  none shipped -> pending; some shipped, none delivered -> partially_shipped; all shipped, none
  delivered -> shipped; some delivered -> partially_delivered; all delivered -> delivered.
ETA = the latest ETA among undelivered outbound parcels. A return parcel delivered back to the
merchant sets the "return received" milestone (refunds depend on it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tracking.eta import ETA_MILESTONES
from tracking.records import OrderParcelUpdate
from tracking.state import ParcelState
from tracking.taxonomy import TERMINAL
from tracking.timers import DeadlineHeap

_TERMINAL = frozenset(status.value for status in TERMINAL)


@dataclass(slots=True)
class ParcelSummary:
    tracking_number: str
    parcel_version: int
    carrier: str
    status: str
    is_return: bool
    shipped: bool
    delivered_at_ms: int | None
    eta_ms: int | None
    promised_ms: int | None
    open_exceptions: list[str]


@dataclass(slots=True)
class OrderState:
    order_id: str
    version: int = 0
    status: str = "pending"
    return_status: str = ""
    return_received_at_ms: int | None = None
    delivered_at_ms: int | None = None
    eta_ms: int | None = None
    promised_ms: int | None = None
    customer_ref: str = ""
    customer_segment: str = ""
    updated_at_ms: int = 0
    parcels: dict[str, ParcelSummary] = field(default_factory=dict)

    def apply(self, update: OrderParcelUpdate, now_ms: int) -> bool:
        """Take a parcel summary; True when the order changed."""
        known = self.parcels.get(update.tracking_number)
        if known is not None and known.parcel_version >= update.parcel_version:
            return False  # a replay or a late, older summary
        self.parcels[update.tracking_number] = ParcelSummary(
            update.tracking_number,
            update.parcel_version,
            update.carrier,
            update.status,
            update.is_return,
            update.shipped,
            update.delivered_at,
            update.eta,
            update.promised_delivery,
            list(update.open_exceptions),
        )
        self.customer_ref = update.customer_ref or self.customer_ref
        self.customer_segment = update.customer_segment or self.customer_segment
        before = self._view()
        self._recompute()
        changed = before != self._view() or known is None
        self.version += 1
        self.updated_at_ms = now_ms
        return changed

    @property
    def finished(self) -> bool:
        """Every parcel delivered, returned, cancelled or expired: retention may begin."""
        return bool(self.parcels) and all(p.status in _TERMINAL for p in self.parcels.values())

    def open_exceptions(self) -> list[str]:
        return sorted({kind for p in self.parcels.values() for kind in p.open_exceptions})

    def _view(self) -> tuple[object, ...]:
        return (
            self.status,
            self.return_status,
            self.return_received_at_ms,
            self.delivered_at_ms,
            self.eta_ms,
            tuple(self.open_exceptions()),
        )

    def _recompute(self) -> None:
        outbound = [p for p in self.parcels.values() if not p.is_return]
        returns = [p for p in self.parcels.values() if p.is_return]
        shipped = sum(p.shipped for p in outbound)
        delivered = [p for p in outbound if p.delivered_at_ms is not None]
        if not outbound:
            self.status = "return_only"
        elif len(delivered) == len(outbound):
            self.status = "delivered"
        elif delivered:
            self.status = "partially_delivered"
        elif shipped == len(outbound):
            self.status = "shipped"
        elif shipped:
            self.status = "partially_shipped"
        else:
            self.status = "pending"
        self.delivered_at_ms = (
            max(p.delivered_at_ms for p in delivered if p.delivered_at_ms is not None)
            if outbound and len(delivered) == len(outbound)
            else None
        )
        etas = [p.eta_ms for p in outbound if p.delivered_at_ms is None and p.eta_ms is not None]
        self.eta_ms = max(etas) if etas else None
        promises = [p.promised_ms for p in outbound if p.promised_ms is not None]
        self.promised_ms = max(promises) if promises else None
        received = [p.delivered_at_ms for p in returns if p.delivered_at_ms is not None]
        if received:
            self.return_status = "return_received"
            self.return_received_at_ms = min(received)
        elif returns:
            self.return_status = (
                "return_in_transit" if any(p.shipped for p in returns) else ("return_registered")
            )

    def to_record(self) -> dict[str, Any]:
        parcels = list(self.parcels.values())
        return {
            "order_id": self.order_id,
            "version": self.version,
            "status": self.status,
            "return_status": self.return_status,
            "return_received_at": self.return_received_at_ms,
            "delivered_at": self.delivered_at_ms,
            "eta": self.eta_ms,
            "promised_delivery": self.promised_ms,
            "customer_ref": self.customer_ref,
            "customer_segment": self.customer_segment,
            "updated_at": self.updated_at_ms,
            "open_exceptions": self.open_exceptions(),
            "parcels": [
                {
                    "tracking_number": p.tracking_number,
                    "parcel_version": p.parcel_version,
                    "carrier": p.carrier,
                    "status": p.status,
                    "is_return": p.is_return,
                    "shipped": p.shipped,
                    "delivered_at": p.delivered_at_ms,
                    "eta": p.eta_ms,
                    "promised_delivery": p.promised_ms,
                    "open_exceptions": p.open_exceptions,
                }
                for p in parcels
            ],
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> OrderState:
        order = cls(
            order_id=record["order_id"],
            version=record["version"],
            status=record["status"],
            return_status=record["return_status"],
            return_received_at_ms=record["return_received_at"],
            delivered_at_ms=record["delivered_at"],
            eta_ms=record["eta"],
            promised_ms=record["promised_delivery"],
            customer_ref=record["customer_ref"],
            customer_segment=record["customer_segment"],
            updated_at_ms=record["updated_at"],
        )
        for p in record["parcels"]:
            order.parcels[p["tracking_number"]] = ParcelSummary(
                p["tracking_number"],
                p["parcel_version"],
                p["carrier"],
                p["status"],
                p["is_return"],
                p["shipped"],
                p["delivered_at"],
                p["eta"],
                p["promised_delivery"],
                list(p["open_exceptions"]),
            )
        return order


def order_update(state: ParcelState) -> OrderParcelUpdate:
    """The summary of a parcel that the order stage aggregates (the parcel has an order id)."""
    return OrderParcelUpdate(
        order_id=state.order_id or "",
        tracking_number=state.tracking_number,
        parcel_version=state.version,
        carrier=state.carrier,
        status=state.status,
        is_return=state.is_return,
        shipped=any(m in state.milestones for m in ETA_MILESTONES[1:])
        or ("delivered" in state.milestones),
        delivered_at=state.milestones.get("delivered"),
        eta=state.eta_ms,
        promised_delivery=state.promised_delivery_ms,
        open_exceptions=sorted(state.open_exceptions),
        customer_ref=state.customer_ref,
        customer_segment=state.customer_segment,
    )


def process_updates(
    orders: dict[str, OrderState],
    updates: list[OrderParcelUpdate],
    now_ms: int,
    timers: DeadlineHeap | None = None,
    retention_ms: int | None = None,
) -> list[OrderState]:
    """The order stage over one partition's orders (mutated in place): the orders that
    changed, each once, in the order they first changed. With `timers` and `retention_ms`, a
    finished order is scheduled to leave `retention_ms` after its last change."""
    changed: dict[str, OrderState] = {}
    for update in updates:
        order = orders.get(update.order_id)
        if order is None:
            order = orders[update.order_id] = OrderState(update.order_id)
        if order.apply(update, now_ms):
            changed[order.order_id] = order
    if timers is not None and retention_ms is not None:
        for order in changed.values():
            schedule_retention(order, timers, retention_ms)
    return list(changed.values())


def schedule_retention(order: OrderState, timers: DeadlineHeap, retention_ms: int) -> None:
    deadlines = [order.updated_at_ms + retention_ms] if order.finished else []
    timers.schedule(order.order_id, order.version, deadlines)


def expired_orders(
    orders: dict[str, OrderState], timers: DeadlineHeap, now_ms: int, retention_ms: int
) -> list[str]:
    """Remove the finished orders whose retention ran out (a later parcel summary, which
    would have rescheduled them, makes their deadline stale); returns their ids."""
    gone = []
    for order_id in timers.due(now_ms):
        order = orders.get(order_id)
        if order is not None and order.finished and order.updated_at_ms + retention_ms <= now_ms:
            del orders[order_id]
            gone.append(order_id)
    return gone
