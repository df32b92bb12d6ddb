"""Scans per second each connector parses, on the golden fixtures under tests/fixtures/.

Each fixture is parsed in a loop for about a second (bytes in, CarrierScans out, through the
registry exactly as the pipeline calls it); the figure is scans parsed per wall-clock second
on one core. Printed by `make bench` beside the pipeline figures.
"""

from __future__ import annotations

import time
from pathlib import Path

import connectors

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
FOLDER_OF = {"csv": "csv", "x12_214": "x12_214"}


def fixtures_for(payload_format: str) -> list[Path]:
    folder = FIXTURES / FOLDER_OF.get(payload_format, payload_format)
    return sorted(
        p for p in folder.glob("*") if p.is_file() and not p.name.endswith(".expected.json")
    )


def scans_per_second(
    payload_format: str, payload: bytes, seconds: float = 1.0
) -> tuple[int, float]:
    ctx = connectors.ParseContext(payload_format, 0, "bench")
    parse = connectors.parser_for(payload_format)
    per_call = len(parse(payload, ctx).scans)
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(20):
            parse(payload, ctx)
        calls += 20
    return per_call, per_call * calls / elapsed


def run_parser_bench(seconds: float = 1.0) -> list[tuple[str, str, int, float]]:
    rows = []
    for payload_format in connectors.known_formats():
        for fixture in fixtures_for(payload_format):
            scans, rate = scans_per_second(payload_format, fixture.read_bytes(), seconds)
            rows.append((payload_format, fixture.name, scans, rate))
    print(f"\n{'format':<12}{'fixture':<28}{'scans/payload':>14}{'scans/s':>12}")
    for payload_format, name, scans, rate in rows:
        print(f"{payload_format:<12}{name:<28}{scans:>14}{rate:>12,.0f}")
    return rows


if __name__ == "__main__":
    run_parser_bench()
