"""The migration list and the shipped queries stay portable: applied in order, formattable, and
free of what ClickHouse 18.16 rejects (deploy/clickhouse/COMPAT.md). The integration tests run
them on both engines; this catches the mistakes in milliseconds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.sinks.migrations import MIGRATIONS

QUERIES = Path(__file__).resolve().parents[3] / "docs" / "queries.sql"
# What 18.16 rejects, as found in COMPAT.md.
NOT_ON_18_16 = {
    "DateTime64": re.compile(r"DateTime64", re.IGNORECASE),
    "TTL": re.compile(r"\bTTL\b", re.IGNORECASE),
    "LowCardinality": re.compile(r"LowCardinality", re.IGNORECASE),
    "ADD COLUMN IF NOT EXISTS": re.compile(r"ADD\s+COLUMN\s+IF\s+NOT\s+EXISTS", re.IGNORECASE),
    "insert_deduplication_token": re.compile(r"insert_deduplication_token", re.IGNORECASE),
    "WITH x AS (subquery)": re.compile(r"\bWITH\s+\w+\s+AS\s*\(", re.IGNORECASE),
}


def _queries_without_comments() -> str:
    return "\n".join(line.split("--")[0] for line in QUERIES.read_text().splitlines())


def _statements() -> list[str]:
    return [s.format(db="analytics_db") for m in MIGRATIONS for s in m.statements]


def test_versions_start_at_one_and_increase_by_one() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert all(m.name and m.statements for m in MIGRATIONS)


def test_every_statement_formats_and_names_the_database() -> None:
    for statement in _statements():
        assert "{" not in statement and "}" not in statement, statement
        assert "analytics_db." in statement, statement


@pytest.mark.parametrize("construct", sorted(NOT_ON_18_16))
def test_nothing_18_16_rejects(construct: str) -> None:
    pattern = NOT_ON_18_16[construct]
    assert not [s for s in _statements() if pattern.search(s)]
    assert not pattern.search(_queries_without_comments())


def test_every_materialized_view_is_backfilled() -> None:
    """An MV only sees inserts made after it exists; the INSERT right after it catches up."""
    statements = _statements()
    for i, statement in enumerate(statements):
        created = re.match(r"CREATE MATERIALIZED VIEW IF NOT EXISTS (\S+)", statement)
        if created:
            assert statements[i + 1].startswith(f"INSERT INTO {created.group(1)} SELECT")


def test_analytics_views_read_only_replay_safe_states() -> None:
    """count/sum/quantile states would count a replayed row twice: only uniqExact and
    argMax/argMin (by version) states may feed the migration 3 views."""
    analytics = " ".join(MIGRATIONS[2].statements)
    states = set(re.findall(r"(\w+)State\(", analytics))
    assert states <= {"uniqExact", "uniqExactIf", "argMax", "argMinIf"}, states


def test_every_shipped_query_has_a_name_and_reads_the_parcelstream_database() -> None:
    chunks = [c for c in QUERIES.read_text().split(";") if re.search(r"^\s*SELECT", c, re.M)]
    assert len(chunks) >= 7
    for chunk in chunks:
        assert re.search(r"^-- name: \w+$", chunk, re.MULTILINE), chunk
        assert "parcelstream." in chunk, chunk
