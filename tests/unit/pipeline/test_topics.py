from __future__ import annotations

import ctypes

import pytest

from pipeline.topics import murmur2, partition_for


@pytest.mark.parametrize(
    ("key", "signed_hash"),
    # Vectors from Kafka's own UtilsTest, so our partitions match the Java client's.
    [
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_murmur2_matches_kafka(key: bytes, signed_hash: int) -> None:
    assert ctypes.c_int32(murmur2(key)).value == signed_hash


def test_partition_is_stable_and_in_range() -> None:
    assert all(0 <= partition_for(f"TN{i}", 4) < 4 for i in range(1000))
    assert partition_for("TN1", 12) == partition_for("TN1", 12)
