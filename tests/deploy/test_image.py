"""The Dockerfile: hadolint finds nothing, and the image's conventions hold (multi-stage, the
package from its wheel, a non-root user, one entry point whose sub-commands exist)."""

from __future__ import annotations

import re

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
