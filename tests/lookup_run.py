"""A real worker serving the lookup API over one simulated feed, with a ClickHouse server the
tests can read while it runs (shared by tests/integration/test_lookup_api.py and
tests/browser/test_tracking_page.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from pipeline.api.auth import hash_key
from pipeline.api.config import ApiKey
from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import Publisher
from pipeline.settings import Settings
from pipeline.sinks.engines import NativeEngine
from tests.conftest import drop_topics, fresh_settings
from tools.drain import wait_drained
from tools.simulator import Simulation, publish, simulate
from tools.workers import WorkerProcess

ALL_KEY, SCOPED_KEY = "psk_test_all_customers", "psk_test_one_customer"


class Answer:
    def __init__(self, status: int, body: bytes, headers: Any) -> None:
        self.status, self.body, self.headers = status, body, headers

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def call(url: str, key: str | None = None, form: dict[str, str] | None = None) -> Answer:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    data = None if form is None else urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with _opener.open(request, timeout=10) as response:
            return Answer(response.status, response.read(), response.headers)
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read(), error.headers)


@contextmanager
def served_worker(
    kafka_bootstrap: str, clickhouse_server: Any, tmp: Path, **overrides: Any
) -> Iterator[tuple[Settings, Simulation, NativeEngine, str]]:
    """One worker over one feed, left running while the caller's tests run."""
    base = fresh_settings(kafka_bootstrap, tmp)
    simulation = simulate(60, seed=12)
    scoped_ref = simulation.shipments[0]["customer_ref"]
    url = (
        f"clickhouse://{clickhouse_server.host}:{clickhouse_server.port}/{base.clickhouse_database}"
    )
    settings = base.model_copy(
        update={
            "clickhouse_url": SecretStr(url),
            "api_keys": [
                ApiKey(name="ops", sha256=hash_key(ALL_KEY), customer_refs="*"),
                ApiKey(name="shop", sha256=hash_key(SCOPED_KEY), customer_refs=[scoped_ref]),
            ],
            "api_lookup_max_failures": 3,
            **overrides,
        }
    )
    worker = WorkerProcess(settings, tmp / "worker.log")
    worker.start()
    engine = NativeEngine(url)
    try:
        publish(simulation, Publisher(settings, AvroCodec()))
        wait_drained(settings, timeout=180, alive=worker.alive)
        yield settings, simulation, engine, settings.api_base_url
    finally:
        engine.close()
        worker.stop()
        drop_topics(settings)
