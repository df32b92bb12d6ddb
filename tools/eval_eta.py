"""Replay real Olist deliveries through the ETA model and score it against Olist's own promise.

    python -m tools.eval_eta [--data-dir ../shared/data/olist]

Orders are replayed as a time-ordered event stream: at an order's pickup (carrier hand-over) the
model predicts, at its delivery the model learns. A prediction therefore only uses deliveries that
happened strictly before it (at an equal millisecond the prediction goes first), which is what
the streaming agent sees.

Olist fields onto the lane, all known at pickup: carrier "olist", service level "standard",
origin = the first item's seller state and CEP-2 sector ("SP:13", see `origin_region`),
destination = the customer state. The model falls back from that lane to "any origin -> customer
state", so a seller sector with few parcels still gets its destination's answer.

Each order also carries its pickup features (tracking/eta_features.py): distance between the
seller's and the customer's zip-prefix centroids, the items' weight, volume and freight, the
promise horizon, the seller's handover time, Brazilian public holidays in the next ten days
(the `holidays` package), weekday, seller and the customer's CEP-3 area. A window's three
checks (low, median, high) are settled at delivery when the parcel came before them, else at
their own time while it is still in flight: the censoring the stage's timers would see.

Figures on the 10,000-order sample (9,999 delivered), `make eval-eta`: MAE 3.99 days (naive
online lane median 4.43, Olist's own estimate 12.76), MedAE 2.17, 80 % window coverage 80.0 %,
worst month 68.9 % (2017-11), median width 9.89 days, p_late average precision 0.336 (naive
0.242), recall 31.7 % at precision 36.6 %.
tracking/eta.py says which of issue 13's targets this misses and why.

This is an offline tool: it reads the data folder from its argument or PARCELSTREAM_OLIST_DIR,
not from the pipeline settings, because it needs no broker and no other setting.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import heapq
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tools.eta_scores import MIN_MONTH_ORDERS, Scored, Scores, score, write_pr_png
from tracking.eta import EtaModel, EtaPrediction, Lane
from tracking.eta_calibration import CHECKS
from tracking.eta_features import PickupFeatures, haversine_km
from tracking.exceptions import ExceptionPolicy

__all__ = ["EvalReport", "Order", "evaluate", "load_orders", "main", "origin_region"]

MILESTONE = "picked_up"
CARRIER = "olist"
SERVICE_LEVEL = "standard"
DAY_MS = 86_400_000
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "olist"
DATA_DIR_ENV = "PARCELSTREAM_OLIST_DIR"
DEFAULT_OUT_DIR = Path("build") / "eval-eta"
# The pipeline's default threshold: the eval scores what the exceptions would flag.
P_LATE_THRESHOLD = ExceptionPolicy().p_late_threshold


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    lane: Lane
    picked_up_ms: int
    delivered_ms: int
    # Olist estimates a calendar day (timestamped at midnight); this is that midnight.
    estimated_day_ms: int
    features: PickupFeatures | None = None

    @property
    def promised_ms(self) -> int:
        """Last millisecond of the estimated day: delivered any time that day is on time."""
        return self.estimated_day_ms + DAY_MS - 1

    @property
    def late(self) -> bool:
        """Delivered after the estimated date, compared by calendar day (as Olist counts it)."""
        return self.delivered_ms // DAY_MS > self.estimated_day_ms // DAY_MS


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Our model and the naive online lane median, scored on the same orders."""

    orders: int
    olist_mae_days: float
    threshold: float
    ours: Scores
    baseline: Scores
    levels: tuple[tuple[str, int], ...]
    rows: tuple[Scored, ...] = ()
    baseline_rows: tuple[Scored, ...] = ()

    # The figures the tests and the old table read, from our model.
    @property
    def predicted(self) -> int:
        return self.ours.predicted

    @property
    def mae_days(self) -> float:
        return self.ours.mae_days

    @property
    def coverage(self) -> float:
        return self.ours.coverage

    def table(self) -> str:
        ours, base = self.ours, self.baseline

        def both(fmt: str, get: Callable[[Scores], float]) -> tuple[str, str]:
            return fmt.format(get(ours)), fmt.format(get(base))

        worst = ours.worst_month
        base_worst = base.worst_month
        rows: list[tuple[str, str, str]] = [
            ("orders evaluated", f"{self.orders}", ""),
            ("orders with a prediction", *both("{:.0f}", lambda s: s.predicted)),
            ("MAE of our ETA at pickup", *both("{:.2f} days", lambda s: s.mae_days)),
            ("MedAE", *both("{:.2f} days", lambda s: s.medae_days)),
            ("p90 AE", *both("{:.2f} days", lambda s: s.p90ae_days)),
            ("MAE of Olist's estimate (same orders)", f"{self.olist_mae_days:.2f} days", ""),
            ("80% interval coverage", *both("{:.1%}", lambda s: s.coverage)),
            (
                f"worst month (>= {MIN_MONTH_ORDERS} orders)",
                f"{worst[0]} {worst[2]:.1%}" if worst else "-",
                f"{base_worst[0]} {base_worst[2]:.1%}" if base_worst else "-",
            ),
            ("median window width", *both("{:.2f} days", lambda s: s.median_width_days)),
            ("actually late (by calendar day)", f"{ours.late_actual}", f"{base.late_actual}"),
            ("average precision of p_late", *both("{:.3f}", lambda s: s.average_precision)),
            (
                f"flagged late (p_late >= {self.threshold:.2f})",
                *both("{:.0f}", lambda s: s.late_predicted),
            ),
            (
                "late recall",
                f"{ours.late_recall:.1%} ({ours.late_hits}/{ours.late_actual})",
                f"{base.late_recall:.1%} ({base.late_hits}/{base.late_actual})",
            ),
            (
                "late precision",
                f"{ours.late_precision:.1%} ({ours.late_hits}/{ours.late_predicted})",
                f"{base.late_precision:.1%} ({base.late_hits}/{base.late_predicted})",
            ),
        ]
        rows += [(f"answered at level '{name}'", f"{n}", "") for name, n in self.levels]
        rows.append(("coverage by month (orders)", "", ""))
        base_months = {m: c for m, _, c in base.months}
        rows += [
            (f"  {month} ({n})", f"{cov:.1%}", f"{base_months.get(month, 0.0):.1%}")
            for month, n, cov in ours.months
        ]
        width = max(len(label) for label, _, _ in rows)
        value_width = max(len(v) for _, v, _ in rows)
        head = f"{'':<{width}}  {'ours':<{value_width}}  naive online lane median"
        lines = [head] + [f"{a:<{width}}  {b:<{value_width}}  {c}".rstrip() for a, b, c in rows]
        return "\n".join(lines)


def _ms(text: str) -> int | None:
    # Olist timestamps are local Brazilian time without a zone; reading them all as UTC keeps
    # every difference right, which is all the evaluation uses.
    text = text.strip()
    if not text:
        return None
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def _rows(path: Path) -> list[dict[str, str]]:
    # csv.DictReader copes with the sellers file's irregular quoting (quoted header, some rows).
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def origin_region(state: str, zip_prefix: str) -> str:
    """Seller state plus the first two digits of its CEP, e.g. "SP:13" (Campinas area).

    The seller's address is master data, known long before pickup. Two CEP digits split the big
    seller states into their postal sectors (greater Sao Paulo 01-09 vs the interior 11-19), whose
    transit times differ measurably; finer prefixes left too few parcels per lane (MAE 4.38 with
    three digits vs 4.29 with two, default settings otherwise).
    """
    return f"{state}:{zip_prefix.strip().zfill(5)[:2]}"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _total(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _holidays_ahead(days: set[date], picked_ms: int) -> int:
    first = datetime.fromtimestamp(picked_ms / 1000, UTC).date()
    return sum(first + timedelta(days=k) in days for k in range(10))


def _brazil_holidays(years: range) -> set[date]:
    """Brazil's national public holidays from the `holidays` package (python-holidays), the
    published calendar (https://github.com/vacanza/holidays)."""
    import holidays

    return set(holidays.country_holidays("BR", years=years))


def load_orders(data_dir: Path) -> list[Order]:
    """Orders with pickup, delivery and estimate, and their pickup features (distance between
    the zip-prefix centroids, the items' weight, volume and freight, the promise horizon, the
    seller's handover time, holidays ahead, weekday, seller); orders missing a time are
    skipped, a missing feature stays None."""
    customers = {
        r["customer_id"]: (r["customer_state"], r["customer_zip_code_prefix"])
        for r in _rows(data_dir / "olist_customers_dataset.sample10k.csv")
    }
    sellers = {r["seller_id"]: r for r in _rows(data_dir / "olist_sellers_dataset.csv")}
    products = {r["product_id"]: r for r in _rows(data_dir / "olist_products_dataset.csv")}
    centroids = {
        r["geolocation_zip_code_prefix"].strip().lstrip("0"): (
            float(r["geolocation_lat"]),
            float(r["geolocation_lng"]),
        )
        for r in _rows(data_dir / "olist_geolocation_zip_prefix_centroids.csv")
    }
    items: dict[str, list[dict[str, str]]] = {}
    for r in _rows(data_dir / "olist_order_items_dataset.sample10k.csv"):
        items.setdefault(r["order_id"], []).append(r)
    holiday_days = _brazil_holidays(range(2016, 2020))

    orders: list[Order] = []
    for r in _rows(data_dir / "olist_orders_dataset.sample10k.csv"):
        picked = _ms(r["order_delivered_carrier_date"])
        delivered = _ms(r["order_delivered_customer_date"])
        estimated = _ms(r["order_estimated_delivery_date"])
        if picked is None or delivered is None or estimated is None:
            continue
        lines = sorted(items.get(r["order_id"], []), key=lambda i: int(i["order_item_id"]))
        seller = sellers.get(lines[0]["seller_id"]) if lines else None
        state, customer_zip = customers.get(r["customer_id"], ("unknown", ""))
        origin = "unknown"
        distance = None
        if seller is not None:
            origin = origin_region(seller["seller_state"], seller["seller_zip_code_prefix"])
            a = centroids.get(seller["seller_zip_code_prefix"].strip().lstrip("0"))
            b = centroids.get(customer_zip.strip().lstrip("0"))
            distance = haversine_km(a, b) if a and b else None
        specs = [products.get(i["product_id"], {}) for i in lines]
        weight = _total([_number(p.get("product_weight_g", "")) for p in specs])
        volume = _total([_volume_l(p) for p in specs])
        approved = _ms(r["order_approved_at"])
        estimated_day = estimated - estimated % DAY_MS
        features = PickupFeatures(
            distance_km=distance,
            weight_kg=None if weight is None else weight / 1000,
            volume_l=volume,
            freight=_total([_number(i["freight_value"]) for i in lines]),
            promise_horizon_s=(estimated_day + DAY_MS - picked) / 1000,
            handover_s=None if approved is None else (picked - approved) / 1000,
            holidays_ahead=_holidays_ahead(holiday_days, picked),
            weekday=datetime.fromtimestamp(picked / 1000, UTC).weekday(),
            seller=lines[0]["seller_id"] if lines else "",
            area=customer_zip.strip().zfill(5)[:3],
        )
        orders.append(
            Order(
                order_id=r["order_id"],
                lane=Lane(CARRIER, SERVICE_LEVEL, origin, state),
                picked_up_ms=picked,
                delivered_ms=delivered,
                estimated_day_ms=estimated_day,
                features=features,
            )
        )
    return orders


def _volume_l(product: dict[str, str]) -> float | None:
    sides = [_number(product.get(f"product_{s}_cm", "")) for s in ("length", "height", "width")]
    if any(v is None for v in sides):
        return None
    return math.prod(v for v in sides if v is not None) / 1000


def evaluate(
    orders: Sequence[Order], model: EtaModel | None = None, threshold: float = P_LATE_THRESHOLD
) -> EvalReport:
    """Replay `orders` in event-time order through `model` and the baseline, and score both."""
    model = model if model is not None else EtaModel()
    rows, levels, answered = _replay(orders, model)
    baseline_rows = _replay_baseline(orders)
    olist = [abs(orders[i].estimated_day_ms - orders[i].delivered_ms) for i in answered]
    return EvalReport(
        orders=len(orders),
        olist_mae_days=sum(olist) / max(len(olist), 1) / DAY_MS,
        threshold=threshold,
        ours=score(rows, threshold),
        baseline=score(baseline_rows, threshold),
        levels=tuple(sorted(levels.items(), key=lambda kv: -kv[1])),
        rows=tuple(rows),
        baseline_rows=tuple(baseline_rows),
    )


# Event kinds at one instant, in this order: a pickup's prediction goes before a delivery at the
# same millisecond (no same-instant leakage), and a window's checks after the delivery.
_PREDICT, _DELIVER, _CHECK = 0, 1, 2


def _replay(
    orders: Sequence[Order], model: EtaModel
) -> tuple[list[Scored], dict[str, int], list[int]]:
    """The stream the parcel stage sees: predict at pickup, learn at delivery, and settle each
    window check (low, median, high) at delivery if the parcel came before it, else at the
    check's own time while the parcel is still in flight (the censoring-aware part)."""
    heap: list[tuple[int, int, int, str]] = []
    for i, o in enumerate(orders):
        heap.append((o.picked_up_ms, _PREDICT, i, ""))
        heap.append((o.delivered_ms, _DELIVER, i, ""))
    heapq.heapify(heap)
    given: dict[int, EtaPrediction] = {}
    delivered: set[int] = set()
    rows: list[Scored] = []
    levels: dict[str, int] = {}
    answered: list[int] = []
    while heap:
        at, kind, i, check = heapq.heappop(heap)
        order = orders[i]
        if kind == _DELIVER:
            delivered.add(i)
            remaining = (order.delivered_ms - order.picked_up_ms) / 1000.0
            model.delivered(order.delivered_ms)
            model.observe(
                order.lane, MILESTONE, remaining, order.features, reached_ms=order.picked_up_ms
            )
            p = given.get(i)
            if p is not None:
                for name, check_ms in zip(CHECKS, (p.low_ms, p.eta_ms, p.high_ms), strict=True):
                    if order.delivered_ms <= check_ms:
                        model.settle(MILESTONE, order.lane, p.lane_level, name, True)
            continue
        if kind == _CHECK:
            if i not in delivered:
                model.settle(MILESTONE, order.lane, given[i].lane_level, check, False)
            continue
        p = model.predict(
            order.lane, MILESTONE, order.picked_up_ms, order.promised_ms, order.features
        )
        if p is None:
            continue
        given[i] = p
        for name, check_ms in zip(CHECKS, (p.low_ms, p.eta_ms, p.high_ms), strict=True):
            heapq.heappush(heap, (check_ms, _CHECK, i, name))
        levels[p.lane_level] = levels.get(p.lane_level, 0) + 1
        answered.append(i)
        rows.append(_scored(order, p.eta_ms, p.low_ms, p.high_ms, p.p_late or 0.0, p.lane_level))
    return rows, levels, answered


def _scored(order: Order, eta: int, low: int, high: int, p_late: float, level: str) -> Scored:
    return Scored(order.picked_up_ms, order.delivered_ms, eta, low, high, p_late, order.late,
                  level)  # fmt: skip


def _replay_baseline(orders: Sequence[Order]) -> list[Scored]:
    """The naive online lane median: the exact median, 10 % and 90 % of the lane's earlier
    transit times (the destination's, then everyone's, below 5 of them), and p_late as the
    share of those that took longer than this order's promise."""
    events = sorted(
        [(o.picked_up_ms, _PREDICT, i) for i, o in enumerate(orders)]
        + [(o.delivered_ms, _DELIVER, i) for i, o in enumerate(orders)]
    )
    seen: dict[tuple[str, ...], list[float]] = {}
    rows: list[Scored] = []
    for _, kind, i in events:
        order = orders[i]
        keys = ((order.lane.origin_region, order.lane.destination_region),
                (order.lane.destination_region,), ())  # fmt: skip
        if kind == _DELIVER:
            for key in keys:
                bisect.insort(
                    seen.setdefault(key, []), float(order.delivered_ms - order.picked_up_ms)
                )
            continue
        past = next((seen[k] for k in keys if len(seen.get(k, ())) >= 5), None)
        if past is None:
            continue
        n = len(past)
        q = [past[min(n - 1, int(f * n))] for f in (0.1, 0.5, 0.9)]
        slack = order.promised_ms - order.picked_up_ms
        p_late = (n - bisect.bisect_right(past, slack)) / n
        at = order.picked_up_ms
        rows.append(
            _scored(order, at + round(q[1]), at + round(q[0]), at + round(q[2]), p_late, "")
        )
    return rows


def default_data_dir() -> Path:
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else DEFAULT_DATA_DIR


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.eval_eta",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"Olist CSV folder (default: ${DATA_DIR_ENV} or {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help=f"folder for the table and the p_late PR curve PNG (default {DEFAULT_OUT_DIR})",
    )
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir or default_data_dir()
    if not data_dir.is_dir():
        print(f"no Olist data folder at {data_dir}", file=sys.stderr)
        return 2
    report = evaluate(load_orders(data_dir))
    text = report.table()
    print(text)
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eval_eta.txt").write_text(text + "\n", encoding="utf-8")
    png = out_dir / "p_late_pr.png"
    write_pr_png(png, {"ours": report.rows, "naive online lane median": report.baseline_rows})
    print(f"(table and precision-recall curve of p_late written to {out_dir}/)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
