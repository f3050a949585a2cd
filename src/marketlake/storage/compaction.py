"""Automatic compaction: a partition that collects too many files is rewritten as one sorted file.

Minute-by-minute updates add one small file per update to the day's partition (1,440 a day). Readers
open every file whose statistics may hold a symbol, so the file count, not the row count, sets the cost
of reading one symbol's day. A write that leaves a partition with more than `MAX_FILES_PER_PARTITION`
files is followed by one compaction commit over those partitions: each is read whole (one partition in
memory at a time: a day of one-minute bars or a month of daily ones; a partition bigger than the memory
budget's group, in symbol groups), sorted by (symbol, datetime) and written as one file (one per symbol
group); the old files are retired in the same commit. `janitor apply` compacts the same way. Values never change, so a reader
sees identical rows before and after. Retention drops whole partitions (janitor/retention.py) and is
unaffected.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
from deltalake.transaction import AddAction, RemoveAction

from marketlake.schema import TableSpec
from marketlake.storage.layout import partition_bounds, sort_rows, with_partition
from marketlake.storage.parquet_commit import commit_files, remove_action, row_group_rows, write_files

MAX_FILES_PER_PARTITION = 16
"""More files than this in one partition triggers its compaction (the 17th minute's update rewrites it)."""

def crowded_partitions(index: object, partitions: Iterable[str] | None, *, max_files: int) -> dict[str, list[int]]:
    """Partition -> file positions, for the partitions (of `partitions`, None: all) over `max_files` files."""
    wanted = None if partitions is None else set(partitions)
    by_part: dict[str, list[int]] = {}
    for i, p in enumerate(index.partitions):  # type: ignore[attr-defined]
        if p is not None and (wanted is None or p in wanted):
            by_part.setdefault(p, []).append(i)
    return {p: picks for p, picks in by_part.items() if len(picks) > max_files}


def compact_partitions(
    store: object, spec: TableSpec, partitions: Iterable[str] | None = None, *, max_files: int | None = None,
    rows_limit: int | None = None, metrics: dict[str, int] | None = None,
) -> int:
    """Rewrite each of `partitions` (None: every partition) holding more than `max_files` files as one
    sorted file, in one commit; returns how many partitions were compacted (0: no commit).

    One partition is held at a time; a partition of more rows than `rows_limit` (the caller's memory
    budget in rows, `pipeline.memory_budget.group_rows`; None: no limit) is rewritten in symbol groups (one file each, disjoint symbol ranges), so no more than that many rows
    are ever held. `metrics` (if given) receives numFilesRemoved, numFilesAdded, partitionsCompacted
    and maxRowsHeld."""
    from marketlake.storage.store import DeltaStore

    assert isinstance(store, DeltaStore)
    limit = MAX_FILES_PER_PARTITION if max_files is None else int(max_files)
    held_limit = rows_limit if rows_limit is not None else 1 << 62
    out = metrics if metrics is not None else {}
    with store.writer_lock():
        index = store.file_index(spec.name)
        todo = crowded_partitions(index, partitions, max_files=limit)
        out.update(numFilesRemoved=0, numFilesAdded=0, partitionsCompacted=len(todo), maxRowsHeld=0)
        if not todo:
            return 0
        adds: list[AddAction] = []
        removes: list[RemoveAction] = []
        for p, picks in sorted(todo.items()):
            for rows in _partition_groups(store, spec, index, p, picks, held_limit):
                out["maxRowsHeld"] = max(out["maxRowsHeld"], rows.num_rows)
                adds += write_files(with_partition(sort_rows(rows), spec), table_root=store.table_root(spec.name),
                                    filesystem=store.filesystem, group_rows=row_group_rows(spec.partitioning))
                del rows
            removes += [remove_action(index.paths[i], int(index.sizes[i]), p) for i in picks]
        dt = store.table(spec.name, refresh=False)
        commit_files(dt, adds, removes, operation="compact", metrics={"partitionsCompacted": len(todo)})
        dt.update_incremental()
        out.update(numFilesRemoved=len(removes), numFilesAdded=len(adds))
        return len(todo)


def _partition_groups(store: object, spec: TableSpec, index: object, partition: str, picks: list[int],
                      rows_limit: int) -> Iterator[pa.Table]:
    """The rows of one partition's files: all at once when they fit `rows_limit`, else by symbol group
    (contiguous runs of its sorted symbols, counted from the symbol column alone)."""
    from marketlake.storage.store import DeltaStore

    assert isinstance(store, DeltaStore)
    records = index.records  # type: ignore[attr-defined]
    total = sum(int(records[i]) for i in picks)
    if total <= rows_limit:
        yield store.read_files(spec.name, picks)
        return
    lo, hi = partition_bounds(partition, spec)
    hi = hi - timedelta(microseconds=1)  # read bounds are inclusive; the partition is [lo, hi)
    names = store.read(spec.name, columns=["symbol"], start=lo, end=hi, sort=False).column("symbol")
    vc = pc.value_counts(names)
    counts = dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()))
    del names, vc
    groups: list[list[str]] = []
    filled = 0
    for sym in sorted(counts):
        if groups and filled + counts[sym] <= rows_limit:
            groups[-1].append(sym)
            filled += counts[sym]
        else:
            groups.append([sym])
            filled = counts[sym]
    for members in groups:
        yield store.read(spec.name, symbols=members, start=lo, end=hi, sort=False)


__all__ = ["MAX_FILES_PER_PARTITION", "compact_partitions", "crowded_partitions"]
