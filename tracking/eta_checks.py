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


# A parcel's window: (token, milestone, carrier, destination region, level, (low, median,
# high), checks settled so far in time order). Tuples of strings and ints, replaced when a check
# settles: the garbage collector stops visiting such tuples, where it would visit an object per
# parcel in flight on every full collection.
_Window = tuple[int, str, str, str, str, tuple[int, int, int], int]


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
        windows = self.windows
        current = windows.get(tracking_number)
        if current is not None:
            if current[1] == milestone:
                return
            # The parcel moved on at `reached_ms`, undelivered: checks before then missed.
            self._settle(current, model, _passed(current, reached_ms - 1), None)
        self.next_token = token = self.next_token + 1
        times = (prediction.low_ms, prediction.eta_ms, prediction.high_ms)
        windows[tracking_number] = (token, milestone, lane.carrier, lane.destination_region,
                                    prediction.lane_level, times, 0)  # fmt: skip
        heap = self.heap
        for at in times:
            heapq.heappush(heap, (at, token, tracking_number))

    @staticmethod
    def _settle(window: _Window, model: EtaModel, upto: int, delivered_ms: int | None) -> int:
        """Settle the window's checks below index `upto`: delivered before each when
        `delivered_ms` is at or before its time, else "not yet". Returns the settled count."""
        _, milestone, carrier, region, level, times, settled = window
        calibration = model.calibration
        while settled < upto:
            before = delivered_ms is not None and delivered_ms <= times[settled]
            calibration.settle(milestone, level, carrier, CHECKS[settled], before, region)
            settled += 1
        return settled

    def delivered(self, tracking_number: str, delivered_ms: int, model: EtaModel) -> None:
        window = self.windows.pop(tracking_number, None)
        if window is not None:
            self._settle(window, model, 3, delivered_ms)

    def advance(self, event_time_ms: int, model: EtaModel) -> None:
        """Event time reached `event_time_ms`: the checks it passed settle "not yet"."""
        if event_time_ms <= self.watermark_ms:
            return
        self.watermark_ms = event_time_ms
        heap, windows = self.heap, self.windows
        while heap and heap[0][0] < event_time_ms:
            at, token, tracking_number = heapq.heappop(heap)
            window = windows.get(tracking_number)
            if window is None or window[0] != token:
                continue  # delivered, or replaced by a later milestone's window
            upto = _passed(window, at)
            if upto > window[6]:
                self._settle(window, model, upto, None)
                # A fully settled window stays until delivery or the next milestone, so that a
                # refreshed ETA at the same milestone does not open a second one.
                windows[tracking_number] = (*window[:6], upto)

    def forget(self, tracking_number: str) -> None:
        """The parcel left the partition (retention) or ended without a delivery."""
        self.windows.pop(tracking_number, None)


def _passed(window: _Window, at_ms: int) -> int:
    """How many of the window's checks lie at or before `at_ms` (at least those settled)."""
    times, upto = window[5], window[6]
    while upto < 3 and times[upto] <= at_ms:
        upto += 1
    return upto
