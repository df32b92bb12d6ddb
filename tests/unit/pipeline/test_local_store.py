"""The parcel stage's local store (pipeline/state/local.py) on a real RocksDB in a temp dir:
offsets, the deadline index and its stale entries, restore from changelog bytes, the hot set."""

from __future__ import annotations

from pathlib import Path

from pipeline.state.local import LocalStore, StoredParcels, StoreReader
from tracking import state_codec
from tracking.state import ParcelState


def value(tracking_number: str, deadline: int | None, version: int = 1) -> bytes:
    return state_codec.encode(ParcelState(tracking_number, version=version), deadline)


def test_a_write_is_read_back_with_its_offset(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "p0")
    assert store.next_offset() == 0 and store.get("A") is None
    store.write([(b"A", value("A", None))], next_offset=7)
    store.write([(b"B", value("B", None))])  # no changelog write: the offset stays
    assert store.next_offset() == 7
    assert state_codec.decode(store.get("A") or b"").tracking_number == "A"
    store.close()
    reopened = LocalStore(tmp_path / "p0")
    assert reopened.next_offset() == 7 and reopened.get("B") is not None
    reopened.close()


def test_due_returns_current_deadlines_once_and_skips_stale_ones(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "p0")
    store.write([(b"A", value("A", 100)), (b"B", value("B", 200)), (b"C", value("C", 300))])
    store.write([(b"A", value("A", 250))])  # A moved on: its index entry at 100 is stale
    due, reached = store.due(200)
    assert due == ["B"] and len(reached) == 2
    store.write([(b"B", value("B", None))], reached)
    assert store.due(200) == ([], [])
    assert store.due(1000)[0] == ["A", "C"]
    store.close()


def test_restore_copies_bytes_and_rebuilds_the_index_from_headers(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "p0")
    chunk = [
        (b"A", value("A", 50), 0),
        (b"B", value("B", 70), 1),
        (b"A", value("A", 90, version=2), 2),
        (b"B", None, 3),  # a tombstone
    ]
    store.restore(chunk)
    assert store.next_offset() == 4
    assert store.get("A") == chunk[2][1] and store.get("B") is None
    assert store.due(80)[0] == [] and store.due(100)[0] == ["A"]
    store.close()


def test_the_hot_set_is_trimmed_only_after_the_write(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "p0")
    parcels = StoredParcels(store, capacity=2)
    for name in "ABC":
        parcels[name] = ParcelState(name)
        parcels.schedule(name, 1, [10])
    assert len(parcels) == 3, "nothing unwritten is dropped"
    deadlines, _ = parcels.take_changes()
    store.write([(k.encode(), value(k, d)) for k, d in deadlines.items()])
    parcels.written()
    assert len(parcels) == 2 and parcels.pop("A") is None, "least recently used out"
    assert parcels.get("A") is not None and parcels.reads == 1, "read back from disk"
    parcels.forget()
    assert len(parcels) == 0 and parcels.get("B") is not None
    store.close()


def test_a_changelog_of_avro_states_is_restored_in_the_compact_encoding() -> None:
    from pipeline.codec import AvroCodec
    from pipeline.runtime.track import compact_value

    codec = AvroCodec()
    state = ParcelState("A", version=3, carrier="acme")
    converted = compact_value(codec, codec.encode("ParcelState", state.to_record())) or b""
    assert state_codec.decode(converted).to_record() == state.to_record()
    assert state_codec.deadline_of(converted) == 1, "due at once: the next tick reschedules it"
    compact = state_codec.encode(state, 99)
    assert compact_value(codec, compact) is compact and compact_value(codec, None) is None


def test_a_reader_in_another_role_sees_what_the_owner_wrote(tmp_path: Path) -> None:
    """StoreReader (RocksDB secondary): what the lookup API reads while the step writes."""
    store = LocalStore(tmp_path / "p0", deadlines=False)
    store.write([(b"O-1", b"one")], extra=[(b"rCUST-1\0O-1", b"")], next_offset=1)
    reader = StoreReader(tmp_path / "p0", tmp_path / "reader", max_lag=3600)
    assert reader.get("O-1") == b"one"
    store.write([(b"O-2", b"two"), (b"O-1", None)], extra=[(b"rCUST-1\0O-2", b"")])
    assert reader.get("O-2") is None, "not caught up yet (max_lag)"
    reader.catch_up(force=True)
    assert reader.get("O-2") == b"two" and reader.get("O-1") is None
    assert reader.prefix(b"rCUST-1\0") == [b"rCUST-1\0O-1", b"rCUST-1\0O-2"]
    assert reader.prefix(b"rCUST-1\0", limit=1) == [b"rCUST-1\0O-1"]
    assert store.keys(b"s") == [b"sO-2"]
    reader.close()
    store.close()


def test_a_store_without_deadlines_keeps_no_index_of_any_value(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "p0", deadlines=False)
    value = state_codec.encode(ParcelState("TN1"), 123)  # a header that reads as a deadline
    store.write([(b"TN1", value)])
    assert store.keys(b"t") == []
    store.close()
