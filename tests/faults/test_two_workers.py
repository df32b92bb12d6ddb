"""Two workers on one ClickHouse: the sink runs as its own process (`parcelstream sink`, with
PARCELSTREAM_SINK_IN_WORKER=false in the workers), a second worker joins mid-feed and the
first is killed with -9 later. Its partitions move to the survivor, which replays from the
last commits; ClickHouse must still hold every scan once."""

from __future__ import annotations

import time

import pytest

from pipeline.settings import Settings
from tests.faults.conftest import Fleet
from tests.faults.harness import (
    LagMonitor,
    group_members,
    outcome,
    publish_in_waves,
    wait_members,
)
from tests.faults.record import FaultRecord
from tests.integration.pipeline_run import CLEAN_EXIT
from tools.drain import wait_drained
from tools.simulator import simulate
from tools.workers import free_port

PARCELS = 3000


def _without_sink(settings: Settings) -> Settings:
    # Validated, not copied: once Settings has the field, this sets it and the child gets it
    # through tools.workers.env_for; until then the field is ignored and the environment
    # variable (set by the test) is what a child would read.
    return Settings.model_validate({**settings.model_dump(), "sink_in_worker": False})


@pytest.mark.timeout(600)
def test_second_worker_joins_mid_feed_and_the_first_is_killed(
    fault_settings: Settings,
    fleet: Fleet,
    fault_record: FaultRecord,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PARCELSTREAM_SINK_IN_WORKER", "false")
    settings, simulation = _without_sink(fault_settings), simulate(PARCELS, seed=94)
    # Each worker serves its own web and API ports and keeps its own state dir.
    second = settings.model_copy(
        update={"web_port": free_port(), "api_port": free_port(),
                "state_dir": settings.state_dir.parent / "state-2"}
    )  # fmt: skip
    fault_record.fault = "2 workers + sink process: one joins mid-feed, the other kill -9"
    sink = fleet.sink(settings)
    workers = [fleet.worker(settings, "worker-1")]
    killed: list[float] = []

    with LagMonitor(settings, fault_record):

        def join() -> None:
            alone = group_members(settings, settings.app_id)
            workers.append(fleet.worker(second, "worker-2"))
            # "Ready" only says the group is stable, which it was before the second joined.
            wait_members(settings, settings.app_id, more_than=alone)

        def kill_first() -> None:
            time.sleep(2.0)  # both busy with wave 2
            workers[0].kill()
            killed.append(time.monotonic())

        publish_in_waves(simulation, settings, [join, kill_first, lambda: None])
        wait_drained(settings, timeout=300, alive=lambda: workers[1].alive() and sink.alive())
        fault_record.recover_seconds = time.monotonic() - killed[0]
    survivor_code, sink_code = workers[1].stop(), sink.stop()
    fault_record.outcome = result = outcome(settings, simulation)

    assert survivor_code in CLEAN_EXIT and sink_code in CLEAN_EXIT, (survivor_code, sink_code)
    assert result.exact, result
    assert result.dead_letters == simulation.manifest.malformed_payloads, result
