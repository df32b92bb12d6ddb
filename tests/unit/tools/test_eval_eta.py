"""The ETA evaluation on the real Olist sample (shared/data/olist): targets and no-leakage."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.eval_eta import (
    DAY_MS,
    EvalReport,
    Order,
    default_data_dir,
    evaluate,
    load_orders,
    main,
    origin_region,
)
from tracking.eta import EtaModel, Lane

DATA_DIR = default_data_dir()


@pytest.fixture(scope="module")
def orders() -> list[Order]:
    # The data ships with the repo's workspace; a missing folder is a broken checkout, so fail.
    assert DATA_DIR.is_dir(), f"Olist data missing at {DATA_DIR}"
    return load_orders(DATA_DIR)


@pytest.fixture(scope="module")
def full(orders: list[Order]) -> EvalReport:
    return evaluate(orders)


@pytest.fixture(scope="module")
def report(orders: list[Order]) -> EvalReport:
    """Every other order by id: a fixed half of the sample, replayed in about a second."""
    return evaluate(sorted(orders, key=lambda o: o.order_id)[::2])


def test_loads_every_order_with_pickup_delivery_and_estimate(orders: list[Order]) -> None:
    # SOURCE.md: 10,000 orders, one lacks a delivery date.
    assert len(orders) == 9_999
    assert sum(o.late for o in orders) == 653
    assert all(o.lane.origin_region != "unknown" for o in orders)
    assert all(len(o.lane.origin_region) == len("SP:13") for o in orders)
    # Centroids cover 99.8 % of the prefixes (SOURCE.md); products all.
    features = [o.features for o in orders if o.features is not None]
    assert len(features) == len(orders)
    assert sum(f.distance_km is not None for f in features) >= 0.99 * len(orders)
    assert all(f.weight_kg is not None and f.promise_horizon_s for f in features[:100])
    # Tiradentes (21 April) falls within ten days of a pickup on 15 April 2018.
    assert any(f.holidays_ahead for f in features)


def test_slice_errors_at_the_level_reached(report: EvalReport) -> None:
    ours, naive = report.ours, report.baseline
    assert ours.predicted >= 0.99 * report.orders
    # Reached on this half: MAE 4.02, MedAE 2.24 days (full replay: 3.99 and 2.17, within the
    # issue's targets of 4.0 and 2.2, test_point_targets).
    assert ours.mae_days <= 4.03
    assert ours.medae_days <= 2.25
    assert ours.p90ae_days <= 9.1
    assert ours.mae_days <= naive.mae_days - 0.4 and ours.medae_days <= naive.medae_days - 0.4
    assert report.olist_mae_days > 12


def test_slice_window_is_calibrated(report: EvalReport) -> None:
    ours, naive = report.ours, report.baseline
    assert 0.78 <= ours.coverage <= 0.82  # the target, met (naive: 73 %)
    assert naive.coverage < 0.76
    worst, naive_worst = ours.worst_month, naive.worst_month
    assert worst is not None and naive_worst is not None
    # Reached: 70.4 % in the worst month (naive 58 %); the 75 % target is a strict xfail below.
    assert worst[2] >= 0.70 and worst[2] > naive_worst[2] + 0.08
    assert ours.median_width_days <= 10.4  # reached: 10.39 (full replay 9.89)


def test_slice_p_late_ranks_late_orders(report: EvalReport) -> None:
    ours, naive = report.ours, report.baseline
    assert (
        ours.average_precision >= 0.31 and ours.average_precision > naive.average_precision + 0.08
    )
    # At the pipeline's default threshold (ExceptionPolicy.p_late_threshold).
    assert ours.late_precision >= 0.35  # reached: 38.8 %
    assert ours.late_recall >= 0.25  # reached: 25.0 %


def test_point_targets(full: EvalReport) -> None:
    # Issue 13: MAE <= 4.0 and MedAE <= 2.2 days on the full replay (reached: 3.99 and 2.17).
    assert full.ours.mae_days <= 4.0 and full.ours.medae_days <= 2.2


@pytest.mark.xfail(
    strict=True,
    reason="full replay: worst month 68.9 % (2017-11), median width 9.89 days; an online window "
    "learns of a slowdown's onset only as its parcels overrun (tracking/eta_calibration.py)",
)
def test_monthly_coverage_and_width_targets(full: EvalReport) -> None:
    worst = full.ours.worst_month
    assert worst is not None and worst[2] >= 0.75
    assert full.ours.median_width_days <= 9.0


@pytest.mark.xfail(strict=True, reason="full replay: 31.7 % recall at 36.6 % precision")
def test_p_late_target(full: EvalReport) -> None:
    assert full.ours.late_precision >= 0.35 and full.ours.late_recall >= 0.40


def test_full_replay_meets_the_targets_it_reaches(full: EvalReport) -> None:
    assert 0.78 <= full.ours.coverage <= 0.82
    assert full.ours.mae_days < full.baseline.mae_days


def test_predictions_never_use_later_deliveries() -> None:
    """Only deliveries strictly before a pickup inform its ETA, not one at the same instant."""
    lane = Lane("olist", "standard", "SP", "SP")
    earlier = [Order(f"o{i}", lane, 0, DAY_MS, 10 * DAY_MS) for i in range(3)]

    def predicted(probe_pickup_ms: int) -> int:
        probe = Order("probe", lane, probe_pickup_ms, 3 * DAY_MS, 10 * DAY_MS)
        # The earlier orders' own pickups come before any delivery, so only the probe can answer.
        return evaluate([*earlier, probe], EtaModel(min_samples=3)).predicted

    assert predicted(DAY_MS + 1) == 1
    assert predicted(DAY_MS) == 0


def test_cli_prints_the_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # The first 2,000 orders with the other tables as they are: the CLI's work, not the model's.
    data = tmp_path / "olist"
    data.mkdir()
    for source in DATA_DIR.glob("*.csv"):
        (data / source.name).symlink_to(source)
    orders = data / "olist_orders_dataset.sample10k.csv"
    lines = orders.read_text(encoding="utf-8").splitlines(keepends=True)[:2001]
    orders.unlink()
    orders.write_text("".join(lines), encoding="utf-8")
    out_dir = tmp_path / "out"
    assert main(["--data-dir", str(data), "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    for line in ("MAE of our ETA at pickup", "MedAE", "p90 AE", "80% interval coverage",
                 "worst month", "median window width", "average precision of p_late",
                 "naive online lane median", "coverage by month (orders)"):  # fmt: skip
        assert line in out
    assert (out_dir / "p_late_pr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out_dir / "eval_eta.txt").read_text(encoding="utf-8").strip() in out
    assert main(["--data-dir", str(tmp_path / "missing")]) == 2


def test_origin_region_is_seller_state_and_cep_sector() -> None:
    # Olist drops CEP leading zeros ("1046" is 01046, central Sao Paulo).
    assert origin_region("SP", "1046") == "SP:01"
    assert origin_region("SP", "13023") == "SP:13"
