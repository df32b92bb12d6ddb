"""The file importer on the real broker: envelopes, dead letters, the resume ledger, watching,
and (once the X12 214 connector and its fixtures exist) EDI files through a real worker."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import connectors
from pipeline.codec import AvroCodec
from pipeline.ingestion import ImportSummary, import_paths
from pipeline.ingestion.publisher import Publisher
from pipeline.settings import Settings
from pipeline.topics import DEAD_LETTERS, EVENTS, RAW
from tests.conftest import FIXTURES
from tests.kafka_helpers import read_records
from tools.drain import wait_drained
from tools.workers import WorkerProcess

pytestmark = pytest.mark.integration

GENERIC = FIXTURES / "generic" / "bundle.json"
EDI_FIXTURES = sorted((FIXTURES / "x12_214").glob("*.edi"))
MALFORMED = b'{"carrier": "acme-express", "events": [{"tracking_number": "X1", "code": "DL"}]}'


def drop_folder(root: Path) -> Path:
    drop = root / "drop"
    (drop / "2026-11-20").mkdir(parents=True)
    shutil.copy(GENERIC, drop / "2026-11-20" / "acme-feed.json")
    (drop / "broken.json").write_bytes(MALFORMED)
    (drop / ".partial-upload.json").write_bytes(b"{")  # hidden: never taken
    (drop / "README.txt").write_text("not a carrier file")  # no format for .txt: ignored
    return drop


def test_import_directory_then_rerun_skips_everything(
    run_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drop = drop_folder(tmp_path)
    publisher = Publisher(run_settings, AvroCodec())
    expected_scans = len(json.loads((FIXTURES / "generic" / "bundle.expected.json").read_text()))

    first = import_paths(run_settings, publisher, [drop], progress=True)
    assert (first.imported, first.skipped, first.failed, first.ignored) == (1, 0, 1, 1)
    assert first.scans == expected_scans
    assert any("occurred_at is missing" in p for p in first.problems)
    assert "3/3 files" in capsys.readouterr().err  # the progress line; hidden file not counted

    raw = read_records(run_settings.kafka_bootstrap, RAW.topic(run_settings))
    assert len(raw) == 1
    name, envelope = raw[0]
    assert name == "RawCarrierEvent"
    assert envelope["payload"] == GENERIC.read_bytes()
    assert envelope["source"] == "file_drop"
    assert envelope["carrier"] == "acme-express"
    assert envelope["payload_format"] == "generic"
    assert envelope["metadata"] == {
        "file_name": "acme-feed.json",
        "size": str(GENERIC.stat().st_size),
        "sha256": hashlib.sha256(GENERIC.read_bytes()).hexdigest(),
    }
    dead = read_records(run_settings.kafka_bootstrap, DEAD_LETTERS.topic(run_settings))
    assert len(dead) == 1
    assert dead[0][1]["payload"] == MALFORMED
    assert dead[0][1]["stage"] == "ingest"
    assert "occurred_at is missing" in dead[0][1]["error"]

    # A re-run (a new importer, same state_dir) takes nothing twice; a renamed copy is the same
    # content and is skipped as well.
    shutil.copy(GENERIC, drop / "acme-feed-resent.json")
    again = import_paths(run_settings, publisher, [drop], progress=False)
    assert (again.imported, again.skipped, again.failed) == (0, 3, 0)
    assert len(read_records(run_settings.kafka_bootstrap, RAW.topic(run_settings))) == 1
    dead_again = read_records(run_settings.kafka_bootstrap, DEAD_LETTERS.topic(run_settings))
    assert len(dead_again) == 1


def test_watch_takes_a_file_once_its_size_is_stable(run_settings: Settings, tmp_path: Path) -> None:
    watched = tmp_path / "inbox"
    watched.mkdir()
    publisher = Publisher(run_settings, AvroCodec())
    stop = threading.Event()
    result: list[ImportSummary] = []

    def watch() -> None:
        result.append(
            import_paths(
                run_settings, publisher, [watched], watch=True, poll_interval=0.2, stop=stop,
                progress=False,
            )
        )  # fmt: skip

    thread = threading.Thread(target=watch)
    thread.start()
    try:
        time.sleep(0.5)
        shutil.copy(GENERIC, watched / "late.json")
        # An upload in progress: invalid JSON until the last chunk, growing faster than the
        # importer polls. Taking it early would dead-letter it.
        content = GENERIC.read_bytes()
        with (watched / "uploading.json").open("wb") as upload:
            for start in range(0, len(content), 64):
                upload.write(content[start : start + 64])
                upload.flush()
                time.sleep(0.05)
        deadline = time.monotonic() + 20
        raw: list[tuple[str, dict[str, Any]]] = []
        while len(raw) < 1 and time.monotonic() < deadline:
            raw = read_records(run_settings.kafka_bootstrap, RAW.topic(run_settings), 1, 2)
        time.sleep(1.0)  # a few more polls: nothing else may be taken
    finally:
        stop.set()
        thread.join(10)
    summary = result[0]
    # late.json and uploading.json hold the same bytes: one import, one content-dedup skip.
    assert (summary.imported, summary.skipped, summary.failed) == (1, 1, 0), summary.problems
    assert len(read_records(run_settings.kafka_bootstrap, RAW.topic(run_settings))) == 1
    dead_letters = DEAD_LETTERS.topic(run_settings)
    assert read_records(run_settings.kafka_bootstrap, dead_letters, timeout=3) == []


def _edi_tracking_numbers(path: Path) -> set[str]:
    """From the fixture's golden file when there is one, else from the connector itself."""
    golden = path.with_suffix(".expected.json")
    if golden.exists():
        expected = json.loads(golden.read_text())
        scans = expected["scans"] if isinstance(expected, dict) else expected  # see tests/golden.py
        return {event["tracking_number"] for event in scans}
    ctx = connectors.ParseContext("x12_214", 0, "file_drop")
    result = connectors.parse("x12_214", path.read_bytes(), ctx)
    return {scan.tracking_number for scan in result.scans}


def _batch_tracking_numbers(record: dict[str, object]) -> list[str]:
    """TrackingEventBatch is columnar: one array per field."""
    return list(record["tracking_number"])  # type: ignore[call-overload]


def test_edi_214_file_through_a_real_worker(run_settings: Settings, tmp_path: Path) -> None:
    drop = drop_folder(tmp_path)
    assert EDI_FIXTURES, "tests/fixtures/x12_214/*.edi is missing"
    edi = EDI_FIXTURES[0]
    shutil.copy(edi, drop / edi.name)
    publisher = Publisher(run_settings, AvroCodec())
    summary = import_paths(run_settings, publisher, [drop], progress=False)
    assert (summary.imported, summary.failed) == (2, 1), summary.problems

    worker = WorkerProcess(run_settings, tmp_path / "worker.log")
    worker.start()
    try:
        wait_drained(run_settings, timeout=180, alive=worker.alive)
    finally:
        worker.stop()

    batches = read_records(run_settings.kafka_bootstrap, EVENTS.topic(run_settings))
    normalized = {tn for name, record in batches if name == "TrackingEventBatch"
                  for tn in _batch_tracking_numbers(record)}  # fmt: skip
    expected = _edi_tracking_numbers(edi)
    assert expected and expected <= normalized, (expected, normalized)
