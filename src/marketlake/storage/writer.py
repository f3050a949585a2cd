"""write_bars: diff against the stored rows, then one Delta commit (append when all keys are new,
MERGE of only the new and changed rows otherwise), or no commit at all when nothing changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import WriterProperties, write_deltalake

from marketlake.schema import PARTITION_COLUMN, TableSpec
from marketlake.storage.diff import diff_rows
from marketlake.storage.layout import conform_bars, dedupe, sort_rows, with_partition

if TYPE_CHECKING:
    from marketlake.storage.store import DeltaStore

ROW_GROUP_ROWS = 4096  # small groups sorted by symbol: one-symbol reads skip most of each file


@dataclass(frozen=True)
class WriteResult:
    """Outcome of one write: row counts and the table version after it (unchanged if no commit)."""

    inserted: int
    updated: int
    unchanged: int
    version: int

    @property
    def committed(self) -> bool:
        return self.inserted + self.updated > 0


def writer_properties() -> WriterProperties:
    return WriterProperties(compression="ZSTD", compression_level=1, max_row_group_size=ROW_GROUP_ROWS)


def _sql_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def write_bars(
    store: DeltaStore, spec: TableSpec, rows: pa.Table, *, compare_since: datetime | None
) -> WriteResult:
    """See DeltaStore.write_bars; the caller holds the writer lock."""
    rows = dedupe(conform_bars(rows, table=spec.name))
    version = store.version(spec.name)
    skipped = 0
    if compare_since is not None and rows.num_rows:
        since = pa.scalar(compare_since, pa.timestamp("us", tz="UTC"))
        recent = pc.greater_equal(rows.column("datetime"), since)
        skipped = rows.num_rows - int(pc.sum(recent).as_py() or 0)
        rows = rows.filter(recent)
    if rows.num_rows == 0:
        return WriteResult(0, 0, skipped, version)
    stored = _stored_rows(store, spec, rows, since=compare_since)
    diff = diff_rows(rows, stored)
    if diff.new.size == 0 and diff.changed.size == 0:
        return WriteResult(0, 0, skipped + diff.unchanged, version)
    picks = np.sort(np.concatenate([diff.new, diff.changed]))
    out = with_partition(sort_rows(rows.take(pa.array(picks))), spec)
    dt = store.table(spec.name, refresh=False)
    if diff.changed.size == 0:
        write_deltalake(
            dt, out, mode="append", partition_by=[PARTITION_COLUMN], writer_properties=writer_properties(),
            storage_options=store.storage_options,
        )
    else:
        parts = sorted(set(out.column(PARTITION_COLUMN).to_pylist()))
        predicate = (
            "t.symbol = s.symbol AND t.datetime = s.datetime AND t._partition = s._partition "
            f"AND t._partition IN ({_sql_list(parts)})"
        )
        (
            dt.merge(out, predicate, source_alias="s", target_alias="t", writer_properties=writer_properties())
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
    dt.update_incremental()
    return WriteResult(int(diff.new.size), int(diff.changed.size), skipped + diff.unchanged, int(dt.version()))


def _stored_rows(store: DeltaStore, spec: TableSpec, rows: pa.Table, *, since: datetime | None) -> pa.Table:
    """Stored rows that can share a key with `rows`: same symbols, within their datetime range."""
    lo = pc.min(rows.column("datetime")).as_py()
    hi = pc.max(rows.column("datetime")).as_py()
    if since is not None and since > lo:
        lo = since
    symbols = pc.unique(rows.column("symbol")).to_pylist()
    if store.file_index(spec.name).files == 0:
        return rows.schema.empty_table()
    return store.read(spec.name, symbols=symbols, start=lo, end=hi)


__all__ = ["ROW_GROUP_ROWS", "WriteResult", "write_bars", "writer_properties"]
