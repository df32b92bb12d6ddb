"""Reference consumer of the parcelstream notification topic: what an email/SMS sender does.

Standalone on purpose (confluent-kafka + fastavro, no parcelstream import), so a sender team
can copy the twenty lines that matter:

- decode the Confluent wire format: byte 0 is 0, bytes 1-4 the schema id (big-endian), the
  rest an Avro body written with that schema;
- drop repeats by `notification_id` (delivery is at-least-once; replays resend the same id);
- messages of one parcel arrive in order (the key is the tracking number).

    python examples/notification_consumer.py --bootstrap 127.0.0.1:9092 \\
        --topic parcelstream.notifications [--from-beginning] [--max 20]

Schema ids come from `schemas/registry.json` or, with --registry URL, a Schema Registry.
"""

from __future__ import annotations

import argparse
import json
import struct
import urllib.request
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer
from fastavro import parse_schema, schemaless_reader

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def local_schemas() -> dict[int, Any]:
    """Schema id -> parsed schema, from the repository's schema files."""
    ids = json.loads((SCHEMAS / "registry.json").read_text())
    named: dict[str, Any] = {}
    # Address first: the other records refer to it by name.
    for name in ["Address", *(n.split(".")[-1] for n in ids if not n.startswith("_"))]:
        parse_schema(json.loads((SCHEMAS / f"{name}.avsc").read_text()), named_schemas=named)
    return {
        int(i): parse_schema(named[full], named_schemas=named)
        for full, i in ids.items()
        if not full.startswith("_")
    }


def registry_schema(url: str, schema_id: int) -> Any:
    with urllib.request.urlopen(f"{url.rstrip('/')}/schemas/ids/{schema_id}") as response:
        return parse_schema(json.loads(json.loads(response.read())["schema"]))


def decode(value: bytes, schemas: dict[int, Any], registry: str | None) -> dict[str, Any]:
    magic, schema_id = struct.unpack(">bI", value[:5])
    if magic != 0:
        raise ValueError("not Confluent wire format")
    if schema_id not in schemas and registry:
        schemas[schema_id] = registry_schema(registry, schema_id)
    return schemaless_reader(BytesIO(value[5:]), schemas[schema_id], None)  # type: ignore[return-value]


def render(n: dict[str, Any]) -> str:
    """What a sender would send: channel, recipient, text."""
    channel = "SMS  " if n["kind"] in ("out_for_delivery", "failed_attempt") else "EMAIL"
    eta = f" (ETA {n['eta']:%a %d %b %H:%M})" if isinstance(n.get("eta"), datetime) else ""
    when = n["occurred_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return (
        f"{channel} to {n['customer_ref'] or '?':<12} [{n['kind']:<20}] {when}  {n['message']}{eta}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="parcelstream.notifications")
    parser.add_argument("--group", default="example-notification-sender")
    parser.add_argument("--registry", help="Schema Registry URL (else schemas/registry.json)")
    parser.add_argument("--from-beginning", action="store_true")
    parser.add_argument("--max", type=int, default=0, help="stop after this many (0 = forever)")
    args = parser.parse_args()

    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "auto.offset.reset": "earliest" if args.from_beginning else "latest",
            "enable.auto.commit": True,
        }
    )
    consumer.subscribe([args.topic])
    schemas, seen, sent = local_schemas(), set(), 0
    try:
        while not args.max or sent < args.max:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            notification = decode(message.value(), schemas, args.registry)
            if notification["notification_id"] in seen:
                continue  # a replay: already sent
            seen.add(notification["notification_id"])
            print(render(notification))
            sent += 1
    finally:
        consumer.close()


if __name__ == "__main__":
    main()
