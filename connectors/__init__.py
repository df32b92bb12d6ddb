"""Carrier connectors: carrier bytes in, `CarrierScan`s out. Pure parsing, no Kafka.

One registry maps a carrier format name to the module that parses it; modules are imported on
first use so a broken or heavy parser never slows down the others.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Protocol

from connectors.native import use_compiled

use_compiled(__name__, __path__)  # the mypyc-compiled modules, when fresh (connectors/native.py)

from connectors.base import (  # noqa: E402
    ETA_KINDS,
    CarrierEta,
    CarrierScan,
    ConnectorError,
    ParseContext,
    ParseError,
    ParseResult,
    Reject,
    UnknownCarrier,
    scan_event_id,
)

__all__ = [
    "ETA_KINDS",
    "CarrierEta",
    "CarrierScan",
    "ConnectorError",
    "ParseContext",
    "ParseError",
    "ParseResult",
    "Reject",
    "UnknownCarrier",
    "known_formats",
    "mapping_for",
    "parse",
    "parser_for",
    "scan_event_id",
]

# format name -> module under connectors/ exposing `parse(payload, ctx) -> ParseResult`
# and `MAPPING` (the mapping file's stem under connectors/mappings/).
REGISTRY: dict[str, str] = {
    "generic": "connectors.generic_json",
    "fedex": "connectors.fedex",
    "ups": "connectors.ups",
    "usps": "connectors.usps",
    "dhl": "connectors.dhl",
    "canadapost": "connectors.canadapost",
    "postnl": "connectors.postnl",
    "x12_214": "connectors.x12_214",
    "csv": "connectors.csv_drop",
    "upu_edi": "connectors.upu_edi",
}


class Parser(Protocol):
    def __call__(self, payload: bytes, ctx: ParseContext) -> ParseResult: ...


_loaded: dict[str, ModuleType] = {}


def known_formats() -> list[str]:
    return sorted(REGISTRY)


def _module(payload_format: str) -> ModuleType:
    module = _loaded.get(payload_format)
    if module is None:
        try:
            dotted = REGISTRY[payload_format]
        except KeyError:
            raise UnknownCarrier(
                f"no connector for format {payload_format!r}; known: {', '.join(known_formats())}"
            ) from None
        module = _loaded[payload_format] = importlib.import_module(dotted)
    return module


def mapping_for(payload_format: str) -> str:
    """Name of the mapping file (connectors/mappings/<name>.csv) for this format's codes."""
    return str(getattr(_module(payload_format), "MAPPING", payload_format))


def parser_for(payload_format: str) -> Parser:
    return _module(payload_format).parse  # type: ignore[no-any-return]


def parse(payload_format: str, payload: bytes, ctx: ParseContext) -> ParseResult:
    """Parse with the registered connector; anything but ParseError is a connector bug and is
    reported as one so that a single odd payload can never stop a worker."""
    parser = parser_for(payload_format)
    try:
        return parser(payload, ctx)
    except ParseError:
        raise
    except Exception as exc:  # noqa: BLE001 - the contract: nothing but ParseError escapes
        raise ParseError(f"{payload_format} parser failed: {type(exc).__name__}: {exc}") from exc
