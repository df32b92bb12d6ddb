"""The batch processes' collector settings (pipeline.health.tune_gc)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from pipeline.health import GC_YOUNG_THRESHOLD, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_tune_gc_raises_the_young_threshold_and_freezes_what_exists() -> None:
    _, older, oldest = gc.get_threshold()
    gc.unfreeze()
    built_at_start = [[index] for index in range(1000)]  # containers the collector tracks

    tune_gc()

    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, older, oldest)
    assert gc.get_freeze_count() >= len(built_at_start)
    # Frozen objects sit in the permanent generation, which collections never traverse.
    assert gc.is_tracked(built_at_start)
    assert not any(tracked is built_at_start for tracked in gc.get_objects())
