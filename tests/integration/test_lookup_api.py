"""The lookup API on a real worker, broker and ClickHouse server: after a feed, every parcel's
answer matches its ClickHouse state, orders list all their parcels, keys are checked, and the
shoppers' order lookup refuses wrong answers and then rate-limits them."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.api.views import OrderView, ParcelView, openapi
from pipeline.settings import REPO_ROOT
from pipeline.sinks.engines import NativeEngine
from tests.lookup_run import ALL_KEY, SCOPED_KEY, call, served_worker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(
    kafka_bootstrap: str, clickhouse_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, ...]]:
    with served_worker(kafka_bootstrap, clickhouse_server, tmp_path_factory.mktemp("api")) as run:
        yield run


def _seconds(value: str | None) -> int | None:
    return None if value is None else int(datetime.fromisoformat(value).timestamp())


def _clickhouse_states(engine: NativeEngine) -> dict[str, dict[str, Any]]:
    columns = ("tracking_number", "version", "carrier", "status", "reason", "event_count",
               "order_id", "customer_ref", "eta", "delivered_at", "open_exceptions")  # fmt: skip
    rows = engine.query(
        f"SELECT {', '.join(columns)} FROM {engine.database}.parcel_state "
        "ORDER BY tracking_number, version DESC LIMIT 1 BY tracking_number"
    )
    return {row[0]: dict(zip(columns, row, strict=True)) for row in rows}


def _epoch(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return int(value.replace(tzinfo=value.tzinfo or UTC).timestamp())
    return int(value)


def test_every_parcel_answer_matches_its_clickhouse_state(served: Any) -> None:
    settings, simulation, engine, base = served
    stored = _clickhouse_states(engine)
    numbers = {s["tracking_number"] for s in simulation.shipments}
    assert numbers <= stored.keys()
    for number in sorted(numbers):
        answer = call(f"{base}/v1/parcels/{number}", ALL_KEY)
        assert answer.status == 200, (number, answer.body)
        view, row = answer.json(), stored[number]
        ParcelView.model_validate(view)  # the published contract
        assert view["version"] == row["version"], number
        assert (view["carrier"], view["status"], view["reason"]) == (
            row["carrier"], row["status"], row["reason"]
        ), number  # fmt: skip
        assert len(view["events"]) == row["event_count"], number
        assert view["order_id"] == row["order_id"] and view["customer_ref"] == row["customer_ref"]
        eta = view["eta"]["estimate"] if view["eta"] else None
        assert _seconds(eta) == _epoch(row["eta"]), number
        assert _seconds(view["milestones"].get("delivered")) == _epoch(row["delivered_at"])
        open_kinds = sorted(e["kind"] for e in view["exceptions"] if e["resolved_at"] is None)
        assert open_kinds == sorted(row["open_exceptions"]), number
        times = [e["occurred_at"] for e in view["events"]]
        assert times == sorted(times), "history in event-time order"
        assert view["tracking_link"].startswith(f"{settings.api_links_url}/t/")


def test_order_answers_list_all_their_parcels_returns_included(served: Any) -> None:
    _, simulation, _, base = served
    by_order: dict[str, set[str]] = {}
    for shipment in simulation.shipments:
        by_order.setdefault(shipment["order_id"], set()).add(shipment["tracking_number"])
    for order_id, numbers in by_order.items():
        answer = call(f"{base}/v1/orders/{order_id}", ALL_KEY)
        assert answer.status == 200, (order_id, answer.body)
        OrderView.model_validate(answer.json())
        assert {p["tracking_number"] for p in answer.json()["parcels"]} == numbers
    returns = [s for s in simulation.shipments if s["is_return"]]
    for shipment in returns:
        parcels = call(f"{base}/v1/orders/{shipment['order_id']}", ALL_KEY).json()["parcels"]
        assert any(p["is_return"] for p in parcels)


def test_search_by_customer_reference(served: Any) -> None:
    _, simulation, _, base = served
    ref = simulation.shipments[0]["customer_ref"]
    expected = {s["order_id"] for s in simulation.shipments if s["customer_ref"] == ref}
    answer = call(f"{base}/v1/orders?customer_ref={urllib.parse.quote(ref)}", ALL_KEY)
    assert answer.status == 200
    assert {o["order_id"] for o in answer.json()["orders"]} == expected


def test_keys_are_required_and_scoped_without_leaking_existence(served: Any) -> None:
    _, simulation, _, base = served
    mine = simulation.shipments[0]
    other = next(s for s in simulation.shipments if s["customer_ref"] != mine["customer_ref"])
    assert call(f"{base}/v1/parcels/{mine['tracking_number']}").status == 401
    assert call(f"{base}/v1/parcels/{mine['tracking_number']}", "psk_wrong").status == 401
    assert call(f"{base}/v1/parcels/{mine['tracking_number']}", SCOPED_KEY).status == 200
    assert call(f"{base}/v1/parcels/{other['tracking_number']}", SCOPED_KEY).status == 404
    assert call(f"{base}/v1/parcels/NO-SUCH-PARCEL", SCOPED_KEY).status == 404
    assert call(f"{base}/v1/orders/{other['order_id']}", SCOPED_KEY).status == 404
    assert call(f"{base}/v1/orders/{mine['order_id']}", SCOPED_KEY).status == 200
    ref = urllib.parse.quote(other["customer_ref"])
    assert call(f"{base}/v1/orders?customer_ref={ref}", SCOPED_KEY).status == 404
    internal = call(f"{base}/internal/v1/parcels/{mine['tracking_number']}", ALL_KEY)
    assert internal.status == 401, "workers' internal reads need the shared secret"


def test_order_lookup_refuses_wrong_postal_codes_then_rate_limits(served: Any) -> None:
    settings, simulation, _, base = served
    shipment = next(s for s in simulation.shipments if s["destination"]["postal_code"])
    order_id, postal = shipment["order_id"], shipment["destination"]["postal_code"]
    right = call(f"{base}/track", form={"order_id": order_id, "postal_code": postal.lower()})
    assert right.status == 303 and right.headers["Location"].startswith("/o/")
    page = call(base + right.headers["Location"])
    assert page.status == 200 and shipment["tracking_number"] in page.body.decode()
    assert postal not in page.body.decode(), "the page never shows the postal code"
    for _ in range(settings.api_lookup_max_failures):
        wrong = call(f"{base}/track", form={"order_id": order_id, "postal_code": "00000X"})
        assert wrong.status == 404
    limited = call(f"{base}/track", form={"order_id": order_id, "postal_code": postal})
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0


def test_tracking_links_open_the_page_and_forged_ones_do_not(served: Any) -> None:
    _, simulation, _, base = served
    number = simulation.shipments[0]["tracking_number"]
    link = call(f"{base}/v1/parcels/{number}", ALL_KEY).json()["tracking_link"]
    token = link.rsplit("/", 1)[1]
    page = call(f"{base}/t/{token}")
    assert page.status == 200 and number in page.body.decode()
    assert "<script" not in page.body.decode() and "http" not in page.body.decode().split(
        "<body>", 1
    )[1].replace(base, ""), "no external asset"
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert call(f"{base}/t/{forged}").status == 404


def test_the_published_openapi_document_is_the_served_one(served: Any) -> None:
    _, _, _, base = served
    served_doc = call(f"{base}/v1/openapi.json").json()
    assert served_doc == openapi()
    published = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
    assert published == served_doc, "regenerate docs/openapi.json: parcelstream openapi"


def test_state_dir_holds_the_generated_link_secret_privately(served: Any) -> None:
    settings = served[0]
    path = Path(settings.state_dir) / "api-link-secret"
    assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o600"
