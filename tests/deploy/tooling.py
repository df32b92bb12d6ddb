"""Where the deployment tests find their tools: installed by `make setup`
(deploy/toolchain.sh: Debian's prometheus and docker-compose, helm in .tools/bin; hadolint
with the Python dev tools). A missing tool fails the test, never skips it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"


def tool(name: str) -> str:
    for folder in (ROOT / ".tools" / "bin", Path(sys.executable).parent):
        if (folder / name).is_file():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; run `make setup` (deploy/toolchain.sh)", False)
    return found


def run(*args: str, cwd: Path | None = None, timeout: float = 120) -> str:
    """Run a tool; its standard output, or the test fails with all it said."""
    result = subprocess.run(
        [tool(args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n"
                    f"{result.stderr}", False)  # fmt: skip
    return result.stdout


METRIC = re.compile(r"\bparcelstream_[a-z_]+\b")


def queried_metrics() -> set[str]:
    """Every parcelstream metric (sample name) the alert rules and the dashboard query."""
    import json

    import yaml

    exprs = [
        rule["expr"]
        for group in yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    ]
    dashboard = json.loads((DEPLOY / "grafana" / "parcelstream.json").read_text())
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return {name for expr in exprs for name in METRIC.findall(expr)}


def unknown_settings(names: Iterable[str]) -> list[str]:
    """The PARCELSTREAM_* names that are no field of pipeline.settings.Settings (a typo there
    would be silently ignored by the deployment)."""
    from pipeline.settings import Settings

    known = {f"PARCELSTREAM_{field.upper()}" for field in Settings.model_fields}
    return sorted(n for n in names if n.startswith("PARCELSTREAM_") and n not in known)
