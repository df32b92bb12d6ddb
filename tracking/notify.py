"""Which state changes a shopper hears about, and the message each one carries.

Only a change can notify: of (status, reason), an exception opening, or the ETA moving by more
than the rule's threshold since the ETA last announced. So repeated in-transit scans,
duplicates and late scans that do not move the parcel emit nothing. The notification id is
derived from the change itself, so a replay produces the same id and senders can drop
repeats. Which kinds reach whom is data (`NotificationRules`, loaded from a YAML file by the
pipeline), per customer segment and service level.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tracking.records import Notification, ParcelException, location
from tracking.state import ParcelState
from tracking.taxonomy import Status

KIND_BY_STATUS: dict[str, str] = {
    Status.PICKED_UP.value: "shipped",
    Status.OUT_FOR_DELIVERY.value: "out_for_delivery",
    Status.AVAILABLE_FOR_PICKUP.value: "available_for_pickup",
    Status.FAILED_ATTEMPT.value: "failed_attempt",
    Status.DELIVERED.value: "delivered",
    Status.RETURN_TO_SENDER.value: "return_to_sender",
    Status.RETURNED.value: "returned",
}

_TEMPLATES: dict[str, str] = {
    "shipped": "Your parcel {tn} is on its way with {carrier}.",
    "out_for_delivery": "Your parcel {tn} is out for delivery{place}.",
    "available_for_pickup": "Your parcel {tn} is ready for pickup{place}.",
    "failed_attempt": "{carrier} could not deliver your parcel {tn}{why}; they will try again.",
    "delivered": "Your parcel {tn} was delivered{place}.",
    "exception": "There is a problem with your parcel {tn}{why}; we are on it.",
    "return_to_sender": "Your parcel {tn} is being returned to the sender{why}.",
    "returned": "Your parcel {tn} was returned to the sender.",
    "return_received": "We received your return {tn}; your refund is on its way.",
    "predicted_late": "Your parcel {tn} is running late; new estimate {eta}.",
    "eta_moved": "New delivery estimate for your parcel {tn}: {eta}.",
}

ALL_KINDS = frozenset(
    {*KIND_BY_STATUS.values(), "exception", "predicted_late", "eta_moved", "return_received"}
)


@dataclass(frozen=True, slots=True)
class RuleOverride:
    kinds: frozenset[str] | None = None
    add: frozenset[str] = frozenset()
    drop: frozenset[str] = frozenset()
    eta_moved_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    kinds: frozenset[str]
    eta_moved_ms: int


@dataclass
class NotificationRules:
    """Default rule, overridden by service level, then by customer segment (segment wins)."""

    default: RuleOverride = field(
        default_factory=lambda: RuleOverride(kinds=ALL_KINDS, eta_moved_ms=12 * 3_600_000)
    )
    services: dict[str, RuleOverride] = field(default_factory=dict)
    segments: dict[str, RuleOverride] = field(default_factory=dict)
    _cache: dict[tuple[str, str], Rule] = field(default_factory=dict, repr=False)

    def for_parcel(self, segment: str, service_level: str) -> Rule:
        rule = self._cache.get((segment, service_level))
        if rule is None:
            kinds, eta_moved = set(self.default.kinds or ()), self.default.eta_moved_ms or 0
            for override in (self.services.get(service_level), self.segments.get(segment)):
                if override is None:
                    continue
                if override.kinds is not None:
                    kinds = set(override.kinds)
                kinds = (kinds | override.add) - override.drop
                eta_moved = override.eta_moved_ms or eta_moved
            rule = self._cache[(segment, service_level)] = Rule(frozenset(kinds), eta_moved)
        return rule


EtaBasis = tuple[tuple[int, ...], int | None, int | None]


def eta_basis(state: ParcelState) -> EtaBasis:
    """What of the parcel's own an ETA rests on: its milestones' times, the carrier's estimate
    and the promise (a pickup feature). The model's paces are left out on purpose: they move
    every parcel in flight a little with each delivery and each window check (tracking/
    eta_calibration.py), and announcing that drift doubled the eta_moved messages on the
    simulated feed. A shopper hears of a moved ETA when news of the parcel moved it; a
    slowdown that makes it likely late reaches them as `predicted_late`."""
    return tuple(state.milestones.values()), state.carrier_eta_ms, state.promised_delivery_ms


def eta_moved_notifications(
    state: ParcelState, now_ms: int, rule: Rule, basis: EtaBasis | None = None
) -> list[Notification]:
    """Announce an ETA that moved by at least the rule's threshold since the last one told,
    when the change came with news of the parcel: its `eta_basis` is no longer `basis` (the
    one before the batch; None: any change counts)."""
    if state.eta_ms is None or "delivered" in state.milestones:
        return []
    if state.notified_eta_ms is None:
        state.notified_eta_ms = state.eta_ms  # the first ETA rides along with other messages
        return []
    if abs(state.eta_ms - state.notified_eta_ms) < rule.eta_moved_ms:
        return []
    if basis is not None and eta_basis(state) == basis:
        return []  # moved by the model alone
    state.notified_eta_ms = state.eta_ms
    key = notification_id(state.tracking_number, "eta_moved", str(state.eta_ms))
    return [_record(key, "eta_moved", state, "", state.status_at_ms or now_ms, now_ms)]


# Exception kinds that already reach the shopper through a status notification.
_ANNOUNCED_BY_STATUS = frozenset({"failed_attempt", "returned_to_sender"})


def notification_id(tracking_number: str, kind: str, status_event_id: str) -> str:
    key = f"{tracking_number}\x1f{kind}\x1f{status_event_id}"
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def notifications_for(
    before: tuple[str, str], state: ParcelState, now_ms: int
) -> list[Notification]:
    """Notifications for a parcel whose (status, reason) went from `before`."""
    if (state.status, state.reason) == before or state.status_at_ms is None:
        return []
    kind = KIND_BY_STATUS.get(state.status)
    if kind is None:
        return []
    if kind == "delivered" and state.is_return:
        kind = "return_received"
    key = notification_id(state.tracking_number, kind, state.status_event_id)
    return [_record(key, kind, state, state.reason, state.status_at_ms, now_ms)]


def exception_notifications(
    opened: list[ParcelException] | None, state: ParcelState, now_ms: int
) -> list[Notification]:
    """One notification per exception that opened, unless a status notification covers it."""
    out = []
    for exception in opened or ():
        kind = exception.kind
        if kind in _ANNOUNCED_BY_STATUS:
            continue
        notification_kind = "predicted_late" if kind == "predicted_late" else "exception"
        key = notification_id(state.tracking_number, f"exception:{kind}", str(exception.opened_at))
        out.append(_record(key, notification_kind, state, kind, exception.opened_at, now_ms))
    return out


def _record(
    key: str, kind: str, state: ParcelState, reason: str, occurred_at: int, now_ms: int
) -> Notification:
    place = f" in {state.city}" if state.city else ""
    why = f" ({reason.replace('_', ' ')})" if reason else ""
    eta = (
        datetime.fromtimestamp(state.eta_ms / 1000, UTC).strftime("%a %d %b")
        if state.eta_ms
        else "to follow"
    )
    message = _TEMPLATES.get(kind, _TEMPLATES["exception"]).format(
        tn=state.tracking_number, carrier=state.carrier, place=place, why=why, eta=eta
    )
    return Notification(
        notification_id=key,
        kind=kind,
        tracking_number=state.tracking_number,
        order_id=state.order_id,
        carrier=state.carrier,
        status=state.status,
        reason=reason,
        occurred_at=occurred_at,
        created_at=now_ms,
        customer_ref=state.customer_ref,
        customer_segment=state.customer_segment,
        service_level=state.service_level,
        location=location(state.city, state.country),
        message=message,
        eta=state.eta_ms,
        eta_low=state.eta_low_ms,
        eta_high=state.eta_high_ms,
        is_return=state.is_return,
        p_late=state.p_late,
    )
