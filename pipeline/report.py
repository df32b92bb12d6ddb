"""The end-of-run report, read back from ClickHouse (never from the pipeline's memory), so it
shows what a data team would see. Compared against the simulator's manifest when one is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.simulator import Manifest
from pipeline.sinks.engines import Engine


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

    @property
    def ok(self) -> bool:
        return all(passed for _, passed, _ in self.checks)


def build_report(engine: Engine) -> Report:
    db = engine.database

    def scalar(sql: str) -> int:
        return int(engine.query(sql)[0][0])

    def counts(sql: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in engine.query(sql)}

    return Report(
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
    if report.checks:
        lines.append("")
        lines.append("checks against what the simulator sent")
        for name, passed, detail in report.checks:
            lines.append(f"  [{'ok' if passed else 'FAIL'}] {name}: {detail}")
    return "\n".join(lines)
