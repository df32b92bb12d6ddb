"""Scores of an ETA replay (tools/eval_eta.py): errors, window coverage by month, p_late's
precision-recall, printed as one table with a baseline column."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["MIN_MONTH_ORDERS", "Scored", "Scores", "pr_curve", "score", "write_pr_png"]

DAY_MS = 86_400_000
# Months with fewer orders say little about coverage (a 20-order month swings by 10 points).
MIN_MONTH_ORDERS = 200


@dataclass(frozen=True, slots=True)
class Scored:
    """One prediction at pickup and what happened."""

    picked_up_ms: int
    delivered_ms: int
    eta_ms: int
    low_ms: int
    high_ms: int
    p_late: float
    late: bool
    level: str


@dataclass(frozen=True, slots=True)
class Scores:
    predicted: int
    mae_days: float
    medae_days: float
    p90ae_days: float
    coverage: float
    months: tuple[tuple[str, int, float], ...]  # (YYYY-MM, orders, coverage)
    median_width_days: float
    average_precision: float
    late_actual: int
    late_predicted: int  # p_late at or above the threshold
    late_hits: int

    @property
    def late_recall(self) -> float:
        return self.late_hits / self.late_actual if self.late_actual else 0.0

    @property
    def late_precision(self) -> float:
        return self.late_hits / self.late_predicted if self.late_predicted else 0.0

    @property
    def worst_month(self) -> tuple[str, int, float] | None:
        big = [m for m in self.months if m[1] >= MIN_MONTH_ORDERS]
        return min(big, key=lambda m: m[2]) if big else None


def pr_curve(rows: Sequence[Scored]) -> tuple[list[float], list[float], list[float], float]:
    """(thresholds, precision, recall, average precision) of p_late, highest p_late first."""
    ranked = sorted(rows, key=lambda r: -r.p_late)
    positives = sum(r.late for r in rows)
    thresholds, precision, recall = [], [], []
    hits = 0
    ap = 0.0
    for k, row in enumerate(ranked, 1):
        if row.late:
            hits += 1
            ap += hits / k
        thresholds.append(row.p_late)
        precision.append(hits / k)
        recall.append(hits / positives if positives else 0.0)
    return thresholds, precision, recall, ap / positives if positives else 0.0


def score(rows: Sequence[Scored], threshold: float) -> Scores:
    n = max(len(rows), 1)
    errors = sorted(abs(r.eta_ms - r.delivered_ms) / DAY_MS for r in rows) or [0.0]
    covered = [r.low_ms <= r.delivered_ms <= r.high_ms for r in rows]
    by_month: dict[str, list[int]] = {}
    for row, hit in zip(rows, covered, strict=True):
        month = datetime.fromtimestamp(row.picked_up_ms / 1000, UTC).strftime("%Y-%m")
        counts = by_month.setdefault(month, [0, 0])
        counts[0] += 1
        counts[1] += hit
    flagged = [r for r in rows if r.p_late >= threshold]
    return Scores(
        predicted=len(rows),
        mae_days=sum(errors) / n,
        medae_days=statistics.median(errors),
        p90ae_days=errors[min(len(errors) - 1, int(0.9 * len(errors)))],
        coverage=sum(covered) / n,
        months=tuple((m, c[0], c[1] / c[0]) for m, c in sorted(by_month.items())),
        median_width_days=statistics.median([(r.high_ms - r.low_ms) / DAY_MS for r in rows] or [0]),
        average_precision=pr_curve(rows)[3],
        late_actual=sum(r.late for r in rows),
        late_predicted=len(flagged),
        late_hits=sum(r.late for r in flagged),
    )


def write_pr_png(path: Path, curves: dict[str, Sequence[Scored]]) -> None:
    """The precision-recall curves of p_late, one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, rows in curves.items():
        _, precision, recall, ap = pr_curve(rows)
        ax.plot(recall, precision, label=f"{name} (AP {ap:.3f})")
    ax.set_xlabel("recall (late orders flagged)")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("p_late on the Olist replay, at pickup")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
