from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`parcelstream ...` as a user runs it: a fresh interpreter, this checkout's packages."""
    command = [sys.executable, "-m", "pipeline.cli", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_detect_prints_the_ranked_carriers_of_each_number() -> None:
    done = _cli("detect", "1z999aa10123456784", "RR473124829GB")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "1Z999AA10123456784\tups (1z, check ok, 0.99)",
        "RR473124829GB\tupu_s10 (s10 GB, check ok, 0.90)",
    ]


def test_detect_exit_codes_say_unknown_and_usage() -> None:
    unknown = _cli("detect", "1Z999AA10123456784", "nothing-here")
    assert unknown.returncode == 1
    # every number gets its line, normalized (dashes dropped); one without a format sets exit 1
    assert unknown.stdout.splitlines()[1] == "NOTHINGHERE\tunknown format"
    usage = _cli("detect")
    assert (usage.returncode, usage.stdout) == (2, "")
    assert "usage: parcelstream detect" in usage.stderr
