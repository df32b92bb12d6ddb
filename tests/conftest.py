"""Suite-wide fixtures: the real Kafka broker (started by the project's own script, reused when
already up) and fresh names per test. A missing broker fails the test loudly; nothing skips."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from hypothesis import HealthCheck, settings

from pipeline.settings import Settings
from pipeline.topics import ensure_topics
from tools.workers import free_port

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

settings.register_profile(
    "ci", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# Both profiles: a busy machine (a benchmark beside the tests) must not fail a test for slow
# example generation.
settings.register_profile(
    "dev", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The local broker, started by deploy/kafka/kafka.sh (idempotent) if not answering."""
    bootstrap = os.environ.get("PARCELSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    result = subprocess.run(
        [str(ROOT / "deploy/kafka/kafka.sh"), "up"],
        env={**os.environ, "KAFKA_HOST": host, "KAFKA_PORT": port},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.fail(f"cannot start Kafka:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return bootstrap


@pytest.fixture
def run_settings(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings with fresh topics, consumer group and chDB directory for one test; its topics
    are deleted after it."""
    settings = fresh_settings(kafka_bootstrap, tmp_path)
    yield settings
    drop_topics(settings)


def drop_topics(settings: Settings) -> None:
    """Delete a run's topics (its prefix's and its Faust app's). A suite leaves thousands of
    partitions behind otherwise, and a developer's long-lived broker slows down under them."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    mine = [
        name
        for name in admin.list_topics(timeout=30).topics
        if name.startswith((f"{settings.topic_prefix}.", f"{settings.app_id}-"))
    ]
    if mine:
        for future in admin.delete_topics(mine, operation_timeout=30).values():
            future.result()


def fresh_settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    """Settings with fresh topics (created), consumer group, chDB directory and ports."""
    run = uuid.uuid4().hex[:10]
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=f"test-{run}",
        app_id=f"test-{run}",
        state_dir=tmp_path / "state",
        chdb_path=tmp_path / "chdb",
        clickhouse_database=f"test_{run}",
        web_port=free_port(),
        api_port=free_port(),
        batch_within=0.2,
    )
    ensure_topics(settings)
    return settings


@pytest.fixture(scope="session")
def clickhouse_server() -> Iterator[object]:
    """A real clickhouse-server (Debian's 18.16 package; installed when missing) on a free port
    with a throwaway data dir, for the native-protocol path."""
    from tests.clickhouse_server import running_clickhouse_server

    with running_clickhouse_server() as server:
        yield server
