"""Two workers, each owning half the partitions and holding only their stores: whichever
worker a lookup reaches answers it, reading a partition it does not own from its owner."""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path

import pytest
from pydantic import SecretStr

from pipeline.api.auth import hash_key
from pipeline.api.config import ApiKey
from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import Publisher
from pipeline.settings import Settings
from pipeline.topics import EVENTS, ORDER_UPDATES, PARCEL_STATE, RAW, SHIPMENTS, partition_for
from tests.faults.harness import wait_members
from tests.lookup_run import ALL_KEY, call
from tools.drain import group_lag
from tools.simulator import publish, simulate
from tools.workers import WorkerProcess, free_port

pytestmark = pytest.mark.integration


def _drained(settings: Settings, timeout: float = 180) -> None:
    topics = [RAW, EVENTS, SHIPMENTS, ORDER_UPDATES]
    names = [spec.topic(settings) for spec in topics]
    until, zero = time.monotonic() + timeout, 0
    while zero < 2:  # twice in a row: a stage may have just written to a later one
        assert time.monotonic() < until, "the workers did not drain their input"
        zero = zero + 1 if group_lag(settings, names) == 0 else 0
        time.sleep(1.0)


def test_any_worker_answers_for_any_parcel(run_settings: Settings, tmp_path: Path) -> None:
    shared = run_settings.model_copy(
        update={
            "sink_in_worker": False,  # no ClickHouse here: the lookups read the state stores
            "api_link_secret": SecretStr("a-secret-both-workers-share"),
            "api_keys": [ApiKey(name="ops", sha256=hash_key(ALL_KEY))],
        }
    )
    second = shared.model_copy(
        update={"web_port": free_port(), "api_port": free_port(),
                "state_dir": tmp_path / "state-2"}
    )  # fmt: skip
    workers = [
        WorkerProcess(shared, tmp_path / "w1.log"),
        WorkerProcess(second, tmp_path / "w2.log"),
    ]
    for worker in workers:
        worker.start()
    try:
        wait_members(shared, shared.app_id, more_than=1)  # both own partitions before any data
        simulation = simulate(40, seed=31)
        publish(simulation, Publisher(shared, AvroCodec()))
        _drained(shared)
        time.sleep(0.5)  # the last batch's store write follows its commit by a moment

        topic = PARCEL_STATE.topic(shared)
        held = [
            {p.name for p in (s.stores_dir / topic).iterdir()} if (s.stores_dir / topic).exists()
            else set()
            for s in (shared, second)
        ]  # fmt: skip
        assert held[0] and held[1] and not held[0] & held[1], f"stores split: {held}"

        for shipment in simulation.shipments:
            number = shipment["tracking_number"]
            answers = [
                call(f"{s.api_base_url}/v1/parcels/{number}", ALL_KEY) for s in (shared, second)
            ]
            assert [a.status for a in answers] == [200, 200], (number, answers[0].body)
            first, other = (a.json() for a in answers)
            first.pop("tracking_link"), other.pop("tracking_link")
            assert first == other, number
            order = urllib.parse.quote(shipment["order_id"])
            orders = [
                call(f"{s.api_base_url}/v1/orders/{order}", ALL_KEY) for s in (shared, second)
            ]
            assert [o.status for o in orders] == [200, 200]
        ref = urllib.parse.quote(simulation.shipments[0]["customer_ref"])
        found = [
            {o["order_id"] for o in call(f"{s.api_base_url}/v1/orders?customer_ref={ref}",
                                         ALL_KEY).json()["orders"]}
            for s in (shared, second)
        ]  # fmt: skip
        expected = {
            s["order_id"] for s in simulation.shipments
            if s["customer_ref"] == simulation.shipments[0]["customer_ref"]
        }  # fmt: skip
        assert found == [expected, expected]

        # The second dies; until the group notices (the session timeout, 30 s), its partitions
        # are still its own: the first says so with a 503 a client may retry, not a 500.
        held_by_second = next(
            s["tracking_number"] for s in simulation.shipments
            if str(partition_for(s["tracking_number"], shared.partitions)) in held[1]
        )  # fmt: skip
        workers[1].kill()
        gone = call(f"{shared.api_base_url}/v1/parcels/{held_by_second}", ALL_KEY)
        assert gone.status == 503 and gone.json()["error"] == "owner_unavailable", gone.body
    finally:
        for worker in workers:
            worker.stop()
