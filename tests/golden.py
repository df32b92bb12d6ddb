"""Golden-pair helpers shared by the connector tests: parse a fixture, compare with its
`.expected.json` (scans in order, times as ISO UTC, statuses after mapping)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import connectors
from tracking.normalize import Normalizer


def scan_view(
    scan: connectors.CarrierScan, payload_format: str, normalizer: Normalizer
) -> dict[str, Any]:
    moment = datetime.fromtimestamp(scan.occurred_at_ms / 1000, UTC)
    return {
        "tracking_number": scan.tracking_number,
        "code": scan.code,
        "occurred_at_utc": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "zone_assumed": scan.zone_assumed,
        "city": scan.city,
        "country": scan.country,
        "postal_code": scan.postal_code,
        "status": normalizer.canonical(
            connectors.mapping_for(payload_format), scan.code
        ).status.value,
    }


def assert_golden(payload_format: str, fixture: Path, carrier: str = "") -> connectors.ParseResult:
    ctx = connectors.ParseContext(carrier or payload_format, 0, "test")
    result = connectors.parse(payload_format, fixture.read_bytes(), ctx)
    expected = json.loads(
        fixture.with_name(fixture.name.split(".")[0] + ".expected.json").read_text()
    )
    normalizer = Normalizer()
    got = [scan_view(scan, payload_format, normalizer) for scan in result.scans]
    assert got == expected
    return result
