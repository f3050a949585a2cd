"""Typed rows of the `ingest_state` support table: one record per (table, symbol).

Why a dataclass and not `dict[str, object]` rows: rows read back through pandas turned a NULL string
into NaN and a NULL timestamp into NaT, and writing such a row again failed deep inside Arrow
(`ArrowTypeError: Expected bytes, got a 'float' object`) on the re-run after a killed backfill. Here
the conversion is explicit and done in one place, both ways, straight between Arrow and Python
(`to_pylist`: NULL is None), so a field is always its declared type or None.

Nothing in it is vendor-specific: `source` names who wrote the row, so any vendor's ingest can keep
its per-symbol progress here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from marketlake.schema import SUPPORT_SCHEMAS

if TYPE_CHECKING:
    from marketlake.storage import DeltaStore

TABLE = "ingest_state"
KEYS = ("table", "symbol")


@dataclass(frozen=True)
class IngestState:
    """What ingestion knows about one symbol of one table beyond its stored bars.

    Attributes:
        table, symbol: the key.
        source: who wrote the row (`twelvedata`, `binance`, `marketlake` for markers).
        first_bar, last_bar: extent of the bars loaded by ingestion (UTC).
        earliest_available: the vendor's earliest bar (UTC), once asked.
        backfill_complete: history reaches the table's target or the vendor's earliest bar.
        status: `ok`, `error`, or a marker's state (`peers_stale`, `peers_fresh`).
        message: the last error, or None.
        updated_at: when the row was written (UTC).
    """

    table: str
    symbol: str
    source: str | None = None
    first_bar: datetime | None = None
    last_bar: datetime | None = None
    earliest_available: datetime | None = None
    backfill_complete: bool = False
    status: str | None = None
    message: str | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("first_bar", "last_bar", "earliest_available", "updated_at"):
            object.__setattr__(self, name, _utc(getattr(self, name), name))
        for name in ("source", "status", "message"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"IngestState.{name} must be str or None, got {type(value).__name__}")
        object.__setattr__(self, "backfill_complete", bool(self.backfill_complete))

    def updated(self, **changes: Any) -> IngestState:
        """A copy with `changes` applied."""
        return replace(self, **changes)

    @classmethod
    def from_arrow(cls, data: pa.Table) -> list[IngestState]:
        """Records of an `ingest_state` table (NULL -> None; a NULL `backfill_complete` -> False)."""
        names = [f.name for f in fields(cls)]
        present = [n for n in names if n in data.column_names]
        out = []
        for row in data.select(present).to_pylist():
            row["backfill_complete"] = bool(row.get("backfill_complete") or False)
            out.append(cls(**row))
        return out

    @staticmethod
    def to_arrow(records: Iterable[IngestState]) -> pa.Table:
        """An `ingest_state` table of `records`, in the catalogue schema."""
        rows = [{f.name: getattr(r, f.name) for f in fields(IngestState)} for r in records]
        return pa.Table.from_pylist(rows, schema=SUPPORT_SCHEMAS[TABLE])


def _utc(value: object, name: str) -> datetime | None:
    """`value` as an aware UTC datetime (pandas Timestamps included), or None for None/NaT."""
    if value is None or value != value:  # None, or NaT (which is a datetime that is not equal to itself)
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"IngestState.{name} must be a datetime or None, got {type(value).__name__}")
    when: datetime = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value  # a pandas.Timestamp
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def read_states(store: DeltaStore, table: str) -> dict[str, IngestState]:
    """Every record of `table` in `ingest_state`, by symbol."""
    data = store.read_support(TABLE)
    if data.num_rows == 0:
        return {}
    return {r.symbol: r for r in IngestState.from_arrow(data) if r.table == table}


def write_states(store: DeltaStore, records: Iterable[IngestState]) -> None:
    """Insert or replace `records` (keyed by table and symbol) in one commit."""
    data = IngestState.to_arrow(records)
    if data.num_rows:
        store.upsert_support(TABLE, data, keys=list(KEYS))


__all__ = ["IngestState", "read_states", "write_states"]
