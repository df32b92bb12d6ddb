"""A decayed log-bucket histogram of durations: the ETA model's per-lane memory.

Bounded whatever the traffic (one weight per 2 % wide bucket from a minute to two years),
quantiles within 2 % of exact, and a short list of numbers that serializes exactly; why this
and not a t-digest is in `tracking/eta.py`.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from itertools import accumulate
from typing import Any, Final


class QuantileSketch:
    """Decayed log-bucket histogram of non-negative durations in seconds.

    Bucket 0 holds [0, MIN_SECONDS); bucket i >= 1 holds [MIN * G**(i-1), MIN * G**i); values
    beyond the last bucket are clamped into it. Negative durations (clock skew between a carrier's
    pickup scan and the delivery scan) count as zero rather than being dropped, so the sample
    count stays honest.
    """

    MIN_SECONDS: Final = 60.0
    GROWTH: Final = 1.02
    MAX_SECONDS: Final = 2 * 365 * 86400.0
    MAX_BUCKET: Final = 1 + math.ceil(math.log(MAX_SECONDS / MIN_SECONDS) / math.log(GROWTH))
    _LOG_G: Final = math.log(GROWTH)
    # Lazy decay multiplies each new weight by 1/decay; renormalize before floats overflow.
    _RESCALE_AT: Final = 1e100

    __slots__ = (
        "_answers",
        "_decay",
        "_order",
        "_prefix",
        "_valid",
        "buckets",
        "count",
        "scale",
        "total",
    )

    def __init__(self, decay: float = 1.0) -> None:
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"decay must be in (0, 1], got {decay}")
        self._decay = decay
        self.buckets: dict[int, float] = {}
        self.count = 0  # raw observations, for min_samples and reporting
        self.total = 0.0  # sum of stored weights (in units of `scale`)
        self.scale = 1.0  # weight the next observation gets
        # Bucket indices in order, and running sums of their weights in that order:
        # `_prefix[k]` adds the first k weights left to right from 0.0, exactly as a walk over
        # the buckets adds them, so bisecting it lands on the very floats such a walk would.
        # An observation only marks the sums stale from its bucket on (`_valid` is the last
        # good one; the list may be short past it); a question that needs a stale one redoes
        # that tail at C speed. The ETA model asks a sketch between almost every two
        # observations of it, so answers alone are rarely reused. The garbage collector skips
        # a tuple of ints and a dict of ints to floats, where it would visit lists, for every
        # sketch of a partition on every full collection; `_prefix` waits for a question,
        # which most lane sketches never get.
        self._order: tuple[int, ...] = ()
        self._prefix: list[float] | None = None
        self._valid = 0
        # Many parcels of one lane ask the same sketch between two deliveries: answer from here.
        # None until asked and after every change.
        self._answers: dict[tuple[float, ...], list[float]] | None = None

    @classmethod
    def bucket_of(cls, seconds: float) -> int:
        if not seconds >= cls.MIN_SECONDS:  # also catches NaN
            return 0
        index = 1 + int(math.log(seconds / cls.MIN_SECONDS) / cls._LOG_G)
        return min(index, cls.MAX_BUCKET)

    @classmethod
    def bucket_bounds(cls, index: int) -> tuple[float, float]:
        if index == 0:
            return 0.0, cls.MIN_SECONDS
        low = cls.MIN_SECONDS * cls.GROWTH ** (index - 1)
        return low, low * cls.GROWTH

    def add(self, seconds: float) -> None:
        self.add_to_bucket(self.bucket_of(seconds))

    def add_to_bucket(self, index: int) -> None:
        """`add` of a value whose `bucket_of` is `index`: one logarithm for a value that goes
        into many sketches (the ETA model adds each delivery to every fallback level)."""
        buckets, scale, valid = self.buckets, self.scale, self._valid
        weight = buckets.get(index)
        if weight is None:
            weight = 0.0
            order = self._order
            at = bisect_left(order, index)
            self._order = (*order[:at], index, *order[at:])
            if at < valid:
                self._valid = at
        elif valid:
            at = bisect_left(self._order, index)
            if at < valid:
                self._valid = at
        buckets[index] = weight + scale
        self.total += scale
        self.count += 1  # also the sketch's version: nothing but `add` changes a sketch
        self._answers = None
        if self._decay < 1.0:
            self.scale = scale / self._decay
            if self.scale > self._RESCALE_AT:
                self._rescale()

    def _rescale(self) -> None:
        factor = 1.0 / self.scale
        self.buckets = {i: w * factor for i, w in self.buckets.items() if w * factor > 1e-12}
        self._order = tuple(sorted(self.buckets))
        self._prefix, self._valid, self._answers = None, 0, None
        self.total = sum(self.buckets.values())
        self.scale = 1.0

    @property
    def effective_count(self) -> float:
        """Observations that still carry weight after decay (equals count without decay)."""
        return self.total / self.scale

    def quantiles(self, qs: Iterable[float]) -> list[float]:
        """Quantiles in seconds, interpolated linearly inside the bucket that holds them."""
        key = tuple(qs)
        answers = self._answers
        if answers is None:
            answers = self._answers = {}
        cached = answers.get(key)
        if cached is None:
            cached = answers[key] = self._quantiles(key)
        return list(cached)

    def _quantiles(self, qs: tuple[float, ...]) -> list[float]:
        order = self._order
        if not order:
            raise ValueError("empty sketch")
        buckets, prefix, total, last = self.buckets, self._prefix, self.total, len(order)
        if prefix is None:  # (`_valid` is still 0: only a question raises it)
            prefix = self._prefix = [0.0]
        out = []
        for q in qs:
            target = q * total
            valid = self._valid
            if valid < last and prefix[valid] < target:
                weights = map(buckets.__getitem__, order[valid:])
                prefix[valid:] = accumulate(weights, initial=prefix[valid])
                valid = self._valid = last
            # The first bucket whose running sum reaches the target. Weights are positive, so
            # the sums never decrease and the bisection finds the bucket a walk from the left
            # would; when the good sums already reach the target it lies among them.
            end = bisect_left(prefix, target, 1, valid + 1)
            if end > last:
                # Rounding left the quantile past the end: it is the maximum.
                out.append(self.bucket_bounds(order[-1])[1])
                continue
            index, below = order[end - 1], prefix[end - 1]
            weight = buckets[index]
            low, high = self.bucket_bounds(index)
            frac = (target - below) / weight if weight > 0 else 0.0
            out.append(low + (high - low) * min(max(frac, 0.0), 1.0))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "decay": self._decay,
            "count": self.count,
            "scale": self.scale,
            "total": self.total,
            # JSON object keys must be strings; a list of pairs keeps the ints as ints.
            "buckets": sorted([i, w] for i, w in self.buckets.items()),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantileSketch:
        sketch = cls(float(data["decay"]))
        sketch.count = int(data["count"])
        sketch.scale = float(data["scale"])
        sketch.total = float(data["total"])
        sketch.buckets = {int(i): float(w) for i, w in data["buckets"]}
        sketch._order = tuple(sorted(sketch.buckets))
        return sketch

    def __len__(self) -> int:
        return len(self.buckets)
