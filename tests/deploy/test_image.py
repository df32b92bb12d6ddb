"""The Dockerfile: hadolint finds nothing, and the image's conventions hold (multi-stage, the
package from its wheel, a non-root user, one entry point whose sub-commands exist)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.deploy.tooling import ROOT, run, unknown_settings

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    return re.findall(rf"^{name}\s+(.+)$", DOCKERFILE, flags=re.MULTILINE)


def test_hadolint_is_clean() -> None:
    run("hadolint", "--failure-threshold", "info", str(ROOT / "Dockerfile"))


def test_image_conventions() -> None:
    stages = instructions("FROM")
    assert len(stages) >= 2 and all("-slim" in stage for stage in stages), stages
    assert "pip install" in DOCKERFILE and "/wheels/parcelstream-*.whl" in DOCKERFILE
    user = instructions("USER")[-1]
    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user), f"non-root numeric uid:gid, not {user}"
    assert instructions("ENTRYPOINT") == ['["parcelstream"]']
    assert not unknown_settings(re.findall(r"\b(PARCELSTREAM_[A-Z_]+)=", DOCKERFILE))


def test_dockerignore_lets_in_what_the_build_copies() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = {
        src for line in instructions("COPY") if "--from" not in line for src in line.split()[:-1]
    }
    assert copied <= allowed, copied - allowed


def test_the_entry_points_sub_commands_exist(capsys: pytest.CaptureFixture[str]) -> None:
    """What compose and the chart run by default: `parcelstream worker|sink|webhook`."""
    from pipeline import cli

    with pytest.raises(SystemExit):
        cli.main(["no-such-command"])
    choices = capsys.readouterr().err
    for command in ("worker", "sink", "webhook", "topics", "migrate"):
        assert f"'{command}'" in choices, (command, choices)


SMOKE = """
import pathlib, sys
import pipeline, tracking, connectors
site = pathlib.Path(sys.argv[1]).resolve()
for package in (pipeline, tracking, connectors):
    assert site in pathlib.Path(package.__file__).resolve().parents, package.__file__
from pipeline.codec import AvroCodec
from pipeline.ingestion.publisher import raw_envelope
from pipeline.notification_rules import load_rules
from pipeline.settings import Settings
from tracking.normalize import Normalizer, normalize_payload
codec = AvroCodec()
body = pathlib.Path(sys.argv[2]).read_bytes()
envelope = raw_envelope("", "generic", body, source="smoke")
_, raw = codec.decode(codec.encode("RawCarrierEvent", envelope))
parsed = normalize_payload(raw, Normalizer())
assert parsed.events, "no scans"
load_rules(Settings().notification_rules_file)
print(len(parsed.events), "scans")
"""


def test_the_wheel_the_image_installs_works_on_its_own(tmp_path: Path) -> None:
    """Build the wheel from exactly what the Dockerfile's build stage copies, unpack it with
    the files the runtime stage adds beside it, and run a payload through codec, parser,
    mappings and notification rules from there alone: package data the wheel lacks would
    break the image the same way."""
    context, site = tmp_path / "context", tmp_path / "site"
    context.mkdir()
    for line in instructions("COPY"):
        if "--from" in line:
            continue
        *sources, target = line.split()
        for source in sources:
            if "site-packages/" in target:  # the runtime stage's additions to the install
                destination = site / target.split("site-packages/", 1)[1]
            else:
                destination = context / (source if target.endswith("/") else target)
            copy = shutil.copytree if (ROOT / source).is_dir() else shutil.copyfile
            destination.parent.mkdir(parents=True, exist_ok=True)
            copy(ROOT / source, destination)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir",
         str(tmp_path / "dist"), str(context)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("parcelstream-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    fixture = ROOT / "tests" / "fixtures" / "generic" / "bundle.json"
    result = subprocess.run(
        [sys.executable, "-c", SMOKE, str(site), str(fixture)],  # the wheel's dir first
        cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": os.environ.get("PATH", "")},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0 and "scans" in result.stdout, result.stderr[-3000:]
