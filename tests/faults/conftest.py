"""Fixtures of the fault suite: its own broker (one per session, stopped and started by the
broker-outage test), the session's ClickHouse server (tests/conftest.py; stopped and started
by the ClickHouse-outage tests), fresh names per test, the worker processes a test starts,
and its line in reports/faults.txt.

Everything runs on the fault broker, not on the shared one: the suite's timing must not depend
on what else uses 9092, and an outage here must not be one for anybody else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from pipeline.settings import Settings
from pipeline.topics import ensure_topics
from tests.faults import record
from tests.faults.broker import FaultBroker, running_fault_broker
from tests.faults.harness import sink_group
from tools.workers import WorkerProcess, free_port

_RECORDS = pytest.StashKey[list[str]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.faults)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_OUTCOME] = report.outcome
    return report


_OUTCOME = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(_RECORDS, [])
    if lines:
        terminalreporter.section(f"fault suite ({record.REPORT})")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def fault_broker() -> Iterator[FaultBroker]:
    with running_fault_broker() as broker:
        yield broker


@pytest.fixture(scope="session")
def _fault_report(pytestconfig: pytest.Config) -> list[str]:
    record.start_report()
    return pytestconfig.stash.setdefault(_RECORDS, [])


@pytest.fixture
def fault_record(request: pytest.FixtureRequest, _fault_report: list[str]) -> Iterator[Any]:
    """The test fills it in as it goes; its line is written whatever the test's result."""
    entry = record.FaultRecord(test=request.node.name)
    yield entry
    entry.result = request.node.stash.get(_OUTCOME, "error")
    _fault_report.append(record.append(entry))


@pytest.fixture
def fault_settings(fault_broker: FaultBroker, clickhouse_server: Any, tmp_path: Path) -> Settings:
    """Fresh topics, group and database on the fault broker and the ClickHouse server. A
    short session timeout, so a killed worker's partitions move within seconds."""
    run = uuid.uuid4().hex[:10]
    database = f"fault_{run}"
    url = f"clickhouse://{clickhouse_server.host}:{clickhouse_server.port}/{database}"
    settings = Settings(
        kafka_bootstrap=fault_broker.bootstrap,
        topic_prefix=f"fault-{run}",
        app_id=f"fault-{run}",
        state_dir=tmp_path / "state",
        chdb_path=tmp_path / "chdb",
        clickhouse_url=SecretStr(url),
        clickhouse_database=database,
        web_port=free_port(),
        api_port=free_port(),
        batch_within=0.2,
        session_timeout=6.0,
    )
    ensure_topics(settings)
    return settings


class Fleet:
    """The processes a test starts; whatever is still running at teardown is killed, so a
    failed test never leaves a worker consuming into the next one."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[WorkerProcess] = []

    def _start(self, process: WorkerProcess, ready_timeout: float) -> WorkerProcess:
        self.started.append(process)
        process.start(ready_timeout)
        return process

    def worker(self, settings: Settings, name: str, ready_timeout: float = 90) -> WorkerProcess:
        return self._start(WorkerProcess(settings, self.logs / f"{name}.log"), ready_timeout)

    def sink(self, settings: Settings, name: str = "sink") -> WorkerProcess:
        process = WorkerProcess(
            settings, self.logs / f"{name}.log", command=("sink",), group=sink_group(settings)
        )
        return self._start(process, 90)

    def close(self) -> None:
        for process in self.started:
            if process.alive():
                process.kill()

    def tails(self, lines: int = 25) -> str:
        out = []
        for process in self.started:
            if process.log_path.exists():
                text = process.log_path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {process.log_path} (last {lines} lines)")
                out.extend(text)
        return "\n".join(out)


@pytest.fixture
def fleet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fleet]:
    processes = Fleet(tmp_path / "logs")
    try:
        yield processes
    finally:
        processes.close()
        if request.node.stash.get(_OUTCOME, "error") != "passed":
            print(processes.tails())  # shown with the failure: why the pipeline did what it did
