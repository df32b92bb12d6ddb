"""Per-partition deadlines, so silence can raise an exception without scanning every parcel.

A parcel's next deadlines are pushed when its state changes; a tick pops only what is due. An
entry remembers the parcel version it was computed for, and entries made stale by a newer
version are skipped when popped (lazy deletion), which keeps each change O(log n) and each
tick O(due log n) however many parcels are open.
"""

from __future__ import annotations

import heapq


class DeadlineHeap:
    def __init__(self) -> None:
        self._heap: list[tuple[int, str, int]] = []
        self._version: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, tracking_number: str, version: int, deadlines: list[int]) -> None:
        self._version[tracking_number] = version
        for deadline in deadlines:
            heapq.heappush(self._heap, (deadline, tracking_number, version))
        if len(self._heap) > 4 * len(self._version) + 10_000:
            self._compact()

    def due(self, now_ms: int) -> list[str]:
        """Parcels with a current (not stale) deadline at or before `now_ms`, each once."""
        heap, current = self._heap, self._version
        found: dict[str, None] = {}
        while heap and heap[0][0] <= now_ms:
            _, tracking_number, version = heapq.heappop(heap)
            if current.get(tracking_number) == version:
                found[tracking_number] = None
        return list(found)

    def _compact(self) -> None:
        self._heap = [e for e in self._heap if self._version.get(e[1]) == e[2]]
        heapq.heapify(self._heap)
