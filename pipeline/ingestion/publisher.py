"""Wraps carrier bytes into RawCarrierEvent envelopes and publishes them, losslessly.

Ingestion (webhooks, file drops, pollers, the simulator) never transforms the payload: the
original bytes travel in the envelope and parsing happens in the pipeline, so a parser fix can
be replayed over everything ever received.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from pipeline.codec import AvroCodec
from pipeline.kafka_io import BatchProducer
from pipeline.settings import Settings
from pipeline.topics import RAW, SHIPMENTS


def raw_event_id(carrier: str, payload_format: str, payload: bytes) -> str:
    """Same bytes from the same carrier = same id, so redelivered payloads are recognisable."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{carrier}\x1f{payload_format}\x1f".encode())
    digest.update(payload)
    return digest.hexdigest()


def raw_envelope(
    carrier: str,
    payload_format: str,
    payload: bytes,
    source: str,
    tracking_number: str | None = None,
    metadata: dict[str, str] | None = None,
    received_at_ms: int | None = None,
) -> dict[str, Any]:
    return {
        "event_id": raw_event_id(carrier, payload_format, payload),
        "carrier": carrier,
        "source": source,
        "tracking_number": tracking_number,
        "received_at": received_at_ms if received_at_ms is not None else int(time.time() * 1000),
        "payload_format": payload_format,
        "payload": payload,
        "metadata": metadata or {},
    }


class Publisher:
    """Produces envelopes and shipment registrations to their topics."""

    def __init__(self, settings: Settings, codec: AvroCodec, producer: BatchProducer | None = None):
        self._codec = codec
        self._producer = producer or BatchProducer(settings.kafka_bootstrap)
        self._raw_topic = RAW.topic(settings)
        self._shipments_topic = SHIPMENTS.topic(settings)

    def publish_raw(self, envelope: dict[str, Any]) -> None:
        key = envelope["tracking_number"] or envelope["event_id"]
        self._producer.produce(
            self._raw_topic, self._codec.encode("RawCarrierEvent", envelope), key=key.encode()
        )

    def publish_raw_bytes(self, value: bytes, key: bytes | None = None) -> None:
        """For tests and replays: put exactly these bytes on the raw topic."""
        self._producer.produce(self._raw_topic, value, key=key)

    def publish_shipment(self, shipment: dict[str, Any]) -> None:
        self._producer.produce(
            self._shipments_topic,
            self._codec.encode("ShipmentRegistered", shipment),
            key=shipment["tracking_number"].encode(),
        )

    def flush(self) -> None:
        self._producer.flush()
