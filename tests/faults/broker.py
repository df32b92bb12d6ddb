"""A Kafka broker of the fault suite's own, which a test may stop and start again.

Why not the shared broker on 9092: a broker outage stops the broker, and other runs (a
developer's worker, the lead's integration tests, CI's other jobs) use that one. This broker
runs the same jars and server.properties through ``deploy/kafka/kafka.sh up DIR PORT``, on free
ports with a temporary data dir that survives a stop, so a restarted broker still holds every
topic, message and committed offset, as a restarted production broker would.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tools.workers import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "kafka.sh"
HOST = "127.0.0.1"


def _run(*args: str, timeout: float) -> None:
    """kafka.sh with its output in the error: a broker that cannot start fails loudly."""
    try:
        proc = subprocess.run(
            ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"kafka.sh {' '.join(args)} timed out after {timeout} s") from e
    if proc.returncode != 0:
        raise RuntimeError(
            f"kafka.sh {' '.join(args)} failed (exit {proc.returncode}):\n"
            f"{proc.stdout}{proc.stderr}"
        )


@dataclass(frozen=True)
class FaultBroker:
    port: int
    controller_port: int
    data_dir: Path

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> None:
        # `up` waits up to 60 s for metadata itself; the margin covers formatting and the JVM.
        _run("up", str(self.data_dir), str(self.port), str(self.controller_port), timeout=180)

    def stop(self) -> None:
        """A clean broker shutdown (SIGTERM, then SIGKILL after 30 s); data stays."""
        _run("down", str(self.data_dir), timeout=90)


@contextmanager
def running_fault_broker() -> Iterator[FaultBroker]:
    data_dir = Path(tempfile.mkdtemp(prefix="parcelstream-fault-kafka-"))
    port = free_port()
    while (controller := free_port()) == port:  # the kernel may hand out a port twice
        pass
    broker = FaultBroker(port, controller, data_dir)
    try:
        broker.start()
        yield broker
    finally:
        try:
            broker.stop()  # no-op when `up` never wrote a pid file
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
