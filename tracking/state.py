"""Per-parcel state, ordered by event time rather than arrival time.

The state is a function of the *set* of events seen (plus the shipment registration), never of
their arrival order: history is kept sorted by (occurred_at, progress, event_id) and the current
status is a fold over that sorted history. So late, out-of-order and duplicated deliveries all
converge to the same state, which the property tests check.

Contradiction rule: after a `delivered` scan, later plain progress scans (info received,
picked up, in transit, out for delivery) are carrier noise (a hub scanner with a wrong clock,
a second leg's carrier echoing old scans) and do not undo the delivery; returns, exceptions
and failed attempts after it do count.

Near-duplicate rule (tracking/history.py): two feeds' reports of one scan are one history entry,
so a scan counts once whichever feeds report it.

Shipments (tracking/shipments.py): under a reused tracking number, the state follows the most
recently started shipment; an older shipment's scans are stored but not folded.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from typing import Any

from tracking.events import TrackingEvent
from tracking.history import HistoryEntry, may_echo, regroup
from tracking.shipments import apply_by_shipment
from tracking.taxonomy import PROGRESS, Reason, Status

# Entries a parcel keeps, oldest dropped first: parcels have tens of scans, and a feed stuck
# re-scanning one parcel must not grow its state without bound. A dropped entry's event id is
# forgotten with it, so a re-sent scan that old would count as new (its ClickHouse row is
# keyed by the event id, so it is still stored once).
HISTORY_LIMIT = 200
RESOLVED_LIMIT = 20

_PROGRESS = {status.value: rank for status, rank in PROGRESS.items()}
_UNKNOWN = Status.UNKNOWN.value
_DELIVERED = Status.DELIVERED.value
_NOISE_AFTER_DELIVERY = frozenset(
    s.value
    for s in (Status.INFO_RECEIVED, Status.PICKED_UP, Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY)
)

# (status, reason) -> milestone name. Milestones keep the first time they were reached.
_MILESTONE_BY_STATUS = {
    Status.INFO_RECEIVED.value: "info_received",
    Status.PICKED_UP.value: "picked_up",
    Status.OUT_FOR_DELIVERY.value: "out_for_delivery",
    Status.AVAILABLE_FOR_PICKUP.value: "available_for_pickup",
    Status.DELIVERED.value: "delivered",
    Status.RETURN_TO_SENDER.value: "return_to_sender",
    Status.RETURNED.value: "returned",
}
_MILESTONE_BY_REASON = {
    Reason.DEPARTED_FACILITY.value: "departed_origin",
    Reason.ARRIVED_AT_DESTINATION.value: "arrived_at_destination",
}


@dataclass(slots=True)
class ParcelState:
    tracking_number: str
    version: int = 0
    carrier: str = ""
    status: str = Status.PENDING.value
    reason: str = ""
    status_at_ms: int | None = None
    status_event_id: str = ""
    last_event_at_ms: int | None = None
    last_received_at_ms: int | None = None
    updated_at_ms: int = 0
    city: str = ""
    country: str = ""
    milestones: dict[str, int] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    order_id: str | None = None
    service_level: str = ""
    customer_ref: str = ""
    customer_segment: str = ""
    promised_delivery_ms: int | None = None
    is_return: bool = False
    origin_region: str = ""
    destination_region: str = ""
    # The destination's country and postal code, from the registration: the zone a shopper
    # reads the ETA in, and what a shopper proves an order lookup with (pipeline/api). Never
    # shown; kept out of the ParcelState record (and so out of ClickHouse).
    destination_country: str = ""
    destination_postal: str = ""
    eta_ms: int | None = None
    eta_low_ms: int | None = None
    eta_high_ms: int | None = None
    eta_level: str = ""
    predicted_late: bool = False
    notified_eta_ms: int | None = None
    open_exceptions: dict[str, int] = field(default_factory=dict)
    # The last RESOLVED_LIMIT exceptions that closed: (kind, opened at, resolved at), oldest
    # first; what a support agent reads as "this parcel had a problem, and it is over".
    resolved_exceptions: list[tuple[str, int, int]] = field(default_factory=list)
    # Whose ETA eta_ms is: "ours" (tracking/eta.py), "carrier", "" before any (carrier_eta.py).
    eta_source: str = ""
    # The carrier's newest delivery estimate (tracking/carrier_eta.py): never part of the
    # event-time fold below, so an estimate cannot move the status, history or milestones.
    carrier_eta_ms: int | None = None
    carrier_eta_low_ms: int | None = None
    carrier_eta_high_ms: int | None = None
    carrier_eta_kind: str = ""
    carrier_eta_received_ms: int | None = None
    # The carrier's estimate when the parcel was first known picked up, and ours at that same
    # moment: scored against the delivery, per carrier, to choose between them.
    carrier_eta_first_ms: int | None = None
    eta_first_ms: int | None = None
    # Probability of delivery after the promise (tracking/eta_calibration.py); None without a
    # promise or an ETA. `predicted_late` is this against the policy's threshold.
    p_late: float | None = None
    # Set when this parcel's earlier state left the store after the retention
    # (tracking/parcels.py): whatever arrives for it now was announced already, so it stays
    # quiet (no notification) while its scans are still stored.
    evicted_at_ms: int | None = None
    # The carrier's id of the shipment this lifecycle follows ("" when it gives none) and of
    # the shipments before it under this number, newest last (tracking/shipments.py).
    shipment_id: str = ""
    retired_shipments: list[str] = field(default_factory=list)

    # -- transitions ---------------------------------------------------------------------------

    def apply_events(self, events: list[TrackingEvent], now_ms: int) -> list[TrackingEvent]:
        """Merge events into the history; returns the ones that were new (after dedup, exact
        and near-duplicate), those of older shipments included (tracking/shipments.py). The version
        moves when the history changed: also when a near-duplicate only filled in a location,
        never when it changed nothing."""
        if not any(event.shipment_id for event in events):
            return self._fold(events, now_ms)  # most carriers name no shipment
        return apply_by_shipment(self, events, now_ms)

    def _fold(self, events: list[TrackingEvent], now_ms: int) -> list[TrackingEvent]:
        """apply_events within one lifecycle."""
        fresh = []
        accepted_ids = set()
        echoes: dict[tuple[str, str], list[HistoryEntry]] = {}
        for event in events:
            if event.event_id in self.seen:
                continue
            self.seen.add(event.event_id)
            fresh.append(event)
            report = HistoryEntry(
                event.occurred_at_ms,
                _PROGRESS.get(event.status, 0),
                event.event_id,
                event.status,
                event.reason,
                event.carrier_code,
                event.city,
                event.country,
                event.source,
            )
            key = (event.status, event.reason)
            if key in echoes or may_echo(self.history, report):
                echoes.setdefault(key, []).append(report)
                continue
            # The common case: no other feed reported this status near this time, so this
            # report is a scan of its own whatever arrives later, and changes no other scan.
            insort(self.history, report)
            if len(self.history) > HISTORY_LIMIT:
                del self.history[0]
            milestone = _MILESTONE_BY_STATUS.get(event.status) or _MILESTONE_BY_REASON.get(
                event.reason
            )
            if milestone:
                first = self.milestones.get(milestone)
                if first is None or event.occurred_at_ms < first:
                    self.milestones[milestone] = event.occurred_at_ms
            accepted_ids.add(event.event_id)
        changed = bool(accepted_ids)
        if echoes:
            self.history, regrouped = regroup(self.history, echoes, accepted_ids)
            if regrouped:
                changed = True
                # A merged scan may move to a later report's time (the better located one).
                self._milestones_from_history()
        if not changed:
            return []
        for event in fresh:
            if not self.carrier:
                self.carrier = event.carrier
            if self.last_received_at_ms is None or event.received_at_ms > self.last_received_at_ms:
                self.last_received_at_ms = event.received_at_ms
        self.recompute()
        self.version += 1
        self.updated_at_ms = now_ms
        return [event for event in fresh if event.event_id in accepted_ids]

    def _milestones_from_history(self) -> None:
        milestones: dict[str, int] = {}
        for entry in self.history:
            milestone = _MILESTONE_BY_STATUS.get(entry.status) or _MILESTONE_BY_REASON.get(
                entry.reason
            )
            if milestone and milestone not in milestones:
                milestones[milestone] = entry.occurred_at_ms  # the history is in time order
        self.milestones = milestones

    def apply_shipment(self, shipment: dict[str, Any], now_ms: int) -> bool:
        """Attach the merchant's registration (order, promise, segment); idempotent."""
        before = self._shipment_fields()
        self.order_id = shipment["order_id"]
        self.carrier = self.carrier or shipment["carrier"]
        self.service_level = shipment["service_level"]
        self.customer_ref = shipment["customer_ref"]
        self.customer_segment = shipment["customer_segment"]
        self.promised_delivery_ms = shipment["promised_delivery"]
        self.is_return = shipment["is_return"]
        self.origin_region = shipment["origin"]["region"]
        self.destination_region = shipment["destination"]["region"]
        self.destination_country = shipment["destination"]["country"]
        self.destination_postal = shipment["destination"]["postal_code"]
        changed = before != self._shipment_fields()
        if changed:
            self.version += 1
            self.updated_at_ms = now_ms
            # A registration is news about the parcel too: its scans may be right behind it.
            self.last_received_at_ms = max(self.last_received_at_ms or 0, now_ms)
        return changed

    def _shipment_fields(self) -> tuple[object, ...]:
        return (
            self.order_id,
            self.service_level,
            self.customer_ref,
            self.customer_segment,
            self.promised_delivery_ms,
            self.is_return,
            self.origin_region,
            self.destination_region,
            self.destination_country,
            self.destination_postal,
        )

    def recompute(self) -> None:
        current: HistoryEntry | None = None
        located: HistoryEntry | None = None
        for entry in self.history:
            if entry.city or entry.country:
                located = entry
            if entry.status == _UNKNOWN:
                continue
            if (
                current is not None
                and current.status == _DELIVERED
                and entry.status in _NOISE_AFTER_DELIVERY
            ):
                continue
            current = entry
        if current is not None:
            self.status = current.status
            self.reason = current.reason
            self.status_at_ms = current.occurred_at_ms
            self.status_event_id = current.event_id
        if located is not None:
            self.city, self.country = located.city, located.country
        self.last_event_at_ms = self.history[-1].occurred_at_ms if self.history else None

    # -- Avro records (the changelog and the parcel-state topic) -----------------------------

    def to_record(self) -> dict[str, Any]:
        history = self.history
        return {
            "tracking_number": self.tracking_number,
            "version": self.version,
            "carrier": self.carrier,
            "status": self.status,
            "reason": self.reason,
            "status_at": self.status_at_ms,
            "last_event_at": self.last_event_at_ms,
            "last_received_at": self.last_received_at_ms,
            "updated_at": self.updated_at_ms,
            "event_count": len(self.history),
            "location": {
                "city": self.city,
                "region": "",
                "postal_code": "",
                "country": self.country,
            },
            "milestones": self.milestones,
            "history": {
                "event_id": [h.event_id for h in history],
                "occurred_at": [h.occurred_at_ms for h in history],
                "status": [h.status for h in history],
                "reason": [h.reason for h in history],
                "carrier_code": [h.carrier_code for h in history],
                "city": [h.city for h in history],
                "country": [h.country for h in history],
            },
            "order_id": self.order_id,
            "service_level": self.service_level,
            "customer_ref": self.customer_ref,
            "customer_segment": self.customer_segment,
            "promised_delivery": self.promised_delivery_ms,
            "is_return": self.is_return,
            "origin_region": self.origin_region,
            "destination_region": self.destination_region,
            "eta": self.eta_ms,
            "eta_low": self.eta_low_ms,
            "eta_high": self.eta_high_ms,
            "eta_level": self.eta_level,
            "predicted_late": self.predicted_late,
            "notified_eta": self.notified_eta_ms,
            "open_exceptions": self.open_exceptions,
            "eta_source": self.eta_source,
            "carrier_eta": self.carrier_eta_ms,
            "carrier_eta_low": self.carrier_eta_low_ms,
            "carrier_eta_high": self.carrier_eta_high_ms,
            "carrier_eta_kind": self.carrier_eta_kind,
            "carrier_eta_received_at": self.carrier_eta_received_ms,
            "carrier_eta_first": self.carrier_eta_first_ms,
            "eta_first": self.eta_first_ms,
            "p_late": self.p_late,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ParcelState:
        columns = record["history"]
        history = [
            HistoryEntry(
                at, _PROGRESS.get(status, 0), event_id, status, reason, code, city, country
            )
            for event_id, at, status, reason, code, city, country in zip(
                columns["event_id"],
                columns["occurred_at"],
                columns["status"],
                columns["reason"],
                columns["carrier_code"],
                columns["city"],
                columns["country"],
                strict=True,
            )
        ]
        history.sort()
        state = cls(
            tracking_number=record["tracking_number"],
            version=record["version"],
            carrier=record["carrier"],
            updated_at_ms=record["updated_at"],
            last_received_at_ms=record["last_received_at"],
            milestones=dict(record["milestones"]),
            history=history,
            seen={h.event_id for h in history},
            order_id=record["order_id"],
            service_level=record["service_level"],
            customer_ref=record["customer_ref"],
            customer_segment=record["customer_segment"],
            promised_delivery_ms=record["promised_delivery"],
            is_return=record["is_return"],
            origin_region=record["origin_region"],
            destination_region=record["destination_region"],
            eta_ms=record["eta"],
            eta_low_ms=record["eta_low"],
            eta_high_ms=record["eta_high"],
            eta_level=record["eta_level"],
            predicted_late=record["predicted_late"],
            notified_eta_ms=record["notified_eta"],
            open_exceptions=dict(record["open_exceptions"]),
            # .get: a changelog record written before carrier ETAs were kept has none of these.
            eta_source=record.get("eta_source", ""),
            carrier_eta_ms=record.get("carrier_eta"),
            carrier_eta_low_ms=record.get("carrier_eta_low"),
            carrier_eta_high_ms=record.get("carrier_eta_high"),
            carrier_eta_kind=record.get("carrier_eta_kind", ""),
            carrier_eta_received_ms=record.get("carrier_eta_received_at"),
            carrier_eta_first_ms=record.get("carrier_eta_first"),
            eta_first_ms=record.get("eta_first"),
            p_late=record.get("p_late"),
        )
        state.recompute()
        return state
