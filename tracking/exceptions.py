"""Parcel exceptions: explicit ones the carrier reported and derived ones the clock reveals.

Each kind is *open* while its condition holds and *resolved* when it stops holding. Whether a
condition holds is a pure function of the parcel state and `now`, so an incoming scan and a
timer tick do the same thing: re-evaluate, then diff against what was open.

Derived kinds:
- stuck: no scan for longer than the lane's usual gap at this status (learned online: p90 of
  observed gaps x a factor, clamped), or a default when too few gaps were seen;
- late: the promised delivery passed and the parcel is not delivered;
- predicted_late: the parcel's p_late reaches `ExceptionPolicy.p_late_threshold` (before the
  promise passes);
- repeated_failed_attempts: two or more failed delivery attempts;
- expired: no update for 30 days (configurable).

Clock-based kinds (stuck, late, expired) open only once the parcel's feed has *settled*: no
new scan received for `settle_ms`. While a backlog is being replayed (or a carrier delivers a
day of scans at once) the next batch may hold the delivery, and an alarm raised in between
would be disproved seconds later; the timer re-checks once the feed is quiet.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from tracking.eta import QuantileSketch
from tracking.records import ParcelException
from tracking.state import ParcelState
from tracking.taxonomy import EXCEPTION_REASONS, TERMINAL, Status

_DAY_MS = 86_400_000

LEVELS = ("low", "medium", "high", "critical")
BASE_SEVERITY: dict[str, int] = {
    "lost": 2,
    "damaged": 2,
    "expired": 2,
    "stuck": 1,
    "late": 1,
    "customs_hold": 1,
    "refused": 1,
    "address_issue": 1,
    "returned_to_sender": 1,
    "repeated_failed_attempts": 1,
    "access_restricted": 1,
    "predicted_late": 0,
    "failed_attempt": 0,
    "weather_delay": 0,
    "recipient_unavailable": 0,
    "delayed": 0,
    "carrier_exception": 1,
}
URGENT_SEGMENTS = frozenset({"vip", "business"})
URGENT_SERVICES = frozenset({"expedited", "express", "overnight", "priority"})

_REASON_KINDS = frozenset(r.value for r in EXCEPTION_REASONS)


@dataclass(frozen=True, slots=True)
class ExceptionPolicy:
    stuck_default_ms: int = 3 * _DAY_MS
    stuck_min_ms: int = 12 * 3_600_000
    stuck_max_ms: int = 7 * _DAY_MS
    stuck_gap_factor: float = 2.0
    stuck_min_samples: int = 30
    expire_after_ms: int = 30 * _DAY_MS
    settle_ms: int = 10 * 60_000
    # A parcel counts as predicted late (exception, notification) when its p_late reaches this.
    # On the Olist replay (`make eval-eta`) 0.22 flags 34 % of the late orders at 35 %
    # precision (the most recall at that precision); raise it for fewer, surer flags.
    p_late_threshold: float = 0.22


def severity(kind: str, segment: str, service_level: str) -> str:
    """Expedited shipments and high-value customers first: each bumps the level by one."""
    level = BASE_SEVERITY.get(kind, 1)
    level += segment in URGENT_SEGMENTS
    level += service_level in URGENT_SERVICES
    return LEVELS[min(level, len(LEVELS) - 1)]


class GapModel:
    """Usual time between consecutive scans, by (carrier, status of the earlier scan)."""

    def __init__(self) -> None:
        self._sketches: dict[tuple[str, str], QuantileSketch] = {}

    def observe_history(self, state: ParcelState) -> None:
        history = state.history
        for earlier, later in zip(history, history[1:], strict=False):
            gap = (later.occurred_at_ms - earlier.occurred_at_ms) / 1000
            if gap > 0:
                key = (state.carrier, earlier.status)
                sketch = self._sketches.get(key)
                if sketch is None:
                    sketch = self._sketches[key] = QuantileSketch()
                sketch.add(gap)

    def stuck_after_ms(self, carrier: str, status: str, policy: ExceptionPolicy) -> int:
        sketch = self._sketches.get((carrier, status))
        if sketch is None or sketch.effective_count < policy.stuck_min_samples:
            return policy.stuck_default_ms
        p90 = sketch.quantiles([0.9])[0] * 1000 * policy.stuck_gap_factor
        return int(min(max(p90, policy.stuck_min_ms), policy.stuck_max_ms))

    def to_dict(self) -> dict[str, Any]:
        return {f"{c}\x1f{s}": sk.to_dict() for (c, s), sk in self._sketches.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GapModel:
        model = cls()
        for key, sketch in data.items():
            carrier, status = key.split("\x1f", 1)
            model._sketches[(carrier, status)] = QuantileSketch.from_dict(sketch)
        return model


def should_be_open(
    state: ParcelState, now_ms: int, stuck_after_ms: int, policy: ExceptionPolicy
) -> dict[str, int]:
    """kind -> since when (epoch ms) for every exception whose condition holds now."""
    kinds: dict[str, int] = {}
    status, status_at = state.status, state.status_at_ms or 0
    # A failed attempt's reason (recipient unavailable, no access) is detail of that attempt.
    reason_counts = status == Status.EXCEPTION or (
        status not in TERMINAL and status != Status.FAILED_ATTEMPT
    )
    if state.reason in _REASON_KINDS and reason_counts:
        kinds[state.reason] = status_at
    elif status == Status.EXCEPTION:
        kinds["carrier_exception"] = status_at  # the carrier gave no reason we know
    if status == Status.FAILED_ATTEMPT:
        kinds["failed_attempt"] = status_at
    if status in (Status.RETURN_TO_SENDER, Status.RETURNED) and not state.is_return:
        kinds["returned_to_sender"] = status_at
    delivered = status == Status.DELIVERED or "delivered" in state.milestones
    if not delivered:
        failures = [h.occurred_at_ms for h in state.history if h.status == Status.FAILED_ATTEMPT]
        if len(failures) >= 2:
            kinds["repeated_failed_attempts"] = failures[1]
    received = state.last_received_at_ms
    if received is not None and now_ms - received < policy.settle_ms:
        return kinds
    last = state.last_event_at_ms
    if status not in TERMINAL and last is not None:
        # Both date from the last scan, when the silence began: the id of an episode must not
        # depend on a threshold that is learned and may differ after a replay.
        if now_ms - last > stuck_after_ms:
            kinds["stuck"] = last
        if now_ms - last > policy.expire_after_ms:
            kinds["expired"] = last
    promised = state.promised_delivery_ms
    if promised is not None and not delivered and status not in TERMINAL:
        if now_ms > promised:
            kinds["late"] = promised
        elif state.predicted_late:
            kinds["predicted_late"] = state.eta_ms or now_ms
    return kinds


def next_deadlines(
    state: ParcelState, now_ms: int, stuck_after_ms: int, policy: ExceptionPolicy
) -> list[int]:
    """When, with no new scan, `should_be_open` could next change: timer wake-ups."""
    if state.status in TERMINAL or state.last_event_at_ms is None:
        return []
    last = state.last_event_at_ms
    candidates = [last + stuck_after_ms + 1, last + policy.expire_after_ms + 1]
    if state.last_received_at_ms is not None:
        candidates.append(state.last_received_at_ms + policy.settle_ms + 1)
    if state.promised_delivery_ms is not None:
        candidates.append(state.promised_delivery_ms + 1)
    return [t for t in candidates if t > now_ms]


def exception_id(tracking_number: str, kind: str, opened_at_ms: int) -> str:
    """Stable across opening and resolving, and across replays (the open time is event- or
    deadline-derived, never the wall clock of the run)."""
    key = f"{tracking_number}\x1f{kind}\x1f{opened_at_ms}"
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def exception_record(
    state: ParcelState, kind: str, opened_at: int, resolved_at: int | None, now_ms: int
) -> ParcelException:
    return ParcelException(
        exception_id=exception_id(state.tracking_number, kind, opened_at),
        tracking_number=state.tracking_number,
        order_id=state.order_id,
        carrier=state.carrier,
        kind=kind,
        severity=severity(kind, state.customer_segment, state.service_level),
        state="opened" if resolved_at is None else "resolved",
        opened_at=opened_at,
        resolved_at=resolved_at,
        detected_at=now_ms,
        parcel_status=state.status,
        customer_segment=state.customer_segment,
        service_level=state.service_level,
    )
