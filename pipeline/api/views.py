"""What the lookup API answers, as pydantic models: the JSON contract, and the OpenAPI document
derived from it (`openapi()`, published as docs/openapi.json)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tracking.orders import OrderState
from tracking.state import ParcelState

API_VERSION = "1.0.0"
ETA_CONFIDENCE = 0.8  # our window is the 10%..90% quantiles (tracking/eta.py)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Place(_Strict):
    city: str = ""
    country: str = Field("", description="ISO 3166-1 alpha-2")


class Event(_Strict):
    occurred_at: datetime
    status: str = Field(description="Our taxonomy (tracking/taxonomy.py Status)")
    reason: str = ""
    carrier_code: str = Field("", description="The carrier's own code, as sent")
    location: Place


class Estimate(_Strict):
    estimate: datetime
    earliest: datetime | None = None
    latest: datetime | None = None
    confidence: float | None = Field(
        None, description="Share of deliveries the window is meant to hold (ours: 0.8)"
    )
    level: str = Field("", description="Ours: the lane level it was learned at; carrier: kind")


class ExceptionView(_Strict):
    kind: str
    opened_at: datetime
    resolved_at: datetime | None = None


class ParcelView(_Strict):
    tracking_number: str
    carrier: str
    status: str
    reason: str
    status_at: datetime | None
    location: Place
    milestones: dict[str, datetime] = Field(description="First time each milestone was reached")
    events: list[Event] = Field(description="Full history, in event-time order")
    eta: Estimate | None = Field(description="Our ETA with its 80% window")
    carrier_eta: Estimate | None = Field(description="The carrier's own estimate, when it sent one")
    promised_delivery: datetime | None
    exceptions: list[ExceptionView] = Field(description="Open ones (no resolved_at) first")
    order_id: str | None
    customer_ref: str
    is_return: bool
    version: int
    updated_at: datetime
    tracking_link: str | None = Field(None, description="Signed link to the shopper's page")


class OrderParcel(_Strict):
    tracking_number: str
    carrier: str
    status: str
    is_return: bool
    shipped: bool
    delivered_at: datetime | None
    eta: datetime | None
    open_exceptions: list[str]


class OrderView(_Strict):
    order_id: str
    status: str
    return_status: str
    customer_ref: str
    eta: datetime | None
    promised_delivery: datetime | None
    delivered_at: datetime | None
    open_exceptions: list[str]
    parcels: list[OrderParcel] = Field(description="Every parcel, returns included")
    updated_at: datetime
    tracking_link: str | None = None


class OrderList(_Strict):
    customer_ref: str
    orders: list[OrderView]


class Problem(_Strict):
    error: str
    detail: str = ""


def _iso(ms: int | None) -> str | None:
    """Epoch ms as RFC 3339 UTC, as the models' datetimes read it."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def parcel_doc(state: ParcelState, link: str | None = None) -> dict[str, Any]:
    """The ParcelView of a state, as plain data: built and encoded without the models (a
    tenth of their cost), whose shape tests/unit/api/test_views.py holds to the models."""
    exceptions: list[dict[str, Any]] = [
        {"kind": kind, "opened_at": _iso(opened), "resolved_at": None}
        for kind, opened in sorted(state.open_exceptions.items(), key=lambda kv: kv[1])
    ]
    exceptions += [
        {"kind": kind, "opened_at": _iso(opened), "resolved_at": _iso(resolved)}
        for kind, opened, resolved in reversed(state.resolved_exceptions)
    ]
    eta = carrier_eta = None
    if state.eta_ms is not None:
        ours = state.eta_source != "carrier"
        actual = state.eta_level == "actual"  # delivered: the ETA is the delivery itself
        eta = {
            "estimate": _iso(state.eta_ms),
            "earliest": _iso(state.eta_low_ms),
            "latest": _iso(state.eta_high_ms),
            "confidence": ETA_CONFIDENCE if ours and not actual else None,
            "level": state.eta_level if ours else "carrier",
        }
    if state.carrier_eta_ms is not None:
        carrier_eta = {
            "estimate": _iso(state.carrier_eta_ms),
            "earliest": _iso(state.carrier_eta_low_ms),
            "latest": _iso(state.carrier_eta_high_ms),
            "confidence": None,
            "level": state.carrier_eta_kind,
        }
    return {
        "tracking_number": state.tracking_number,
        "carrier": state.carrier,
        "status": state.status,
        "reason": state.reason,
        "status_at": _iso(state.status_at_ms),
        "location": {"city": state.city, "country": state.country},
        "milestones": {name: _iso(ms) for name, ms in state.milestones.items()},
        "events": [
            {
                "occurred_at": _iso(h.occurred_at_ms),
                "status": h.status,
                "reason": h.reason,
                "carrier_code": h.carrier_code,
                "location": {"city": h.city, "country": h.country},
            }
            for h in state.history
        ],
        "eta": eta,
        "carrier_eta": carrier_eta,
        "promised_delivery": _iso(state.promised_delivery_ms),
        "exceptions": exceptions,
        "order_id": state.order_id,
        "customer_ref": state.customer_ref,
        "is_return": state.is_return,
        "version": state.version,
        "updated_at": _iso(state.updated_at_ms),
        "tracking_link": link,
    }


def order_doc(order: OrderState, link: str | None = None) -> dict[str, Any]:
    """The OrderView of an order, as plain data (see parcel_doc)."""
    return {
        "order_id": order.order_id,
        "status": order.status,
        "return_status": order.return_status,
        "customer_ref": order.customer_ref,
        "eta": _iso(order.eta_ms),
        "promised_delivery": _iso(order.promised_ms),
        "delivered_at": _iso(order.delivered_at_ms),
        "open_exceptions": order.open_exceptions(),
        "parcels": [
            {
                "tracking_number": p.tracking_number,
                "carrier": p.carrier,
                "status": p.status,
                "is_return": p.is_return,
                "shipped": p.shipped,
                "delivered_at": _iso(p.delivered_at_ms),
                "eta": _iso(p.eta_ms),
                "open_exceptions": list(p.open_exceptions),
            }
            for p in sorted(order.parcels.values(), key=lambda p: (p.is_return, p.tracking_number))
        ],
        "updated_at": _iso(order.updated_at_ms),
        "tracking_link": link,
    }


_KEY = {"ApiKey": []}  # type: ignore[var-annotated]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the JSON API (the HTML pages are not part of it)."""
    schemas: dict[str, Any] = {}
    for model in (ParcelView, OrderView, OrderList, Problem):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    errors = {
        "401": _json(Problem, "Missing or unknown API key"),
        "404": _json(Problem, "No such parcel or order for this key"),
    }
    by_key = {"in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "parcelstream lookup API",
            "version": API_VERSION,
            "description": "Live parcel and order state, answered from the workers' state stores.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "ApiKey": {"type": "http", "scheme": "bearer", "description": "A merchant's key"}
            },
        },
        "security": [_KEY],
        "paths": {
            "/v1/parcels/{tracking_number}": {
                "get": {
                    "summary": "A parcel: status, location, milestones, history, ETAs, exceptions",
                    "parameters": [{"name": "tracking_number", **by_key}],
                    "responses": {"200": _json(ParcelView, "The parcel"), **errors},
                }
            },
            "/v1/orders/{order_id}": {
                "get": {
                    "summary": "One order with every parcel, returns included",
                    "parameters": [{"name": "order_id", **by_key}],
                    "responses": {"200": _json(OrderView, "The order"), **errors},
                }
            },
            "/v1/orders": {
                "get": {
                    "summary": "Orders of one customer reference",
                    "parameters": [
                        {
                            "name": "customer_ref",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                        },  # fmt: skip
                    ],
                    "responses": {"200": _json(OrderList, "The orders"), **errors},
                }
            },
        },
    }
