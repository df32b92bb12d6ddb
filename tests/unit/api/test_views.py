"""The API's plain-data answers (pipeline/api/views.py) keep the shape of the pydantic models the
OpenAPI document is derived from: any parcel state or order validates against them, with no
extra and no missing field."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from pipeline.api.server import Assignment, openapi_json
from pipeline.api.views import OrderView, ParcelView, order_doc, parcel_doc
from pipeline.settings import REPO_ROOT
from tests.unit.tracking.test_state import TN, event
from tracking.orders import OrderState, ParcelSummary
from tracking.state import ParcelState
from tracking.taxonomy import Status

MS = st.integers(0, 2**41)
MAYBE_MS = st.none() | MS


@given(
    st.lists(st.tuples(st.sampled_from([s.value for s in Status]), MS), max_size=6),
    st.tuples(MAYBE_MS, MAYBE_MS, MAYBE_MS, MAYBE_MS, MAYBE_MS),
    st.sampled_from(["", "ours", "carrier"]),
    st.dictionaries(st.sampled_from(["stuck", "late"]), MS),
    st.lists(st.tuples(st.sampled_from(["stuck", "lost"]), MS, MS), max_size=3),
)
def test_any_parcel_answer_is_a_parcel_view(
    scans: list, times: tuple, source: str, open_exceptions: dict, resolved: list
) -> None:
    state = ParcelState(TN)
    state.apply_events([event(f"e{i}", s, at) for i, (s, at) in enumerate(scans)], now_ms=5)
    (state.eta_ms, state.eta_low_ms, state.eta_high_ms, state.carrier_eta_ms,
     state.promised_delivery_ms) = times  # fmt: skip
    state.eta_source, state.open_exceptions, state.resolved_exceptions = (
        source, open_exceptions, resolved
    )  # fmt: skip
    doc = parcel_doc(state, "http://x/t/abc")
    view = ParcelView.model_validate(doc)
    assert json.loads(view.model_dump_json(exclude_unset=False)).keys() == doc.keys()
    assert [e.occurred_at for e in view.events] == sorted(e.occurred_at for e in view.events)
    assert int(view.updated_at.timestamp() * 1000) == state.updated_at_ms
    assert len([e for e in view.exceptions if e.resolved_at is None]) == len(open_exceptions)


def test_an_order_answer_is_an_order_view_with_returns_last() -> None:
    order = OrderState("O-1", customer_ref="CUST-1", updated_at_ms=1_000)
    for tn, is_return in (("B2", False), ("A1", True), ("C3", False)):
        order.parcels[tn] = ParcelSummary(tn, 1, "ups", "in_transit", is_return, True, None,
                                          2_000, None, ["stuck"] if tn == "C3" else [])  # fmt: skip
    doc = order_doc(order)
    view = OrderView.model_validate(doc)
    assert [p.tracking_number for p in view.parcels] == ["B2", "C3", "A1"]
    assert view.open_exceptions == ["stuck"]


def test_the_published_openapi_document_is_current() -> None:
    published = (REPO_ROOT / "docs" / "openapi.json").read_text()
    assert published == openapi_json(), "regenerate: parcelstream openapi --write docs/openapi.json"


def test_the_assignment_names_each_partitions_owner_and_follows_a_rebalance() -> None:
    current = {
        "http://w1:8090": {"events": [0, 1], "order-updates": [0]},
        "http://w2:8090/": {"events": [2, 3], "order-updates": [1]},
    }
    assignment = Assignment(lambda: current, "http://w1:8090")
    assert assignment.owner("events", 0) is None, "this worker answers itself"
    assert assignment.owner("events", 3) == "http://w2:8090"
    assert assignment.owner("events", 9) is None, "unknown: answer from what is here"
    assert assignment.others() == ["http://w2:8090"]
    current = {"http://w1:8090": {"events": [0, 1, 2, 3]}}  # w2 left: a new distribution
    assert assignment.owner("events", 3) is None and assignment.others() == []
