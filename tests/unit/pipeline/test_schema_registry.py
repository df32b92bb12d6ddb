"""The Schema Registry path: ids come from the registry when a URL is configured.

A minimal local HTTP server answers the registry's register call (POST
/subjects/{subject}/versions -> {"id": n}) so the codec's real HTTP client is exercised."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from fastavro import parse_schema

from pipeline.codec import SCHEMA_ORDER, AvroCodec


class _Registry(BaseHTTPRequestHandler):
    subjects: dict[str, int] = {}

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        parse_schema(json.loads(body["schema"]))  # the registry gets a complete, valid schema
        subject = self.path.split("/")[2]
        schema_id = self.subjects.setdefault(subject, 100 + len(self.subjects))
        payload = json.dumps({"id": schema_id}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_codec_registers_every_schema_and_uses_the_registry_ids(registry_url: str) -> None:
    codec = AvroCodec(schema_registry_url=registry_url)
    assert set(_Registry.subjects) == {f"parcelstream.{name}" for name in SCHEMA_ORDER}
    assert all(i >= 100 for i in codec.ids.values())
    data = codec.encode("DeadLetter", {
        "error": "x", "stage": "parse", "topic": "t", "partition": 0, "offset": 1,
        "raw_event_id": None, "carrier": None, "payload_format": None, "payload": b"",
        "failed_at": 0,
    })  # fmt: skip
    assert int.from_bytes(data[1:5], "big") == codec.ids["DeadLetter"]
    assert codec.decode(data)[0] == "DeadLetter"
