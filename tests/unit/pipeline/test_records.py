"""Each record is defined once: its fields are its Avro schema's, its ClickHouse columns are its
table's, and every table the sink writes matches its DDL."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys

import pytest

from pipeline.codec import SCHEMAS_DIR
from pipeline.records import DeadLetter, from_avro, table, to_avro
from pipeline.sinks.migrations import MIGRATIONS
from pipeline.sinks.tables import TABLES
from tracking.records import Notification, OrderParcelUpdate, ParcelException, column

RECORDS = (Notification, ParcelException, OrderParcelUpdate, DeadLetter)


def ddl_columns() -> dict[str, set[str]]:
    """Columns per table from the migrations' CREATE TABLE and ADD COLUMN statements."""
    columns: dict[str, set[str]] = {}
    for migration in MIGRATIONS:
        for statement in migration.statements:
            created = re.match(r"CREATE TABLE IF NOT EXISTS \{db\}\.(\w+) \((.*?)\) ENGINE",
                               statement, re.S)  # fmt: skip
            if created:
                body = re.sub(r"\([^()]*\)", "", created.group(2))  # DateTime('UTC') etc.
                names = {part.split()[0] for part in body.split(",") if part.strip()}
                columns.setdefault(created.group(1), set()).update(names)
            added = re.match(r"ALTER TABLE \{db\}\.(\w+) ADD COLUMN (\w+)", statement)
            if added:
                columns.setdefault(added.group(1), set()).add(added.group(2))
    return columns


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
def test_record_fields_are_its_avro_schema_fields(cls: type) -> None:
    schema = json.loads((SCHEMAS_DIR / f"{cls.__name__}.avsc").read_text())
    assert [f.name for f in dataclasses.fields(cls)] == [f["name"] for f in schema["fields"]]


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_table_row_matches_its_ddl(name: str) -> None:
    ddl = ddl_columns()
    assert set(TABLES[name].columns) == ddl[name]
    assert len(set(TABLES[name].columns)) == len(TABLES[name].columns)


def test_rows_convert_as_the_marks_say() -> None:
    letter = DeadLetter("bad", "parse", "raw", 1, 7, None, "acme", None, b"\x00\xff", 9_999)
    row = dict(zip(TABLES["dead_letters"].columns, TABLES["dead_letters"].row(letter), strict=True))
    assert row["payload_b64"] == "AP8="
    assert row["failed_at"] == 9 and row["raw_event_id"] == "" and row["carrier"] == "acme"
    edge = DeadLetter("bad", "ingest", "raw", -1, 5, None, None, None, b"", 0)
    dead_letters = TABLES["dead_letters"]
    edge_row = dict(zip(dead_letters.columns, dead_letters.row(edge), strict=True))
    assert edge_row["partition"] == 4294967295, "-1 fits the UInt32 column"
    assert from_avro(DeadLetter, to_avro(letter)) == letter


def test_a_new_column_field_reaches_row_and_columns() -> None:
    @dataclasses.dataclass(slots=True)
    class Probe:
        kept: int = column("seconds")
        hidden: str = ""
        renamed: bool = column("flag", "is_on", default=False)

    probe = table(Probe, "probe")
    assert probe.columns == ("kept", "is_on")
    assert probe.row(Probe(5_000, "x", True)) == (5, 1)
    with pytest.raises(ValueError, match="conversion"):
        column("upper")


def test_the_worker_imports_no_tool() -> None:
    """The production import graph (pipeline.app and all it imports) holds no tools module."""
    code = (
        "import sys, pipeline.app, pipeline.runtime.process; "
        "print(sorted(m for m in sys.modules if m == 'tools' or m.startswith('tools.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
