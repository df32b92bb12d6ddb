"""ETA model: sketch accuracy, fallback, bounded memory, persistence, and properties."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracking.eta import ANY, EtaConfig, EtaModel, Lane, QuantileSketch

DAY = 86_400.0
T0 = 1_700_000_000_000
LANE = Lane("olist", "standard", "SP", "RJ")


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


# --- sketch -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "draw",
    [
        pytest.param(lambda r: r.uniform(0.5 * DAY, 20 * DAY), id="uniform"),
        pytest.param(lambda r: r.expovariate(1 / (5 * DAY)) + 3600, id="exponential"),
        pytest.param(lambda r: r.lognormvariate(math.log(7 * DAY), 0.6), id="lognormal"),
    ],
)
def test_sketch_quantiles_match_exact_ones_on_known_distributions(draw) -> None:
    rng = random.Random(7)
    values = [draw(rng) for _ in range(50_000)]
    sketch = QuantileSketch()
    for v in values:
        sketch.add(v)
    qs = (0.1, 0.25, 0.5, 0.75, 0.9)
    for q, got in zip(qs, sketch.quantiles(qs), strict=True):
        want = exact_quantile(values, q)
        # Buckets are 2 % wide; interpolation inside one never strays further than that.
        assert got == pytest.approx(want, rel=0.02), q


def test_sketch_quantiles_of_exponential_match_the_closed_form() -> None:
    rng = random.Random(11)
    mean = 4 * DAY
    sketch = QuantileSketch()
    for _ in range(100_000):
        sketch.add(rng.expovariate(1 / mean))
    for q, got in zip((0.1, 0.5, 0.9), sketch.quantiles((0.1, 0.5, 0.9)), strict=True):
        assert got == pytest.approx(-mean * math.log(1 - q), rel=0.03)


def test_sketch_memory_is_bounded_whatever_the_traffic() -> None:
    rng = random.Random(3)
    sketch = QuantileSketch(decay=0.999)
    for _ in range(200_000):
        # Spans far beyond the bucket range on both sides, negatives included.
        sketch.add(rng.uniform(-1e3, 1e9) * rng.random() ** 8)
    assert len(sketch) <= QuantileSketch.MAX_BUCKET + 1
    assert len(json.dumps(sketch.to_dict())) < 40_000
    assert sketch.count == 200_000
    assert math.isfinite(sketch.scale) and math.isfinite(sketch.total)


def test_sketch_clamps_negative_and_huge_values_instead_of_dropping_them() -> None:
    sketch = QuantileSketch()
    sketch.add(-5.0)
    sketch.add(1e12)
    assert sketch.count == 2
    low, high = sketch.quantiles((0.0, 1.0))
    assert low == 0.0
    assert high == QuantileSketch.bucket_bounds(QuantileSketch.MAX_BUCKET)[1]


def test_sketch_decay_follows_a_shifted_distribution() -> None:
    sketch = QuantileSketch(decay=EtaConfig.decay_for(100))
    for _ in range(2_000):
        sketch.add(10 * DAY)
    for _ in range(1_000):
        sketch.add(2 * DAY)
    assert sketch.quantiles((0.5,))[0] == pytest.approx(2 * DAY, rel=0.02)
    assert sketch.effective_count < 200


def test_sketch_without_decay_weighs_everything_equally() -> None:
    sketch = QuantileSketch()
    for v in (1 * DAY, 2 * DAY, 3 * DAY):
        sketch.add(v)
    assert sketch.effective_count == 3
    assert sketch.quantiles((0.5,))[0] == pytest.approx(2 * DAY, rel=0.02)


def test_empty_sketch_refuses_to_answer() -> None:
    with pytest.raises(ValueError):
        QuantileSketch().quantiles((0.5,))


# --- lanes and fallback -------------------------------------------------------------------------


def test_fallback_chain_runs_from_full_lane_to_global() -> None:
    names = [name for name, _ in LANE.fallbacks()]
    assert names == ["lane", "destination", "service", "carrier", "global"]
    assert LANE.fallbacks()[0][1] == LANE
    assert LANE.fallbacks()[-1][1] == Lane(ANY, ANY, ANY, ANY)


def test_fallback_chain_skips_levels_a_wildcard_lane_repeats() -> None:
    lane = Lane("olist", "standard", ANY, "RJ")
    assert [level for _, level in lane.fallbacks()] == [
        lane,
        Lane("olist", "standard", ANY, ANY),
        Lane("olist", ANY, ANY, ANY),
        Lane(ANY, ANY, ANY, ANY),
    ]


def test_no_prediction_before_any_level_has_enough_samples() -> None:
    model = EtaModel(min_samples=5)
    for _ in range(4):
        model.observe(LANE, "picked_up", 3 * DAY)
    assert model.predict(LANE, "picked_up", T0) is None
    model.observe(LANE, "picked_up", 3 * DAY)
    assert model.predict(LANE, "picked_up", T0) is not None


def test_sparse_lane_falls_back_to_its_destination_then_answers_itself() -> None:
    model = EtaModel(min_samples=10, shrinkage=0)
    other_origin = Lane("olist", "standard", "MG", "RJ")
    for _ in range(50):
        model.observe(other_origin, "picked_up", 8 * DAY)
    for _ in range(9):
        model.observe(LANE, "picked_up", 2 * DAY)

    p = model.predict(LANE, "picked_up", T0)
    assert p is not None and p.lane_level == "destination" and p.samples == 59

    model.observe(LANE, "picked_up", 2 * DAY)
    p = model.predict(LANE, "picked_up", T0)
    assert p is not None and p.lane_level == "lane" and p.samples == 10
    assert (p.eta_ms - T0) / 1000 == pytest.approx(2 * DAY, rel=0.02)


def test_unknown_destination_falls_back_to_the_carrier_service() -> None:
    model = EtaModel(min_samples=3)
    for _ in range(5):
        model.observe(LANE, "picked_up", 4 * DAY)
    p = model.predict(Lane("olist", "standard", "SP", "AM"), "picked_up", T0)
    assert p is not None and p.lane_level == "service"


def test_milestones_are_learned_separately() -> None:
    model = EtaModel(min_samples=3)
    for _ in range(5):
        model.observe(LANE, "picked_up", 5 * DAY)
    assert model.predict(LANE, "out_for_delivery", T0) is None


def test_shrinkage_pulls_a_small_lane_towards_its_parent() -> None:
    def eta_days(shrinkage: float) -> float:
        model = EtaModel(
            min_samples=5, shrinkage=shrinkage, pace_half_life=0, min_pace_samples=10**9
        )
        for _ in range(100):
            model.observe(Lane("olist", "standard", "MG", "RJ"), "picked_up", 10 * DAY)
        for _ in range(10):
            model.observe(LANE, "picked_up", 2 * DAY)
        p = model.predict(LANE, "picked_up", T0)
        assert p is not None
        return (p.eta_ms - T0) / 1000 / DAY

    assert eta_days(0) == pytest.approx(2, rel=0.02)
    assert 2.1 < eta_days(10) < 9.9


def test_pace_scales_every_lane_when_the_network_slows_down() -> None:
    model = EtaModel(min_samples=5, pace_half_life=50, min_pace_samples=20, half_life=0)
    quiet = Lane("olist", "standard", "PR", "BA")
    for _ in range(20):
        model.observe(quiet, "picked_up", 10 * DAY)
    for _ in range(300):
        model.observe(LANE, "picked_up", 2 * DAY)
    assert model.pace("picked_up", "olist") == pytest.approx(1.0, rel=0.05)
    for _ in range(200):  # the busy lane suddenly takes twice as long
        model.observe(LANE, "picked_up", 4 * DAY)
    assert model.pace("picked_up", "olist") > 1.3
    p = model.predict(quiet, "picked_up", T0)
    assert p is not None and (p.eta_ms - T0) / 1000 > 13 * DAY


def test_predicted_late_compares_eta_with_the_promise() -> None:
    model = EtaModel(min_samples=3)
    for _ in range(10):
        model.observe(LANE, "picked_up", 5 * DAY)
    early, late = int(T0 + 3 * DAY * 1000), int(T0 + 8 * DAY * 1000)
    assert model.predict(LANE, "picked_up", T0).predicted_late is False  # type: ignore[union-attr]
    assert model.predict(LANE, "picked_up", T0, early).predicted_late is True  # type: ignore[union-attr]
    assert model.predict(LANE, "picked_up", T0, late).predicted_late is False  # type: ignore[union-attr]


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        EtaModel(min_samples=0)
    with pytest.raises(ValueError):
        EtaModel(low_quantile=0.6)
    with pytest.raises(ValueError):
        QuantileSketch(decay=0.0)


# --- persistence --------------------------------------------------------------------------------


def _trained(seed: int = 5, n: int = 3_000) -> tuple[EtaModel, list[Lane]]:
    rng = random.Random(seed)
    states = ["SP", "RJ", "MG", "PR", "BA"]
    lanes = [
        Lane("olist", svc, o, d) for svc in ("standard", "express") for o in states for d in states
    ]
    model = EtaModel(min_samples=5, half_life=200, pace_half_life=100)
    for _ in range(n):
        lane = rng.choice(lanes)
        model.observe(
            lane,
            rng.choice(["picked_up", "in_transit"]),
            rng.lognormvariate(math.log(6 * DAY), 0.7),
        )
    return model, lanes + [Lane("dhl", "standard", "SP", "RJ")]


def test_to_dict_from_dict_round_trip_gives_identical_predictions() -> None:
    model, lanes = _trained()
    restored = EtaModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert restored.config == model.config
    for lane in lanes:
        for milestone in ("picked_up", "in_transit", "unknown"):
            assert restored.predict(lane, milestone, T0, T0 + 5 * 86_400_000) == model.predict(
                lane, milestone, T0, T0 + 5 * 86_400_000
            )
    # And they keep agreeing as both learn the same new deliveries.
    for i in range(200):
        for m in (model, restored):
            m.observe(lanes[i % len(lanes)], "picked_up", (i % 17 + 1) * DAY / 2)
    for lane in lanes:
        assert restored.predict(lane, "picked_up", T0) == model.predict(lane, "picked_up", T0)
    assert json.dumps(restored.to_dict()) == json.dumps(model.to_dict())


def test_from_dict_refuses_unknown_versions() -> None:
    state = EtaModel().to_dict()
    state["version"] = 99
    with pytest.raises(ValueError, match="version"):
        EtaModel.from_dict(state)


# --- properties ---------------------------------------------------------------------------------

durations = st.floats(min_value=-DAY, max_value=400 * DAY, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(durations, min_size=1, max_size=300),
    qs=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=10),
)
def test_sketch_quantiles_are_monotone_and_inside_the_data_range(
    values: list[float], qs: list[float]
) -> None:
    sketch = QuantileSketch()
    for v in values:
        sketch.add(v)
    ordered = sorted(qs)
    got = sketch.quantiles(ordered)
    assert got == sorted(got)
    lo_bound = QuantileSketch.bucket_bounds(QuantileSketch.bucket_of(min(values)))[0]
    hi_bound = QuantileSketch.bucket_bounds(QuantileSketch.bucket_of(max(values)))[1]
    assert all(lo_bound <= g <= hi_bound for g in got)
    # Asking in any order answers each q the same.
    shuffled = list(reversed(qs))
    by_q = dict(zip(ordered, got, strict=True))
    assert sketch.quantiles(shuffled) == [by_q[q] for q in shuffled]


@settings(max_examples=150, deadline=None)
@given(
    observations=st.lists(
        st.tuples(st.sampled_from(["SP", "RJ", "MG"]), st.sampled_from(["SP", "BA"]), durations),
        min_size=1,
        max_size=200,
    ),
    min_samples=st.integers(min_value=1, max_value=30),
    shrinkage=st.floats(min_value=0, max_value=50),
    half_life=st.sampled_from([0.0, 5.0, 100.0]),
    at_ms=st.integers(min_value=0, max_value=4_000_000_000_000),
)
def test_predictions_are_ordered_low_eta_high_and_after_the_milestone(
    observations: list[tuple[str, str, float]],
    min_samples: int,
    shrinkage: float,
    half_life: float,
    at_ms: int,
) -> None:
    model = EtaModel(
        min_samples=min_samples,
        shrinkage=shrinkage,
        half_life=half_life,
        pace_half_life=half_life,
        min_pace_samples=min_samples,
    )
    for origin, dest, seconds in observations:
        model.observe(Lane("c", "s", origin, dest), "picked_up", seconds)
    for origin in ("SP", "RJ", "MG", "AM"):
        p = model.predict(Lane("c", "s", origin, "SP"), "picked_up", at_ms, at_ms)
        if p is None:
            assert len(observations) < min_samples
            continue
        assert at_ms <= p.low_ms <= p.eta_ms <= p.high_ms
        assert p.samples >= min_samples
        assert p.predicted_late == (p.eta_ms > at_ms)
