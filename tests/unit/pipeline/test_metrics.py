"""The metrics' own logic: bulk histogram binning and the per-batch counts a step hands over."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from pipeline import metrics
from pipeline.health import Health
from pipeline.runtime.common import StepStats
from pipeline.state.local import LocalStore, restore_partition


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_bulk_histogram_bins_like_le_and_sums() -> None:
    histogram = metrics.BulkHistogram("test_bulk_seconds", "test", "to", (0.1, 0.5, 1.0))
    histogram.observe_many("x", [0.1, 0.2, 0.5, 0.5000001, 3.0])  # 0.1 and 0.5 are on a bound
    histogram.observe_many("x", [])
    histogram.observe_many("y", [0.05])
    assert [
        sample("test_bulk_seconds_bucket", to="x", le=le) for le in ("0.1", "0.5", "1.0", "+Inf")
    ] == [1, 3, 4, 5]
    assert sample("test_bulk_seconds_count", to="x") == 5
    assert abs((sample("test_bulk_seconds_sum", to="x") or 0) - 4.3000001) < 1e-9
    assert sample("test_bulk_seconds_bucket", to="y", le="0.1") == 1
    REGISTRY.unregister(histogram)


def test_an_attempts_counts_add_up_and_reach_the_metrics() -> None:
    total, attempt = StepStats("parse"), StepStats("parse")
    attempt.scans_by_carrier["test-carrier"] = 7
    attempt.dead_lettered("parse", "ParseError", "test-carrier")
    total.dead_lettered("parse", "ParseError", "test-carrier")
    total.add(attempt)
    total.add(attempt)
    assert total.dead_letters == 3 and total.scans_by_carrier == {"test-carrier": 14}
    assert total.dead_letter_reasons == {("parse", "ParseError", "test-carrier"): 3}

    labels = {"stage": "parse", "reason": "ParseError", "carrier": "test-carrier"}
    before = sample("parcelstream_dead_letters_total", **labels) or 0
    metrics.observe_step(total)
    assert sample("parcelstream_dead_letters_total", **labels) == before + 3
    assert (sample("parcelstream_scans_total", carrier="test-carrier") or 0) >= 14
    # a carrier that sent scans has an unknown-codes series, at 0 until one comes
    assert sample("parcelstream_unknown_codes_total", carrier="test-carrier") == 0


def test_consumer_lag_skips_a_failing_source() -> None:
    def broken() -> list[tuple[str, str, int, int]]:
        raise RuntimeError("rebalancing")

    metrics.watch_lag(broken)
    metrics.watch_lag(lambda: [("g", "t", 0, 5), ("g", "t", 1, -2)])
    assert sample("parcelstream_consumer_lag", group="g", topic="t", partition="0") == 5
    assert sample("parcelstream_consumer_lag", group="g", topic="t", partition="1") == 0
    metrics.LAG.sources.clear()


def test_histogram_quantile_interpolates_within_buckets() -> None:
    from tools.bench_latency import quantile

    buckets = {0.1: 50.0, 0.5: 90.0, 1.0: 100.0, float("inf"): 100.0}
    assert quantile(0.5, buckets) == 0.1
    assert abs(quantile(0.7, buckets) - 0.3) < 1e-9  # 20 of the 40 between 0.1 and 0.5
    assert abs(quantile(0.99, buckets) - 0.95) < 1e-9
    assert quantile(0.999, {0.1: 1.0, float("inf"): 2.0}) == 0.1  # in +Inf: the last bound


def test_restore_progress_reaches_the_health_counter(tmp_path: Path) -> None:
    """restore_partition reports the offset after each chunk; the remaining messages count
    down with it and to 0 at the end, also when compaction left fewer than end - start."""
    store = LocalStore(tmp_path / "p0")
    health = Health()
    chunks = [[(f"k{o}".encode(), None, o) for o in range(start, start + 10)] for start in (0, 10)]
    seen: list[float] = []
    with health.restoring(0, 25) as progress:  # the changelog's end is 25, 20 messages left
        assert health.restore_remaining() == 25

        def watched(offset: int) -> None:
            progress(offset)
            seen.append(health.restore_remaining())

        assert restore_partition(store, chunks, "test[0]", watched) == 20
    assert seen == [15, 5] and health.restore_remaining() == 0
    with pytest.raises(RuntimeError), health.restoring(0, 10):
        raise RuntimeError("broker gone")
    assert health.restore_remaining() == 0
    store.close()
