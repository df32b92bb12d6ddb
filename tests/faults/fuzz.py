"""Seeded random webhook bodies: what carriers (and everybody else on the internet) post.

A third valid generic bundles with hostile text (lone surrogate escapes, control characters,
NULs, emoji, right-to-left marks) in every free field; a third real fixtures of every format,
mutated a little (a value replaced, a key dropped, bytes flipped, cut short); a third garbage
(random bytes, wrong JSON shapes, deep nesting, invalid UTF-8). Seeded random rather than
hypothesis: the test posts thousands at once to a live receiver and checks them all at the end,
which is not hypothesis' one-example-at-a-time loop, and a seed replays a failure exactly.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import connectors

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GENERIC_CODES = ("CR", "PU", "AF", "DF", "IT", "AD", "DY", "OD", "FA", "PK", "DL", "RF", "DM",
                 "LS", "ZZ9", "dl", "  DL ", "")  # fmt: skip
HOSTILE = ("\udfff", "\ud800", "\x00", "\x1b[31m", "\u202e", "\ufeff", "😀", "ß", "\n", "\t",
           "'; DROP TABLE x; --", "<script>", "\\", '"', "\u0085", "\uffff")  # fmt: skip


def _text(rng: random.Random) -> str:
    plain = ("Memphis", "scan", "Köln", "東京", "Delivered", "x" * rng.randint(1, 40))
    parts = [rng.choice(HOSTILE if rng.random() < 0.4 else plain) for _ in range(rng.randint(0, 4))]
    return "".join(parts)


def _timestamp(rng: random.Random) -> str:
    day, hour, minute = rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59)
    base = f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:00"
    if rng.random() < 0.03:  # now and then a time nobody can read
        return rng.choice(("yesterday", "", base + "+25:00", "2026-02-30T10:00:00Z"))
    return rng.choice((base + "Z", base + "+01:00", base + "-05:00", base, base[:10]))


def generic_bundle(rng: random.Random) -> bytes:
    events = []
    for _ in range(rng.randint(1, 8)):
        event: dict[str, Any] = {
            "tracking_number": f"FZ{rng.randint(0, 400):05d}" if rng.random() < 0.98
            else _text(rng),
            "code": rng.choice(GENERIC_CODES[:-1] if rng.random() < 0.98 else GENERIC_CODES),
            "description": _text(rng),
            "occurred_at": _timestamp(rng),
            "location": {"city": _text(rng), "postal_code": _text(rng),
                         "country": rng.choice(("US", "DE", "Germany", "", _text(rng)))},
        }  # fmt: skip
        events.append(event)
    document = {"carrier": rng.choice(("acme-express", "fuzz-carrier", _text(rng))),
                "events": events}  # fmt: skip
    # ensure_ascii: a lone surrogate becomes the escape "\udfff", which is valid JSON.
    return json.dumps(document, ensure_ascii=True).encode()


def _fixtures() -> list[tuple[str, bytes]]:
    found = []
    for folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if not path.name.endswith(".expected.json"):
                found.append((folder.name, path.read_bytes()))
    return found


def _mutate_json(rng: random.Random, document: Any) -> Any:
    document = copy.deepcopy(document)
    for _ in range(rng.randint(1, 3)):
        # Walk down from the top to some value; (node, key) is where it sits.
        node, key = document, None
        while isinstance(node, dict | list) and node:
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
            child = node[key]
            if not (isinstance(child, dict | list) and child and rng.random() < 0.8):
                break
            node = child
        if key is None:
            continue
        choice = rng.random()
        if choice < 0.5:
            node[key] = _text(rng)
        elif choice < 0.7 and isinstance(node, dict):
            del node[key]
        else:
            node[key] = rng.choice((None, 0, -1, 1e308, True, [], {}, "2026-13-45T99:99:99"))
    return document


def _mutate_bytes(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 6)):
        if not data:
            break
        at = rng.randrange(len(data))
        op = rng.random()
        if op < 0.4:
            data[at] = rng.randrange(256)
        elif op < 0.7:
            data[at:at] = rng.randbytes(rng.randint(1, 8))
        else:
            del data[at : at + rng.randint(1, 8)]
    if rng.random() < 0.2:
        data = data[: rng.randrange(len(data) + 1)]
    return bytes(data)


def mutated_fixture(rng: random.Random, fixtures: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    fmt, body = rng.choice(fixtures)
    if rng.random() < 0.1:
        fmt = rng.choice(connectors.known_formats())  # the right bytes to the wrong endpoint
    if body.lstrip()[:1] in (b"{", b"[") and rng.random() < 0.6:
        return fmt, json.dumps(_mutate_json(rng, json.loads(body)), ensure_ascii=True).encode()
    return fmt, _mutate_bytes(rng, body)


def garbage(rng: random.Random) -> bytes:
    return rng.choice((
        lambda: rng.randbytes(rng.randint(0, 300)),
        lambda: b"",
        lambda: rng.choice((b"null", b"[]", b"{}", b"42", b'"x"', b"true", b'{"events": {}}',
                            b'{"events": [null, 1, "x"]}', b'{"carrier": 5, "events": []}')),
        lambda: b"[" * 5000 + b"]" * 5000,
        lambda: b'{"events": [' + b"1e999999, " * 50 + b"1]}",
        lambda: "\udfff".encode("utf-8", "surrogatepass") + b'{"a": "\xff\xfe"}',
        lambda: b"<?xml version='1.0'?><!DOCTYPE a [<!ENTITY b 'c'>]><a>&b;</a>",
        lambda: b"ISA*00*" + rng.randbytes(rng.randint(0, 200)),
    ))()  # fmt: skip


def bodies(count: int, seed: int = 20261) -> list[tuple[str, bytes]]:
    """`count` (format, body) pairs, the same for the same seed."""
    rng = random.Random(seed)
    fixtures = _fixtures()
    formats = connectors.known_formats()
    out = []
    for _ in range(count):
        roll = rng.random()
        if roll < 1 / 3:
            out.append(("generic", generic_bundle(rng)))
        elif roll < 2 / 3:
            out.append(mutated_fixture(rng, fixtures))
        else:
            out.append((rng.choice(formats), garbage(rng)))
    return out
