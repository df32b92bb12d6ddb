"""The connectors room holds together: every registered format imports and names a mapping file,
every mapping file speaks only the taxonomy, and an unknown format says what is known."""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path

import pytest

import connectors
from connectors import REGISTRY
from tracking.normalize import MAPPINGS_DIR, load_mapping

MAPPING_FILES = sorted(MAPPINGS_DIR.glob("*.csv"))


@pytest.mark.parametrize("payload_format", sorted(REGISTRY))
def test_every_registered_format_imports_with_parse_and_mapping(payload_format: str) -> None:
    module = importlib.import_module(REGISTRY[payload_format])
    assert callable(getattr(module, "parse", None)), f"{module.__name__} has no parse()"
    mapping = getattr(module, "MAPPING", None)
    assert isinstance(mapping, str) and mapping, f"{module.__name__} has no MAPPING name"
    assert (MAPPINGS_DIR / f"{mapping}.csv").is_file(), f"mappings/{mapping}.csv is missing"
    assert connectors.mapping_for(payload_format) == mapping


@pytest.mark.parametrize("path", MAPPING_FILES, ids=lambda path: path.stem)
def test_every_mapping_file_uses_only_taxonomy_values(path: Path) -> None:
    table = load_mapping(path)  # raises MappingError on a status or reason outside the taxonomy
    assert table, f"{path.name} maps no codes"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    codes = [line.split(",", 1)[0].strip().upper() for line in lines[1:]]
    assert len(codes) == len(set(codes)), f"{path.name} lists a code twice"


def test_mapping_files_exist() -> None:
    assert len(MAPPING_FILES) >= 3


def test_unknown_format_lists_the_known_ones() -> None:
    with pytest.raises(connectors.UnknownCarrier) as raised:
        connectors.parse("pigeon-post", b"", connectors.ParseContext("pigeon-post", 0))
    message = str(raised.value)
    assert "pigeon-post" in message
    assert all(name in message for name in connectors.known_formats())


@pytest.mark.parametrize("payload_format", connectors.known_formats())
@pytest.mark.parametrize(
    "payload",
    [b"[" * 100_000, b'{"a": ' + b"9" * 5000 + b"}", b"\xff\xfe\x00", b""],
    ids=["deep-nesting", "huge-integer", "bad-utf8", "empty"],
)
def test_pathological_payloads_raise_parse_error(payload_format: str, payload: bytes) -> None:
    """Inputs too large for the fuzzers to reach: deep nesting and 5,000-digit integers."""
    parse = connectors.parser_for(payload_format)
    with contextlib.suppress(connectors.ParseError):
        parse(payload, connectors.ParseContext(payload_format, 0, "test"))
