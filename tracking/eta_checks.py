"""The parcel stage's pending window checks: censoring-aware calibration in the stream.

A window given at a milestone has three checks, its low end, its median and its high end
(tracking/eta_calibration.py). A check settles "delivered before" at the delivery, or "not yet"
once the partition's event time (the newest scan seen, a watermark) passes it with the parcel
still in flight: a slowdown shows while its parcels are overdue, not when they finally arrive.
Event time, not the wall clock, so a replayed or delayed feed (the demo replays days of scans
in minutes) judges each parcel by the time its own feed had reached.

One window per parcel at a time: the first our model gave at the parcel's current milestone.
When the parcel reaches a later milestone, the old window's checks that its new scan already
passed settle "not yet"; the rest are dropped (the new window takes over). Derived, in-memory
state: a restarted stage starts with no pending checks and loses only their evidence.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from tracking.eta import EtaModel, EtaPrediction, Lane
from tracking.eta_calibration import CHECKS

__all__ = ["WindowChecks"]


@dataclass(slots=True)
class _Window:
    token: int
    milestone: str
    lane: Lane
    level: str
    times: tuple[int, int, int]  # low, median, high: epoch ms
    settled: int = 0  # checks settled so far, in time order


@dataclass(slots=True)
class WindowChecks:
    watermark_ms: int = 0
    windows: dict[str, _Window] = field(default_factory=dict)
    heap: list[tuple[int, int, str]] = field(default_factory=list)  # (time, token, parcel)
    next_token: int = 0

    def given(
        self, tracking_number: str, milestone: str, lane: Lane, prediction: EtaPrediction,
        model: EtaModel, reached_ms: int,
    ) -> None:  # fmt: skip
        """The parcel's window at `milestone` (the first one given there counts)."""
        current = self.windows.get(tracking_number)
        if current is not None:
            if current.milestone == milestone:
                return
            self._close(current, model, reached_ms)
        self.next_token += 1
        token = self.next_token
        times = (prediction.low_ms, prediction.eta_ms, prediction.high_ms)
        window = _Window(token, milestone, lane, prediction.lane_level, times)
        self.windows[tracking_number] = window
        heap = self.heap
        for at in times:
            heapq.heappush(heap, (at, token, tracking_number))

    def _close(self, window: _Window, model: EtaModel, at_ms: int) -> None:
        """The parcel moved on at `at_ms`, undelivered: checks before then missed."""
        while window.settled < 3 and window.times[window.settled] < at_ms:
            self._settle(window, model, False)

    def _settle(self, window: _Window, model: EtaModel, delivered_before: bool) -> None:
        model.settle(window.milestone, window.lane, window.level, CHECKS[window.settled],
                     delivered_before)  # fmt: skip
        window.settled += 1

    def delivered(self, tracking_number: str, delivered_ms: int, model: EtaModel) -> None:
        window = self.windows.pop(tracking_number, None)
        if window is None:
            return
        while window.settled < 3:
            self._settle(window, model, delivered_ms <= window.times[window.settled])

    def advance(self, event_time_ms: int, model: EtaModel) -> None:
        """Event time reached `event_time_ms`: the checks it passed settle "not yet"."""
        if event_time_ms <= self.watermark_ms:
            return
        self.watermark_ms = event_time_ms
        heap, windows = self.heap, self.windows
        while heap and heap[0][0] < event_time_ms:
            at, token, tracking_number = heapq.heappop(heap)
            window = windows.get(tracking_number)
            if window is None or window.token != token:
                continue  # delivered, or replaced by a later milestone's window
            while window.settled < 3 and window.times[window.settled] <= at:
                self._settle(window, model, False)
            # A fully settled window stays until delivery or the next milestone, so that a
            # refreshed ETA at the same milestone does not open a second one.

    def forget(self, tracking_number: str) -> None:
        """The parcel left the partition (retention) or ended without a delivery."""
        self.windows.pop(tracking_number, None)
