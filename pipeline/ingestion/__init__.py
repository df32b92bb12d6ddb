"""The three ways carrier bytes enter the pipeline, all ending in RawCarrierEvent envelopes
with the original bytes on the raw topic:

    webhook  carriers push:    POST /webhooks/{format}            (aiohttp receiver)
    files    carriers drop:    EDI/CSV/JSON/XML files, folders    (resumable importer)
    poller   we ask carriers:  their tracking APIs                (rate-limited, cursored)

Each validates with the carrier's connector before accepting, dead-letters what does not
parse, and calls something accepted only after Kafka acknowledged it.
"""

from __future__ import annotations

from pipeline.ingestion.common import (
    ConnectorMissing,
    DeadLetters,
    IngestionError,
    KafkaUnavailable,
)
from pipeline.ingestion.files import ImportSummary, import_paths
from pipeline.ingestion.poller import (
    ApiRequest,
    ApiResponse,
    CarrierApi,
    Poller,
    PollError,
    TokenBucket,
)
from pipeline.ingestion.webhook import build_app, run, sign

__all__ = [
    "ApiRequest",
    "ApiResponse",
    "CarrierApi",
    "ConnectorMissing",
    "DeadLetters",
    "ImportSummary",
    "IngestionError",
    "KafkaUnavailable",
    "PollError",
    "Poller",
    "TokenBucket",
    "build_app",
    "import_paths",
    "run",
    "sign",
]
