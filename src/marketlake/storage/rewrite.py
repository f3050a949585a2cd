"""Replace every row of one symbol by other rows in one commit (a ticker change moves its history).

`write_bars` only upserts; a rename must also remove the old symbol's rows, and doing both in one
commit keeps a crash from leaving the history twice or nowhere. The touched partitions (those holding
the old symbol's rows or the new rows) are rewritten whole and swapped in the same transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from marketlake.schema import PARTITION_COLUMN, TableSpec
from marketlake.storage.layout import conform_bars, dedupe, sort_rows, with_partition
from marketlake.storage.parquet_commit import row_group_rows, write_partitions

if TYPE_CHECKING:
    from marketlake.storage.store import DeltaStore


def replace_symbol(store: DeltaStore, spec: TableSpec, drop: str, rows: pa.Table) -> int:
    """Remove `drop`'s rows and upsert `rows` (keyed by symbol, datetime) in one commit; returns the
    table version (unchanged when there is nothing to do)."""
    with store.writer_lock():
        if not store.exists(spec.name):
            store.ensure_tables([spec.name])
        new = with_partition(dedupe(conform_bars(rows, table=spec.name)), spec)
        index = store.file_index(spec.name)
        old_files = _files_with(store, spec, drop)
        touched = {str(index.partitions[i]) for i in old_files}
        parts = sorted(touched | {str(p) for p in pc.unique(new.column(PARTITION_COLUMN)).to_pylist()})
        if not old_files and new.num_rows == 0:
            return store.version(spec.name)
        picks = [i for i, p in enumerate(index.partitions) if p in set(parts)]
        stored = with_partition(store.read_files(spec.name, picks), spec)
        keep = pc.not_equal(stored.column("symbol"), pa.scalar(drop, pa.string()))
        stored = stored.filter(keep)
        if new.num_rows and stored.num_rows:
            stored = stored.join(new.select(["symbol", "datetime"]), ["symbol", "datetime"], join_type="left anti")
            stored = stored.select(new.column_names).cast(new.schema)
        out = sort_rows(pa.concat_tables([stored.select(new.column_names).cast(new.schema), new]))
        dt = store.table(spec.name, refresh=False)
        write_partitions(dt, out, table_root=store.table_root(spec.name), filesystem=store.filesystem,
                         mode="overwrite", replace_partitions=parts, group_rows=row_group_rows(spec.partitioning))
        dt.update_incremental()
        return int(dt.version())


def _files_with(store: DeltaStore, spec: TableSpec, symbol: str) -> list[int]:
    """Positions of the files whose symbol statistics admit `symbol`."""
    index = store.file_index(spec.name)
    from marketlake.storage import files as _files

    return list(_files.prune(index, spec, symbols=[symbol], start=None, end=None))


__all__ = ["replace_symbol"]
