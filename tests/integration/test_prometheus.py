"""Debian's Prometheus scraping a running worker and its sink: the lag, latency and dead-letter
metrics answer through Prometheus's HTTP API after a feed, the alert rules load and evaluate,
and every metric the dashboard and the rules query exists in a real scrape."""

from __future__ import annotations

import json
import math
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import Publisher
from pipeline.settings import Settings
from pipeline.state.changelog import end_offset
from pipeline.topics import DEAD_LETTERS, RAW, ensure_topics
from tests.deploy.tooling import DEPLOY, queried_metrics, tool
from tools.drain import wait_drained
from tools.simulator import Manifest, publish, simulate
from tools.workers import WorkerProcess, free_port

pytestmark = pytest.mark.integration


class Prometheus:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/query", query=expr)["result"])

    def value(self, expr: str) -> float | None:
        """The one value of a scalar-like query, None while it has no result."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None


def eventually(check: Callable[[], Any], what: str, timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    pytest.fail(f"{what}: not within {timeout:.0f}s (last: {last!r})", False)


def start_prometheus(tmp: Path, targets: dict[str, int]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(DEPLOY / "prometheus" / "alerts.yml")],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{target}"]}]}
            for job, target in targets.items()
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (tmp / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [tool("prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited; see {tmp / 'prometheus.log'}", False)
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    eventually(ready, "prometheus ready", 30)
    return process, base


@pytest.fixture(scope="module")
def fed(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Manifest, Prometheus]]:
    """A worker (its sink inside, with its own metrics port) scraped by Prometheus, after a
    feed with a junk message: settings, what was sent, and the Prometheus API."""
    tmp = tmp_path_factory.mktemp("prometheus")
    run = uuid.uuid4().hex[:10]
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=f"test-{run}", app_id=f"test-{run}",
        state_dir=tmp / "state", chdb_path=tmp / "chdb", clickhouse_database=f"test_{run}",
        web_port=free_port(), sink_metrics_port=free_port(), api_port=free_port(), batch_within=0.2,
        timer_interval=1.0,
    )  # fmt: skip
    ensure_topics(settings)
    worker = WorkerProcess(settings, tmp / "worker.log")
    worker.start()
    prometheus, base = start_prometheus(
        tmp,
        {"parcelstream-worker": settings.web_port,
         "parcelstream-sink": settings.sink_metrics_port or 0},
    )  # fmt: skip
    try:
        simulation = simulate(80, seed=3)  # with unknown codes and exceptions
        publisher = Publisher(settings, AvroCodec())
        publish(simulation, publisher)
        publisher.publish_raw_bytes(b"this is not avro", key=b"junk")
        publisher.flush()
        wait_drained(settings, timeout=180, alive=worker.alive)
        yield settings, simulation.manifest, Prometheus(base)
    finally:
        prometheus.terminate()
        prometheus.wait(30)
        worker.stop()


def test_lag_latency_and_dead_letters_through_prometheus(
    fed: tuple[Settings, Manifest, Prometheus],
) -> None:
    settings, manifest, api = fed
    raw = RAW.topic(settings)

    # Lag per partition of raw, for the worker's group, drops to 0 once the feed is consumed.
    def raw_lag() -> list[dict[str, Any]] | None:
        series = api.query(f'parcelstream_consumer_lag{{group="{settings.app_id}",topic="{raw}"}}')
        done = len(series) == settings.partitions and all(s["value"][1] == "0" for s in series)
        return series if done else None

    eventually(raw_lag, "lag 0 on every raw partition")
    sink_lag = eventually(
        lambda: api.query(f'parcelstream_consumer_lag{{group="{settings.app_id}-sink"}}'),
        "the sink's lag series scraped",
    )
    assert {s["metric"]["job"] for s in sink_lag} == {"parcelstream-sink"}

    # Every scan parsed is counted by carrier, every unknown code too.
    scans = manifest.unique_events + manifest.duplicate_deliveries
    eventually(lambda: api.value("sum(parcelstream_scans_total)") == scans, "scans counted")
    assert api.value("sum(parcelstream_unknown_codes_total)") == manifest.unknown_code_events

    # Dead letters: the junk message at decode, the simulator's malformed payloads at parse;
    # as many as the dead-letters topic holds.
    letters = sum(
        end_offset(settings.kafka_bootstrap, DEAD_LETTERS.topic(settings), p)
        for p in range(settings.partitions)
    )
    eventually(lambda: api.value("sum(parcelstream_dead_letters_total)") == letters,
               f"{letters} dead letters counted")  # fmt: skip
    assert api.value('sum(parcelstream_dead_letters_total{stage="decode"})') == 1
    assert api.value('sum(parcelstream_dead_letters_total{stage="parse"})') == letters - 1
    assert letters - 1 >= manifest.malformed_payloads > 0

    # End-to-end latency: both histograms filled, quantiles finite and plausible for a run
    # on this machine (a scan waits at most a few batch windows and one sink batch).
    for to, count in (("notification", None), ("clickhouse", manifest.unique_events)):
        total = f'sum(parcelstream_end_to_end_latency_seconds_count{{to="{to}"}})'
        observed = eventually(lambda total=total: api.value(total), f"latency to {to} observed")
        if count is not None:
            assert observed >= count * 0.9, (to, observed, count)
        p99 = api.value(
            "histogram_quantile(0.99, sum by (le) "
            f'(parcelstream_end_to_end_latency_seconds_bucket{{to="{to}"}}))'
        )
        assert p99 is not None and not math.isnan(p99) and 0 < p99 < 120, (to, p99)

    # The alert rules load into a real server and evaluate without errors.
    groups = api.get("/api/v1/rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == 9 and all(rule["health"] != "err" for rule in rules), rules


def scrape(port: int) -> set[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


def test_every_metric_the_dashboard_and_alerts_query_is_exported(
    fed: tuple[Settings, Manifest, Prometheus],
) -> None:
    settings, _, _ = fed
    wanted = queried_metrics()
    assert len(wanted) >= 15, wanted

    # The state gauges are set at the first timer tick: allow a few scrapes.
    deadline = time.monotonic() + 20
    while missing := wanted - scrape(settings.web_port) - scrape(settings.sink_metrics_port or 0):
        if time.monotonic() > deadline:
            pytest.fail(f"queried but never exported: {sorted(missing)}", False)
        time.sleep(1)
