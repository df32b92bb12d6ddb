"""File importer: EDI/CSV/JSON/XML drops from carriers' SFTP folders and manual exports.

One file = one RawCarrierEvent with the file's bytes. Imports are resumable: a sqlite ledger
under `settings.state_dir` remembers every file by the sha256 of its content, written only
after Kafka acknowledged the file's envelope (or its dead letter), so a crash re-imports at
most the unacknowledged tail and a re-run imports nothing twice. Keyed by content, not name,
because carriers re-drop the same file under new names and reuse names for new files.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from connectors import ParseContext, ParseError
from pipeline.ingestion.common import (
    KAFKA_PAYLOAD_LIMIT,
    ConnectorMissing,
    DeadLetters,
    describe,
    now_ms,
    parse_payload,
)
from pipeline.ingestion.publisher import Publisher, raw_envelope
from pipeline.settings import Settings

log = logging.getLogger(__name__)

EXTENSION_FORMATS = {
    ".edi": "x12_214",
    ".x12": "x12_214",
    ".csv": "csv",
    ".json": "generic",
    ".xml": "canadapost",
}
# Flush Kafka and write the ledger every this many files: one round trip per file would
# make a 10,000-file backfill wait on 10,000 acks; a crash re-imports at most one batch.
COMMIT_EVERY = 200


@dataclass
class ImportSummary:
    imported: int = 0
    skipped: int = 0
    failed: int = 0
    ignored: int = 0
    scans: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)


class Ledger:
    """sha256 -> what happened to that content; the importer's memory across runs."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS files (sha256 TEXT PRIMARY KEY, name TEXT, size INTEGER,"
            " status TEXT, reason TEXT, recorded_at INTEGER)"
        )

    def seen(self, sha256: str) -> bool:
        row = self._db.execute("SELECT 1 FROM files WHERE sha256 = ?", (sha256,)).fetchone()
        return row is not None

    def record(self, rows: Iterable[tuple[str, str, int, str, str]]) -> None:
        with self._db:  # one transaction per committed batch
            self._db.executemany(
                "INSERT OR IGNORE INTO files VALUES (?, ?, ?, ?, ?, ?)",
                [(*row, now_ms()) for row in rows],
            )

    def close(self) -> None:
        self._db.close()


class Progress:
    """files done/total, bytes and rate on one self-overwriting stderr line."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        # sys.stderr looked up now, not at import: it is replaced by test capture and daemons.
        self.enabled, self.stream, self.total = enabled, stream or sys.stderr, 0
        self._started = self._drawn = time.monotonic()

    def update(self, summary: ImportSummary, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._drawn < 0.1):
            return
        self._drawn = now
        done = summary.imported + summary.skipped + summary.failed + summary.ignored
        elapsed = max(now - self._started, 1e-6)
        total = f"/{self.total}" if self.total else ""
        bar = ""
        if self.total:
            filled = int(20 * done / self.total)
            bar = f"[{'#' * filled}{'.' * (20 - filled)}] "
        self.stream.write(
            f"\r{bar}{done}{total} files  {summary.bytes / 1e6:.1f} MB  "
            f"{done / elapsed:.1f} files/s  imported {summary.imported} skipped {summary.skipped}"
            f" failed {summary.failed} ignored {summary.ignored}"
        )
        self.stream.flush()

    def close(self, summary: ImportSummary) -> None:
        if self.enabled:
            self.update(summary, force=True)
            self.stream.write("\n")


def format_for(path: Path, payload_format: str | None) -> str | None:
    return payload_format or EXTENSION_FORMATS.get(path.suffix.lower())


def discover(paths: Iterable[Path]) -> list[Path]:
    """Files under `paths`, sorted; hidden files (partial uploads, .DS_Store) are not ours."""
    found: list[Path] = []
    for root in paths:
        candidates = sorted(root.rglob("*")) if root.is_dir() else [root]
        found.extend(p for p in candidates if p.is_file() and not p.name.startswith("."))
    return found


class _Importer:
    def __init__(
        self,
        settings: Settings,
        publisher: Publisher,
        dead: DeadLetters,
        payload_format: str | None,
        carrier: str | None,
        progress: Progress,
    ) -> None:
        self.publisher, self.dead, self.progress = publisher, dead, progress
        self.payload_format, self.carrier = payload_format, carrier
        self.ledger = Ledger(settings.state_dir / "ingestion" / "files.sqlite3")
        self.summary = ImportSummary()
        self._pending: dict[str, tuple[str, str, int, str, str]] = {}

    def _problem(self, path: Path, reason: str) -> None:
        self.summary.problems.append(f"{path}: {reason}")
        log.warning("import %s: %s", path, reason)

    def take(self, path: Path) -> None:
        payload = path.read_bytes()
        sha256 = hashlib.sha256(payload).hexdigest()
        self.summary.bytes += len(payload)
        payload_format = format_for(path, self.payload_format)
        if self.ledger.seen(sha256) or sha256 in self._pending:
            self.summary.skipped += 1
        elif payload_format is None:
            self.summary.ignored += 1
            self._problem(path, f"no format for extension {path.suffix!r}; pass one explicitly")
        elif len(payload) > KAFKA_PAYLOAD_LIMIT:
            # Not ledgered: the file is still on disk, and a split file should import later.
            self.summary.failed += 1
            self._problem(path, f"{len(payload)} bytes exceed Kafka's message limit")
        else:
            self._send(path, payload, sha256, payload_format)
        if len(self._pending) >= COMMIT_EVERY:
            self.commit()
        self.progress.update(self.summary)

    def _send(self, path: Path, payload: bytes, sha256: str, payload_format: str) -> None:
        received_at = now_ms()
        # ctx.carrier overrides what the payload says (X12's SCAC, the JSON "carrier"), so
        # only a carrier the operator named goes there; the format name is no carrier.
        ctx = ParseContext(self.carrier or "", received_at, "file_drop")
        try:
            result = parse_payload(payload_format, payload, ctx)
        except ConnectorMissing as exc:  # not ledgered: importable once the connector exists
            self.summary.failed += 1
            self._problem(path, str(exc))
            return
        except ParseError as exc:
            self.dead.record(self.carrier or payload_format, payload_format, payload, exc.reason)
            self._pending[sha256] = (sha256, path.name, len(payload), "failed", exc.reason)
            self.summary.failed += 1
            self._problem(path, exc.reason)
            return
        carrier, tracking_number = describe(result, self.carrier or payload_format)
        self.publisher.publish_raw(
            raw_envelope(
                carrier,
                payload_format,
                payload,
                "file_drop",
                tracking_number,
                metadata={"file_name": path.name, "size": str(len(payload)), "sha256": sha256},
                received_at_ms=received_at,
            )
        )
        self._pending[sha256] = (sha256, path.name, len(payload), "imported", "")
        self.summary.imported += 1
        self.summary.scans += len(result.scans)

    def commit(self) -> None:
        """Ledger only what Kafka acknowledged; a failed flush raises and records nothing."""
        if not self._pending:
            return
        self.publisher.flush()
        self.dead.flush()
        self.ledger.record(self._pending.values())
        self._pending.clear()

    def close(self) -> None:
        self.progress.close(self.summary)
        self.ledger.close()


def import_paths(
    settings: Settings,
    publisher: Publisher,
    paths: Iterable[Path | str],
    payload_format: str | None = None,
    carrier: str | None = None,
    watch: bool = False,
    poll_interval: float = 2.0,
    *,
    dead_letters: DeadLetters | None = None,
    stop: threading.Event | None = None,
    progress: bool = True,
) -> ImportSummary:
    """Import files, directories (recursively, in sorted order) or, with `watch`, keep polling
    them until `stop` is set (or Ctrl-C) and take each new file once its size and mtime held
    still across two polls, since a file being uploaded grows between polls."""
    roots = [Path(p) for p in paths]
    importer = _Importer(settings, publisher, dead_letters or DeadLetters(settings),
                         payload_format, carrier, Progress(progress))  # fmt: skip
    try:
        if not watch:
            files = discover(roots)
            importer.progress.total = len(files)
            for path in files:
                importer.take(path)
            importer.commit()
        else:
            _watch(importer, roots, poll_interval, stop or threading.Event())
    finally:
        importer.close()
    return importer.summary


def _watch(importer: _Importer, roots: list[Path], interval: float, stop: threading.Event) -> None:
    last_seen: dict[Path, tuple[int, int]] = {}
    taken: set[tuple[Path, int, int]] = set()
    try:
        while not stop.is_set():
            current: dict[Path, tuple[int, int]] = {}
            for path in discover(roots):
                try:
                    stat = path.stat()
                except FileNotFoundError:  # moved away between listing and stat
                    continue
                current[path] = (stat.st_size, stat.st_mtime_ns)
                if (path, *current[path]) not in taken and last_seen.get(path) == current[path]:
                    importer.take(path)
                    taken.add((path, *current[path]))
            last_seen = current
            importer.commit()
            stop.wait(interval)
    except KeyboardInterrupt:
        importer.commit()
