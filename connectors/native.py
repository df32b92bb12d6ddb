"""The compiled core: `connectors` and `tracking` compiled by mypyc, used when it is fresh.

`make setup` compiles both packages' modules (but their `__init__` and this one) into one
mypyc group under `.build/mypyc/` beside the packages (`deploy/compile.py`), with a manifest
of the sources' hashes. Each package's `__init__` calls `use_compiled` first: when every
compiled source still hashes as built, the compiled directory goes before the package's own on
its `__path__`, so its modules import compiled; otherwise the package stays pure Python. An
edited source therefore never runs stale machine code: it runs as Python until the next
`make compile`. The same code is the source of truth either way; the suite runs compiled.

Environment: `PARCELSTREAM_NATIVE=0` forces pure Python (debuggers, coverage);
`PARCELSTREAM_NATIVE_DIR` names another build directory (the image keeps it beside the
installed packages).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

GROUP = "parcelstream_core"  # the mypyc group: one shared library for both packages
MANIFEST = "manifest.json"
# The package's data files (mappings/, zones/) live here, not beside a compiled module.
PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent  # where the packages are

_checked: dict[str, Path | None] = {}  # the one answer per process, once checked


def native_dir() -> Path:
    return Path(os.environ.get("PARCELSTREAM_NATIVE_DIR") or ROOT / ".build" / "mypyc")


def source_hash(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


def compiled_dir() -> Path | None:
    """The build directory when it matches the sources (checked once per process), else None."""
    if GROUP not in _checked:
        _checked[GROUP] = _fresh_build()
    return _checked[GROUP]


def _fresh_build() -> Path | None:
    if os.environ.get("PARCELSTREAM_NATIVE", "1") == "0":
        return None
    build = native_dir()
    try:
        manifest = json.loads((build / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    sources = manifest.get("sources", {})
    fresh = manifest.get("python") == sys.implementation.cache_tag and all(
        (ROOT / name).is_file() and source_hash(ROOT / name) == digest
        for name, digest in sources.items()
    )
    return build if fresh and sources else None


def use_compiled(package: str, path: list[str]) -> bool:
    """Put the package's compiled modules first on its `path` (its `__path__`) when fresh."""
    build = compiled_dir()
    if build is None:
        return False
    if str(build) not in sys.path:
        sys.path.append(str(build))  # the group's shared library is a top-level module
    path.insert(0, str(build / package))
    return True


def compiled(module: object) -> bool:
    """Is this module the compiled one? (For the benchmarks' and tests' reports.)"""
    return str(getattr(module, "__file__", "")).endswith((".so", ".pyd"))
