"""Avro records, ClickHouse rows and column lists, derived from one record definition.

A record class (`tracking/records.py`, and `DeadLetter` here) lists its fields once. From it:
- `to_avro(record)`: the dict fastavro encodes (every field, by name);
- `from_avro(cls, dict)`: the record back from a decoded message;
- `table(cls)`: the `Table` (column names + a row builder) of the fields marked `column()`.

The converters are generated once per class as plain Python (as `dataclasses` itself does for
`__init__`): a record on the hot path costs one function call, not a loop over its fields.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, TypeVar

from tracking.records import column, record

R = TypeVar("R")

__all__ = ["DeadLetter", "Table", "from_avro", "no_offset", "seconds", "table", "to_avro"]


def seconds(ms: int | None) -> int | None:
    return None if ms is None else ms // 1000


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


_HELPERS = {"seconds": seconds, "_b64": _b64}
_CONVERT = {
    "": "{}",
    "seconds": "seconds({})",
    "text": "({} or '')",
    "flag": "int({})",
    "base64": "_b64({})",
    "uint32": "({} & 0xFFFFFFFF)",
}


def _compile(arg: str, body: str) -> Callable[[Any], Any]:
    return eval(f"lambda {arg}: {body}", dict(_HELPERS))  # type: ignore[no-any-return]


@dataclasses.dataclass(frozen=True, slots=True)
class Table:
    """A ClickHouse table as the sink writes it: columns, and one row tuple per item."""

    name: str
    columns: tuple[str, ...]
    row: Callable[[Any], tuple[Any, ...]]

    @classmethod
    def of(cls, name: str, arg: str, columns: Sequence[tuple[str, str]]) -> Table:
        """A table from (column, Python expression over `arg`) pairs, for items that are not
        records (parcel and order state): the column list and the row cannot drift apart."""
        body = "(" + ", ".join(expr for _, expr in columns) + ",)"
        return cls(name, tuple(c for c, _ in columns), _compile(arg, body))


@cache
def _avro_encoder(cls: Any) -> Callable[[Any], dict[str, Any]]:
    names = [f.name for f in dataclasses.fields(cls)]
    return _compile("r", "{" + ", ".join(f"{n!r}: r.{n}" for n in names) + "}")


def to_avro(item: Any) -> dict[str, Any]:
    encoder: Callable[[Any], dict[str, Any]] = _avro_encoder(item.__class__)
    return encoder(item)


def from_avro(cls: type[R], data: dict[str, Any]) -> R:
    """Fields the class does not know (written by a newer producer) are ignored."""
    return cls(*map(data.__getitem__, _field_names(cls)))  # type: ignore[arg-type]


@cache
def _field_names(cls: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


@cache
def table(cls: Any, name: str) -> Table:
    """The ClickHouse table of a record class: its `column()` fields, in field order."""
    columns = []
    for f in dataclasses.fields(cls):
        if "column" not in f.metadata:
            continue
        convert, column_name = f.metadata["column"]
        columns.append((column_name or f.name, _CONVERT[convert].format(f"r.{f.name}")))
    return Table.of(name, "r", columns)


def no_offset(key: str) -> int:
    """The `offset` of a dead letter that never had one (rejected at ingestion, refused by
    ClickHouse): a stable number from what identifies it, so such letters stay distinct rows
    of `dead_letters` (keyed by topic, partition, offset) and a repeat of one stays one row.
    Their `partition` is -1."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 2  # fits Avro long and UInt64


@record
class DeadLetter:
    """Input a stage could not process, with the original bytes to replay it after a fix."""

    error: str = column()
    stage: str = column()
    topic: str = column()
    partition: int = column("uint32")
    offset: int = column()
    raw_event_id: str | None = column("text")
    carrier: str | None = column("text")
    payload_format: str | None = column("text")
    payload: bytes = column("base64", "payload_b64")
    failed_at: int = column("seconds")
