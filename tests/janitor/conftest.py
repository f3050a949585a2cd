"""A warehouse seeded with production tables and the original design's leftovers."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from marketlake.features import compute_table
from marketlake.sources.registry import get_source
from marketlake.storage import DeltaStore

LEFTOVERS = {
    "temp_GOOGL",
    "_temp_features_AAPL",
    "v2_stocks_daily",
    "archive/weekly_crypto_all",
    "btc_ai_training_daily",
    "stocks_unified_daily",
}
UNKNOWN = "scratch_notes"
# Hourly bars for the retention tests (now = 2024-07-01, two years kept: cutoff 2022-07-02): 2022-05 to
# 2022-09, two months older than the cutoff and three newer. Which partitions expire depends on `now`
# only, so bars up to `now` would prove nothing more; ~100 daily partitions instead of ~550 make each
# write, plan and drop several times cheaper.
DAYS, END = 150, "2022-09-30"


def small_bars(table: str = "stocks_daily_clean", *, stocks: int = 3, crypto: int = 2, days: int = 400,
               end: str = "2024-06-28") -> pa.Table:
    import pandas as pd

    from marketlake.schema import get_table

    spec = get_table(table)
    src = get_source("synthetic", stocks=stocks, crypto=crypto, seed=7, end=end, days=days)
    frames = []
    for batch in src.fetch(None, spec):
        bars = batch.bars.merge(batch.metadata, on="symbol", how="left")
        frames.append(bars)
    bars = pd.concat(frames, ignore_index=True).assign(source="synthetic")
    return compute_table(bars, spec)


def _parquet_folder(path: Path, *, hive: bool = False) -> None:
    data = pa.table({"symbol": ["A", "B"], "close": [1.0, 2.0]})
    target = path / "dt=2020-01-01" if hive else path
    target.mkdir(parents=True)
    pq.write_table(data, target / "part-0.parquet")


@pytest.fixture
def seeded(tmp_path: Path) -> DeltaStore:
    root = tmp_path / "wh"
    store = DeltaStore(root)
    store.write_bars("stocks_daily_clean", small_bars())
    store.write_bars("crypto_daily_clean", small_bars("crypto_daily_clean"))
    store.append_support("quality_runs", pa.table({"run_id": ["r0"]}))
    leftover = pa.table({"symbol": ["GOOGL"], "close": [1.0]})
    write_deltalake(str(root / "temp_GOOGL"), leftover)
    write_deltalake(str(root / "v2_stocks_daily"), leftover)
    write_deltalake(str(root / "stocks_unified_daily"), leftover, partition_by=["symbol"])
    _parquet_folder(root / "_temp_features_AAPL")
    _parquet_folder(root / "archive" / "weekly_crypto_all")
    _parquet_folder(root / "btc_ai_training_daily", hive=True)
    _parquet_folder(root / UNKNOWN)
    os.utime(root, None)
    return store
