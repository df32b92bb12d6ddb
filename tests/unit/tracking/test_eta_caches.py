"""ETA fast paths: the sketch's running sums and the model's cached answers must answer exactly
(==, not approx) like computing afresh, after any sequence of deliveries and questions.

Two oracles: `_WalkSketch`/`_WalkModel`, the straightforward algorithms this code replaced
(a dict of buckets walked from the left on every question, every fallback level looked up on
every call), and a model freshly restored from the snapshot, which has no cache to go stale.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tracking.eta import ANY, EtaConfig, EtaModel, EtaPrediction, Lane, QuantileSketch
from tracking.eta_calibration import Calibration

DAY = 86_400.0
T0 = 1_700_000_000_000


class _WalkSketch:
    """QuantileSketch as it was: buckets in a dict, each question a walk over them."""

    def __init__(self, decay: float) -> None:
        self.decay, self.count, self.total, self.scale = decay, 0, 0.0, 1.0
        self.buckets: dict[int, float] = {}

    def add(self, seconds: float) -> None:
        index = QuantileSketch.bucket_of(seconds)
        self.buckets[index] = self.buckets.get(index, 0.0) + self.scale
        self.total += self.scale
        self.count += 1
        if self.decay < 1.0:
            self.scale /= self.decay
            if self.scale > QuantileSketch._RESCALE_AT:
                factor = 1.0 / self.scale
                self.buckets = {
                    i: w * factor for i, w in self.buckets.items() if w * factor > 1e-12
                }
                self.total = sum(self.buckets.values())
                self.scale = 1.0

    def quantiles(self, qs: tuple[float, ...]) -> list[float]:
        out = []
        for q in qs:  # each q walks from the left: the same floats as one walk for all
            below, answer = 0.0, None
            for index in sorted(self.buckets):
                weight = self.buckets[index]
                if below + weight >= q * self.total:
                    low, high = QuantileSketch.bucket_bounds(index)
                    frac = (q * self.total - below) / weight if weight > 0 else 0.0
                    answer = low + (high - low) * min(max(frac, 0.0), 1.0)
                    break
                below += weight
            if answer is None:
                answer = QuantileSketch.bucket_bounds(max(self.buckets))[1]
            out.append(answer)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "decay": self.decay,
            "count": self.count,
            "scale": self.scale,
            "total": self.total,
            "buckets": sorted([i, w] for i, w in self.buckets.items()),
        }


class _WalkModel:
    """EtaModel's answers as they were computed: every level looked up, nothing cached."""

    def __init__(self, cfg: EtaConfig) -> None:
        self.cfg = cfg
        self.sketches: dict[tuple[str, Lane], _WalkSketch] = {}
        self.paces: dict[tuple[str, str], _WalkSketch] = {}

    def observe(self, lane: Lane, milestone: str, seconds: float) -> None:
        answer = self.answer(lane, milestone)
        if answer is not None and answer[2][1] > 0:
            pace = self.paces.setdefault(
                (milestone, lane.carrier), _WalkSketch(EtaConfig.decay_for(self.cfg.pace_half_life))
            )
            pace.add(max(seconds, 0.0) / answer[2][1] * 10_000.0)
        for _, level in lane.fallbacks():
            self.sketches.setdefault(
                (milestone, level), _WalkSketch(EtaConfig.decay_for(self.cfg.half_life))
            ).add(seconds)

    def answer(self, lane: Lane, milestone: str) -> tuple[str, int, list[float]] | None:
        cfg = self.cfg
        qs = (cfg.low_quantile, 0.5, cfg.high_quantile)
        answering = [
            (name, sketch)
            for name, level in lane.fallbacks()
            if (sketch := self.sketches.get((milestone, level))) is not None
            and sketch.count >= cfg.min_samples
        ]
        if not answering:
            return None
        name, own = answering[0]
        if cfg.shrinkage <= 0 or len(answering) == 1:
            return name, own.count, own.quantiles(qs)
        n = own.total / own.scale
        weight = n / (n + cfg.shrinkage)
        parent = answering[1][1].quantiles(qs)
        mine = own.quantiles(qs)
        return (
            name,
            own.count,
            [weight * a + (1.0 - weight) * b for a, b in zip(mine, parent, strict=True)],
        )

    def predict(self, lane: Lane, milestone: str, at_ms: int) -> EtaPrediction | None:
        answer = self.answer(lane, milestone)
        if answer is None:
            return None
        name, samples, (low, mid, high) = answer
        pace = self.paces.get((milestone, lane.carrier))
        factor = 1.0
        if pace is not None and pace.count >= self.cfg.min_pace_samples:
            factor = pace.quantiles((0.5,))[0] / 10_000.0
        mid, low, high = mid * factor, low * factor, high * factor
        if mid > 0:  # the small-sample stretch (tracking/eta_calibration.py), same arithmetic
            stretch_low, stretch_high = Calibration(
                low_miss=self.cfg.low_quantile, high_miss=1.0 - self.cfg.high_quantile
            ).small_sample(samples)
            low = mid * (low / mid) ** stretch_low if low > 0 else low
            high = mid * (high / mid) ** stretch_high
        return EtaPrediction(
            eta_ms=at_ms + round(mid * 1000),
            low_ms=at_ms + round(low * 1000),
            high_ms=at_ms + round(high * 1000),
            lane_level=name,
            samples=samples,
            predicted_late=False,
        )


# Values across the buckets' range and beyond it: negatives, under a minute, years.
durations = st.one_of(
    st.floats(min_value=-DAY, max_value=400 * DAY, allow_nan=False),
    st.sampled_from([0.0, 59.9, 60.0, 3 * 365 * DAY]),
)
# 1/16 per observation overflows `_RESCALE_AT` after 84 adds: renormalizing is exercised too.
decays = st.sampled_from([1.0, 0.99, 0.5, 1 / 16])
quantile_sets = st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=4).map(tuple)


@settings(max_examples=300, deadline=None)
@given(
    decay=decays,
    steps=st.lists(st.one_of(durations, quantile_sets), min_size=1, max_size=300),
)
def test_sketch_answers_exactly_like_a_walk_over_its_buckets(
    decay: float, steps: list[float | tuple[float, ...]]
) -> None:
    sketch, walk = QuantileSketch(decay), _WalkSketch(decay)
    for step in steps:
        if isinstance(step, tuple):
            if walk.buckets:
                assert sketch.quantiles(step) == walk.quantiles(step)
                assert sketch.quantiles(step) == walk.quantiles(step)  # and from its cache
        else:
            sketch.add(step)
            walk.add(step)
    assert sketch.to_dict() == walk.to_dict()
    assert list(sketch.buckets.items()) == list(walk.buckets.items())  # first-seen order too
    assert sketch.effective_count == walk.total / walk.scale


def test_sketch_recomputes_the_sums_an_observation_made_stale() -> None:
    sketch, walk = QuantileSketch(0.9), _WalkSketch(0.9)
    for seconds in (DAY, 2 * DAY, 4 * DAY, 8 * DAY):
        sketch.add(seconds)
        walk.add(seconds)
    qs = (0.1, 0.5, 0.9)
    assert sketch.quantiles(qs) == walk.quantiles(qs)
    # Below every bucket (stales all sums), inside, and above: each moves every quantile.
    for seconds in (600.0, 3 * DAY, 30 * DAY, 3 * DAY):
        sketch.add(seconds)
        walk.add(seconds)
        assert sketch.quantiles(qs) == walk.quantiles(qs)
        assert sketch.quantiles((0.05,)) == walk.quantiles((0.05,))  # in the part still good


def test_renormalizing_sums_the_weights_in_the_order_the_buckets_first_appeared() -> None:
    # At decay 0.9 the scale passes `_RESCALE_AT` after 2,186 observations. Float addition is
    # not associative: summed in index order instead, this total differs in its last bit (and
    # later, much heavier observations would hide that, so compare right away).
    rng = random.Random(5)
    sketch, walk = QuantileSketch(0.9), _WalkSketch(0.9)
    while sketch.scale > 1.0 or sketch.count == 0:
        seconds = rng.lognormvariate(math.log(4 * DAY), 1.0)
        sketch.add(seconds)
        walk.add(seconds)
    assert sketch.count == 2_186
    assert sketch.to_dict() == walk.to_dict()
    assert sketch.quantiles((0.1, 0.5, 0.9)) == walk.quantiles((0.1, 0.5, 0.9))


def test_a_snapshot_written_before_the_running_sums_loads_and_answers_the_same() -> None:
    # Written and answered by the dict-and-walk sketch (main at 78b7737): 1.5, 3, 7 and 1.5 days.
    snapshot = {
        "decay": 0.99,
        "count": 4,
        "scale": 1.041020355685217,
        "total": 4.061015212836456,
        "buckets": [[388, 2.0407111622293748], [423, 1.0], [466, 1.020304050607081]],
    }
    sketch = QuantileSketch.from_dict(json.loads(json.dumps(snapshot)))
    assert sketch.quantiles((0.0, 0.5, 1.0)) == [
        127766.713064261,
        130309.27065423981,
        610704.740901207,
    ]
    assert sketch.to_dict() == snapshot
    fresh = QuantileSketch(0.99)
    for days in (3, 1.5, 7, 1.5):
        fresh.add(days * DAY)
    assert fresh.to_dict() == snapshot


# Lanes that share every parent level with some others, plus an already wildcarded one (its
# chain is shorter) and a carrier with a single lane (all its levels but global its own).
LANES = [
    Lane(carrier, service, origin, dest)
    for carrier in ("ups", "dhl")
    for service in ("ground", "express")
    for origin in ("CA", "NY")
    for dest in ("TX", "WA")
] + [Lane("ups", "ground", ANY, "TX"), Lane("fedex", "ground", "CA", "TX")]
MILESTONES = ("picked_up", "out_for_delivery")
configs = st.builds(
    EtaConfig,
    min_samples=st.integers(min_value=1, max_value=6),
    half_life=st.sampled_from([0.0, 0.25, 3.0, 400.0]),
    shrinkage=st.sampled_from([0.0, 2.5, 10.0]),
    pace_half_life=st.sampled_from([0.0, 0.25, 300.0]),
    min_pace_samples=st.integers(min_value=1, max_value=4),
    # The walk model answers in wall-clock time; the delivery clock has tests of its own.
    delivery_clock=st.just(False),
)
steps = st.tuples(
    st.booleans(),  # True: a delivery; False: a question
    st.sampled_from(LANES),
    st.sampled_from(MILESTONES),
    durations,
)


@settings(max_examples=200, deadline=None)
@given(cfg=configs, script=st.lists(steps, min_size=1, max_size=250))
def test_model_answers_exactly_like_the_uncached_model_and_a_fresh_one(
    cfg: EtaConfig, script: list[tuple[bool, Lane, str, float]]
) -> None:
    model, walk = EtaModel(cfg), _WalkModel(cfg)
    for deliver, lane, milestone, seconds in script:
        if deliver:
            model.observe(lane, milestone, seconds)
            walk.observe(lane, milestone, seconds)
            continue
        got = model.predict(lane, milestone, T0)
        fresh = EtaModel.from_dict(json.loads(json.dumps(model.to_dict())))
        assert got == fresh.predict(lane, milestone, T0)
        assert got == walk.predict(lane, milestone, T0)
        assert model.predict(lane, milestone, T0) == got  # asked again: from the cache
    # And they learned the same numbers: the snapshot is the uncached model's, float for float.
    state = model.to_dict()
    assert len(state["sketches"]) == len(walk.sketches)
    for entry in state["sketches"]:
        milestone, *level = entry.pop("key")
        assert entry == walk.sketches[milestone, Lane(*level)].to_dict()
    assert len(state["paces"]) == len(walk.paces)
    for entry in state["paces"]:
        assert {k: v for k, v in entry.items() if k != "key"} == walk.paces[
            tuple(entry["key"])
        ].to_dict()


def test_a_delivery_on_another_lane_refreshes_the_answers_that_read_its_levels() -> None:
    model = EtaModel(min_samples=3, shrinkage=5.0)
    small, big = Lane("ups", "ground", "CA", "TX"), Lane("ups", "ground", "NY", "TX")
    for _ in range(3):
        model.observe(small, "picked_up", 2 * DAY)
    before = model.predict(small, "picked_up", T0)
    assert before is not None and before.lane_level == "lane"
    # `big` shares the destination sketch `small` blends with; `small` itself is unchanged.
    for _ in range(3):
        model.observe(big, "picked_up", 9 * DAY)
    after = model.predict(small, "picked_up", T0)
    assert after is not None and after.eta_ms > before.eta_ms
    assert after == EtaModel.from_dict(model.to_dict()).predict(small, "picked_up", T0)


def test_a_level_growing_past_min_samples_takes_over_the_cached_answer() -> None:
    model = EtaModel(min_samples=3, shrinkage=0.0)
    lane, sibling = Lane("ups", "ground", "CA", "TX"), Lane("ups", "ground", "NY", "TX")
    for _ in range(3):
        model.observe(sibling, "picked_up", 9 * DAY)
    first = model.predict(lane, "picked_up", T0)  # the lane has no sketch yet: destination
    assert first is not None and first.lane_level == "destination"
    for _ in range(2):
        model.observe(lane, "picked_up", DAY)
    second = model.predict(lane, "picked_up", T0)  # its chain now, still too small to answer
    assert second is not None and second.lane_level == "destination"
    model.observe(lane, "picked_up", DAY)  # its third: the lane answers for itself now
    third = model.predict(lane, "picked_up", T0)
    assert third is not None and third.lane_level == "lane"
    assert math.isclose(third.eta_ms - T0, DAY * 1000, rel_tol=0.02)
