"""The parcel stage's state on local disk: one RocksDB per changelog partition, a bounded hot set
of decoded parcels in memory, and the partition's deadlines as an index in the same store.

Why RocksDB (through rocksdict): it is what Kafka Streams, Faust and Quix Streams keep stage
state in; writes are sorted batches (an LSM tree: a batch of changed parcels costs a few µs a
parcel), reads of recent keys come from its block cache, and an ordered key space gives the
deadline index for free. LMDB reads faster but rewrites B-tree pages on every write, which is
the wrong trade for a stage that writes every parcel it reads.

Keys (one store per partition):
    s<tracking number>                    the parcel's bytes, as in the changelog
                                          (tracking/state_codec.py: state or eviction marker),
                                          whose fixed header holds its current next deadline
    t<deadline 8 bytes><tracking number>  the deadline index; an entry whose parcel's header
                                          moved on is stale and dropped when reached
    ~offset                               the next changelog offset the store has not seen

A parcel whose deadline moved while its state did not (a tick that changed nothing) has its
bytes rewritten here with the new header and not in the changelog: restored from there, it
keeps the older deadline, which fires early and reschedules it (a tick is idempotent).

Consistency: the store is written only after the changelog write it mirrors was acknowledged
(TopicSink.after), in one atomic batch with the changelog offset that write reached. So the
store always equals a prefix of its changelog, and a restart reads only the tail past
`~offset`. The write-ahead log stays on but is never synced: a killed process loses nothing
(the log is in the OS's page cache), a crashed machine may lose its last writes, which leaves
an older prefix that the tail replay covers. The changelog is the durability either way.
"""

from __future__ import annotations

import logging
import shutil
import struct
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from rocksdict import (
    AccessType,
    BlockBasedOptions,
    Cache,
    Options,
    Rdict,
    WriteBatch,
    WriteOptions,
)

from tracking import state_codec
from tracking.state import ParcelState

log = logging.getLogger(__name__)

_OFFSET_KEY = b"~offset"
_U64 = struct.Struct(">Q")


_NO_WAL = WriteOptions()
_NO_WAL.disable_wal = True  # type: ignore[method-assign,assignment]  # a property; the stubs say method

# One block cache for every store of the process: memory stays bounded however many
# partitions a worker holds (with at most two 16 MB memtables a store).
_BLOCK_CACHE = Cache(64 * 1024 * 1024)


def _options() -> Options:
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_max_background_jobs(2)
    options.set_write_buffer_size(16 * 1024 * 1024)
    options.set_max_write_buffer_number(2)
    table = BlockBasedOptions()
    table.set_block_cache(_BLOCK_CACHE)
    # A scan of a parcel the store has never seen (most first scans) is answered by the bloom
    # filter without reading a block.
    table.set_bloom_filter(10, False)
    table.set_cache_index_and_filter_blocks(True)
    table.set_pin_l0_filter_and_index_blocks_in_cache(True)
    options.set_block_based_table_factory(table)
    return options


def _keys_with(db: Rdict, prefix: bytes, limit: int | None) -> list[bytes]:
    keys: list[bytes] = []
    it = db.iter()
    it.seek(prefix)
    while it.valid() and (limit is None or len(keys) < limit):
        key = it.key()
        if not key.startswith(prefix):
            break
        keys.append(key)
        it.next()
    del it
    return keys


class LocalStore:
    """One partition's RocksDB. Keys are bytes; values are the changelog's bytes. With
    `deadlines` the values are parcel states whose header feeds the deadline index; without,
    they are any bytes (the order stage's copy of its orders, `pipeline/runtime/orders.py`)."""

    def __init__(self, path: Path, deadlines: bool = True) -> None:
        self.path = path
        self._deadlines = deadlines
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = Rdict(str(path), _options())

    # -- reads -------------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        return self._db.get(b"s" + key.encode())  # type: ignore[no-any-return]

    def next_offset(self) -> int:
        raw = self._db.get(_OFFSET_KEY)
        return 0 if raw is None else int(_U64.unpack(raw)[0])

    def keys(self, prefix: bytes) -> list[bytes]:
        """Every key starting with `prefix` (b"s": the stored items, with their b"s")."""
        return _keys_with(self._db, prefix, None)

    def size(self) -> tuple[int, int]:
        """RocksDB's estimates of (keys, live data bytes), for the state-size metrics."""
        db = self._db
        keys = db.property_int_value("rocksdb.estimate-num-keys") or 0
        return keys, db.property_int_value("rocksdb.estimate-live-data-size") or 0

    def compacting(self) -> bool:
        """Whether RocksDB has background compactions running or pending (after a restore)."""
        db = self._db
        return bool(
            db.property_int_value("rocksdb.num-running-compactions")
            or db.property_int_value("rocksdb.compaction-pending")
            or db.property_int_value("rocksdb.num-running-flushes")
        )

    def due(self, now_ms: int) -> tuple[list[str], list[bytes]]:
        """(parcels whose current deadline is at or before now, the index keys reached).
        The caller deletes the keys with its next `write`, after its outputs are durable, so
        a crash in between fires the deadlines again instead of losing them."""
        reached: list[bytes] = []
        candidates: list[tuple[bytes, int]] = []
        it = self._db.iter()
        it.seek(b"t")
        limit = _U64.pack(now_ms)
        while it.valid():
            key = it.key()
            if key[:1] != b"t" or key[1:9] > limit:
                break
            reached.append(key)
            candidates.append((key[9:], _U64.unpack_from(key, 1)[0]))
            it.next()
        del it
        if not candidates:
            return [], reached
        values: list[bytes | None] = self._db.get([b"s" + name for name, _ in candidates])  # type: ignore[assignment]
        deadline_of = state_codec.deadline_of
        due = {
            name.decode(): None
            for (name, deadline), value in zip(candidates, values, strict=True)
            if value is not None and deadline_of(value) == deadline
        }
        return list(due), reached

    # -- writes ------------------------------------------------------------------------------

    def write(
        self,
        values: Iterable[tuple[bytes, bytes | None]],
        reached: Iterable[bytes] = (),
        next_offset: int | None = None,
        bulk: bool = False,
        extra: Iterable[tuple[bytes, bytes | None]] = (),
    ) -> None:
        """One atomic batch: parcel bytes (None deletes) with their deadlines' index entries,
        index keys to drop, other keys of the caller's own (`extra`: outside the `s`, `t` and
        `~` key spaces; None deletes), and the changelog offset all of it is consistent with."""
        batch = WriteBatch(raw_mode=True)
        deadline_of = state_codec.deadline_of if self._deadlines else None
        for key, value in values:
            if value is None:
                batch.delete(b"s" + key)
                continue
            batch.put(b"s" + key, value)
            deadline = deadline_of(value) if deadline_of is not None else None
            if deadline is not None:
                batch.put(b"t" + _U64.pack(deadline) + key, b"")
        for index_key in reached:
            batch.delete(index_key)
        for key, value in extra:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        if next_offset is not None:
            batch.put(_OFFSET_KEY, _U64.pack(next_offset))
        if bulk:
            self._db.write(batch, _NO_WAL)
        else:
            self._db.write(batch)

    def restore(self, chunk: list[tuple[bytes, bytes | None, int]]) -> None:
        """Copy changelog messages into the store as they are: no state is decoded, the
        deadline index is rebuilt from each value's fixed header."""
        self.write(
            [(key, value) for key, value, _ in chunk], next_offset=chunk[-1][2] + 1, bulk=True
        )

    def restored(self) -> None:
        """A restore's writes skip the write-ahead log (each batch holds its offset, so a crash
        mid-restore leaves an older, consistent prefix); flushing them to files at its end
        keeps the WAL-logged writes that follow from outliving the restore they build on."""
        self._db.flush()

    def close(self) -> None:
        self._db.flush()
        self._db.close()

    def destroy(self) -> None:
        """Delete the store (it no longer matches its changelog)."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)


class StoreReader:
    """Another process's view of a LocalStore (RocksDB's secondary mode): reads what the
    owning step wrote, never writes, and never blocks it. It sees new writes after
    `catch_up` (a few hundred µs when little changed), which `get` and `prefix` do at most
    every `max_lag` seconds; the lookup API (pipeline/api) reads live state this way."""

    def __init__(self, path: Path, secondary: Path, max_lag: float = 0.1) -> None:
        secondary.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.set_max_open_files(-1)  # RocksDB requires it of a secondary instance
        self._db = Rdict(str(path), options, access_type=AccessType.secondary(str(secondary)))
        self._max_lag = max_lag
        self._caught_up = time.monotonic()

    def catch_up(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._caught_up >= self._max_lag:
            self._db.try_catch_up_with_primary()
            self._caught_up = now

    def get(self, key: str) -> bytes | None:
        self.catch_up()
        return self._db.get(b"s" + key.encode())  # type: ignore[no-any-return]

    def prefix(self, prefix: bytes, limit: int = 1000) -> list[bytes]:
        """Keys (of the owner's own key spaces, `extra`) that start with `prefix`."""
        self.catch_up()
        return _keys_with(self._db, prefix, limit)

    def close(self) -> None:
        self._db.close()


class StoredParcels:
    """A partition's parcels as the pure stage sees them (tracking.parcels.Parcels and Timers):
    a bounded hot set of decoded states in front of the LocalStore.

    Parcels changed by a batch stay in the hot set until the batch's store write (`written`),
    so nothing unwritten is ever dropped; only then is the set trimmed to `capacity`, least
    recently used first. A failed attempt calls `forget`, and the next read comes from the
    store, which holds only what the changelog acknowledged.
    """

    def __init__(self, store: LocalStore, capacity: int) -> None:
        self.store = store
        self.capacity = capacity
        self._hot: dict[str, ParcelState] = {}
        self._deadlines: dict[str, int | None] = {}
        self._reached: list[bytes] = []
        self.reads = 0  # parcels read from disk (hot-set misses)

    # -- tracking.parcels.Parcels ------------------------------------------------------------

    def get(self, tracking_number: str) -> ParcelState | None:
        hot = self._hot
        state = hot.pop(tracking_number, None)
        if state is None:
            raw = self.store.get(tracking_number)
            if raw is None:
                return None
            self.reads += 1
            state = state_codec.decode(raw)
        hot[tracking_number] = state  # most recently used last
        return state

    def __getitem__(self, tracking_number: str) -> ParcelState:
        state = self.get(tracking_number)
        if state is None:
            raise KeyError(tracking_number)
        return state

    def __setitem__(self, tracking_number: str, state: ParcelState) -> None:
        self._hot[tracking_number] = state

    def pop(self, tracking_number: str, default: None = None) -> ParcelState | None:
        return self._hot.pop(tracking_number, default)

    def __len__(self) -> int:
        return len(self._hot)

    # -- tracking.parcels.Timers -------------------------------------------------------------

    def schedule(self, tracking_number: str, version: int, deadlines: list[int]) -> None:
        self._deadlines[tracking_number] = min(deadlines) if deadlines else None

    def due(self, now_ms: int) -> list[str]:
        due, reached = self.store.due(now_ms)
        self._reached.extend(reached)
        return due

    # -- the batch's write -------------------------------------------------------------------

    def take_changes(self) -> tuple[dict[str, int | None], list[bytes]]:
        """The deadlines scheduled and index keys reached since the last call, for the store
        write that follows the batch's changelog write."""
        deadlines, reached = self._deadlines, self._reached
        self._deadlines, self._reached = {}, []
        return deadlines, reached

    def written(self) -> None:
        """The batch is in the store: trim the hot set to its capacity."""
        hot = self._hot
        excess = len(hot) - self.capacity
        if excess > 0:
            for name in list(hot)[:excess]:
                del hot[name]

    def forget(self) -> None:
        self._hot.clear()
        self._deadlines.clear()
        self._reached.clear()


def restore_partition(
    store: LocalStore,
    chunks: Iterable[list[tuple[bytes, bytes | None, int]]],
    name: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Copy a changelog's tail into the store, logging progress (and telling `progress` the
    offset reached after each chunk); returns messages copied."""
    started = last_log = time.monotonic()
    copied = 0
    for chunk in chunks:
        store.restore(chunk)
        copied += len(chunk)
        if progress is not None:
            progress(chunk[-1][2] + 1)
        now = time.monotonic()
        if now - last_log >= 5.0:
            log.info("restoring %s: %d messages so far (%.0f/s), at offset %d", name, copied,
                     copied / (now - started), chunk[-1][2])  # fmt: skip
            last_log = now
    if copied:
        store.restored()
    return copied
