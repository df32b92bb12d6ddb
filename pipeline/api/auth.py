"""Who may read what: merchants' API keys, shoppers' signed tracking links, and the limit on
wrong answers to the order lookup.

API keys are random tokens (`parcelstream api-key` makes one); only their SHA-256 is
configured, so a leaked configuration grants nothing. A fast hash is right for them, unlike
for passwords: a 32-byte random key cannot be guessed by trying, however fast each try is.

A tracking link carries what it opens and until when, signed with HMAC-SHA256
(`PARCELSTREAM_API_LINK_SECRET`): `/t/<token>` needs no session and no lookup table, any
worker can check it, and changing the secret revokes every link at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass

from pipeline.api.config import ALL, ApiKey

__all__ = ["FailureLimiter", "LinkSigner", "Scope", "hash_key", "new_key"]


def new_key() -> str:
    return "psk_" + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Scope:
    name: str
    refs: frozenset[str] | None  # None: every customer

    def allows(self, customer_ref: str) -> bool:
        return self.refs is None or customer_ref in self.refs


class Keys:
    def __init__(self, keys: list[ApiKey]) -> None:
        self._by_hash = {
            k.sha256: Scope(k.name, None if k.customer_refs == ALL else frozenset(k.customer_refs))
            for k in keys
        }

    def scope(self, presented: str | None) -> Scope | None:
        """The scope of a presented key; None for a missing or unknown one. The dict lookup
        is by the key's hash, so its timing tells nothing about the configured hashes."""
        if not presented:
            return None
        return self._by_hash.get(hash_key(presented))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """`<kind>:<id>:<expiry>` signed: kind "p" opens a parcel, "o" an order."""

    def __init__(self, secret: bytes, days: float) -> None:
        if len(secret) < 16:
            raise ValueError("the link secret needs at least 16 bytes")
        self._secret = secret
        self._seconds = int(days * 86400)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]

    def sign(self, kind: str, ident: str, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + self._seconds)
        payload = f"{kind}:{ident}:{expires}".encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def open(self, token: str, now: float | None = None) -> tuple[str, str] | None:
        """(kind, id) of a valid, unexpired token; None for anything else."""
        try:
            body, mac = token.split(".", 1)
            payload = _unb64(body)
            given = _unb64(mac)
            head, expires = payload.decode().rsplit(":", 1)
            kind, ident = head.split(":", 1)
            expiry = int(expires)
        except (ValueError, UnicodeDecodeError):
            return None
        if not hmac.compare_digest(given, self._mac(payload)):
            return None
        if expiry < (time.time() if now is None else now):
            return None
        return kind, ident


class FailureLimiter:
    """Wrong answers per client in a sliding window: after `limit` of them, the client is
    refused until the oldest leaves the window, so order ids cannot be enumerated."""

    def __init__(self, limit: int, window_seconds: float, clients: int = 100_000) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clients = clients
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.get(client)
        if failures is None:
            if len(self._failures) >= self._clients:  # bounded memory under a flood
                self._failures.pop(next(iter(self._failures)))
            failures = self._failures[client] = deque()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, client: str, now: float | None = None) -> float:
        """Seconds the client must wait; 0 when it may try."""
        now = time.monotonic() if now is None else now
        failures = self._recent(client, now)
        if len(failures) < self.limit:
            return 0.0
        return failures[0] + self.window - now

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._recent(client, now).append(now)
