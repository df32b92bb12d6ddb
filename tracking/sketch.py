"""A decayed log-bucket histogram of durations: the ETA model's per-lane memory.

Bounded whatever the traffic (one weight per 2 % wide bucket from a minute to two years),
quantiles within 2 % of exact, and a short list of numbers that serializes exactly; why this
and not a t-digest is in `tracking/eta.py`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


class QuantileSketch:
    """Decayed log-bucket histogram of non-negative durations in seconds.

    Bucket 0 holds [0, MIN_SECONDS); bucket i >= 1 holds [MIN * G**(i-1), MIN * G**i); values
    beyond the last bucket are clamped into it. Negative durations (clock skew between a carrier's
    pickup scan and the delivery scan) count as zero rather than being dropped, so the sample
    count stays honest.
    """

    MIN_SECONDS = 60.0
    GROWTH = 1.02
    MAX_SECONDS = 2 * 365 * 86400.0
    MAX_BUCKET = 1 + math.ceil(math.log(MAX_SECONDS / MIN_SECONDS) / math.log(GROWTH))
    _LOG_G = math.log(GROWTH)
    # Lazy decay multiplies each new weight by 1/decay; renormalize before floats overflow.
    _RESCALE_AT = 1e100

    __slots__ = ("_answers", "_decay", "_sorted", "buckets", "count", "scale", "total")

    def __init__(self, decay: float = 1.0) -> None:
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"decay must be in (0, 1], got {decay}")
        self._decay = decay
        self.buckets: dict[int, float] = {}
        self.count = 0  # raw observations, for min_samples and reporting
        self.total = 0.0  # sum of stored weights (in units of `scale`)
        self.scale = 1.0  # weight the next observation gets
        self._sorted: list[int] | None = None
        # Many parcels of one lane ask the same sketch between two deliveries: answer from here.
        self._answers: dict[tuple[float, ...], list[float]] = {}

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
        self._answers.clear()
        index = self.bucket_of(seconds)
        if index not in self.buckets:
            self._sorted = None
        self.buckets[index] = self.buckets.get(index, 0.0) + self.scale
        self.total += self.scale
        self.count += 1
        if self._decay < 1.0:
            self.scale /= self._decay
            if self.scale > self._RESCALE_AT:
                self._rescale()

    def _rescale(self) -> None:
        self._answers.clear()
        factor = 1.0 / self.scale
        self.buckets = {i: w * factor for i, w in self.buckets.items() if w * factor > 1e-12}
        self._sorted = None
        self.total = sum(self.buckets.values())
        self.scale = 1.0

    @property
    def effective_count(self) -> float:
        """Observations that still carry weight after decay (equals count without decay)."""
        return self.total / self.scale

    def quantiles(self, qs: Iterable[float]) -> list[float]:
        """Quantiles in seconds, interpolated linearly inside the bucket that holds them."""
        key = tuple(qs)
        cached = self._answers.get(key)
        if cached is None:
            cached = self._answers[key] = self._quantiles(key)
        return list(cached)

    def _quantiles(self, qs: tuple[float, ...]) -> list[float]:
        wanted = sorted((q, n) for n, q in enumerate(qs))
        out = [0.0] * len(wanted)
        if not self.buckets:
            raise ValueError("empty sketch")
        order = self._sorted
        if order is None:
            order = self._sorted = sorted(self.buckets)
        targets = iter(wanted)
        q, slot = next(targets)
        below = 0.0
        try:
            for index in order:
                weight = self.buckets[index]
                while below + weight >= q * self.total:
                    low, high = self.bucket_bounds(index)
                    frac = (q * self.total - below) / weight if weight > 0 else 0.0
                    out[slot] = low + (high - low) * min(max(frac, 0.0), 1.0)
                    q, slot = next(targets)
                below += weight
            # Rounding left some quantile past the end: it is the maximum.
            high = self.bucket_bounds(order[-1])[1]
            out[slot] = high
            for _q, slot in targets:
                out[slot] = high
        except StopIteration:
            pass
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
        return sketch

    def __len__(self) -> int:
        return len(self.buckets)
