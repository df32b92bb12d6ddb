"""Golden-pair helpers shared by the connector tests: parse a fixture, compare with its
`.expected.json` (scans in order, times as ISO UTC, statuses after mapping).

The expected file is either a list of scans (the payload then must yield no carrier ETAs and
no rejects) or an object {"scans": [...], "etas": [...], "rejects": [...]}, a missing key
meaning none: an ETA is {"tracking_number", "kind", "estimated_at_utc", "window_start_utc",
"window_end_utc" (null when 0), "zone_assumed"}, a reject {"reason", "fragment"} with the
fragment as text."""

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


def _utc(ms: int) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ms else None


def eta_view(eta: connectors.CarrierEta) -> dict[str, Any]:
    return {
        "tracking_number": eta.tracking_number,
        "kind": eta.kind,
        "estimated_at_utc": _utc(eta.estimated_at_ms),
        "window_start_utc": _utc(eta.window_start_ms),
        "window_end_utc": _utc(eta.window_end_ms),
        "zone_assumed": eta.zone_assumed,
    }


def reject_view(reject: connectors.Reject) -> dict[str, Any]:
    return {"reason": reject.reason, "fragment": reject.fragment.decode("utf-8", "replace")}


def assert_golden(payload_format: str, fixture: Path, carrier: str = "") -> connectors.ParseResult:
    ctx = connectors.ParseContext(carrier or payload_format, 0, "test")
    result = connectors.parse(payload_format, fixture.read_bytes(), ctx)
    expected = json.loads(
        fixture.with_name(fixture.name.split(".")[0] + ".expected.json").read_text()
    )
    if isinstance(expected, list):
        expected = {"scans": expected}
    normalizer = Normalizer()
    got = [scan_view(scan, payload_format, normalizer) for scan in result.scans]
    assert got == expected.get("scans", [])
    assert [eta_view(eta) for eta in result.etas] == expected.get("etas", [])
    assert [reject_view(reject) for reject in result.rejects] == expected.get("rejects", [])
    return result
