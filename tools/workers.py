"""Start and stop a Faust worker as a child process (demo, bench and integration tests).

A child process, not a thread: it is exactly what `parcelstream worker` runs in production,
and chDB allows one session per process, so the parent reads ClickHouse after the child ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient

from pipeline.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _plain(value: object) -> str:
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if getter else value)


def fresh_run(base: Settings, kind: str, **overrides: object) -> tuple[str, Settings]:
    """Settings for a self-contained run (demo, bench): its own topics, consumer group,
    ClickHouse database and web port, so runs never read each other's data."""
    run_id = f"{kind}{int(time.time())}"
    settings = base.model_copy(
        update={
            "topic_prefix": f"{base.topic_prefix}-{run_id}",
            "app_id": f"{base.app_id}-{run_id}",
            "clickhouse_database": f"{base.clickhouse_database}_{run_id}",
            "web_port": free_port(),
            "api_port": free_port(),
            **overrides,
        }
    )
    return run_id, settings


def env_for(settings: Settings) -> dict[str, str]:
    """The environment that makes a child build exactly these settings."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # a killed worker's log keeps its last lines
    for name, value in settings.model_dump().items():
        if value is None:
            env.pop(f"PARCELSTREAM_{name.upper()}", None)
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        elif isinstance(value, dict | list):  # pydantic-settings reads complex values as JSON
            value = json.dumps(value, default=_plain)
        env[f"PARCELSTREAM_{name.upper()}"] = str(value)
    return env


def _group_stats(group: int) -> list[tuple[int, str, list[str]]]:
    """(pid, name, the stat fields after the name) of each live process of a process group
    (zombies excluded: they hold no files, and whether they get reaped depends on this
    machine's init)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = tail.split()
        if int(fields[2]) == group and fields[0] != "Z":
            members.append((int(stat.parent.name), head.split("(", 1)[1], fields))
    return members


def _live_members(group: int) -> list[int]:
    return [pid for pid, _, _ in _group_stats(group)]


def cpu_seconds(group: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each live process of a process group, by
    process name (the worker's children name themselves, see `pipeline.health.name_process`);
    the main process is "main"."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for pid, name, fields in _group_stats(group):
        label = "main" if pid == group else name
        used[label] = used.get(label, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return used


def _kill_group(group: int, timeout: float = 15.0) -> None:
    """SIGKILL every process of the worker's group and wait until none is running: the
    runtime child holds the chDB directory, and SIGKILL only takes effect asynchronously."""
    deadline = time.monotonic() + timeout
    while members := _live_members(group):
        for pid in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise RuntimeError(f"worker processes {members} still running after {timeout:.0f}s")
        time.sleep(0.05)


class WorkerProcess:
    """`parcelstream worker` by default; `command=("sink",)` with `group=<app_id>-sink` runs
    another consumer of the project (ready once that group is stable)."""

    def __init__(
        self,
        settings: Settings,
        log_path: Path,
        command: tuple[str, ...] = ("worker",),
        group: str | None = None,
    ) -> None:
        self.settings = settings
        self.log_path = log_path
        self.command = command
        self.group = group or settings.app_id
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The main process's pid (= its process group), while started."""
        return self._proc.pid if self._proc is not None else None

    def start(self, ready_timeout: float = 90.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", *self.command],
            env=env_for(self.settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
            start_new_session=True,  # its own process group: kill() takes the runtime child too
        )
        self.wait_ready(ready_timeout)

    def wait_ready(self, timeout: float) -> None:
        """Ready = its consumer group is stable with members (partitions assigned)."""
        admin = AdminClient({"bootstrap.servers": self.settings.kafka_bootstrap})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(
                    f"worker exited with {self._proc.returncode}; see {self.log_path}"
                )
            futures = admin.describe_consumer_groups([self.group], request_timeout=5)
            try:
                group = futures[self.group].result()
                if group.members and str(group.state).endswith("STABLE"):
                    return
            except Exception:  # noqa: BLE001 - group not there yet
                pass
            time.sleep(0.5)
        raise RuntimeError(f"worker not ready within {timeout:.0f}s; see {self.log_path}")

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 60.0) -> int:
        if self._proc is None:
            return 0
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        # The runtime child exits with its parent; make sure, since the caller may open chDB next.
        _kill_group(self._proc.pid)
        code = self._proc.returncode
        self._proc = None
        return code

    def kill(self) -> None:
        """Crash it (no clean shutdown), as a failing machine would."""
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
            _kill_group(self._proc.pid)
        self._proc = None
