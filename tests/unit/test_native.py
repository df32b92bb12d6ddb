"""The compiled core (connectors/native.py, deploy/compile.py): used while it matches the
sources, never when one of them changed, and what the suite runs on after `make setup`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import connectors.base
import tracking.parcels
from connectors.native import MANIFEST, compiled, native_dir

BUILD = native_dir()
ROOT = Path(__file__).resolve().parents[2]


def _loaded_from(build: Path | None, native: str = "1") -> str:
    """Where a fresh interpreter imports tracking.parcels from, with this build directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARCELSTREAM_NATIVE")}
    env["PARCELSTREAM_NATIVE"] = native
    if build is not None:
        env["PARCELSTREAM_NATIVE_DIR"] = str(build)
    code = "import tracking.parcels, connectors.base; print(tracking.parcels.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


built = pytest.mark.skipif(
    not (BUILD / MANIFEST).exists(), reason="no compiled core (make compile builds it)"
)


@built
def test_the_suite_runs_on_the_compiled_core() -> None:
    if os.environ.get("PARCELSTREAM_NATIVE") == "0":
        pytest.skip("PARCELSTREAM_NATIVE=0 asks for pure Python")
    assert compiled(tracking.parcels) and compiled(connectors.base), (
        "the compiled core is stale: a source changed since it was built (make compile)"
    )


@built
@pytest.mark.parametrize("edited", ["tracking/state.py", "tracking/records.py"])
def test_a_changed_source_runs_as_python(tmp_path: Path, edited: str) -> None:
    """A compiled module, or one the compiled ones import but keep in Python."""
    build = tmp_path / "mypyc"
    shutil.copytree(BUILD, build)
    assert _loaded_from(build).endswith(".so")
    manifest = json.loads((build / MANIFEST).read_text())
    assert edited in manifest["sources"]
    manifest["sources"][edited] = "0" * 32  # as if it were edited since the build
    (build / MANIFEST).write_text(json.dumps(manifest))
    assert _loaded_from(build) == str(ROOT / "tracking" / "parcels.py")


@built
def test_pure_python_on_request() -> None:
    assert _loaded_from(BUILD, native="0") == str(ROOT / "tracking" / "parcels.py")


def test_no_build_is_pure_python(tmp_path: Path) -> None:
    assert _loaded_from(tmp_path / "absent") == str(ROOT / "tracking" / "parcels.py")
