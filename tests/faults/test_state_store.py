"""The parcel stage's local store across kill -9: a worker restarted with its store intact
replays only the changelog's tail (its log says which offsets); one whose store was deleted
restores every partition from the changelog. Either way ClickHouse ends up exact."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from pipeline.settings import Settings
from tests.faults.conftest import Fleet
from tests.faults.harness import outcome, publish_in_waves
from tests.faults.record import FaultRecord
from tests.integration.pipeline_run import CLEAN_EXIT
from tools.drain import wait_drained
from tools.simulator import simulate

PARCELS = 2000
RECOVERED = re.compile(
    r"recovered (?P<topic>\S+)\[(?P<partition>\d+)\]: replayed (?P<messages>\d+) changelog "
    r"messages \(offsets (?P<start>\d+)\.\.(?P<end>\d+)\)"
)


def recoveries(log: Path) -> list[dict[str, int]]:
    return [
        {k: int(v) for k, v in m.groupdict().items() if k != "topic"}
        for m in RECOVERED.finditer(log.read_text(errors="replace"))
    ]


@pytest.mark.timeout(600)
def test_a_killed_worker_restarts_from_its_store_then_from_the_changelog(
    fault_settings: Settings, fleet: Fleet, fault_record: FaultRecord
) -> None:
    settings, simulation = fault_settings, simulate(PARCELS, seed=95)
    fault_record.fault = "kill -9, restart on the intact store; kill -9, store deleted, restart"
    workers = [fleet.worker(settings, "worker-1")]
    killed: list[float] = []

    def kill_and_keep_the_store() -> None:
        wait_drained(settings, timeout=180, alive=workers[-1].alive)
        workers[-1].kill()
        workers.append(fleet.worker(settings, "worker-2"))

    def kill_and_delete_the_store() -> None:
        deadline = time.monotonic() + 60
        while len(recoveries(workers[1].log_path)) < settings.partitions:
            assert time.monotonic() < deadline, "worker-2 never recovered its partitions"
            time.sleep(0.2)
        time.sleep(1.0)  # mid-wave
        workers[-1].kill()
        killed.append(time.monotonic())
        shutil.rmtree(settings.stores_dir)
        workers.append(fleet.worker(settings, "worker-3"))

    publish_in_waves(simulation, settings, [kill_and_keep_the_store, kill_and_delete_the_store,
                                            lambda: None])  # fmt: skip
    wait_drained(settings, timeout=300, alive=workers[-1].alive)
    fault_record.recover_seconds = time.monotonic() - killed[0]
    code = workers[-1].stop()
    fault_record.outcome = result = outcome(settings, simulation)
    assert code in CLEAN_EXIT, code
    assert result.exact, result

    intact = recoveries(workers[1].log_path)
    assert intact and all(r["start"] > 0 for r in intact), intact
    assert sum(r["messages"] for r in intact) < sum(r["end"] for r in intact) / 10, (
        "a store that was intact replays only the tail",
        intact,
    )
    deleted = recoveries(workers[2].log_path)
    first = {}
    for r in deleted:
        first.setdefault(r["partition"], r)
    assert first and all(r["start"] == 0 and r["messages"] > 0 for r in first.values()), deleted
