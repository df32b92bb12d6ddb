"""Webhook receiver: carriers POST their payloads to `/webhooks/{format}`.

The answer is the contract with the carrier's retry logic, so it is only ever optimistic
about what is durable: 202 is sent after Kafka acknowledged the envelope, 503 (retry later)
when it did not, and a 4xx only for input a retry cannot fix. Bytes that fail validation go to
the dead-letter topic before the 422 is sent, so nothing a carrier sent us is ever lost.

Signing (for formats with a secret in `settings.webhook_secrets`): the carrier sends
`X-Parcelstream-Timestamp: <unix seconds>` and
`X-Parcelstream-Signature: sha256=<hex HMAC-SHA256(secret, "{timestamp}.{raw body}")>`.
The timestamp is inside the MAC and must be within `webhook_tolerance_seconds`, so a captured
request cannot be replayed later (the Stripe/Slack scheme, which carriers' tooling knows).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any

from aiohttp import web

import connectors
from connectors import ParseContext, ParseError, ParseResult
from pipeline.codec import AvroCodec
from pipeline.ingestion.common import (
    KAFKA_PAYLOAD_LIMIT,
    AckedSender,
    ConnectorMissing,
    DeadLetters,
    KafkaUnavailable,
    describe,
    now_ms,
    parse_payload,
)
from pipeline.ingestion.publisher import Publisher, raw_envelope
from pipeline.settings import Settings

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Parcelstream-Timestamp"
SIGNATURE_HEADER = "X-Parcelstream-Signature"

RETRY_LATER = {"Retry-After": "5"}

SETTINGS_KEY = web.AppKey("settings", Settings)
RAW_SENDER_KEY = web.AppKey("raw_sender", AckedSender)
DEAD_SENDER_KEY = web.AppKey("dead_letter_sender", AckedSender)


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The signature header value a carrier must send (used by tests and carrier docs)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def _error(
    status: int, reason: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    return web.json_response({"error": reason, **extra}, status=status, headers=headers)


def verify_signature(
    settings: Settings, payload_format: str, headers: Any, body: bytes, now: float
) -> str:
    """Returns "verified" or "unsigned"; raises HTTPUnauthorized with the reason otherwise."""
    secret = settings.webhook_secrets.get(payload_format)
    if secret is None:
        return "unsigned"
    timestamp, signature = headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
    if not timestamp or not signature:
        raise _unauthorized(f"{payload_format} webhooks must be signed: send {TIMESTAMP_HEADER} "
                            f"and {SIGNATURE_HEADER}")  # fmt: skip
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise _unauthorized(f"{TIMESTAMP_HEADER} must be unix seconds") from None
    tolerance = settings.webhook_tolerance_seconds
    if abs(now - sent_at) > tolerance:
        raise _unauthorized(f"timestamp is {now - sent_at:+.0f}s off; allowed ±{tolerance}s")
    expected = sign(secret.get_secret_value(), timestamp, body)
    # compare_digest: the time taken must not reveal how many leading characters matched.
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise _unauthorized("signature does not match (HMAC-SHA256 of '{timestamp}.{body}')")
    return "verified"


def _unauthorized(reason: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(text=json.dumps({"error": reason}), content_type="application/json")


def _body_limit(settings: Settings) -> int:
    return min(settings.webhook_max_body_bytes, KAFKA_PAYLOAD_LIMIT)


async def receive(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS_KEY]
    payload_format = request.match_info["format"]
    if payload_format not in connectors.REGISTRY:
        return _error(404, f"no webhook for format {payload_format!r}",
                      known=connectors.known_formats())  # fmt: skip
    limit = _body_limit(settings)
    if request.content_length is not None and request.content_length > limit:
        return _error(413, f"body of {request.content_length} bytes exceeds {limit}")
    try:
        body = await request.read()  # aiohttp stops reading at client_max_size
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"body exceeds {limit} bytes")
    if len(body) > limit:
        return _error(413, f"body of {len(body)} bytes exceeds {limit}")
    signature = verify_signature(settings, payload_format, request.headers, body, time.time())

    received_at = now_ms()
    # No carrier in the context: parsers take it from the payload (JSON "carrier", X12 SCAC);
    # the format name would override those, and it names a format, not a carrier.
    ctx = ParseContext("", received_at, "webhook")
    loop = asyncio.get_running_loop()
    try:
        result: ParseResult = await loop.run_in_executor(
            None, parse_payload, payload_format, body, ctx
        )
    except ConnectorMissing as exc:
        return _error(501, str(exc))
    except ParseError as exc:
        return await _reject(request, payload_format, body, exc.reason)

    carrier, tracking_number = describe(result, payload_format)
    envelope = raw_envelope(
        carrier, payload_format, body, "webhook", tracking_number,
        metadata={
            "path": request.path,
            "remote": request.remote or "",
            "signature": signature,
            "content_type": request.headers.get("Content-Type", ""),
        },
        received_at_ms=received_at,
    )  # fmt: skip
    try:
        await request.app[RAW_SENDER_KEY].send(envelope)
    except KafkaUnavailable as exc:
        log.error("webhook %s: not acknowledged by Kafka: %s", payload_format, exc)
        return _error(503, "could not store the payload, retry later", RETRY_LATER)
    return web.json_response(
        {"accepted": envelope["event_id"], "scans": len(result.scans),
         "problems": result.problems}, status=202,
    )  # fmt: skip


async def _reject(
    request: web.Request, payload_format: str, body: bytes, reason: str
) -> web.Response:
    """Dead-letter first: the 422 tells the carrier not to retry, so the bytes must be safe."""
    try:
        await request.app[DEAD_SENDER_KEY].send((payload_format, body, reason))
    except KafkaUnavailable as exc:
        log.error("webhook %s: dead letter not acknowledged: %s", payload_format, exc)
        return _error(503, "could not store the rejected payload, retry later", RETRY_LATER)
    return _error(422, reason)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "formats": connectors.known_formats()})


def build_app(
    settings: Settings, publisher: Publisher, dead_letters: DeadLetters | None = None
) -> web.Application:
    """The receiver, wired to an existing Publisher (so tests and the CLI choose the broker)."""
    dead = dead_letters or DeadLetters(settings)
    app = web.Application(client_max_size=_body_limit(settings))
    app[SETTINGS_KEY] = settings
    app[RAW_SENDER_KEY] = AckedSender(publisher.publish_raw, publisher.flush)
    # Item = (format, body, reason); the format stands in for the carrier the bytes never named.
    app[DEAD_SENDER_KEY] = AckedSender(
        lambda item: dead.record(item[0], item[0], item[1], item[2]), dead.flush
    )
    app.router.add_post("/webhooks/{format}", receive)
    app.router.add_get("/healthz", healthz)
    return app


def run(settings: Settings) -> None:
    """Serve until interrupted (`parcelstream webhook`)."""
    codec = AvroCodec(settings.schema_registry_url)
    app = build_app(settings, Publisher(settings, codec), DeadLetters(settings, codec))
    web.run_app(app, host=settings.webhook_host, port=settings.webhook_port)
