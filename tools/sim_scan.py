"""What the simulator means by a scan, and what each carrier format can say of it.

The simulator thinks in the generic code set (connectors/mappings/generic.csv); each format
gets a table from that code to the carrier's own code, chosen so that the carrier's mapping file
yields the same canonical status, and the same reason wherever the carrier has a code for it.
Where it has none, the closest code with the same status is used and the reason it yields is
recorded in `REASON_GAPS`; where a carrier has no code with the same status at all, the table
says None and the carrier never sends that scan (`speaks`), as a real carrier would not.

The helpers below are shared by the encoders (tools/sim_formats.py, tools/sim_formats_post.py).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import cache
from typing import Any

import connectors
from tracking.normalize import MAPPINGS_DIR, mapping_rows

__all__ = [
    "CODES",
    "REASON_GAPS",
    "SIM_CODES",
    "SimScan",
    "by_parcel",
    "carrier_code",
    "civil_time",
    "compact_json",
    "control_id",
    "describe",
    "estimate_after",
    "intended",
    "off_midnight",
    "offset_text",
    "speaks",
    "wall_time",
]


@dataclass(frozen=True, slots=True)
class SimScan:
    """One scan as the simulator means it: generic code, exact UTC time, where it happened."""

    carrier: str
    tracking_number: str
    code: str
    at: datetime  # aware, UTC
    city: str
    region: str
    country: str
    postal_code: str
    utc_offset_hours: int
    zone_given: bool  # False: the carrier leaves the zone out (see each encoder for its reading)


SIM_CODES = ("CR", "PU", "AF", "DF", "AD", "OD", "FA", "PK", "DL", "DY", "CH", "CC",
             "DM", "LS", "RF", "RS", "RT", "ZZ9")  # fmt: skip
_SAME: dict[str, str | None] = {code: code for code in SIM_CODES}
# Simulator code -> carrier code; None: the carrier's mapping has no code with that status.
CODES: dict[str, dict[str, str | None]] = {
    "generic": _SAME,
    "csv": _SAME,  # the CSV drop uses the generic code set (csv.csv == generic.csv)
    "fedex": {"CR": "OC", "PU": "PU", "AF": "AR", "DF": "DP", "AD": "FD", "OD": "OD",
              "FA": "DE", "PK": "HP", "DL": "DL", "DY": "DY", "CH": "CD", "CC": "CC",
              "DM": "SE", "LS": "SE", "RF": "SE", "RS": "RS", "RT": None, "ZZ9": "ZZ"},
    "ups": {"CR": "003", "PU": "038", "AF": "005", "DF": "010", "AD": "071", "OD": "021",
            "FA": "061", "PK": "040", "DL": "011", "DY": "046", "CH": "126", "CC": "134",
            "DM": "059", "LS": "068", "RF": "064", "RS": "035", "RT": "034", "ZZ9": "999"},
    "usps": {"CR": "MA", "PU": "03", "AF": "10", "DF": "EF", "AD": "07", "OD": "OF",
             "FA": "02", "PK": "16", "DL": "01", "DY": "08", "CH": "11", "CC": "10",
             "DM": "11", "LS": "11", "RF": "04", "RS": "09", "RT": None, "ZZ9": "ZZ"},
    "x12_214": {"CR": "XB", "PU": "AF", "AF": "X4", "DF": "P1", "AD": "AV", "OD": "AJ",
                "FA": "AH-AQ", "PK": None, "DL": "D1", "DY": "SD", "CH": "SD-CA", "CC": "X6",
                "DM": "A9", "LS": "A9", "RF": "A7", "RS": None, "RT": "A3", "ZZ9": "ZZ"},
    # DHL's statusCode has five values (pre-transit, transit, delivered, failure, unknown):
    # pickup, out for delivery, attempts, service points and returns are told only in free text.
    "dhl": {"CR": "pre-transit", "PU": None, "AF": "transit", "DF": "transit", "AD": "transit",
            "OD": None, "FA": None, "PK": None, "DL": "delivered", "DY": "transit",
            "CH": "failure", "CC": "transit", "DM": "failure", "LS": "failure",
            "RF": "failure", "RS": None, "RT": None, "ZZ9": "zz"},
    # PostNL event codes (the finest scan PostNL gives); every status has one, with its reason.
    "postnl": {"CR": "A01", "PU": "B04", "AF": "J01", "DF": "Q13", "AD": "X08", "OD": "J05",
               "FA": "K14", "PK": "I08", "DL": "I01", "DY": "V06", "CH": "Y25", "CC": "X04",
               "DM": "Y04", "LS": "Y71", "RF": "Y03", "RS": "K43", "RT": "J63", "ZZ9": "Z99"},
    # Canada Post's domestic hub scans (0400/0410) and, abroad, 4310/4500; Customs is 0810. There
    # is no "returned" code: a return ends at 1420 "being returned to sender".
    "canadapost": {"CR": "3000", "PU": "2300", "AF": "0400", "DF": "0410", "AD": "4310",
                   "OD": "0174", "FA": "1411", "PK": "1701", "DL": "1496", "DY": "0162",
                   "CH": "0810", "CC": "4500", "DM": "0710", "LS": "0179", "RF": "0121",
                   "RS": "1420", "RT": None, "ZZ9": "9999"},
    # UPU EMSEVT events: hubs are transit offices of exchange (EMJ/EMK). EMSEVT has no pre-advice
    # and no return events. "3" is the numeric IPS event type of the UPU API's own example, which
    # no public list maps (connectors/upu_edi.py passes it through as unknown).
    "upu_edi": {"CR": None, "PU": "EMA", "AF": "EMJ", "DF": "EMK", "AD": "EMD", "OD": "EDG",
                "FA": "EMH", "PK": "EDH", "DL": "EMI", "DY": "EDA", "CH": "EME", "CC": "EDC",
                "DM": "EDX", "LS": "EDX", "RF": "EDX", "RS": None, "RT": None, "ZZ9": "3"},
}  # fmt: skip

# Judgement calls: (format, simulator code) -> the reason the carrier's code really yields.
REASON_GAPS: dict[str, dict[str, str]] = {
    # FedEx puts the why of DE/SE in exceptionCode/Description, which the mapping cannot see.
    "fedex": {"FA": "", "DM": "", "LS": "", "RF": ""},
    # UPS status codes carry no hub milestones: "On the way" / "Preparing for delivery".
    "ups": {"AF": "", "DF": "", "AD": ""},
    # 10 "Processed" is what USPS shows at a hub (81 is for shipping partners); damaged and lost
    # mail ends at the Mail Recovery Center: 11 "Dead letter", reason other. usps.csv has no
    # customs code at all, so a customs hold is the same unclassified exception (weakest call).
    "usps": {"AF": "", "CH": "other", "DM": "other", "LS": "other"},
    # Freight carriers report loss as OS&D (over, short and damaged): A9.
    "x12_214": {"LS": "damaged"},
    # "transit" and "failure" are all DHL's statusCode says; the why is in the free text.
    "dhl": {code: "" for code in ("AF", "DF", "AD", "DY", "CH", "DM", "LS", "RF")},
    # No code says lost: 0179 "Item cannot be delivered; more details to be provided" is nearest.
    "canadapost": {"LS": ""},
    # EMH's why is in NonDeliveryReasonCd, whose code list is the UPU's (members only), so the
    # mapping cannot read it; the only exception besides customs is EDX "import terminated".
    "upu_edi": {"FA": "", "DM": "other", "LS": "other", "RF": "other"},
}


@cache
def _rows(mapping: str) -> dict[str, tuple[str, str, str]]:
    """code -> (status, reason, description) of a mapping file, read as the carriers' manual."""
    rows = mapping_rows(MAPPINGS_DIR / f"{mapping}.csv")
    return {r["code"]: (r["status"], r["reason"], r["description"]) for _, r in rows}


def intended(payload_format: str, code: str) -> tuple[str, str]:
    """(status, reason) the simulator means by `code`, as this format can express it."""
    status, reason, _ = _rows("generic").get(code, ("unknown", "", ""))
    return status, REASON_GAPS.get(payload_format, {}).get(code, reason)


def speaks(payload_format: str, code: str) -> bool:
    return CODES[payload_format][code] is not None


def carrier_code(payload_format: str, scan: SimScan) -> str:
    code = CODES[payload_format][scan.code]
    if code is None:
        raise ValueError(f"{payload_format} cannot say {scan.code}; filter with speaks()")
    return code


def describe(payload_format: str, code: str) -> str:
    row = _rows(connectors.mapping_for(payload_format)).get(code)
    return row[2] if row else "Status update"


def wall_time(scan: SimScan) -> datetime:
    """Clock time at the scan's place, to the second; UTC when the carrier omits the zone."""
    at = scan.at.replace(microsecond=0)
    if not scan.zone_given:
        return at
    return at.astimezone(timezone(timedelta(hours=scan.utc_offset_hours)))


def civil_time(scan: SimScan, zone: tzinfo) -> tuple[datetime, bool]:
    """(clock time in `zone` to the second, whether that clock time alone names the instant).

    False only in the repeated autumn hour (fold 1, the second pass), which a reader of the bare
    clock time places an hour early; encoders state the offset there so the time stays exact.
    """
    local = scan.at.replace(microsecond=0).astimezone(zone)
    return local, local.fold == 0


def offset_text(hours: int, pad: bool = True) -> str:
    return f"{'-' if hours < 0 else '+'}{abs(hours):02d}:00" if pad else f"{hours:+d}:00"


def by_parcel(scans: Sequence[SimScan], newest_first: bool) -> list[tuple[str, list[SimScan]]]:
    """Scans per tracking number in first-seen order; the APIs list each parcel's newest first."""
    groups: dict[str, list[SimScan]] = {}
    for scan in scans:
        groups.setdefault(scan.tracking_number, []).append(scan)
    return [(n, sorted(g, key=lambda s: s.at, reverse=newest_first)) for n, g in groups.items()]


def compact_json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def control_id(scans: Sequence[SimScan], digits: int) -> str:
    """A bundle's transaction/control id: derived from its scans, so re-runs are byte-equal."""
    key = "|".join(f"{s.tracking_number}@{s.at.isoformat()}" for s in scans)
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()[:digits]


# Hours a simulated carrier plans from its newest scan to the delivery, by simulator code: the
# simulator's mean step times (tools/simulator.py `_lifecycle`: hub legs 4-20 h + 1-6 h, one to
# four hubs, then arrival, out for delivery and delivery, each step x0.6-1.6), rounded. What a
# carrier knows of its own network, not of this parcel's luck. No plan, no estimate: carriers
# show an estimate while a parcel is on its way (FedEx estimatedDeliveryTimeWindow, developer.
# fedex.com Track API v1; likewise the others' fields), not before pickup, after delivery or
# while it is held.
PLAN_HOURS = {"PU": 71.0, "AF": 45.0, "DF": 41.0, "AD": 16.0, "OD": 4.0, "FA": 16.0,
              "DY": 28.0, "CH": 40.0, "CC": 28.0}  # fmt: skip
# Payload format -> (hours of error per parcel, per scan), standard deviations: how far off each
# simulated carrier's estimates are. A judgement so that carriers differ in the demo report (a
# live forecast closer than a network schedule), not a measurement of the real carriers.
ETA_ERROR_HOURS = {"fedex": (3.0, 2.0), "ups": (4.0, 2.5), "usps": (5.0, 3.0),
                   "dhl": (5.0, 3.0), "postnl": (2.0, 1.5), "canadapost": (6.0, 3.0),
                   "x12_214": (8.0, 4.0)}  # fmt: skip
_HALF_HOUR = 1800


def estimate_after(payload_format: str, newest: SimScan) -> datetime | None:
    """When the carrier expects the delivery after its `newest` scan (UTC, on a half hour), or
    None when it shows no estimate then: its plan plus an error seeded by the parcel and by
    the scan, so a re-run sends the same bytes."""
    plan, error = PLAN_HOURS.get(newest.code), ETA_ERROR_HOURS.get(payload_format)
    if plan is None or error is None:
        return None
    parcel = random.Random(newest.tracking_number)  # str seeds are stable across runs
    scan = random.Random(f"{newest.tracking_number}|{newest.code}|{newest.at.isoformat()}")
    hours = plan + parcel.gauss(0.0, error[0]) + scan.gauss(0.0, error[1])
    end_s = int((newest.at + timedelta(hours=max(hours, 0.5))).timestamp())
    return datetime.fromtimestamp(end_s - end_s % _HALF_HOUR, UTC)


def off_midnight(moment: datetime) -> datetime:
    """Carriers write a day they know no time for as that day's midnight, which the parsers
    read as noon of that day: a simulated time bound never falls on a local midnight."""
    return moment + timedelta(minutes=30) if moment.hour == moment.minute == 0 else moment
