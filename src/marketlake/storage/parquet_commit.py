"""Fast writes: Parquet files written by pyarrow (threads, zstd, small sorted row groups) and committed
with deltalake's transaction API as ONE Delta commit.

Measured on 633k rows x 97 columns: `write_deltalake` append ~11 s, MERGE of changed rows that span every
month ~10 s (it rewrites each touched file through DataFusion). Writing the files ourselves and committing
add actions (append) or add + partition removal (overwrite of the touched partitions) is several times
faster and keeps every file sorted by (symbol, datetime). Until the commit file lands nothing is visible;
a killed write leaves only orphan Parquet files, which vacuum removes.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.transaction import AddAction, RemoveAction

from marketlake.schema import PARTITION_COLUMN, storage_schema
from marketlake.storage.commits import commit_properties, hooks

# Intraday (daily partitions): one symbol's day is 390 (stocks) or 1,440 (crypto) one-minute bars and a
# day's read opens one partition, so larger groups cost a symbol-day read little (50 crypto symbols' day:
# ~5 ms at 1024 rows, ~12 ms at 4096; the target is 50 ms) while writing paid ~50 us per column chunk:
# 8.2 us per row at 1024, 4.6 at 4096 (72 k rows x 97 columns).
ROW_GROUP_ROWS = 4096
# Monthly partitions hold ~21 rows per symbol. 256-row groups made a one-symbol read decode 256 rows per
# file, but a full scan paid Arrow's ~20 us per column chunk 4x as often: 2 M daily rows x 85 columns read
# in 5.6-6.6 s (9.7-11.7 s CPU) vs 2.1-2.9 s (3.7-5.0 s CPU) at 1024, while a one-symbol read (42 files)
# went ~1.3-1.4x slower (pyarrow cannot skip pages inside a row group, apache/arrow#45284). Scans are what
# datasets, quality checks and SQL aggregates do; string columns are read as dictionaries (storage.files)
# to win part of the one-symbol cost back.
DAILY_ROW_GROUP_ROWS = 1024
# LZ4 (LZ4_RAW), not zstd: Arrow's zstd decoder pays ~30 us per column chunk (a fresh decompression
# context per page), 97 columns x 42 files = 120 ms of a one-symbol read; LZ4 decodes 3x faster, writes
# 2x faster, and the files were ~6% larger on the benchmark data (float columns barely compress).
COMPRESSION = "lz4"
STATS_COLUMNS: int | None = None  # no cap at Delta's first 32 columns: sector and the regimes come later
_STR_STAT_MAX = 32


def stat_value(value: object) -> object:
    """A statistic as the Delta log writes it: ISO timestamps with Z, dates, NaN as null."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return value


def file_stats(data: pa.Table) -> str:
    """Delta add-action statistics (numRecords; min/max and nullCount of the columns `group_statistics`
    keeps: keys, strings, dates, the int8 regimes; `STATS_COLUMNS` caps them).

    Why not the float fields: every file holds many symbols, so a float field's min/max spans nearly its
    whole range and skips no file, while the log grows with them: a 1-minute table of 1,472 files carried a
    13 MB commit of statistics, and each later commit paid 0.20-0.30 s to build and refresh the snapshot
    (0.07-0.09 s without the float fields' statistics, 2026-12-02; opening the table 0.5 -> 0.2 s). Filters
    on sector, exchange or a regime still skip files."""
    mins: dict[str, object] = {}
    maxs: dict[str, object] = {}
    nulls: dict[str, int] = {}
    kept = set(group_statistics(data.schema))
    for name in data.column_names[:STATS_COLUMNS]:
        if name not in kept:
            continue
        col = data.column(name)
        nulls[name] = col.null_count
        if col.null_count == len(col):
            continue
        mm = pc.min_max(col)
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        if isinstance(lo, str):
            if len(hi) > _STR_STAT_MAX:  # a truncated max is not an upper bound: leave it out
                continue
            lo = lo[:_STR_STAT_MAX]
        lo, hi = stat_value(lo), stat_value(hi)
        if lo is not None and hi is not None:
            mins[name], maxs[name] = lo, hi
    return json.dumps({"numRecords": data.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls})


def group_statistics(schema: pa.Schema) -> list[str]:
    """Columns whose row-group statistics the files carry: keys, strings, dates and the int8 regimes, not
    the float fields. Readers prune row groups by symbol and datetime (ours) or by a symbol attribute such
    as sector (DuckDB, Polars); a float field's min/max spans nearly every group of a sorted-by-symbol file,
    and those statistics were ~40% of a footer (163 KB for 15 groups x 97 columns), which every reader
    parses per file: ~1 ms of a one-symbol read's ~3 ms per monthly file. The Delta log's file statistics
    (`file_stats`) keep the same columns."""
    return [f.name for f in schema if not pa.types.is_floating(f.type)]


def row_group_rows(partitioning: str) -> int:
    """Rows per row group for a table partitioned by `month` (daily bars) or `day` (intraday)."""
    return DAILY_ROW_GROUP_ROWS if partitioning == "month" else ROW_GROUP_ROWS


def _write_one(
    table_root: str, filesystem: pafs.FileSystem, part: str, data: pa.Table, group_rows: int
) -> AddAction:
    rel = f"{PARTITION_COLUMN}={part}/part-{uuid.uuid4().hex}-c000.lz4.parquet"
    path = f"{table_root}/{rel}"
    filesystem.create_dir(f"{table_root}/{PARTITION_COLUMN}={part}", recursive=True)
    dictionary = [f.name for f in data.schema if pa.types.is_string(f.type) or pa.types.is_int8(f.type)]
    pq.write_table(  # dictionary-encoding float columns tripled the write time for no size gain
        data, path, filesystem=filesystem, row_group_size=group_rows, compression=COMPRESSION,
        write_statistics=group_statistics(data.schema), use_dictionary=dictionary,
        write_page_checksum=True,  # a garbled page is caught
    )
    size = filesystem.get_file_info(path).size
    return AddAction(
        path=rel, size=int(size or 0), partition_values={PARTITION_COLUMN: part},
        modification_time=int(time.time() * 1000), data_change=True, stats=file_stats(data),
    )


def write_partitions(
    dt: DeltaTable,
    rows: pa.Table,
    *,
    table_root: str,
    filesystem: pafs.FileSystem,
    mode: Literal["append", "overwrite"],
    replace_partitions: list[str] | None = None,
    max_threads: int = 4,
    group_rows: int = ROW_GROUP_ROWS,
    operation: str = "write",
    metrics: dict[str, int] | None = None,
) -> None:
    """Write `rows` (bar_schema + the partition column, sorted) as one file per partition and commit once.

    mode="overwrite" removes every file of `replace_partitions` in the same commit, so the caller passes
    the complete new content of those partitions. `operation` and `metrics` go to the commit info,
    with the number of files added (the caller counts those removed).
    """
    actions = write_files(rows, table_root=table_root, filesystem=filesystem, max_threads=max_threads,
                          group_rows=group_rows)
    values = sorted({a.partition_values[PARTITION_COLUMN] or "" for a in actions})
    filters = None
    if mode == "overwrite":
        filters = [(PARTITION_COLUMN, "in", sorted(set(replace_partitions or values)))]
    info = commit_properties(operation, filesAdded=len(actions), rowsWritten=rows.num_rows, **(metrics or {}))
    dt.create_write_transaction(
        list(actions), mode=mode, schema=storage_schema(), partition_by=[PARTITION_COLUMN], partition_filters=filters,
        commit_properties=info, post_commithook_properties=hooks(),
    )


def write_files(
    rows: pa.Table, *, table_root: str, filesystem: pafs.FileSystem, max_threads: int = 4,
    group_rows: int = ROW_GROUP_ROWS,
) -> list[AddAction]:
    """Write `rows` (bar_schema + the partition column, sorted) as one file per partition, commit nothing.

    The returned add actions become visible only when a caller commits them (`commit_files`), so a load
    can write the files of many symbol groups and publish them in one commit; files of a load that dies
    first are orphans (the janitor removes them)."""
    if rows.num_rows == 0:
        return []
    parts = rows.column(PARTITION_COLUMN)
    values = sorted(pc.unique(parts).to_pylist())
    codes = pc.index_in(parts, value_set=pa.array(values, pa.string())).to_numpy()
    workers = max(1, min(max_threads, len(values)))
    with ThreadPoolExecutor(max_workers=workers) as pool:  # Arrow releases the GIL
        pieces = partition_slices(rows.drop_columns([PARTITION_COLUMN]), codes, len(values), pool)
        return list(pool.map(lambda k: _write_one(table_root, filesystem, values[k], pieces[k], group_rows),
                             range(len(values))))


def partition_slices(data: pa.Table, codes: np.ndarray, count: int, pool: ThreadPoolExecutor) -> list[pa.Table]:
    """`data`'s rows of each partition code 0..count-1, in their order, as slices of ONE partition-major
    copy (none when `data` is partition-major already, as a daily load of one month is).

    Why not one `take` per partition: on a table of several chunks (the engine's output is) each take
    first concatenated every chunk of all 97 columns, so 30 day partitions of 1.17 M one-minute rows
    cost 5.1 s; one gather, column by column on the pool, costs ~0.4 s."""
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(count + 1))
    if not np.array_equal(order, np.arange(len(order))):
        index = pa.array(order)
        columns = list(pool.map(lambda name: data.column(name).take(index), data.column_names))
        data = pa.Table.from_arrays(columns, schema=data.schema)
    return [data.slice(int(starts[k]), int(starts[k + 1] - starts[k])) for k in range(count)]


def remove_action(path: str, size: int, partition: str) -> RemoveAction:
    """The remove action of an active data file (relative `path`) of partition `partition`."""
    return RemoveAction(path=path, data_change=True, deletion_timestamp=int(time.time() * 1000), size=int(size),
                        partition_values={PARTITION_COLUMN: partition})


def commit_files(
    dt: DeltaTable, adds: list[AddAction], removes: list[RemoveAction], *, operation: str = "write",
    metrics: dict[str, int] | None = None,
) -> None:
    """Publish files written by `write_files` and retire `removes`, as ONE Delta commit (append mode with
    explicit removes: the caller decides which files a partition's new content replaces)."""
    info = commit_properties(operation, filesAdded=len(adds), filesRemoved=len(removes), **(metrics or {}))
    actions: list[AddAction | RemoveAction] = [*adds, *removes]
    dt.create_write_transaction(
        actions, mode="append", schema=storage_schema(), partition_by=[PARTITION_COLUMN],
        commit_properties=info, post_commithook_properties=hooks(),
    )


__all__ = ["COMPRESSION", "DAILY_ROW_GROUP_ROWS", "ROW_GROUP_ROWS", "commit_files", "file_stats", "remove_action",
           "partition_slices", "row_group_rows", "stat_value", "write_files", "write_partitions"]
