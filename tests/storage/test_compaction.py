"""Automatic compaction: minute-by-minute writes keep each partition's file count bounded, rows unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from marketlake.features import compute_table
from marketlake.schema import get_table
from marketlake.sources.registry import get_source
from marketlake.storage import DeltaStore
from marketlake.storage.compaction import MAX_FILES_PER_PARTITION, compact_partitions

TABLE = "crypto_1min_clean"


def _rows() -> pa.Table:
    spec = get_table(TABLE)
    src = get_source("synthetic", stocks=0, crypto=3, seed=3)
    bars = pd.concat([b.bars for b in src.fetch(None, spec, start=datetime(2024, 5, 1, 10, tzinfo=UTC),
                                                end=datetime(2024, 5, 1, 10, 19, tzinfo=UTC))])
    return compute_table(bars, spec, source="synthetic", updated_at=datetime(2025, 1, 1, tzinfo=UTC))


def _files(store: DeltaStore) -> int:
    return store.file_index(TABLE).files


def test_minute_writes_keep_the_partition_file_count_bounded_and_rows_unchanged(tmp_path: Path) -> None:
    store = DeltaStore(tmp_path)
    rows = _rows()
    minutes = sorted(set(rows.column("datetime").to_pylist()))
    assert len(minutes) == 20
    counts = []
    for minute in minutes:  # one small file per update, all into the same day partition
        store.write_bars(TABLE, rows.filter(pc.equal(rows.column("datetime"), pa.scalar(minute, rows["datetime"].type))))
        counts.append(_files(store))
    assert max(counts) <= MAX_FILES_PER_PARTITION
    assert counts[MAX_FILES_PER_PARTITION - 1] == MAX_FILES_PER_PARTITION  # no compaction before it is due
    assert counts[MAX_FILES_PER_PARTITION] == 1  # the next write went over: one sorted file
    stored = store.read(TABLE)
    assert stored.equals(rows.select(stored.column_names).cast(stored.schema))  # same rows, same order
    history = store.table(TABLE).history()
    assert any(h.get("marketlake.operation") == "compact" for h in history)


def test_compact_partitions_rewrites_only_crowded_partitions(tmp_path: Path) -> None:
    store = DeltaStore(tmp_path)
    rows = _rows()
    for part in range(5):
        store.write_bars(TABLE, rows.slice(part * 12, 12))
    before, version = store.read(TABLE), store.version(TABLE)
    assert compact_partitions(store, get_table(TABLE), max_files=5) == 0 and store.version(TABLE) == version
    assert compact_partitions(store, get_table(TABLE), max_files=2) == 1
    assert store.version(TABLE) == version + 1 and _files(store) == 1
    assert store.read(TABLE).equals(before)


def test_compaction_of_a_partition_over_the_budget_goes_in_symbol_groups(tmp_path: Path) -> None:
    """A partition bigger than one group is rewritten one symbol group at a time: never more than
    `group_rows(budget)` rows held, the same rows after, one file per group with disjoint symbols."""
    from marketlake.janitor.plan import apply, compact_table, plan
    from marketlake.pipeline.memory_budget import BASE_BYTES, BYTES_PER_ROW

    store = DeltaStore(tmp_path)
    rows = _rows()  # 3 symbols x 20 minutes, one day
    minutes = sorted(set(rows.column("datetime").to_pylist()))
    for minute in minutes[:6]:  # 6 small files in one partition (below the automatic limit)
        store.write_bars(TABLE, rows.filter(pc.equal(rows.column("datetime"), pa.scalar(minute, rows["datetime"].type))))
    before = store.read(TABLE)
    assert _files(store) == 6 and before.num_rows == 18
    budget = BASE_BYTES + 7 * BYTES_PER_ROW  # 7 rows per group: one symbol (6 rows) each
    metrics = compact_table(store, TABLE, memory_budget=budget)
    assert metrics["numFilesRemoved"] == 6 and metrics["numFilesAdded"] == 3
    assert 0 < metrics["maxRowsHeld"] <= 7 < before.num_rows
    assert store.read(TABLE).equals(before)
    index = store.file_index(TABLE)
    assert sorted(zip(index.min_symbol, index.max_symbol)) == [(s, s) for s in sorted(set(before["symbol"].to_pylist()))]

    for minute in minutes[6:9]:  # fragment it again, then through `janitor apply` with the whole partition held
        store.write_bars(TABLE, rows.filter(pc.equal(rows.column("datetime"), pa.scalar(minute, rows["datetime"].type))))
    again = store.read(TABLE)
    assert ("crypto_1min_clean", "compact") in {(p.name, p.action) for p in plan(store)}
    apply(store, memory_budget="6G")
    assert _files(store) == 1 and store.read(TABLE).equals(again)
    assert not any(p.action == "compact" for p in plan(store))
