"""Compile the hot packages (`connectors`, `tracking`) with mypyc: `make compile` (run by
`make setup`). Skips the work when the build already matches the sources.

Why mypyc: the same typed Python stays the only source (no second implementation to keep
equal), and in-process cost per scan fell by ~30% on the bench's data (see the commit). The
output goes to `.build/mypyc/` with a manifest of the sources' hashes; `connectors/native.py`
uses it only while it matches, so an edited module runs as Python until the next compile.

    python deploy/compile.py [--force] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.native import GROUP, MANIFEST, native_dir, source_hash  # noqa: E402

PACKAGES = ("connectors", "tracking")
# Modules that stay Python: the package inits (they choose compiled or not), this choice
# itself, and the records (dataclass_transform and field metadata read at run time).
KEEP_PYTHON = {"__init__.py", "native.py", "records.py"}


def sources() -> list[str]:
    return sorted(
        f"{package}/{path.name}"
        for package in PACKAGES
        for path in (ROOT / package).glob("*.py")
        if path.name not in KEEP_PYTHON
    )


def manifest_for(names: list[str]) -> dict[str, object]:
    """The hashes of every module of the packages, the compiled ones and those they import
    but keep in Python (an edited `tracking/records.py` invalidates the build too)."""
    everything = sorted(
        f"{package}/{path.name}" for package in PACKAGES for path in (ROOT / package).glob("*.py")
    )
    return {
        "python": sys.implementation.cache_tag,
        "compiled": names,
        "sources": {name: source_hash(ROOT / name) for name in everything},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="compile even when up to date")
    parser.add_argument("--out", type=Path, default=native_dir())
    args = parser.parse_args()
    out: Path = args.out.resolve()
    names = sources()
    wanted = manifest_for(names)
    try:
        if not args.force and json.loads((out / MANIFEST).read_text()) == wanted:
            print(f"compile: {out} is up to date ({len(names)} modules)")
            return 0
    except (OSError, ValueError):
        pass

    from mypyc.build import mypycify
    from setuptools import setup

    started = time.monotonic()
    shutil.rmtree(out, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="mypyc-") as work:
        # Built from a scratch directory: setuptools must not read the project's
        # pyproject.toml (it describes the package, not this extension).
        cwd = os.getcwd()
        os.chdir(work)
        try:
            modules = mypycify(
                [str(ROOT / name) for name in names],
                opt_level="3",
                group_name=GROUP,
                target_dir=str(Path(work) / "c"),
            )
            setup(
                name=GROUP,
                ext_modules=modules,
                script_args=[
                    "--quiet",
                    "build_ext",
                    "--build-lib",
                    str(out),
                    "--build-temp",
                    str(Path(work) / "temp"),
                ],
            )
        finally:
            os.chdir(cwd)
    (out / MANIFEST).write_text(json.dumps(wanted, indent=1, sort_keys=True))
    print(f"compile: {len(names)} modules into {out} in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
