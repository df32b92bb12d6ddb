"""Carriers' own delivery estimates: kept on the parcel, scored per carrier, chosen when better.

An estimate (`TrackingEta`, from `connectors.CarrierEta`) is a fact about the parcel, not a
scan: it never enters the history, its status or its milestones (the event-time fold in
tracking/state.py). Three rules, each a plain function:

* **Newest wins** (`apply_carrier_eta`): the estimate received last replaces the one before;
  a replayed or late older one changes nothing. Within one payload (same receipt time) the most
  specific kind wins (an appointment over a live forecast over a schedule over a promise, see
  connectors/README.md "Carrier ETAs"), then the later time, so the result is a function of the
  set of estimates received, whatever their arrival order.
* **First after pickup** (`mark_first_estimate`): the carrier's estimate current when the
  parcel is first known to be picked up (a milestone after pickup, or in transit) and not yet
  delivered, together with our own ETA at that same moment (`ParcelState.eta_first_ms`). At
  delivery both are scored against the actual time (`CarrierEtaScores.observe`): the same
  parcels, the same moment, so neither side is flattered by estimates made on the doorstep
  (every carrier's last estimate is good). This one is about what we knew when, so it follows
  arrival order by nature.
* **Choose by measured accuracy** (`CarrierEtaScores.prefers_carrier`): the parcel's ETA is the
  carrier's when, for that carrier, its first-after-pickup estimates have had the lower mean
  absolute error than ours over at least `MIN_SAMPLES` delivered parcels; and the carrier's
  whenever we have no ETA of our own (a cold model knows less than any carrier).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracking.eta import ETA_MILESTONES
from tracking.events import TrackingEta
from tracking.shipments import is_stale
from tracking.taxonomy import Status

if TYPE_CHECKING:
    from tracking.state import ParcelState

__all__ = [
    "MIN_SAMPLES",
    "CarrierEtaScores",
    "apply_carrier_eta",
    "mark_first_estimate",
    "take_carrier_eta",
]

# Paired deliveries a carrier needs before its estimates may replace ours. The comparison is
# paired (each delivery scores both estimates made at one moment), so the noise that remains
# is that of one mean of differences; 20 deliveries keep one lucky or unlucky day of a carrier
# from deciding, and a carrier that delivers hundreds a day is judged within hours.
MIN_SAMPLES = 20

# Within one payload, the most specific estimate wins (connectors/README.md, "Carrier ETAs").
KIND_RANK = {"promised": 0, "scheduled": 1, "estimated": 2, "appointment": 3}

# Milestones that mean "picked up": the first one known starts the accuracy comparison.
_AFTER_PICKUP = ETA_MILESTONES[1:]
_IN_TRANSIT = Status.IN_TRANSIT.value


def _order(received_at_ms: int, kind: str, at_ms: int, low: int, high: int) -> tuple[int, ...]:
    return (received_at_ms, KIND_RANK.get(kind, -1), at_ms, low, high)


def apply_carrier_eta(state: ParcelState, eta: TrackingEta) -> bool:
    """Take `eta` as the parcel's carrier estimate if it is the newest; True when it was.

    Only the carrier_eta fields change: status, history and milestones never do. An estimate
    for another shipment than the one the state follows is not the parcel's (see
    tracking/shipments.py)."""
    if is_stale(state, eta.shipment_id):
        return False
    new = _order(eta.received_at_ms, eta.kind, eta.estimated_at_ms, eta.window_start_ms,
                 eta.window_end_ms)  # fmt: skip
    if state.carrier_eta_ms is not None:
        current = _order(state.carrier_eta_received_ms or 0, state.carrier_eta_kind,
                         state.carrier_eta_ms, state.carrier_eta_low_ms or 0,
                         state.carrier_eta_high_ms or 0)  # fmt: skip
        if new <= current:
            return False
    state.carrier_eta_ms = eta.estimated_at_ms
    state.carrier_eta_low_ms = eta.window_start_ms or None
    state.carrier_eta_high_ms = eta.window_end_ms or None
    state.carrier_eta_kind = eta.kind
    state.carrier_eta_received_ms = eta.received_at_ms
    return True


def mark_first_estimate(state: ParcelState) -> bool:
    """Record the carrier's current estimate as its first after pickup, once: when the parcel
    is known picked up, not delivered, and has an estimate. True when it was recorded now (the
    caller then records our own ETA of the same moment in `eta_first_ms`)."""
    if state.carrier_eta_first_ms is not None or state.carrier_eta_ms is None:
        return False
    milestones = state.milestones
    if "delivered" in milestones:
        return False
    # A carrier whose codes never say pickup (DHL's statusCode: pre-transit, transit, ...)
    # tells it by having the parcel in transit.
    moving = state.status == _IN_TRANSIT or any(m in milestones for m in _AFTER_PICKUP)
    if not moving:
        return False
    state.carrier_eta_first_ms = state.carrier_eta_ms
    return True


def take_carrier_eta(state: ParcelState, spread: tuple[int, int] | None = None) -> None:
    """Make the carrier's estimate the parcel's ETA, with a range that means what ours means.

    A carrier sends a time, or a delivery window of a few hours (FedEx's 4-hour
    estimatedDeliveryTimeWindow): not an 80 % range, and shown as one it held 2 % of the demo's
    deliveries. `spread`: how far our own window reaches below and above our ETA (ms), laid
    around the carrier's estimate; the range shown spans that and the carrier's window. The
    carrier is preferred when it measured better than us, so our spread is the cautious one.
    Without a spread of ours the carrier's window stands (the estimate itself when it gives
    none)."""
    at = state.carrier_eta_ms
    if at is None:
        return
    state.eta_ms = at
    low, high = state.carrier_eta_low_ms or at, state.carrier_eta_high_ms or at
    if spread is not None:
        low, high = min(low, at - spread[0]), max(high, at + spread[1])
    state.eta_low_ms, state.eta_high_ms = low, high
    state.eta_level = ""  # no lane level of ours answered
    state.predicted_late = (
        state.promised_delivery_ms is not None and at > state.promised_delivery_ms
    )
    # A carrier gives a time, not a distribution: its lateness is all or nothing.
    state.p_late = None if state.promised_delivery_ms is None else float(state.predicted_late)
    state.eta_source = "carrier"


@dataclass(slots=True)
class _Score:
    samples: int = 0
    carrier_error_s: float = 0.0  # sums of absolute errors, seconds
    our_error_s: float = 0.0


@dataclass(slots=True)
class CarrierEtaScores:
    """Per carrier: how far its first estimate after pickup was from the delivery, next to how
    far ours was at the same moment (running mean absolute errors over delivered parcels)."""

    min_samples: int = MIN_SAMPLES
    scores: dict[str, _Score] = field(default_factory=dict)

    def observe(self, carrier: str, carrier_error_s: float, our_error_s: float) -> None:
        score = self.scores.get(carrier)
        if score is None:
            score = self.scores[carrier] = _Score()
        score.samples += 1
        score.carrier_error_s += abs(carrier_error_s)
        score.our_error_s += abs(our_error_s)

    def mae_hours(self, carrier: str) -> tuple[float, float, int] | None:
        """(carrier's MAE, ours, deliveries) in hours; None before the carrier's first one."""
        score = self.scores.get(carrier)
        if score is None or score.samples == 0:
            return None
        n = score.samples
        return score.carrier_error_s / n / 3600, score.our_error_s / n / 3600, n

    def prefers_carrier(self, carrier: str) -> bool:
        score = self.scores.get(carrier)
        return (
            score is not None
            and score.samples >= self.min_samples
            and score.carrier_error_s < score.our_error_s
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "min_samples": self.min_samples,
            "scores": {
                carrier: [s.samples, s.carrier_error_s, s.our_error_s]
                for carrier, s in self.scores.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CarrierEtaScores:
        if data.get("version") != 1:
            raise ValueError(f"unsupported CarrierEtaScores version {data.get('version')!r}")
        scores = {
            str(carrier): _Score(int(n), float(c), float(o))
            for carrier, (n, c, o) in data["scores"].items()
        }
        return cls(int(data["min_samples"]), scores)
