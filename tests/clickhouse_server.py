"""Start a throwaway real ClickHouse server for tests and local use.

Why a real server: the pipeline writes to ClickHouse with server-side DDL (ReplacingMergeTree,
materialized views, ...) that only a real server validates. Why a throwaway one: each run gets its
own data dir and free port, so tests never touch (or depend on) a developer's or CI's server.

All process handling lives in ``deploy/clickhouse/clickhouse.sh``; this module only picks the
port and temp dir and guarantees teardown. It imports nothing from pytest, so scripts can use it::

    from tests.clickhouse_server import running_clickhouse_server
    with running_clickhouse_server() as ch:
        Client(ch.host, port=ch.port).execute("SELECT 1")
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "deploy" / "clickhouse" / "clickhouse.sh"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class ClickHouseServer:
    """Where the running server listens (native protocol) and keeps its files."""

    host: str
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        """clickhouse-driver URL (``Client.from_url``) for the ``default`` database."""
        return f"clickhouse://{self.host}:{self.port}/default"

    def stop(self) -> None:
        """Stop the server (an outage); its data dir stays for `start`."""
        _run("down", str(self.data_dir), timeout=60)

    def start(self) -> None:
        """Start the same server again: same data dir, same port, so clients reconnect to it."""
        _run("up", str(self.data_dir), str(self.port), timeout=120)


def _free_port() -> int:
    """Ask the kernel for an unused port; small race window, but `up` refuses a busy port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _run(*args: str, timeout: float) -> None:
    """Run clickhouse.sh; turn any failure into a RuntimeError carrying its output.

    RuntimeError, never a skip: a missing server must fail the suite loudly, not hide tests.
    """
    try:
        proc = subprocess.run(
            ["bash", str(SCRIPT), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"clickhouse.sh {' '.join(args)} timed out after {timeout} s") from e
    if proc.returncode != 0:
        raise RuntimeError(
            f"clickhouse.sh {' '.join(args)} failed (exit {proc.returncode}):\n"
            f"{proc.stdout}{proc.stderr}"
        )


@contextmanager
def running_clickhouse_server() -> Iterator[ClickHouseServer]:
    """Install (if needed) and start a ClickHouse server; stop it and delete its data on exit.

    Raises RuntimeError with the script's output (incl. the server log tail) if it cannot start.
    """
    _run("install", timeout=900)  # apt-get on a fresh CI machine can be slow
    data_dir = Path(tempfile.mkdtemp(prefix="parcelstream-clickhouse-"))
    try:
        port = _free_port()
        try:
            # `up` waits up to 60 s itself; the extra margin only guards against a hung script.
            _run("up", str(data_dir), str(port), timeout=120)
            yield ClickHouseServer(host=HOST, port=port, data_dir=data_dir)
        finally:
            _run("down", str(data_dir), timeout=60)  # no-op when `up` never wrote a pid file
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
