"""One status taxonomy for every carrier.

The union of what karrio, AfterShip, EasyPost and 17TRACK distinguish, so that any carrier's
code has a home and downstream consumers never see carrier vocabulary.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    INFO_RECEIVED = "info_received"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    FAILED_ATTEMPT = "failed_attempt"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    RETURN_TO_SENDER = "return_to_sender"
    RETURNED = "returned"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class Reason(StrEnum):
    NONE = ""
    DAMAGED = "damaged"
    LOST = "lost"
    ADDRESS_ISSUE = "address_issue"
    REFUSED = "refused"
    CUSTOMS_HOLD = "customs_hold"
    WEATHER_DELAY = "weather_delay"
    RECIPIENT_UNAVAILABLE = "recipient_unavailable"
    ACCESS_RESTRICTED = "access_restricted"
    DELAYED = "delayed"
    ARRIVED_AT_FACILITY = "arrived_at_facility"
    DEPARTED_FACILITY = "departed_facility"
    ARRIVED_AT_DESTINATION = "arrived_at_destination"
    OTHER = "other"


# How far along the happy path a status is. Used to break ties between scans that carry the
# same timestamp (carriers often stamp "out for delivery" and "delivered" with the same minute
# on date-only feeds) and to tell which status is "further" when clocks disagree.
PROGRESS: dict[Status, int] = {
    Status.UNKNOWN: 0,
    Status.PENDING: 1,
    Status.INFO_RECEIVED: 2,
    Status.PICKED_UP: 3,
    Status.IN_TRANSIT: 4,
    Status.EXCEPTION: 5,
    Status.FAILED_ATTEMPT: 6,
    Status.OUT_FOR_DELIVERY: 7,
    Status.AVAILABLE_FOR_PICKUP: 8,
    Status.DELIVERED: 9,
    Status.RETURN_TO_SENDER: 10,
    Status.RETURNED: 11,
    Status.CANCELLED: 12,
    Status.EXPIRED: 13,
}

# Statuses after which a plain transit scan is considered noise rather than news.
TERMINAL: frozenset[Status] = frozenset(
    {Status.DELIVERED, Status.RETURNED, Status.CANCELLED, Status.EXPIRED}
)

# Reasons that make an otherwise ordinary scan an exception worth telling someone about.
EXCEPTION_REASONS: frozenset[Reason] = frozenset(
    {
        Reason.DAMAGED,
        Reason.LOST,
        Reason.ADDRESS_ISSUE,
        Reason.REFUSED,
        Reason.CUSTOMS_HOLD,
        Reason.WEATHER_DELAY,
        Reason.RECIPIENT_UNAVAILABLE,
        Reason.ACCESS_RESTRICTED,
        Reason.DELAYED,
    }
)
