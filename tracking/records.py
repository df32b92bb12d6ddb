"""The records the tracking stages emit, each defined once.

A record is a slotted dataclass whose fields are its Avro schema's fields
(`schemas/<ClassName>.avsc`, same names; a test holds the two together). A field marked with
`column()` is also a column of the record's ClickHouse table, converted as the mark says. The
pipeline derives the Avro dict, the ClickHouse row and the column list from this definition
(`pipeline/records.py`), so adding a field means the schema plus one line here.

Times are epoch milliseconds, as on the topics; ClickHouse stores whole seconds.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")

# How a field becomes a ClickHouse value: "" as it is; "seconds": epoch ms -> s (None stays
# None); "text": None -> "" (the tables use '' for "none", not Nullable); "flag": bool -> 0/1;
# "base64": bytes -> text (dead-letter payloads stay readable in a String column); "uint32":
# -1 ("none", as Avro writes it) -> 4294967295, what toUInt32(-1) gives, in a UInt32 column.
CONVERSIONS = frozenset({"", "seconds", "text", "flag", "base64", "uint32"})


def column(convert: str = "", name: str = "", default: Any = dataclasses.MISSING) -> Any:
    """Mark a field as a ClickHouse column (named like the field unless `name` says)."""
    if convert not in CONVERSIONS:
        raise ValueError(f"unknown column conversion {convert!r}")
    return dataclasses.field(default=default, metadata={"column": (convert, name)})


@dataclass_transform(field_specifiers=(dataclasses.field, column))
def record(cls: type[T]) -> type[T]:
    """A record class: a slotted dataclass whose fields may be marked with `column()`."""
    return dataclasses.dataclass(slots=True)(cls)


def location(city: str = "", country: str = "", region: str = "", postal_code: str = "") -> dict:
    """The Avro `Address` record."""
    return {"city": city, "region": region, "postal_code": postal_code, "country": country}


@record
class Notification:
    """Something a shopper or support agent should hear about; senders drop repeats by id."""

    notification_id: str = column()
    kind: str = column()
    tracking_number: str = column()
    order_id: str | None = column("text")
    carrier: str = column()
    status: str = column()
    reason: str = column()
    occurred_at: int = column("seconds")
    created_at: int = column("seconds")
    customer_ref: str
    customer_segment: str = column()
    service_level: str = column()
    location: dict[str, str]
    message: str = column()
    eta: int | None
    eta_low: int | None
    eta_high: int | None
    is_return: bool
    p_late: float | None = column(default=None)


@record
class ParcelException:
    """An exception opening or resolving; `exception_id` is stable across both."""

    exception_id: str = column()
    tracking_number: str = column()
    order_id: str | None = column("text")
    carrier: str = column()
    kind: str = column()
    severity: str = column()
    state: str = column()
    opened_at: int = column("seconds")
    resolved_at: int | None = column("seconds")
    detected_at: int = column("seconds")
    parcel_status: str = column()
    customer_segment: str = column()
    service_level: str = column()


@record
class OrderParcelUpdate:
    """A parcel's summary for the order stage, keyed by order id."""

    order_id: str
    tracking_number: str
    parcel_version: int
    carrier: str
    status: str
    is_return: bool
    shipped: bool
    delivered_at: int | None
    eta: int | None
    promised_delivery: int | None
    open_exceptions: list[str]
    customer_ref: str
    customer_segment: str
