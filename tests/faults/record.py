"""One line per fault test for the closing table of issue 9: fault, time to recover, lag peak,
lost, duplicated (and the rest of the exact counts). Written to reports/faults.txt, which
`make test-faults` leaves behind, and printed at the end of the pytest run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.faults.harness import Outcome

REPORT = Path(__file__).resolve().parents[2] / "reports" / "faults.txt"


@dataclass
class FaultRecord:
    test: str
    fault: str = ""
    recover_seconds: float | None = None  # from the fault's end to drained
    lag_peak: int | None = None
    outcome: Outcome | None = None
    note: str = ""
    result: str = "not run"

    def line(self) -> str:
        o = self.outcome
        recover = "-" if self.recover_seconds is None else f"{self.recover_seconds:.1f}s"
        counts = (
            "lost=- duplicated=- wrong_status=- missing_notifications=-"
            if o is None
            else f"lost={o.lost} duplicated={o.duplicated} wrong_status={o.wrong_status} "
            f"missing_notifications={o.missing_notifications}"
        )
        lag = "-" if self.lag_peak is None else str(self.lag_peak)
        note = f" | {self.note}" if self.note else ""
        return (
            f"{self.test} | {self.fault} | recover={recover} | lag_peak={lag} | {counts} | "
            f"{self.result}{note}"
        )


def start_report() -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("")


def append(record: FaultRecord) -> str:
    line = record.line()
    with REPORT.open("a") as out:
        out.write(line + "\n")
    print(line)
    return line
