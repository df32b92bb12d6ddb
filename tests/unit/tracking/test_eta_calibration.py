"""ETA v2: calibrated windows (ACI), censoring-aware pace, p_late, pickup features, and p_late
on the parcel stage's state, exceptions and notifications."""

from __future__ import annotations

import json
import math
import random
from collections import deque

import pytest

from tracking.eta import EtaModel, Lane
from tracking.eta_calibration import Calibration, p_late
from tracking.eta_checks import WindowChecks
from tracking.eta_features import FeatureCorrection, PickupFeatures, haversine_km
from tracking.events import TrackingEvent
from tracking.exceptions import ExceptionPolicy
from tracking.parcels import PartitionState, lane_of, process_batch, process_timers
from tracking.taxonomy import Reason

DAY = 86_400.0
DAY_MS = 86_400_000
T0 = 1_700_000_000_000
LANE = Lane("olist", "standard", "SP", "RJ")


def trained(n: int = 400, seed: int = 5) -> EtaModel:
    rng = random.Random(seed)
    model = EtaModel()
    for _ in range(n):
        model.observe(LANE, "picked_up", rng.lognormvariate(math.log(6 * DAY), 0.4))
    return model


# --- p_late -------------------------------------------------------------------------------------


def test_p_late_reads_the_window_as_its_quantiles() -> None:
    cal = Calibration()
    low, mid, high = 3 * DAY, 6 * DAY, 10 * DAY
    assert p_late(mid, low, mid, high, cal.z_low, cal.z_high) == pytest.approx(0.5)
    # A promise at the window's high end: late with the high end's miss share, and so on.
    assert p_late(high, low, mid, high, cal.z_low, cal.z_high) == pytest.approx(cal.high_miss)
    assert p_late(low, low, mid, high, cal.z_low, cal.z_high) == pytest.approx(1 - cal.low_miss)
    assert p_late(-1.0, low, mid, high, cal.z_low, cal.z_high) == 1.0
    ps = [p_late(d * DAY, low, mid, high, cal.z_low, cal.z_high) for d in range(1, 30)]
    assert ps == sorted(ps, reverse=True) and 0.0 <= ps[-1] < 0.01


def test_prediction_carries_p_late_against_the_promise() -> None:
    model = trained()
    soon = model.predict(LANE, "picked_up", T0, T0 + 2 * DAY_MS)
    late = model.predict(LANE, "picked_up", T0, T0 + 30 * DAY_MS)
    assert soon is not None and late is not None and soon.p_late and late.p_late is not None
    assert soon.p_late > 0.9 > 0.05 > late.p_late
    none = model.predict(LANE, "picked_up", T0)
    assert none is not None and none.p_late is None


# --- adaptive conformal calibration -------------------------------------------------------------


def test_a_window_from_few_parcels_is_wider() -> None:
    cal = Calibration()
    stretches = [cal.small_sample(n) for n in (5, 20, 100, 10_000)]
    assert stretches == sorted(stretches, reverse=True)
    assert stretches[0][1] == pytest.approx(2.5, abs=0.1)
    assert stretches[-1] == pytest.approx((1.0, 1.0), abs=0.001)
    thin, thick = EtaModel(), EtaModel()
    rng = random.Random(8)
    for model, n in ((thin, 6), (thick, 600)):
        for _ in range(n):
            model.observe(LANE, "picked_up", rng.lognormvariate(math.log(6 * DAY), 0.4))
    p_thin, p_thick = (m.predict(LANE, "picked_up", T0) for m in (thin, thick))
    assert p_thin is not None and p_thick is not None
    assert p_thin.high_ms - p_thin.low_ms > 1.5 * (p_thick.high_ms - p_thick.low_ms)


def test_each_window_end_tracks_its_miss_target() -> None:
    """Deliveries that overrun the window 40 % of the time widen its high end until about
    `high_miss` of them do; the low end is left alone."""
    rng = random.Random(1)
    model = trained()
    before = model.predict(LANE, "picked_up", T0)
    assert before is not None
    misses, uncalibrated = [], []
    for _ in range(3000):
        p = model.predict(LANE, "picked_up", T0)
        assert p is not None
        # Transit times from a slower world than the one learned: the sketch does not learn
        # them (no observe), so only the calibration can react.
        actual = T0 + round(rng.lognormvariate(math.log(10 * DAY), 0.5) * 1000)
        model.settle_delivered("picked_up", LANE, p, actual)
        misses.append(actual > p.high_ms)
        uncalibrated.append(actual > before.high_ms)
    after = model.predict(LANE, "picked_up", T0)
    assert after is not None
    assert after.high_ms > before.high_ms
    assert sum(uncalibrated) / len(uncalibrated) > 0.4
    assert sum(misses[-1000:]) / 1000 == pytest.approx(model.calibration.high_miss, abs=0.05)


def test_a_parcel_still_in_flight_widens_the_window_before_it_is_delivered() -> None:
    """Censoring: a check settled 'not yet delivered' at the window's end counts as a miss."""
    model = trained()
    before = model.predict(LANE, "picked_up", T0)
    for _ in range(100):
        model.settle("picked_up", LANE, "lane", "high", False)
    after = model.predict(LANE, "picked_up", T0)
    assert before is not None and after is not None
    assert after.high_ms > before.high_ms and after.eta_ms == before.eta_ms


def test_overdue_parcels_slow_the_eta_down_most_in_their_region() -> None:
    """Parcels past their median and still in flight move the pace before any of them is
    delivered: the carrier's a little, their destination region's more."""
    model = trained()
    other = Lane("olist", "standard", "SP", "MG")
    for _ in range(300):
        model.observe(other, "picked_up", 6 * DAY)
    eta = {lane: model.predict(lane, "picked_up", T0) for lane in (LANE, other)}
    for _ in range(40):
        model.settle("picked_up", LANE, "lane", "mid", False)
    moved = {lane: model.predict(lane, "picked_up", T0) for lane in (LANE, other)}
    slower = {lane: moved[lane].eta_ms - eta[lane].eta_ms for lane in eta}  # type: ignore[union-attr]
    assert slower[LANE] > slower[other] > 0
    # Parcels arriving before their median bring it back.
    for _ in range(40):
        model.settle("picked_up", LANE, "lane", "mid", True)
    back = model.predict(LANE, "picked_up", T0)
    assert back is not None and back.eta_ms == pytest.approx(eta[LANE].eta_ms, rel=1e-3)  # type: ignore[union-attr]


def test_calibration_and_features_survive_a_snapshot() -> None:
    model = trained()
    rng = random.Random(2)
    for i in range(800):
        f = PickupFeatures(distance_km=rng.uniform(10, 3000), weekday=i % 7, seller=f"s{i % 9}")
        model.observe(LANE, "picked_up", rng.lognormvariate(math.log(6 * DAY), 0.4), f)
        model.settle("picked_up", LANE, "lane", ("low", "mid", "high")[i % 3], i % 4 == 0)
    assert model.features.beta is not None
    restored = EtaModel.from_dict(json.loads(json.dumps(model.to_dict())))
    f = PickupFeatures(distance_km=700.0, weekday=2, seller="s3")
    assert restored.predict(LANE, "picked_up", T0, T0 + 9 * DAY_MS, f) == model.predict(
        LANE, "picked_up", T0, T0 + 9 * DAY_MS, f
    )
    assert json.dumps(restored.to_dict()) == json.dumps(model.to_dict())


def test_a_version_1_snapshot_still_loads() -> None:
    state = trained().to_dict()
    state["version"] = 1
    del state["features"], state["calibration"]
    restored = EtaModel.from_dict(state)
    assert restored.predict(LANE, "picked_up", T0) is not None


# --- pickup features ----------------------------------------------------------------------------


def test_haversine_sao_paulo_to_rio() -> None:
    # Praca da Se to Praca XV: about 360 km as the crow flies.
    assert haversine_km((-23.5505, -46.6333), (-22.9028, -43.1729)) == pytest.approx(360, rel=0.03)


def test_feature_correction_learns_a_distance_effect() -> None:
    rng = random.Random(4)
    correction = FeatureCorrection(window=2000, refit_every=100)
    assert correction.factor(PickupFeatures(distance_km=100.0), DAY) == 1.0  # no fit yet
    for _ in range(1500):
        km = rng.uniform(20, 3000)
        # Transit grows with distance**0.3 around a lane answer of 5 days that ignores it.
        actual = 5 * DAY * (km / 500) ** 0.3 * rng.lognormvariate(0, 0.1)
        correction.observe(PickupFeatures(distance_km=km), 5 * DAY, actual)
    near = correction.factor(PickupFeatures(distance_km=50.0), 5 * DAY)
    far = correction.factor(PickupFeatures(distance_km=2500.0), 5 * DAY)
    assert far / near == pytest.approx((2501 / 51) ** 0.3, rel=0.1)
    assert correction.factor(None, 5 * DAY) == 1.0


# --- the parcel stage ---------------------------------------------------------------------------


def scan(tn: str, event_id: str, status: str, at: int, reason: str = "") -> TrackingEvent:
    return TrackingEvent(event_id, tn, "acme", status, reason, "X", "", at, at, False, "Oslo",
                         "", "", "NO", "raw", "test")  # fmt: skip


def shipment(tn: str, promised: int) -> dict:
    return {
        "order_id": "O1", "tracking_number": tn, "carrier": "acme", "service_level": "standard",
        "promised_delivery": promised, "customer_ref": "C9", "customer_segment": "",
        "origin": {"city": "", "region": "CA", "postal_code": "", "country": "US"},
        "destination": {"city": "", "region": "NY", "postal_code": "", "country": "US"},
        "is_return": False, "registered_at": 0,
    }  # fmt: skip


def stage(
    threshold: float, censoring_pace_step: float = 0.01
) -> tuple[PartitionState, ExceptionPolicy]:
    # The window checks and the censoring pace are on here (the stage's own default has them
    # off, tracking/parcels.py): these tests check that the stage's window checks feed them.
    part = PartitionState(
        eta=EtaModel(censoring_pace_step=censoring_pace_step), checks=WindowChecks()
    )
    lane = Lane("acme", "standard", "CA", "NY")
    for i in range(50):
        part.eta.observe(lane, "picked_up", (5 + i % 3) * DAY)
    return part, ExceptionPolicy(p_late_threshold=threshold)


@pytest.mark.parametrize("threshold", [0.3, 0.9])
def test_p_late_is_on_the_state_and_the_threshold_decides_predicted_late(threshold) -> None:
    part, policy = stage(threshold)
    t = T0
    # Promised in 5.5 days: about even odds against a 5-7 day lane, above 0.3, below 0.9.
    out = process_batch(part, [scan("P1", "a", "picked_up", t)], [shipment("P1", t + 5 * DAY_MS
                        + DAY_MS // 2)], now_ms=t, policy=policy)  # fmt: skip
    state = part.parcels["P1"]
    assert lane_of(state) == Lane("acme", "standard", "CA", "NY")
    assert state.p_late is not None and 0.3 < state.p_late < 0.9
    assert state.predicted_late is (threshold == 0.3)
    assert [n.p_late for n in out.notifications] == [state.p_late]  # "shipped"
    # Once the feed has settled (ExceptionPolicy.settle_ms), the exception follows the flag.
    later = process_timers(part, t + 3_600_000, policy)
    opened = {e.kind for e in later.exceptions if e.state == "opened"}
    assert ("predicted_late" in opened) is (threshold == 0.3)
    assert all(n.p_late == state.p_late for n in later.notifications)
    assert state.to_record()["p_late"] == state.p_late
    # Delivered late: p_late is the fact, 1.
    process_batch(part, [scan("P1", "b", "delivered", t + 9 * DAY_MS)], [], t + 9 * DAY_MS,
                  policy=policy)  # fmt: skip
    assert part.parcels["P1"].p_late == 1.0


def test_a_delivery_settles_the_window_it_was_given() -> None:
    part, policy = stage(0.5)
    before = dict(part.eta.calibration.paces)
    process_batch(part, [scan("P2", "a", "picked_up", T0)], [shipment("P2", T0 + 9 * DAY_MS)],
                  now_ms=T0, policy=policy)  # fmt: skip
    process_batch(part, [scan("P2", "b", "delivered", T0 + 20 * DAY_MS)], [], T0 + 20 * DAY_MS,
                  policy=policy)  # fmt: skip
    # Delivered after its median: the pace was told the network is slower.
    assert part.eta.calibration.paces[("picked_up", "acme")] > before.get(("picked_up", "acme"), 0)


def windows(part: PartitionState) -> dict:
    assert part.checks is not None
    return part.checks.windows


def test_the_stage_default_keeps_the_censoring_pace_and_the_ends_still() -> None:
    # A parcel delivered long after its median moves neither pace nor window ends in the
    # stage's own model (tracking/parcels.py says why); the small-sample stretch still widens.
    part = PartitionState()
    assert part.eta.config.censoring_pace_step == 0.0 and part.eta.config.feature_refit_every == 0
    assert part.checks is None
    lane = Lane("acme", "standard", "CA", "NY")
    for i in range(50):
        part.eta.observe(lane, "picked_up", (5 + i % 3) * DAY)
    process_batch(part, [scan("P2", "a", "picked_up", T0)], [shipment("P2", T0 + 9 * DAY_MS)],
                  now_ms=T0)  # fmt: skip
    process_batch(part, [scan("P2", "b", "delivered", T0 + 20 * DAY_MS)], [], T0 + 20 * DAY_MS)
    assert part.eta.calibration.paces == {} and part.eta.calibration.exponents == {}
    assert part.eta.features.rows == deque()


# --- window checks in the stream (tracking/eta_checks.py) ----------------------------------------


def test_an_overdue_parcel_settles_its_checks_when_event_time_passes_them() -> None:
    part, policy = stage(0.5)
    process_batch(part, [scan("P3", "a", "picked_up", T0)], [shipment("P3", T0 + 9 * DAY_MS)],
                  now_ms=T0, policy=policy)  # fmt: skip
    window = windows(part)["P3"]
    assert (window[1], window[-1]) == ("picked_up", 0)  # milestone, checks settled
    paces = dict(part.eta.calibration.paces)
    # Another parcel's scan, 20 days on: event time passed P3's whole window, P3 undelivered.
    process_batch(part, [scan("P4", "x", "info_received", T0 + 20 * DAY_MS)], [],
                  now_ms=T0 + 20 * DAY_MS, policy=policy)  # fmt: skip
    window = windows(part)["P3"]
    assert window[-1] == 3
    key = ("picked_up", "acme")
    assert part.eta.calibration.paces[key] > paces.get(key, 0.0)  # late at its median
    exponents = part.eta.calibration.exponents[("picked_up", window[4])]
    assert exponents[1] > 1.0  # missed its high end: the window widens
    # The delivery settles nothing twice, and the window is gone.
    after = (dict(part.eta.calibration.paces), list(exponents))
    process_batch(part, [scan("P3", "b", "delivered", T0 + 21 * DAY_MS)], [],
                  now_ms=T0 + 21 * DAY_MS, policy=policy)  # fmt: skip
    assert "P3" not in windows(part)
    assert (part.eta.calibration.paces[key], exponents) == (after[0][key], after[1])


def test_a_later_milestone_replaces_the_window_and_settles_what_it_passed() -> None:
    part, policy = stage(0.5)
    for i in range(50):
        part.eta.observe(Lane("acme", "standard", "CA", "NY"), "departed_origin", (3 + i % 2) * DAY)
    process_batch(part, [scan("P5", "a", "picked_up", T0)], [shipment("P5", T0 + 9 * DAY_MS)],
                  now_ms=T0, policy=policy)  # fmt: skip
    first = windows(part)["P5"]
    low, mid, _ = first[5]
    # Departed between the window's low end and its median: the low check passed undelivered.
    at = (low + mid) // 2
    departed = scan("P5", "b", "in_transit", at, Reason.DEPARTED_FACILITY.value)
    process_batch(part, [departed], [], now_ms=at, policy=policy)
    # The low check settled "not yet" (one check seen at that level, no median check yet).
    assert part.eta.calibration.exponents[("picked_up", first[4])][2] == 1.0
    assert ("picked_up", "acme") not in part.eta.calibration.paces
    second = windows(part)["P5"]
    assert (second[1], second[-1]) == ("departed_origin", 0) and second[5][0] > at
