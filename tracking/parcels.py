"""The parcel stage, as pure functions over one partition's state: a batch of normalized events
and shipment registrations in, new parcel states, deduplicated events, exceptions, order
summaries and notifications out. A timer tick runs the same exception rules with no input, so
silence ("no scan for three days") is noticed too. No Kafka and no clock in here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from tracking.carrier_eta import (
    CarrierEtaScores,
    apply_carrier_eta,
    mark_first_estimate,
    take_carrier_eta,
)
from tracking.eta import ETA_MILESTONES, EtaConfig, EtaModel, Lane, PickupFeatures
from tracking.eta_checks import WindowChecks
from tracking.events import TrackingEta, TrackingEvent
from tracking.exceptions import (
    ExceptionPolicy,
    GapModel,
    exception_record,
    next_deadlines,
    should_be_open,
)
from tracking.notify import (
    EtaBasis,
    NotificationRules,
    eta_basis,
    eta_moved_notifications,
    exception_notifications,
    notifications_for,
)
from tracking.orders import order_update
from tracking.records import Notification, OrderParcelUpdate, ParcelException
from tracking.state import RESOLVED_LIMIT, ParcelState
from tracking.taxonomy import TERMINAL, Status
from tracking.timers import DeadlineHeap

_DEFAULT_RULES = NotificationRules()
# The stage's ETA model: the 5-85 % window with its small-sample stretch and p_late
# (tracking/eta_calibration.py), without the censoring pace, the window checks (below) and the
# pickup-feature correction, which the Olist replay keeps (`make eval-eta`). Measured on
# the bench feed (simulate(20000, 7), 4,000-scan batches; the first ETA after pickup against the
# delivery): MAE 27.2 h with neither, 35.3 h with the features (a carrier feed knows only the
# promise and the weekday), 51.3 h with the pace. In batches the pace is biased slow: a parcel
# delivered within the batch that brought its milestone never gets a window to check, so the
# checks see only the slower parcels. The pace also moved every ETA in flight (eta_moved
# messages x2.6) and both cost per scan.
_STAGE_ETA: Final = EtaConfig(feature_refit_every=0, censoring_pace_step=0.0, delivery_clock=False)
_TERMINAL = frozenset(status.value for status in TERMINAL)
_NEW_PARCEL = (Status.PENDING.value, "")


class Parcels(Protocol):
    """Where a partition's parcels live: a dict in tests, the local store's hot set in the
    worker (pipeline/state/local.py), which reads a parcel from disk on first `get`."""

    def get(self, tracking_number: str, /) -> ParcelState | None: ...
    def __getitem__(self, tracking_number: str, /) -> ParcelState: ...
    def __setitem__(self, tracking_number: str, state: ParcelState, /) -> None: ...
    def pop(self, tracking_number: str, default: None = None, /) -> ParcelState | None: ...


class Timers(Protocol):
    """A parcel's next deadlines and the parcels whose deadline passed (tracking/timers.py)."""

    def schedule(self, tracking_number: str, version: int, deadlines: list[int]) -> None: ...
    def due(self, now_ms: int) -> list[str]: ...


@dataclass(slots=True)
class PartitionState:
    """Everything one partition of the parcel stage owns, recovered together.

    `retention_ms`: how long a terminal parcel (delivered, returned, cancelled, expired) stays
    in state after its last change; None keeps it forever. Its eviction is one more deadline,
    so no tick ever scans all parcels.
    """

    parcels: Parcels = field(default_factory=dict)  # type: ignore[assignment]
    eta: EtaModel = field(default_factory=lambda: EtaModel(_STAGE_ETA))
    gaps: GapModel = field(default_factory=GapModel)
    carrier_etas: CarrierEtaScores = field(default_factory=CarrierEtaScores)
    # Pending checks of the windows given (tracking/eta_checks.py): derived, not persisted.
    # None (the default) leaves the window's ends to the sketch quantiles and the small-sample
    # stretch: in 4,000-scan batches the checks are biased too. A delivery whose scan arrives a
    # batch after event time passed its window's ends is judged "not yet" there, and a parcel
    # delivered in its milestone's batch is never checked. On the bench feed the first window
    # after pickup held 65.1 % of deliveries without the checks and 61.2 % with them (54.7 % on
    # main), and they cost ~6 µs of the parcel stage's ~65 µs a scan.
    checks: WindowChecks | None = None
    timers: Timers = field(default_factory=DeadlineHeap)
    models_changed: bool = False
    retention_ms: int | None = None

    def schedule(self, state: ParcelState, now_ms: int, policy: ExceptionPolicy) -> None:
        stuck_after = self.gaps.stuck_after_ms(state.carrier, state.status, policy)
        deadlines = next_deadlines(state, now_ms, stuck_after, policy)
        evict_at = self.evict_at(state)
        if evict_at is not None:
            deadlines.append(max(evict_at, now_ms + 1))
        self.timers.schedule(state.tracking_number, state.version, deadlines)

    def evict_at(self, state: ParcelState) -> int | None:
        if self.retention_ms is None or state.status not in _TERMINAL:
            return None
        return state.updated_at_ms + self.retention_ms


@dataclass(slots=True)
class BatchOutput:
    new_events: list[TrackingEvent] = field(default_factory=list)
    duplicates: int = 0
    changed: list[ParcelState] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    exceptions: list[ParcelException] = field(default_factory=list)
    order_updates: list[OrderParcelUpdate] = field(default_factory=list)
    # Terminal parcels whose retention ran out: they leave the partition (process_timers).
    evicted: list[ParcelState] = field(default_factory=list)


def lane_of(state: ParcelState) -> Lane:
    return Lane(
        state.carrier,
        state.service_level or "standard",
        state.origin_region or "?",
        state.destination_region or "?",
    )


def process_batch(
    part: PartitionState,
    events: list[TrackingEvent],
    shipments: list[dict[str, Any]],
    now_ms: int,
    policy: ExceptionPolicy | None = None,
    rules: NotificationRules | None = None,
    etas: Sequence[TrackingEta] = (),
) -> BatchOutput:
    """Apply a batch to the partition (mutated in place).

    Shipments go first so notifications in the same batch already carry the order id; the
    carriers' estimates after the scans, so an estimate that comes with its pickup scan is
    already the carrier's first after pickup (tracking/carrier_eta.py).
    Notifications compare each parcel before and after the whole batch, so a batch holding
    "out for delivery" and "delivered" for one parcel announces only the delivery.
    """
    policy = policy or ExceptionPolicy()
    rules = rules or _DEFAULT_RULES
    parcels = part.parcels
    out = BatchOutput()
    before: dict[str, tuple[tuple[str, str], int, bool, str, EtaBasis]] = {}

    def state_of(tracking_number: str) -> ParcelState:
        state = parcels.get(tracking_number)
        if state is None:
            state = parcels[tracking_number] = ParcelState(tracking_number)
        if tracking_number not in before:
            before[tracking_number] = (
                (state.status, state.reason),
                state.version,
                "delivered" in state.milestones,
                state.shipment_id,
                eta_basis(state),
            )
        return state

    for shipment in shipments:
        state_of(shipment["tracking_number"]).apply_shipment(shipment, now_ms)

    by_parcel: dict[str, list[TrackingEvent]] = {}
    for event in events:
        by_parcel.setdefault(event.tracking_number, []).append(event)
    for tracking_number, parcel_events in by_parcel.items():
        accepted = state_of(tracking_number).apply_events(parcel_events, now_ms)
        out.new_events.extend(accepted)
        out.duplicates += len(parcel_events) - len(accepted)
    for eta in etas:
        state = state_of(eta.tracking_number)
        if apply_carrier_eta(state, eta):
            state.version += 1
            state.updated_at_ms = now_ms

    for tracking_number, (
        status_before,
        version_before,
        was_delivered,
        followed,
        basis,
    ) in before.items():
        state = parcels[tracking_number]
        if state.version == version_before:
            continue
        if followed and state.shipment_id != followed:
            # A new shipment under the number (tracking/shipments.py): the old lifecycle's
            # exceptions end, and the new one is announced from its start.
            _resolve_all(state, now_ms, out)
            status_before, was_delivered = _NEW_PARCEL, False
        if not was_delivered and "delivered" in state.milestones:
            _learn(part, state)
        first = mark_first_estimate(state)
        ours = _refresh_eta(part, state, policy.p_late_threshold)
        if first:
            state.eta_first_ms = ours
        opened = _update_exceptions(part, state, now_ms, policy, out)
        out.changed.append(state)
        if state.evicted_at_ms is None:  # an evicted parcel's news was announced already
            rule = rules.for_parcel(state.customer_segment, state.service_level)
            notes = notifications_for(status_before, state, now_ms)
            notes += exception_notifications(opened, state, now_ms)
            notes += eta_moved_notifications(state, now_ms, rule, basis)
            out.notifications.extend(n for n in notes if n.kind in rule.kinds)
        if state.order_id:
            out.order_updates.append(order_update(state))
        part.schedule(state, now_ms, policy)
    if events and part.checks is not None:
        part.checks.advance(max([e.occurred_at_ms for e in events]), part.eta)
    return out


def process_timers(
    part: PartitionState,
    now_ms: int,
    policy: ExceptionPolicy | None = None,
    rules: NotificationRules | None = None,
) -> BatchOutput:
    """Re-evaluate the parcels whose deadlines passed: stuck, late, expired; and evict the
    terminal parcels whose retention ran out."""
    policy = policy or ExceptionPolicy()
    rules = rules or _DEFAULT_RULES
    out = BatchOutput()
    for tracking_number in part.timers.due(now_ms):
        state = part.parcels.get(tracking_number)
        if state is None:
            continue
        evict_at = part.evict_at(state)
        if evict_at is not None and evict_at <= now_ms:
            part.parcels.pop(tracking_number)
            if part.checks is not None:
                part.checks.forget(tracking_number)
            out.evicted.append(state)
            continue
        opened = _update_exceptions(part, state, now_ms, policy, out)
        if opened is not None:
            state.version += 1
            state.updated_at_ms = now_ms
            out.changed.append(state)
            if state.evicted_at_ms is None:
                rule = rules.for_parcel(state.customer_segment, state.service_level)
                notes = exception_notifications(opened, state, now_ms)
                out.notifications.extend(n for n in notes if n.kind in rule.kinds)
            if state.order_id:
                out.order_updates.append(order_update(state))
        part.schedule(state, now_ms, policy)
    return out


def features_of(state: ParcelState, picked_up_ms: int) -> PickupFeatures:
    """What the stage knows at pickup: the promise horizon and the weekday (a shop's weights
    and addresses would go here too, tracking/eta_features.py)."""
    promised = state.promised_delivery_ms
    return PickupFeatures(
        promise_horizon_s=None if promised is None else (promised - picked_up_ms) / 1000,
        weekday=(picked_up_ms // 86_400_000 + 3) % 7,  # 1970-01-01 was a Thursday
    )


def _learn(part: PartitionState, state: ParcelState) -> None:
    """A delivery teaches the ETA model one remaining-time per milestone it passed, and the
    gap model how long this carrier usually stays silent at each status."""
    delivered_at = state.milestones["delivered"]
    lane = lane_of(state)
    for milestone in ETA_MILESTONES:
        reached = state.milestones.get(milestone)
        if reached is not None and reached <= delivered_at:
            features = (
                features_of(state, reached)
                if milestone == "picked_up" and part.eta.config.feature_refit_every
                else None
            )
            part.eta.observe(lane, milestone, (delivered_at - reached) / 1000, features)
    # The window the parcel holds settles its remaining checks (tracking/eta_checks.py).
    if part.checks is not None:
        part.checks.delivered(state.tracking_number, delivered_at, part.eta)
    part.gaps.observe_history(state)
    # The carrier's first estimate after pickup against ours of the same moment.
    carrier_first, our_first = state.carrier_eta_first_ms, state.eta_first_ms
    if carrier_first is not None and our_first is not None:
        part.carrier_etas.observe(
            state.carrier, (carrier_first - delivered_at) / 1000, (our_first - delivered_at) / 1000
        )
    part.models_changed = True


def _refresh_eta(part: PartitionState, state: ParcelState, late_threshold: float) -> int | None:
    """Set the parcel's ETA: ours, or the carrier's when it measures better (or we have none).
    Returns our own ETA (None when we have none, or the parcel is delivered)."""
    delivered_at = state.milestones.get("delivered")
    if delivered_at is not None:
        state.eta_ms = state.eta_low_ms = state.eta_high_ms = delivered_at
        state.eta_level, state.predicted_late = "actual", False
        promised = state.promised_delivery_ms
        state.p_late = None if promised is None else float(delivered_at > promised)
        return None
    for milestone in reversed(ETA_MILESTONES):
        reached = state.milestones.get(milestone)
        if reached is not None:
            # Features only count once the correction has a fit (tracking/eta_features.py).
            features = (
                features_of(state, reached)
                if milestone == "picked_up" and part.eta.features.beta is not None
                else None
            )
            lane = lane_of(state)
            prediction = part.eta.predict(
                lane, milestone, reached, state.promised_delivery_ms, features
            )
            if prediction is not None:
                state.eta_ms, state.eta_low_ms = prediction.eta_ms, prediction.low_ms
                state.eta_high_ms, state.eta_level = prediction.high_ms, prediction.lane_level
                state.p_late = prediction.p_late
                state.predicted_late = (
                    prediction.p_late is not None and prediction.p_late >= late_threshold
                )
                state.eta_source = "ours"
                if part.checks is not None:
                    part.checks.given(state.tracking_number, milestone, lane, prediction,
                                      part.eta, reached)  # fmt: skip
            break
    ours = state.eta_ms if state.eta_source == "ours" else None
    if state.carrier_eta_ms is not None and (
        ours is None or part.carrier_etas.prefers_carrier(state.carrier)
    ):
        spread = None
        if ours is not None and state.eta_low_ms is not None and state.eta_high_ms is not None:
            spread = (ours - state.eta_low_ms, state.eta_high_ms - ours)
        take_carrier_eta(state, spread)
    return ours


def _resolve_all(state: ParcelState, now_ms: int, out: BatchOutput) -> None:
    for kind in sorted(state.open_exceptions):
        opened_at = state.open_exceptions.pop(kind)
        out.exceptions.append(exception_record(state, kind, opened_at, now_ms, now_ms))


def _update_exceptions(
    part: PartitionState, state: ParcelState, now_ms: int, policy: ExceptionPolicy, out: BatchOutput
) -> list[ParcelException] | None:
    """Open and resolve exceptions; returns the opened records, or None when nothing changed."""
    stuck_after = part.gaps.stuck_after_ms(state.carrier, state.status, policy)
    target = should_be_open(state, now_ms, stuck_after, policy)
    current = state.open_exceptions
    if target.keys() == current.keys():
        return None
    opened = []
    resolved = state.resolved_exceptions
    for kind in sorted(current.keys() - target.keys()):
        opened_at = current.pop(kind)
        out.exceptions.append(exception_record(state, kind, opened_at, now_ms, now_ms))
        resolved.append((kind, opened_at, now_ms))
    del resolved[:-RESOLVED_LIMIT]
    for kind in sorted(target.keys() - current.keys()):
        current[kind] = target[kind]
        record = exception_record(state, kind, target[kind], None, now_ms)
        out.exceptions.append(record)
        opened.append(record)
    return opened
