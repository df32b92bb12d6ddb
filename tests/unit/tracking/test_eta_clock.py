"""The delivery clock (tracking/eta_clock.py): a monotone time transform learned from deliveries."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tracking.eta import EtaModel, Lane
from tracking.eta_clock import HOUR_MS, WEEK_MS, DeliveryClock

MONDAY = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday
DAY_MS = 86_400_000
LANE = Lane("acme", "standard", "A", "B")


def busy_afternoons() -> DeliveryClock:
    """Deliveries only on weekday afternoons (14:00-18:00)."""
    clock = DeliveryClock(floor=0.1, refresh_every=10)
    for day in range(5):
        for hour in range(14, 18):
            for _ in range(50):
                clock.observe(MONDAY + day * DAY_MS + hour * HOUR_MS + 1)
    return clock


def test_a_cold_clock_is_the_calendar() -> None:
    clock = DeliveryClock()
    assert clock.seconds(MONDAY, MONDAY + 3 * DAY_MS) == 3 * 86_400
    assert clock.after(MONDAY + 5, 86_400.0) == MONDAY + 5 + DAY_MS


def test_the_clock_runs_fast_when_deliveries_happen_and_a_week_stays_a_week() -> None:
    clock = busy_afternoons()
    afternoon = clock.seconds(MONDAY + 14 * HOUR_MS, MONDAY + 18 * HOUR_MS)
    night = clock.seconds(MONDAY + 0 * HOUR_MS, MONDAY + 4 * HOUR_MS)
    assert afternoon > 10 * night
    assert abs(clock.seconds(MONDAY + 7, MONDAY + 7 + WEEK_MS) - WEEK_MS / 1000) < 1e-3
    # The weekend has no deliveries: an hour of the clock from Saturday noon takes over five.
    saturday_noon = MONDAY + 5 * DAY_MS + 12 * HOUR_MS
    assert clock.after(saturday_noon, 3600.0) > saturday_noon + 5 * HOUR_MS


@given(
    st.integers(min_value=0, max_value=20 * WEEK_MS), st.integers(min_value=0, max_value=WEEK_MS)
)
def test_wall_inverts_at_and_time_order_is_kept(offset: int, gap: int) -> None:
    clock = busy_afternoons()
    start = MONDAY + offset
    assert abs(clock.wall(clock.at(start)) - start) <= 1
    assert clock.at(start + gap) >= clock.at(start)


def test_a_restored_clock_reads_like_the_saved_one() -> None:
    clock = busy_afternoons()
    clock.observe(MONDAY + 3 * HOUR_MS)  # counted, not yet refreshed into the rates
    restored = DeliveryClock.from_dict(json.loads(json.dumps(clock.to_dict())))
    for t in range(0, WEEK_MS, 7 * HOUR_MS + 13):
        assert restored.at(MONDAY + t) == clock.at(MONDAY + t)


def test_the_model_lands_its_eta_on_a_delivery_hour() -> None:
    """Parcels picked up at any hour arrive two days on in the afternoon: on the clock the ETA
    of a pickup at 02:00 lands in the afternoon, on the calendar at the median wall duration
    after 02:00 (the small hours)."""
    on, off = EtaModel(min_samples=3), EtaModel(min_samples=3, delivery_clock=False)
    for model in (on, off):
        for k in range(60):
            day = MONDAY + 7 * (k // 3) * DAY_MS + (k % 3) * DAY_MS
            picked = day + (k * 5 % 24) * HOUR_MS
            delivered = day + 2 * DAY_MS + (14 + k % 4) * HOUR_MS
            model.delivered(delivered)
            model.observe(LANE, "picked_up", (delivered - picked) / 1000, reached_ms=picked)
    picked = MONDAY + 30 * WEEK_MS + 2 * HOUR_MS
    p_on, p_off = (m.predict(LANE, "picked_up", picked) for m in (on, off))
    assert p_on is not None and p_off is not None
    hour = lambda ms: (ms % DAY_MS) // HOUR_MS  # noqa: E731
    assert 13 <= hour(p_on.eta_ms) <= 18
    assert not 12 <= hour(p_off.eta_ms) <= 19
    assert p_on.low_ms <= p_on.eta_ms <= p_on.high_ms
    restored = EtaModel.from_dict(json.loads(json.dumps(on.to_dict())))
    assert restored.predict(LANE, "picked_up", picked) == p_on
