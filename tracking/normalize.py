"""Raw carrier payloads -> normalized TrackingEvents: the parser named by the payload's format,
then carrier codes -> the canonical taxonomy, driven by mapping files, never by carrier names.

Each connector module names its mapping file (connectors/mappings/<name>.csv: code, status,
reason, description). An unknown code is never dropped: it becomes `unknown`, keeps its code
and is counted, so a carrier's new code shows up in metrics instead of vanishing.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import connectors
from tracking.events import TrackingEta, TrackingEvent
from tracking.taxonomy import Reason, Status

MAPPINGS_DIR = Path(__file__).resolve().parent.parent / "connectors" / "mappings"


class MappingError(Exception):
    """A mapping file names a status or reason outside the taxonomy."""


@dataclass(frozen=True, slots=True)
class Canonical:
    status: Status
    reason: Reason


UNKNOWN = Canonical(Status.UNKNOWN, Reason.NONE)
_MAX_LABELS = 4096  # remembered codes per mapping (Normalizer.labels)


def mapping_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a mapping file; its leading "#" lines name the code list's sources."""
    lines = path.read_text(encoding="utf-8").splitlines(True)
    skipped = 0
    while skipped < len(lines) and lines[skipped].startswith("#"):
        skipped += 1
    rows = csv.DictReader(lines[skipped:])
    return [(skipped + 2 + index, row) for index, row in enumerate(rows)]


def load_mapping(path: Path) -> dict[str, Canonical]:
    table: dict[str, Canonical] = {}
    for line, row in mapping_rows(path):
        try:
            canonical = Canonical(Status(row["status"]), Reason(row.get("reason") or ""))
        except ValueError as exc:
            raise MappingError(f"{path.name}:{line}: {exc}") from None
        table[row["code"].strip().upper()] = canonical
    return table


class Normalizer:
    """Looks codes up in per-mapping tables, loaded once and cached."""

    def __init__(self, mappings_dir: Path = MAPPINGS_DIR) -> None:
        self._dir = mappings_dir
        self._tables: dict[str, dict[str, Canonical]] = {}
        self._labels: dict[str, dict[str, tuple[str, str]]] = {}
        self.unknown_codes: Counter[tuple[str, str]] = Counter()

    def table(self, mapping: str) -> dict[str, Canonical]:
        table = self._tables.get(mapping)
        if table is None:
            table = self._tables[mapping] = load_mapping(self._dir / f"{mapping}.csv")
        return table

    def canonical(self, mapping: str, code: str) -> Canonical:
        table = self.table(mapping)
        found = table.get(code.upper())
        if found is None and "-" in code:
            # "STATUS-REASON" codes (X12 AT7-01 + AT7-02): an unlisted reason still has a
            # known status.
            found = table.get(code.split("-", 1)[0].upper())
        if found is None:
            self.unknown_codes[(mapping, code)] += 1
            return UNKNOWN
        return found

    def labels(self, mapping: str) -> dict[str, tuple[str, str]]:
        """code -> (status, reason) as the event carries them, for the codes `canonical` has
        found so far: the per-scan lookup without the enum values' descriptor calls. A code
        that is not here goes through `canonical`, which counts it when it is unknown."""
        labels = self._labels.get(mapping)
        if labels is None:
            labels = self._labels[mapping] = {}
        return labels

    def label(self, mapping: str, code: str) -> tuple[str, str]:
        """(status, reason) of `canonical`, remembered in `labels` when the code is known."""
        mapped = self.canonical(mapping, code)
        found = (mapped.status.value, mapped.reason.value)
        labels = self.labels(mapping)
        # bounded: codes come from payloads, and "STATUS-REASON" codes are open-ended
        if mapped is not UNKNOWN and len(labels) < _MAX_LABELS:
            labels[code] = found
        return found


@dataclass(slots=True)
class NormalizedPayload:
    """What one payload yields: its scans as events, the carrier's delivery estimates, and
    the items the parser could not read (each dead-lettered on its own by the parse step)."""

    events: list[TrackingEvent]
    etas: list[TrackingEta]
    rejects: list[connectors.Reject]


def normalize_payload(raw: dict[str, Any], normalizer: Normalizer) -> NormalizedPayload:
    """Parse one RawCarrierEvent record and map every scan to the canonical taxonomy.

    Raises connectors.ParseError (or UnknownCarrier) for input that cannot be read at all; the
    caller dead-letters it. Bad items inside a readable payload come back as `rejects`.
    """
    payload_format = raw["payload_format"]
    received_at_ms = raw["received_at"]
    source = raw["source"]
    ctx = connectors.ParseContext(raw["carrier"], received_at_ms, source)
    result = connectors.parse(payload_format, raw["payload"], ctx)
    mapping = connectors.mapping_for(payload_format)
    known = normalizer.labels(mapping).get
    raw_event_id = raw["event_id"]
    events = []
    for scan in result.scans:
        code = scan.code
        status, reason = known(code) or normalizer.label(mapping, code)
        events.append(
            TrackingEvent(
                scan.event_id,
                scan.tracking_number,
                scan.carrier,
                status,
                reason,
                code,
                scan.description,
                scan.occurred_at_ms,
                received_at_ms,
                scan.zone_assumed,
                scan.city,
                scan.region,
                scan.postal_code,
                scan.country,
                raw_event_id,
                source,
                scan.shipment_id,
            )
        )
    etas = [
        TrackingEta(
            eta.tracking_number,
            eta.carrier,
            eta.estimated_at_ms,
            eta.window_start_ms,
            eta.window_end_ms,
            eta.kind,
            eta.zone_assumed,
            eta.shipment_id,
            received_at_ms,
            raw_event_id,
            source,
        )
        for eta in result.etas
    ]
    return NormalizedPayload(events, etas, result.rejects)
