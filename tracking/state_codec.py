"""A parcel's state as compact bytes: what the local store and the changelog hold at rest.

The Avro ParcelState record (schemas/ParcelState.avsc) spells every history entry's status,
reason and 24-hex-digit event id as text and costs ~990 bytes and ~40 µs to encode with
fastavro. Here the state is one MessagePack array (msgspec: a C encoder made for exactly this)
in which canonical statuses and reasons are small ints, event ids their 12 raw bytes, and each
history entry a flat array: ~45 % of the bytes, ~15x faster both ways. No Python object per
entry exists at rest; the objects are made when a parcel is read into the hot set.

Layout: `FORMAT` (1 byte), the parcel's next deadline in ms (8 bytes, big-endian, 0 = none),
then the array. The deadline sits in the fixed header so that a store restored from the
changelog rebuilds its timer index by copying bytes, without decoding a single state.

An evicted parcel (retention, tracking/parcels.py) is a `MARKER`: the header, the time it
left and its shipment ids, nothing else, so that a late scan for it is known to come after
notifications that were already sent, and a new shipment under its number is not.

The int codes are positions in `Status` and `Reason`: new members are appended there, never
inserted (tests/unit/tracking/test_state_codec.py pins the order). A status or reason outside
the taxonomy is kept as text, and so is an event id that is not lowercase hex, so every state
round-trips exactly.
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec

from tracking.history import HistoryEntry
from tracking.state import ParcelState
from tracking.taxonomy import PROGRESS, Reason, Status

__all__ = [
    "FORMAT", "MARKER", "deadline_of", "decode", "encode", "encode_marker", "is_marker", "record"
]  # fmt: skip

FORMAT = 0x50  # "P": a parcel state
MARKER = 0x45  # "E": an evicted parcel
_HEADER = struct.Struct(">BQ")
HEADER_SIZE = _HEADER.size

_STATUSES = tuple(s.value for s in Status)
_REASONS = tuple(r.value for r in Reason)
_STATUS_CODE = {s: i for i, s in enumerate(_STATUSES)}
_REASON_CODE = {r: i for i, r in enumerate(_REASONS)}
_PROGRESS = {status.value: rank for status, rank in PROGRESS.items()}

# Elements of the body as first released; later ones are appended, in this order, and each
# is optional on decode (a value written before it reads with its default).
_FIRST_LAYOUT = 23
_NO_SHIPMENT: tuple[str, list[str]] = ("", [])

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


def _id_out(event_id: str) -> str | bytes:
    if len(event_id) % 2 == 0:
        try:
            raw = bytes.fromhex(event_id)
        except ValueError:
            return event_id
        if raw.hex() == event_id:
            return raw
    return event_id


def _id_in(value: str | bytes) -> str:
    return value.hex() if type(value) is bytes else value  # type: ignore[union-attr,return-value]


def encode(state: ParcelState, deadline_ms: int | None = None) -> bytes:
    status_code, reason_code = _STATUS_CODE.get, _REASON_CODE.get
    history = [
        (
            h.occurred_at_ms,
            _id_out(h.event_id),
            status_code(h.status, h.status),
            reason_code(h.reason, h.reason),
            h.carrier_code,
            h.city,
            h.country,
            h.source,
        )
        for h in state.history
    ]
    body = (
        state.tracking_number,
        state.version,
        state.carrier,
        state.last_received_at_ms,
        state.updated_at_ms,
        state.milestones,
        history,
        state.order_id,
        state.service_level,
        state.customer_ref,
        state.customer_segment,
        state.promised_delivery_ms,
        state.is_return,
        state.origin_region,
        state.destination_region,
        (state.eta_ms, state.eta_low_ms, state.eta_high_ms, state.eta_level, state.predicted_late),
        state.notified_eta_ms,
        state.open_exceptions,
        state.eta_source,
        (
            state.carrier_eta_ms,
            state.carrier_eta_low_ms,
            state.carrier_eta_high_ms,
            state.carrier_eta_kind,
            state.carrier_eta_received_ms,
            state.carrier_eta_first_ms,
        ),
        state.eta_first_ms,
        state.evicted_at_ms,
        # Folded from the history, kept so a reader of the row (the ClickHouse sink) needs
        # no fold: see `record`.
        (
            state.status,
            state.reason,
            state.status_at_ms,
            _id_out(state.status_event_id),
            state.last_event_at_ms,
            state.city,
            state.country,
        ),
        # Appended after the first release of this layout: `decode` reads bodies without them.
        (state.destination_country, state.destination_postal),
        state.resolved_exceptions,
        (state.shipment_id, state.retired_shipments),
        state.p_late,
    )
    return _HEADER.pack(FORMAT, deadline_ms or 0) + _encoder.encode(body)


def decode(data: bytes) -> ParcelState:
    """The state of `encode`'s bytes; a marker reads as the empty state of a parcel that was
    evicted (`evicted_at_ms` set). ValueError for bytes that are neither."""
    kind = data[0] if data else None
    if kind == MARKER:
        tracking_number, evicted_at, *appended = _decoder.decode(data[HEADER_SIZE:])
        shipment, retired = appended[0] if appended else _NO_SHIPMENT
        return ParcelState(
            tracking_number,
            evicted_at_ms=evicted_at,
            shipment_id=shipment,
            retired_shipments=list(retired),
        )
    if kind != FORMAT:
        raise ValueError(f"not a compact parcel state (first byte {kind!r})")
    try:
        body: Any = _decoder.decode(data[HEADER_SIZE:])
        (tn, version, carrier, last_received, updated, milestones, rows, order_id, service,
         customer_ref, segment, promised, is_return, origin, destination, eta, notified_eta,
         open_exceptions, eta_source, carrier_eta, eta_first, evicted_at,
         _) = body[:_FIRST_LAYOUT]  # fmt: skip
        appended = body[_FIRST_LAYOUT:]
        destination_country, destination_postal = appended[0] if appended else ("", "")
        resolved = [tuple(r) for r in appended[1]] if len(appended) > 1 else []
        shipment, retired = appended[2] if len(appended) > 2 else _NO_SHIPMENT
        p_late = appended[3] if len(appended) > 3 else None
    except (msgspec.DecodeError, ValueError, TypeError) as exc:
        raise ValueError(f"bad compact parcel state: {exc}") from None
    statuses, reasons, progress = _STATUSES, _REASONS, _PROGRESS
    history = []
    for at, event_id, status, reason, code, city, country, source in rows:
        status = statuses[status] if type(status) is int else status
        history.append(
            HistoryEntry(
                at,
                progress.get(status, 0),
                _id_in(event_id),
                status,
                reasons[reason] if type(reason) is int else reason,
                code,
                city,
                country,
                source,
            )
        )
    state = ParcelState(
        tn,
        version=version,
        carrier=carrier,
        last_received_at_ms=last_received,
        updated_at_ms=updated,
        milestones=milestones,
        history=history,
        seen={h.event_id for h in history},
        order_id=order_id,
        service_level=service,
        customer_ref=customer_ref,
        customer_segment=segment,
        promised_delivery_ms=promised,
        is_return=is_return,
        origin_region=origin,
        destination_region=destination,
        notified_eta_ms=notified_eta,
        open_exceptions=open_exceptions,
        eta_source=eta_source,
        eta_first_ms=eta_first,
        evicted_at_ms=evicted_at,
        destination_country=destination_country,
        destination_postal=destination_postal,
        resolved_exceptions=resolved,  # type: ignore[arg-type]
        shipment_id=shipment,
        retired_shipments=list(retired),
        p_late=p_late,
    )
    (state.eta_ms, state.eta_low_ms, state.eta_high_ms, state.eta_level,
     state.predicted_late) = eta  # fmt: skip
    (state.carrier_eta_ms, state.carrier_eta_low_ms, state.carrier_eta_high_ms,
     state.carrier_eta_kind, state.carrier_eta_received_ms, state.carrier_eta_first_ms) = carrier_eta  # fmt: skip  # noqa: E501
    state.recompute()
    return state


def record(data: bytes) -> dict[str, Any]:
    """The ParcelState Avro record (schemas/ParcelState.avsc) of `encode`'s bytes, built from
    the array with no fold and no object per history entry: what the ClickHouse sink reads."""
    if not data or data[0] != FORMAT:
        raise ValueError(f"not a compact parcel state (first byte {data[:1]!r})")
    try:
        body: Any = _decoder.decode(data[HEADER_SIZE:])
        (tn, version, carrier, last_received, updated, milestones, rows, order_id, service,
         customer_ref, segment, promised, is_return, origin, destination, eta, notified_eta,
         open_exceptions, eta_source, carrier_eta, eta_first, _,
         folded) = body[:_FIRST_LAYOUT]  # fmt: skip
        later = body[_FIRST_LAYOUT + 3 :]  # after the destination, resolved exceptions, shipment
        status, reason, status_at, _, last_event_at, city, country = folded
        ats, ids, statuses, reasons, codes, cities, countries, _ = (
            zip(*rows, strict=True) if rows else ((),) * 8
        )
    except (msgspec.DecodeError, ValueError, TypeError) as exc:
        raise ValueError(f"bad compact parcel state: {exc}") from None
    status_of, reason_of = _STATUSES.__getitem__, _REASONS.__getitem__
    return {
        "tracking_number": tn,
        "version": version,
        "carrier": carrier,
        "status": status,
        "reason": reason,
        "status_at": status_at,
        "last_event_at": last_event_at,
        "last_received_at": last_received,
        "updated_at": updated,
        "event_count": len(rows),
        "location": {"city": city, "region": "", "postal_code": "", "country": country},
        "milestones": milestones,
        "history": {
            "event_id": [_id_in(i) for i in ids],
            "occurred_at": list(ats),
            "status": [status_of(x) if type(x) is int else x for x in statuses],
            "reason": [reason_of(x) if type(x) is int else x for x in reasons],
            "carrier_code": list(codes),
            "city": list(cities),
            "country": list(countries),
        },
        "order_id": order_id,
        "service_level": service,
        "customer_ref": customer_ref,
        "customer_segment": segment,
        "promised_delivery": promised,
        "is_return": is_return,
        "origin_region": origin,
        "destination_region": destination,
        "eta": eta[0],
        "eta_low": eta[1],
        "eta_high": eta[2],
        "eta_level": eta[3],
        "predicted_late": eta[4],
        "notified_eta": notified_eta,
        "open_exceptions": open_exceptions,
        "eta_source": eta_source,
        "carrier_eta": carrier_eta[0],
        "carrier_eta_low": carrier_eta[1],
        "carrier_eta_high": carrier_eta[2],
        "carrier_eta_kind": carrier_eta[3],
        "carrier_eta_received_at": carrier_eta[4],
        "carrier_eta_first": carrier_eta[5],
        "eta_first": eta_first,
        "p_late": later[0] if later else None,
    }


def encode_marker(
    tracking_number: str,
    evicted_at_ms: int,
    deadline_ms: int | None,
    shipment_id: str = "",
    retired_shipments: list[str] | None = None,
) -> bytes:
    """An evicted parcel; it keeps its shipment ids, so that a new shipment under the number is
    told from a late scan of the evicted one (tracking/shipments.py)."""
    return _HEADER.pack(MARKER, deadline_ms or 0) + _encoder.encode(
        (tracking_number, evicted_at_ms, (shipment_id, retired_shipments or []))
    )


def is_marker(data: bytes) -> bool:
    return bool(data) and data[0] == MARKER


def deadline_of(data: bytes) -> int | None:
    """The next deadline in an encoded state's or marker's header, without decoding it."""
    return _HEADER.unpack_from(data)[1] or None
