"""Every topic the pipeline reads or writes, its partitioning and its key, declared once.

All keyed topics use the tracking number and share one partition count, so a parcel's scans,
its shipment registration and its state changelog meet in the same partition number and one
worker owns all of it. Partitions are chosen with Kafka's own murmur2 partitioner, so producers
in any language that key by tracking number land where we expect.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka.admin import AdminClient, NewTopic

from pipeline.settings import Settings


@dataclass(frozen=True, slots=True)
class TopicSpec:
    suffix: str
    value_schema: str
    key: str
    compacted: bool = False
    doc: str = ""
    config: tuple[tuple[str, str], ...] = ()

    def topic(self, settings: Settings) -> str:
        """This topic's name in a deployment: `<prefix>.<suffix>`."""
        return settings.topic(self.suffix)


RAW = TopicSpec(
    "raw", "RawCarrierEvent", "tracking number, else payload id", doc="carrier payloads"
)
SHIPMENTS = TopicSpec("shipments", "ShipmentRegistered", "tracking number", doc="merchant side")
EVENTS = TopicSpec("events", "TrackingEventBatch", "partition (batched)", doc="normalized scans")
TRACKED_EVENTS = TopicSpec(
    "tracked-events",
    "TrackingEventBatch",
    "partition (batched)",
    doc="scans after dedup, for the ClickHouse sink",
)
PARCEL_STATE = TopicSpec(
    "parcel-state", "ParcelState", "tracking number", compacted=True, doc="state changelog"
)
NOTIFICATIONS = TopicSpec("notifications", "Notification", "tracking number", doc="for senders")
DEAD_LETTERS = TopicSpec("dead-letters", "DeadLetter", "raw event id", doc="unprocessable input")

EXCEPTIONS = TopicSpec("exceptions", "ParcelException", "tracking number", doc="opened/resolved")
ORDER_UPDATES = TopicSpec(
    "order-updates",
    "OrderParcelUpdateBatch",
    "partition of the order id (batched)",
    doc="parcel summaries for the order stage",
)
ORDER_STATE = TopicSpec("order-state", "OrderState", "order id", compacted=True, doc="changelog")
MODELS = TopicSpec(
    "models",
    "ModelSnapshot",
    "model name",
    compacted=True,
    doc="ETA and gap models per partition",
    config=(("max.message.bytes", "16777216"),),  # a model of many lanes is megabytes
)

ALL_TOPICS = (
    RAW,
    SHIPMENTS,
    EVENTS,
    TRACKED_EVENTS,
    PARCEL_STATE,
    NOTIFICATIONS,
    DEAD_LETTERS,
    EXCEPTIONS,
    ORDER_UPDATES,
    ORDER_STATE,
    MODELS,
)


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the Java client's default partitioner hash)."""
    length = len(data)
    seed, m, r = 0x9747B28C, 0x5BD1E995, 24
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner would pick for this key."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def ensure_topics(settings: Settings, timeout: float = 30.0) -> None:
    """Create missing topics; existing ones are left alone (their partition count must match)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    existing = admin.list_topics(timeout=timeout).topics
    wanted = []
    for spec in ALL_TOPICS:
        name = spec.topic(settings)
        if name in existing:
            count = len(existing[name].partitions)
            if count != settings.partitions:
                raise RuntimeError(
                    f"topic {name} has {count} partitions, settings say {settings.partitions}: "
                    "co-partitioned topics must match (recreate it or change "
                    "PARCELSTREAM_PARTITIONS)"
                )
            continue
        config = {"cleanup.policy": "compact"} if spec.compacted else {}
        config.update(spec.config)
        wanted.append(
            NewTopic(name, settings.partitions, settings.replication_factor, config=config)
        )
    # Faust's leader-election topic: the app does not declare topics itself (ours need their
    # configs), so without this Faust logs an error at every start.
    leader = f"{settings.app_id}-__assignor-__leader"
    if leader not in existing:
        wanted.append(NewTopic(leader, 1, settings.replication_factor))
    if not wanted:
        return
    for name, future in admin.create_topics(wanted, operation_timeout=timeout).items():
        try:
            future.result()
        except Exception as exc:  # noqa: BLE001
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise RuntimeError(f"cannot create topic {name}: {exc}") from exc
