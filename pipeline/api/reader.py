"""The live state the lookup API answers from: the keyed children's local stores (parcels, and
the order stage's copy of its orders), opened read-only from the worker's web process as RocksDB
secondaries (pipeline/state/local.py `StoreReader`).

Why these and not ClickHouse: the stores are what the parcel stage itself reads, written as
soon as the changelog acknowledged each batch, so an answer is never older than the last
batch (ClickHouse lags by the sink's batch), costs a few µs of disk reads instead of a query,
and works with the embedded chDB, which only the sink process may open. The keyed children are
never asked anything: a lookup cannot slow the pipeline, nor wait behind its batches.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable

from pipeline import topics
from pipeline.codec import AvroCodec
from pipeline.settings import Settings
from pipeline.state.local import StoreReader
from tracking import state_codec
from tracking.orders import OrderState
from tracking.state import ParcelState

log = logging.getLogger(__name__)


class LiveState:
    def __init__(self, settings: Settings, codec: AvroCodec | None = None) -> None:
        self._settings = settings
        self._codec = codec or AvroCodec()
        self.parcels_topic = topics.PARCEL_STATE.topic(settings)
        self.orders_topic = topics.ORDER_STATE.topic(settings)
        self._readers: dict[tuple[str, int], StoreReader] = {}
        self._secondary = settings.state_dir / "readers" / str(os.getpid())

    def partition_of(self, key: str) -> int:
        return topics.partition_for(key, self._settings.partitions)

    def _reader(self, topic: str, partition: int) -> StoreReader | None:
        reader = self._readers.get((topic, partition))
        if reader is None:
            path = self._settings.stores_dir / topic / str(partition)
            if not (path / "CURRENT").exists():
                return None  # not (yet) assigned to this worker
            reader = StoreReader(path, self._secondary / topic / str(partition))
            self._readers[topic, partition] = reader
        return reader

    def raw(self, topic: str, key: str) -> bytes | None:
        """The stored bytes of a parcel (parcels_topic) or an order (orders_topic)."""
        partition = self.partition_of(key)
        reader = self._reader(topic, partition)
        if reader is None:
            return None
        try:
            return reader.get(key)
        except Exception:  # noqa: BLE001  # the owner rebuilt its store: open it again
            log.warning("reopening the store of %s[%d]", topic, partition, exc_info=True)
            self._forget(topic, partition)
            reader = self._reader(topic, partition)
            return None if reader is None else reader.get(key)

    def _forget(self, topic: str, partition: int) -> None:
        reader = self._readers.pop((topic, partition), None)
        if reader is not None:
            reader.close()

    def parcel(self, tracking_number: str) -> ParcelState | None:
        """The parcel's state; one whose state left after the retention reads as an empty
        state with `evicted_at_ms` set."""
        raw = self.raw(self.parcels_topic, tracking_number)
        return None if raw is None else state_codec.decode(raw)

    def order(self, order_id: str) -> OrderState | None:
        raw = self.raw(self.orders_topic, order_id)
        return None if raw is None else self.decode_order(raw)

    def decode_order(self, raw: bytes) -> OrderState:
        return OrderState.from_record(self._codec.decode_as("OrderState", raw))

    def encode_order(self, order: OrderState) -> bytes:
        return self._codec.encode("OrderState", order.to_record())

    def orders_of(
        self, customer_ref: str, partitions: Iterable[int] | None = None, limit: int = 200
    ) -> list[OrderState]:
        """The orders with this customer reference in these order partitions' copies (all
        this machine has, by default)."""
        prefix = b"r" + customer_ref.encode() + b"\0"
        found: list[OrderState] = []
        for partition in range(self._settings.partitions) if partitions is None else partitions:
            reader = self._reader(self.orders_topic, partition)
            if reader is None:
                continue
            for key in reader.prefix(prefix, limit - len(found)):
                order = self.order(key[len(prefix) :].decode())
                if order is not None and order.customer_ref == customer_ref:  # index may lag
                    found.append(order)
        return found

    def close(self) -> None:
        for topic, partition in list(self._readers):
            self._forget(topic, partition)
        shutil.rmtree(self._secondary, ignore_errors=True)
