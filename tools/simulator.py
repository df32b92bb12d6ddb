"""A realistic multi-carrier feed: shipments registered by merchants, parcels living through
their lifecycles, and carriers that deliver scans late, out of order, twice, and sometimes
broken.

Generation is pure and seeded (`simulate`); `publish` sends the result through the same
ingest path as real carriers. Each carrier speaks a real format (`FORMATS`, encoded by
tools/sim_formats.py), so the demo runs every kind of parser the pipeline has.

The returned `Manifest` is the ground truth the demo report is checked against: every unique
scan must land once, each parcel must end in the status its lifecycle ends in (as far as its
carrier can say it), and each malformed payload must be dead-lettered.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.ingestion.publisher import Publisher, raw_envelope
from tools.sim_formats import SimScan, broken_payload, encode, intended, speaks

# Carrier -> the format it posts. The carrier APIs' parsers (fedex, ups, usps, dhl, postnl,
# canadapost) name the carrier themselves, so those carriers must be called exactly that; the
# X12, CSV and UPU EDI parsers take the envelope's carrier (X12 before the B10 SCAC, CSV when the
# row has none).
FORMATS = {
    "acme-express": "generic",  # the parcelstream JSON webhook
    "fedex": "fedex",  # Track API responses, polled
    "ups": "ups",  # Track API responses, polled
    "usps": "usps",  # Tracking v3, batch form
    "dhl": "dhl",  # Shipment Tracking - Unified API responses, polled
    "postnl": "postnl",  # Shipping Status API v2 CompleteStatus responses, polled
    "canadapost": "canadapost",  # Get Tracking Details XML (REST, or SOAP for several PINs)
    "orbit-logistics": "x12_214",  # a freight carrier's EDI file drops
    "bluebird-parcel": "csv",  # a regional carrier's spreadsheet exports
    "meridian-post": "upu_edi",  # a national post's EMSEVT events, from the UPU IPS EDI service
}
CARRIERS = tuple(FORMATS)
# Scans per payload: webhooks and pollers post as scans arrive, file drops collect more.
BUNDLE_SIZES = {"x12_214": (20, 80), "csv": (20, 80)}
WEBHOOK_BUNDLE = (5, 25)
SERVICE_LEVELS = (("standard", 0.6), ("expedited", 0.25), ("economy", 0.15))
SEGMENTS = (("standard", 0.75), ("vip", 0.1), ("business", 0.15))
REGIONS = (
    ("US", "CA", "Los Angeles", "90012", -8), ("US", "NY", "New York", "10001", -5),
    ("US", "TX", "Dallas", "75201", -6), ("US", "IL", "Chicago", "60601", -6),
    ("DE", "BE", "Berlin", "10115", 1), ("DE", "BY", "Munich", "80331", 1),
    ("NL", "NH", "Amsterdam", "1012", 1), ("GB", "ENG", "London", "EC1A", 0),
    ("FR", "IDF", "Paris", "75001", 1), ("CA", "ON", "Toronto", "M5H", -5),
)  # fmt: skip
HUBS = ("Memphis", "Louisville", "Leipzig", "Cologne", "Eindhoven", "Indianapolis", "Liege")
# Least time between two scans of a parcel. An event id may be built from the time to the minute
# only (and no place), so two scans of a parcel that share a code must never share a minute: a
# gap of 60 s or more keeps them apart even after the encoders drop the sub-second part. (The
# lifecycle's steps are 36 min or more; the floor keeps that true if a step is ever shortened.)
SCAN_GAP = timedelta(minutes=1)

# Lifecycle endings: (weight, scan codes after pickup + hubs, final canonical status)
ENDINGS: tuple[tuple[float, tuple[str, ...], str], ...] = (
    (0.70, ("AD", "OD", "DL"), "delivered"),
    (0.07, ("AD", "OD", "FA", "OD", "DL"), "delivered"),
    (0.04, ("AD", "OD", "FA", "OD", "FA", "PK"), "available_for_pickup"),
    (0.04, ("DY", "AD", "OD", "DL"), "delivered"),
    (0.03, ("CH", "CC", "AD", "OD", "DL"), "delivered"),
    (0.02, ("DM",), "exception"),
    (0.02, ("LS",), "exception"),
    (0.03, ("AD", "OD", "RF", "RS", "RT"), "returned"),
    (0.05, ("AD",), "in_transit"),  # still travelling when the feed ends
)


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


@dataclass
class Manifest:
    """What the simulator sent; the demo report must reproduce these counts."""

    parcels: int = 0
    orders: int = 0
    returns: int = 0
    unique_events: int = 0
    duplicate_deliveries: int = 0
    unknown_code_events: int = 0
    payloads: int = 0
    malformed_payloads: int = 0
    final_status: dict[str, int] = field(default_factory=dict)
    by_carrier: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls(**json.loads(text))


@dataclass
class Simulation:
    shipments: list[dict[str, Any]]
    payloads: list[tuple[str, str, bytes]]  # (carrier, payload format, body)
    manifest: Manifest
    scans: list[SimScan] = field(default_factory=list)  # every unique scan sent: for tests


def _lifecycle(
    rng: random.Random,
    carrier: str,
    tn: str,
    start: datetime,
    origin: tuple[Any, ...],
    dest: tuple[Any, ...],
) -> tuple[list[SimScan], str]:
    """The parcel's scans and final status, as far as its carrier's format can tell them: a scan
    the format has no code for is never sent, and the status then ends where the feed ends."""
    weights = [w for w, _, _ in ENDINGS]
    _, tail, final = rng.choices(ENDINGS, weights)[0]
    zone_given = rng.random() > 0.1  # one in ten carriers' scans come without a zone
    scans: list[SimScan] = []
    at = start

    def scan(code: str, place: tuple[Any, ...] | str, hours: float) -> None:
        nonlocal at
        step = timedelta(hours=hours * rng.uniform(0.6, 1.6))
        at = at + (max(step, SCAN_GAP) if scans else step)
        if isinstance(place, str):
            city, region, country, postal, offset = place, "", "", "", 0
        else:
            country, region, city, postal, offset = place
        scans.append(
            SimScan(carrier, tn, code, at, city, region, country, postal, offset, zone_given)
        )

    scan("CR", origin, 0)
    scan("PU", origin, rng.uniform(2, 30))
    for _ in range(rng.randint(1, 4)):
        scan("AF", rng.choice(HUBS), rng.uniform(4, 20))
        scan("DF", scans[-1].city, rng.uniform(1, 6))
    if rng.random() < 0.03:
        scan("ZZ9", rng.choice(HUBS), 2)  # a code no mapping knows: must surface as unknown
    for code in tail:
        scan(code, dest, rng.uniform(2, 20) if code != "DL" else rng.uniform(1, 6))
    payload_format = FORMATS[carrier]
    said = [s for s in scans if speaks(payload_format, s.code)]
    if said[-1] is not scans[-1]:  # e.g. FedEx cannot say "returned": it ends at RS
        final = intended(payload_format, said[-1].code)[0]
    return said, final


def simulate(parcels: int, seed: int = 7, now: datetime | None = None) -> Simulation:
    rng = random.Random(seed)
    now = now or datetime.now(UTC).replace(microsecond=0)
    manifest = Manifest()
    shipments: list[dict[str, Any]] = []
    all_scans: list[SimScan] = []
    final_status: Counter[str] = Counter()
    carrier_counts: Counter[str] = Counter()
    order_number = 0
    made = 0
    while made < parcels:
        order_number += 1
        order_id = f"ORD-{seed}-{order_number:07d}"
        segment = _pick(rng, SEGMENTS)
        dest = rng.choice(REGIONS)
        count = min(parcels - made, rng.choices((1, 2, 3), (0.75, 0.18, 0.07))[0])
        is_return = count == 1 and made > 0 and rng.random() < 0.06
        customer_ref = ""  # one customer places the order: its first parcel's draw
        for _ in range(count):
            made += 1
            carrier = rng.choice(CARRIERS)
            service = _pick(rng, SERVICE_LEVELS)
            origin = rng.choice(REGIONS)
            tn = f"{carrier[:2].upper()}{seed:02d}{made:09d}"
            start = now - timedelta(days=rng.uniform(3, 12))
            src, dst = (dest, origin) if is_return else (origin, dest)
            scans, final = _lifecycle(rng, carrier, tn, start, src, dst)
            promise_days = {"expedited": 2, "standard": 5, "economy": 8}[service]
            # drawn for every parcel, so the random sequence (every seed's feed) stays as it was
            drawn = f"CUST-{rng.randint(1, parcels):06d}"
            customer_ref = customer_ref or drawn
            shipments.append({
                "order_id": order_id, "tracking_number": tn, "carrier": carrier,
                "service_level": service,
                "promised_delivery": int((start + timedelta(days=promise_days)).timestamp() * 1000),
                "customer_ref": customer_ref,
                "customer_segment": segment,
                "origin": {"city": src[2], "region": src[1], "postal_code": src[3],
                           "country": src[0]},
                "destination": {"city": dst[2], "region": dst[1], "postal_code": dst[3],
                                "country": dst[0]},
                "is_return": is_return,
                "registered_at": int(start.timestamp() * 1000),
            })  # fmt: skip
            all_scans.extend(scans)
            final_status[final] += 1
            carrier_counts[carrier] += len(scans)
            manifest.unknown_code_events += sum(s.code == "ZZ9" for s in scans)
            manifest.returns += is_return
    manifest.parcels = made
    manifest.orders = order_number
    manifest.unique_events = len(all_scans)
    manifest.final_status = dict(final_status)
    manifest.by_carrier = dict(carrier_counts)

    # Carriers deliver roughly in time order, but late and out of order: sort by a jittered
    # arrival time, then resend some scans again later (duplicates).
    arrivals = [(s.at + timedelta(hours=rng.expovariate(1 / 3)), s) for s in all_scans]
    duplicates = [
        (s.at + timedelta(hours=rng.uniform(1, 48)), s) for s in all_scans if rng.random() < 0.05
    ]
    manifest.duplicate_deliveries = len(duplicates)
    arrivals.extend(duplicates)
    arrivals.sort(key=lambda pair: pair[0])

    # Bundles: each carrier posts its scans as they arrive, a bundle at a time, in its format.
    payloads: list[tuple[str, str, bytes]] = []
    open_bundles: dict[str, tuple[int, list[SimScan]]] = {}
    for _, scan in arrivals:
        payload_format = FORMATS[scan.carrier]
        if scan.carrier not in open_bundles:
            size = rng.randint(*BUNDLE_SIZES.get(payload_format, WEBHOOK_BUNDLE))
            open_bundles[scan.carrier] = (size, [])
        size, bundle = open_bundles[scan.carrier]
        bundle.append(scan)
        if len(bundle) >= size:
            payloads.append((scan.carrier, payload_format,
                             encode(payload_format, scan.carrier, bundle)))  # fmt: skip
            del open_bundles[scan.carrier]
    for carrier, (_, bundle) in open_bundles.items():
        payloads.append((carrier, FORMATS[carrier], encode(FORMATS[carrier], carrier, bundle)))
    # A few broken payloads, spread over the carriers so every kind of parser rejects some.
    first = rng.randrange(len(CARRIERS))
    for i in range(max(3, parcels // 250)):
        carrier = CARRIERS[(first + i) % len(CARRIERS)]
        broken = broken_payload(FORMATS[carrier], i)
        payloads.insert(rng.randrange(len(payloads) + 1), (carrier, FORMATS[carrier], broken))
        manifest.malformed_payloads += 1
    manifest.payloads = len(payloads)
    return Simulation(shipments, payloads, manifest, all_scans)


def publish(
    simulation: Simulation,
    publisher: Publisher,
    waves: int = 1,
    between_waves: Callable[[], object] | None = None,
) -> None:
    """Shipments first (merchants register before carriers scan), then the carrier feed in
    arrival order, optionally in `waves` with `between_waves()` called after each one (the demo
    waits for the pipeline there, so early deliveries teach the ETA model before later pickups
    arrive, as they would over a real day)."""
    for shipment in simulation.shipments:
        publisher.publish_shipment(shipment)
    payloads = simulation.payloads
    size = max(1, -(-len(payloads) // max(1, waves)))
    for start in range(0, len(payloads), size):
        for carrier, payload_format, body in payloads[start : start + size]:
            publisher.publish_raw(raw_envelope(carrier, payload_format, body, source="simulator"))
        publisher.flush()
        if between_waves is not None:
            between_waves()
