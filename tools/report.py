"""The end-of-run report, read back from ClickHouse (never from the pipeline's memory), so it
shows what a data team would see. Compared against the simulator's manifest when one is given.

The analytics sections read the views of migration 3 (see pipeline/sinks/migrations.py and
docs/queries.sql), which are exact however often the input was replayed. `write_charts` draws
the same figures as PNGs for people who will not read a table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pipeline.sinks.engines import Engine
from tools.simulator import Manifest

# Lifecycle order (tracking/taxonomy.PROGRESS) for the funnel, so it reads top to bottom.
FUNNEL_ORDER = (
    "pending", "info_received", "picked_up", "in_transit", "exception", "failed_attempt",
    "out_for_delivery", "available_for_pickup", "delivered", "return_to_sender", "returned",
    "cancelled", "expired", "unknown",
)  # fmt: skip
HISTOGRAM_BINS = 12  # plus one overflow bin past the last edge


class CarrierScore(NamedTuple):
    carrier: str
    delivered: int
    on_time_rate: float | None  # None: no delivered parcel of this carrier had a promise
    transit_p50_hours: float | None
    transit_p90_hours: float | None
    first_attempt_rate: float
    exception_rate: float  # share of the carrier's parcels with at least one exception


class EtaAccuracy(NamedTuple):
    scope: str  # a carrier, or "all"
    parcels: int
    mean_abs_error_hours: float
    p50_abs_error_hours: float
    p90_abs_error_hours: float
    interval_coverage: float  # share delivered inside [eta_low, eta_high]


class CarrierEtaAccuracy(NamedTuple):
    """A carrier's own estimate next to ours, on the same delivered parcels and made at the same
    moment (the carrier's estimate current when the parcel was first known picked up, and our
    ETA then; tracking/carrier_eta.py)."""

    carrier: str
    parcels: int  # delivered parcels with both estimates
    carrier_mae_hours: float
    our_mae_hours: float
    shown_carrier: int  # of those, parcels whose ETA was last shown from the carrier


@dataclass
class Report:
    engine: str
    events: int
    parcels: int
    notifications: int
    dead_letters: int
    unknown_events: int
    status_counts: dict[str, int]
    exception_reasons: dict[str, int]
    notification_kinds: dict[str, int]
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    scorecard: list[CarrierScore] = field(default_factory=list)
    funnel: list[tuple[str, int, int]] = field(default_factory=list)  # status, reached, now
    exception_kinds: list[tuple[str, int, int, int]] = field(default_factory=list)
    """kind, opened, resolved, parcels affected"""
    eta_accuracy: list[EtaAccuracy] = field(default_factory=list)  # "all" first
    eta_histogram: list[tuple[float, int]] = field(default_factory=list)
    """(bin start in hours, parcels); the last bin holds everything past its start"""
    eta_bin_hours: float = 1.0
    carrier_eta_accuracy: list[CarrierEtaAccuracy] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(passed for _, passed, _ in self.checks)


def build_report(engine: Engine) -> Report:
    db = engine.database

    def scalar(sql: str) -> int:
        return int(engine.query(sql)[0][0])

    def counts(sql: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in engine.query(sql)}

    report = Report(
        engine=engine.name,
        events=scalar(f"SELECT count() FROM {db}.tracking_events FINAL"),
        parcels=scalar(f"SELECT count() FROM {db}.parcel_state FINAL"),
        notifications=scalar(f"SELECT count() FROM {db}.notifications FINAL"),
        dead_letters=scalar(f"SELECT count() FROM {db}.dead_letters FINAL"),
        unknown_events=scalar(
            f"SELECT count() FROM {db}.tracking_events FINAL WHERE status = 'unknown'"
        ),
        status_counts=counts(
            f"SELECT status, count() FROM {db}.parcel_state FINAL GROUP BY status ORDER BY status"
        ),
        exception_reasons=counts(
            f"SELECT reason, count() FROM {db}.tracking_events FINAL "
            "WHERE reason NOT IN ('', 'arrived_at_facility', 'departed_facility', "
            "'arrived_at_destination') GROUP BY reason ORDER BY reason"
        ),
        notification_kinds=counts(
            f"SELECT kind, count() FROM {db}.notifications FINAL GROUP BY kind ORDER BY kind"
        ),
    )
    add_analytics(report, engine)
    return report


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _scorecard(engine: Engine) -> list[CarrierScore]:
    db = engine.database
    active = dict(engine.query(
        f"SELECT carrier, uniqExactMerge(parcels) FROM {db}.carrier_parcels_daily GROUP BY carrier"
    ))  # fmt: skip
    troubled = dict(engine.query(
        f"SELECT carrier, uniqExactMerge(parcels) FROM {db}.exceptions_daily GROUP BY carrier"
    ))  # fmt: skip
    rows = engine.query(
        "SELECT carrier, count(), if(sum(has_promise) = 0, NULL, "
        "round(sum(on_time) / sum(has_promise), 4)), round(quantileExact(0.5)(transit_hours), 2), "
        "round(quantileExact(0.9)(transit_hours), 2), round(sum(first_attempt) / count(), 4) "
        f"FROM {db}.parcel_outcomes GROUP BY carrier ORDER BY carrier"
    )
    return [
        CarrierScore(
            str(carrier),
            int(delivered),
            _float(on_time),
            _float(p50),
            _float(p90),
            float(first),
            int(troubled.get(carrier, 0)) / max(int(active.get(carrier, 0)), 1),
        )  # fmt: skip
        for carrier, delivered, on_time, p50, p90, first in rows
    ]


def _eta_accuracy(engine: Engine, group: str) -> list[EtaAccuracy]:
    # Whole seconds summed, then divided: the result does not depend on summation order.
    rows = engine.query(
        f"SELECT {group}, count(), sum(eta_error_seconds) / count() / 3600, "
        "quantileExact(0.5)(eta_error_seconds) / 3600, "
        "quantileExact(0.9)(eta_error_seconds) / 3600, "
        f"sum(eta_covered) / count() FROM {engine.database}.parcel_outcomes "
        f"WHERE eta IS NOT NULL GROUP BY {group} ORDER BY {group}"
    )
    # 18.16 answers a GROUP BY on a constant over no rows with one row of count 0 and NULLs.
    return [
        EtaAccuracy(str(scope), int(n), float(mean), float(p50), float(p90), float(covered))
        for scope, n, mean, p50, p90, covered in rows
        if int(n) > 0
    ]


def _carrier_eta_accuracy(engine: Engine) -> list[CarrierEtaAccuracy]:
    # Whole seconds summed, then divided, like _eta_accuracy.
    rows = engine.query(
        "SELECT carrier, count(), "
        "sum(abs(dateDiff('second', carrier_eta_first, delivered_at))) / count() / 3600, "
        "sum(abs(dateDiff('second', eta_first, delivered_at))) / count() / 3600, "
        "countIf(eta_source = 'carrier') "
        f"FROM {engine.database}.parcel_state FINAL "
        "WHERE delivered_at IS NOT NULL AND carrier_eta_first IS NOT NULL "
        "AND eta_first IS NOT NULL GROUP BY carrier ORDER BY carrier"
    )
    return [
        CarrierEtaAccuracy(str(carrier), int(n), float(theirs), float(ours), int(shown))
        for carrier, n, theirs, ours, shown in rows
        if int(n) > 0
    ]


def add_analytics(report: Report, engine: Engine) -> None:
    """Carrier scorecard, status funnel, exceptions by kind and ETA accuracy."""
    db = engine.database
    report.scorecard = _scorecard(engine)
    reached = dict(engine.query(
        f"SELECT status, uniqExact(tracking_number) FROM {db}.tracking_events GROUP BY status"
    ))  # fmt: skip
    rank = {status: i for i, status in enumerate(FUNNEL_ORDER)}
    report.funnel = [
        (status, int(n), report.status_counts.get(status, 0))
        for status, n in sorted(reached.items(), key=lambda kv: (rank.get(kv[0], 99), kv[0]))
    ]
    report.exception_kinds = [
        (str(kind), int(opened), int(resolved), int(parcels))
        for kind, opened, resolved, parcels in engine.query(
            "SELECT kind, uniqExactMerge(opened) AS n, uniqExactIfMerge(resolved), "
            f"uniqExactMerge(parcels) FROM {db}.exceptions_daily "
            "GROUP BY kind ORDER BY n DESC, kind"
        )
    ]
    report.eta_accuracy = _eta_accuracy(engine, "'all'") + _eta_accuracy(engine, "carrier")
    report.carrier_eta_accuracy = _carrier_eta_accuracy(engine)
    if report.eta_accuracy:
        # Bins sized so the bulk (up to p90) spreads over most of them.
        p90 = report.eta_accuracy[0].p90_abs_error_hours
        report.eta_bin_hours = max(1.0, math.ceil(p90 * 1.25 / HISTOGRAM_BINS))
        width = int(report.eta_bin_hours * 3600)
        report.eta_histogram = [
            (int(b) * report.eta_bin_hours, int(n))
            for b, n in engine.query(
                f"SELECT least(intDiv(eta_error_seconds, {width}), {HISTOGRAM_BINS}) AS b, count() "
                f"FROM {db}.parcel_outcomes WHERE eta IS NOT NULL GROUP BY b ORDER BY b"
            )
        ]


def check_against(report: Report, manifest: Manifest) -> None:
    def check(name: str, got: object, want: object) -> None:
        report.checks.append((name, got == want, f"got {got}, sent {want}"))

    check("every unique scan stored once", report.events, manifest.unique_events)
    check("every parcel has a state", report.parcels, manifest.parcels)
    check("malformed payloads dead-lettered", report.dead_letters, manifest.malformed_payloads)
    check("unknown codes kept as unknown", report.unknown_events, manifest.unknown_code_events)
    check("final statuses", report.status_counts, dict(sorted(manifest.final_status.items())))


def render(report: Report, throughput: str = "") -> str:
    lines = [
        f"parcelstream report (ClickHouse engine: {report.engine})",
        "=" * 60,
        f"tracking events stored   {report.events:>10,}",
        f"parcels tracked          {report.parcels:>10,}",
        f"notifications sent       {report.notifications:>10,}",
        f"dead letters             {report.dead_letters:>10,}",
        f"events with unknown code {report.unknown_events:>10,}",
    ]
    if throughput:
        lines.append(throughput)
    for title, table in (
        ("parcels by status", report.status_counts),
        ("events by reason", report.exception_reasons),
        ("notifications by kind", report.notification_kinds),
    ):
        lines.append("")
        lines.append(title)
        for key, value in table.items():
            lines.append(f"  {key or '-':<28}{value:>10,}")
    lines.extend(render_analytics(report))
    if report.checks:
        lines.append("")
        lines.append("checks against what the simulator sent")
        for name, passed, detail in report.checks:
            lines.append(f"  [{'ok' if passed else 'FAIL'}] {name}: {detail}")
    return "\n".join(lines)


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def _hours(hours: float | None) -> str:
    return "-" if hours is None else f"{hours:.1f}h"


def render_analytics(report: Report) -> list[str]:
    lines = ["", "carrier scorecard (delivered parcels)"]
    lines.append(f"  {'carrier':<18}{'delivered':>10}{'on time':>9}{'p50':>8}{'p90':>8}"
                 f"{'1st try':>9}{'exc.':>8}")  # fmt: skip
    for c in report.scorecard:
        lines.append(
            f"  {c.carrier:<18}{c.delivered:>10,}{_pct(c.on_time_rate):>9}"
            f"{_hours(c.transit_p50_hours):>8}{_hours(c.transit_p90_hours):>8}"
            f"{_pct(c.first_attempt_rate):>9}{_pct(c.exception_rate):>8}"
        )
    lines += ["", "status funnel (parcels that ever reached / are now at each status)"]
    for status, reached, now in report.funnel:
        lines.append(f"  {status:<28}{reached:>10,}{now:>10,}")
    lines += ["", "exceptions by kind (opened / resolved / parcels)"]
    for kind, opened, resolved, parcels in report.exception_kinds:
        lines.append(f"  {kind:<28}{opened:>10,}{resolved:>10,}{parcels:>10,}")
    lines += ["", "ETA accuracy (first ETA at/after pickup vs delivery)"]
    lines.append(f"  {'scope':<18}{'parcels':>10}{'mean':>9}{'p50':>9}{'p90':>9}{'in range':>10}")
    if not report.eta_accuracy:
        # A lifecycle processed in one batch is stored as one delivered version, ETA = actual.
        lines.append("  none yet: no delivered parcel had an ETA stored before its delivery")
    for e in report.eta_accuracy:
        lines.append(
            f"  {e.scope:<18}{e.parcels:>10,}{_hours(e.mean_abs_error_hours):>9}"
            f"{_hours(e.p50_abs_error_hours):>9}{_hours(e.p90_abs_error_hours):>9}"
            f"{_pct(e.interval_coverage):>10}"
        )
    lines += render_carrier_etas(report)
    return lines


def render_carrier_etas(report: Report) -> list[str]:
    lines = ["", "carrier ETA vs ours (delivered parcels; both as known at pickup)"]
    lines.append(f"  {'carrier':<18}{'parcels':>10}{'carrier':>9}{'ours':>9}{'shown':>10}")
    if not report.carrier_eta_accuracy:
        lines.append("  none yet: no delivered parcel had a carrier estimate and ours at pickup")
    for c in report.carrier_eta_accuracy:
        lines.append(
            f"  {c.carrier:<18}{c.parcels:>10,}{_hours(c.carrier_mae_hours):>9}"
            f"{_hours(c.our_mae_hours):>9}{_shown(c):>10}"
        )
    lines.append("  (mean absolute error; shown: parcels whose ETA was the carrier's)")
    return lines


def _shown(c: CarrierEtaAccuracy) -> str:
    return f"{c.shown_carrier / c.parcels:.0%}" if c.parcels else "-"


def write_charts(report_or_engine: Report | Engine, folder: Path) -> list[Path]:
    """Scorecard, funnel, exceptions and ETA-error PNGs in `folder`; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    from matplotlib import pyplot as plt

    report = report_or_engine
    if not isinstance(report, Report):
        report = build_report(report)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in (
        ("carrier_scorecard", _draw_scorecard),
        ("status_funnel", _draw_funnel),
        ("exceptions_by_reason", _draw_exceptions),
        ("eta_error_histogram", _draw_eta_errors),
    ):
        fig = draw(plt, report)
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths


def _no_data(ax: Any) -> None:
    ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _draw_scorecard(plt: Any, report: Report) -> Any:
    from matplotlib.ticker import PercentFormatter

    fig, (rates, transit) = plt.subplots(1, 2, figsize=(13, 5), width_ratios=(3, 2))
    fig.suptitle(f"Carrier scorecard ({report.engine})", fontweight="bold")
    carriers = [c.carrier for c in report.scorecard]
    if not carriers:
        _no_data(rates)
        _no_data(transit)
        return fig
    x = range(len(carriers))
    series = (
        ("on time vs promise", [c.on_time_rate or 0.0 for c in report.scorecard], "tab:green"),
        ("first-attempt delivery", [c.first_attempt_rate for c in report.scorecard], "tab:blue"),
        ("parcels with exception", [c.exception_rate for c in report.scorecard], "tab:red"),
    )
    width = 0.27
    for i, (label, values, color) in enumerate(series):
        bars = rates.bar([p + (i - 1) * width for p in x], values, width, label=label, color=color)
        rates.bar_label(bars, labels=[f"{v:.0%}" for v in values], fontsize=7)
    rates.set_xticks(list(x), carriers, rotation=25, ha="right")
    rates.set_ylim(0, 1.15)
    rates.yaxis.set_major_formatter(PercentFormatter(1.0))
    rates.set_title("rates (delivered parcels; exceptions: all parcels)")
    rates.legend(loc="upper center", ncols=3, fontsize=8)
    for i, (label, key, color) in enumerate((
        ("p50", "transit_p50_hours", "tab:gray"), ("p90", "transit_p90_hours", "tab:orange"),
    )):  # fmt: skip
        values = [getattr(c, key) or 0.0 for c in report.scorecard]
        bars = transit.bar([p + (i - 0.5) * 0.4 for p in x], values, 0.4, label=label, color=color)
        transit.bar_label(bars, labels=[f"{v:.0f}" for v in values], fontsize=7)
    transit.set_xticks(list(x), carriers, rotation=25, ha="right")
    longest = max((c.transit_p90_hours or 0.0) for c in report.scorecard)
    transit.set_ylim(0, max(longest, 1.0) * 1.2)  # headroom for the legend above the bars
    transit.set_ylabel("hours")
    transit.set_title("transit time pickup -> delivery")
    transit.legend(loc="upper center", ncols=2, fontsize=8)
    for ax in (rates, transit):
        ax.tick_params(axis="x", labelsize=8, labelrotation=25)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def _draw_funnel(plt: Any, report: Report) -> Any:
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(report.funnel), 4) + 1.2))
    ax.set_title("Status funnel: parcels that ever reached each status", fontweight="bold")
    if not report.funnel:
        _no_data(ax)
        return fig
    statuses = [s for s, _, _ in report.funnel][::-1]  # first stage at the top
    reached = [r for _, r, _ in report.funnel][::-1]
    now = [n for _, _, n in report.funnel][::-1]
    bars = ax.barh(statuses, reached, color="tab:blue", alpha=0.35, label="ever reached")
    ax.barh(statuses, now, color="tab:blue", height=0.45, label="there now")
    ax.bar_label(bars, labels=[f"{r:,} ({n:,} now)" for r, n in zip(reached, now, strict=True)],
                 padding=3, fontsize=8)  # fmt: skip
    ax.set_xlim(0, max(reached) * 1.3)
    ax.set_xlabel("parcels")
    ax.legend(loc="lower right", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _draw_exceptions(plt: Any, report: Report) -> Any:
    kinds = report.exception_kinds[::-1]  # most frequent at the top
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(kinds), 4) + 1.2))
    ax.set_title("Exceptions by reason", fontweight="bold")
    if not kinds:
        _no_data(ax)
        return fig
    names = [k for k, _, _, _ in kinds]
    resolved = [r for _, _, r, _ in kinds]
    still_open = [o - r for _, o, r, _ in kinds]
    ax.barh(names, resolved, color="tab:green", label="resolved")
    bars = ax.barh(names, still_open, left=resolved, color="tab:red", label="still open")
    ax.bar_label(bars, labels=[f"{o:,} opened, {p:,} parcels" for _, o, _, p in kinds],
                 padding=3, fontsize=8)  # fmt: skip
    ax.set_xlim(0, max(o for _, o, _, _ in kinds) * 1.5)
    ax.set_xlabel("exceptions opened")
    ax.legend(loc="lower right", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _draw_eta_errors(plt: Any, report: Report) -> Any:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if not report.eta_histogram:
        ax.set_title("ETA error", fontweight="bold")
        _no_data(ax)
        return fig
    overall = report.eta_accuracy[0]
    ax.set_title(
        f"ETA error: first ETA at/after pickup vs delivery ({overall.parcels:,} parcels, "
        f"{overall.interval_coverage:.0%} inside the ETA range)",
        fontweight="bold", fontsize=10,
    )  # fmt: skip
    width = report.eta_bin_hours
    starts = [start for start, _ in report.eta_histogram]
    counts = [n for _, n in report.eta_histogram]
    colors = ["tab:purple"] * len(starts)
    if starts[-1] >= HISTOGRAM_BINS * width:
        colors[-1] = "tab:gray"  # the overflow bin
        ax.annotate(f"{starts[-1]:.0f}h+", (starts[-1] + width / 2, counts[-1]),
                    ha="center", va="bottom", fontsize=8)  # fmt: skip
    ax.bar(starts, counts, width=width, align="edge", color=colors, edgecolor="white")
    for value, label, style in (
        (overall.p50_abs_error_hours, "p50", "--"), (overall.p90_abs_error_hours, "p90", ":"),
    ):  # fmt: skip
        ax.axvline(value, color="black", linestyle=style, linewidth=1)
        ax.text(value, max(counts) * 1.02, f" {label} {value:.1f}h", fontsize=8)
    ax.set_ylim(0, max(counts) * 1.12)
    ax.set_xlabel(f"absolute error, hours (bins of {width:.0f}h)")
    ax.set_ylabel("parcels")
    ax.spines[["top", "right"]].set_visible(False)
    return fig
