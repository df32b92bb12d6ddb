"""`parcelstream report`: carrier-ETA accuracy next to ours, read back from ClickHouse (chDB, in
process: no broker, no server) and rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.sinks.engines import ChdbEngine
from pipeline.sinks.migrations import migrate
from pipeline.sinks.tables import PARCEL_STATE
from tools.report import (
    CarrierEtaAccuracy,
    Report,
    build_report,
    render,
    render_carrier_etas,
)
from tracking.state import ParcelState

H = 3_600_000
T0 = 1_795_000_000_000  # 2026-11-18, whole hours from here on


def delivered(tn: str, carrier: str, carrier_off_h: float | None, our_off_h: float | None,
              source: str = "ours", version: int = 3) -> ParcelState:  # fmt: skip
    """A parcel delivered 50 h after pickup whose carrier estimate and ours at pickup were off
    by these many hours."""
    at = T0 + 50 * H
    state = ParcelState(tn, version=version, carrier=carrier, status="delivered",
                        updated_at_ms=at, milestones={"picked_up": T0, "delivered": at},
                        eta_source=source)  # fmt: skip
    if carrier_off_h is not None:
        state.carrier_eta_first_ms = state.carrier_eta_ms = at + int(carrier_off_h * H)
    if our_off_h is not None:
        state.eta_first_ms = at + int(our_off_h * H)
    return state


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    engine = ChdbEngine(Path(tmp_path_factory.mktemp("chdb")), "report_test")
    try:
        migrate(engine)
        states = [
            delivered("F1", "fedex", 2, -10),
            delivered("F2", "fedex", -4, 6, source="carrier"),
            delivered("F3", "fedex", 3, None),  # no ETA of ours at pickup: not compared
            delivered("U1", "ups", None, 5),  # no carrier estimate: not compared
            delivered("D1", "dhl", -1, 1),
        ]
        older = delivered("D1", "dhl", 40, 40, version=2)  # replaced by version 3 (FINAL)
        rows = [PARCEL_STATE.row(s.to_record()) for s in (*states, older)]
        engine.insert(PARCEL_STATE.name, PARCEL_STATE.columns, rows)
        return build_report(engine)
    finally:
        engine.close()


def test_carrier_eta_accuracy_per_carrier_on_the_same_parcels(report: Report) -> None:
    assert report.carrier_eta_accuracy == [
        CarrierEtaAccuracy("dhl", 1, 1.0, 1.0, 0),
        CarrierEtaAccuracy("fedex", 2, 3.0, 8.0, 1),
    ]


def test_the_report_renders_carrier_next_to_ours(report: Report) -> None:
    text = render(report)
    section = text[text.index("carrier ETA vs ours") :].splitlines()
    assert section[1].split() == ["carrier", "parcels", "carrier", "ours", "shown"]
    assert section[2].split() == ["dhl", "1", "1.0h", "1.0h", "0%"]
    assert section[3].split() == ["fedex", "2", "3.0h", "8.0h", "50%"]


def test_the_section_says_when_there_is_nothing_to_compare() -> None:
    empty = Report("chdb", 0, 0, 0, 0, 0, {}, {}, {})
    lines = render_carrier_etas(empty)
    assert any("none yet" in line for line in lines)
