"""Benchmark of `marketlake quality` over the original design's daily coverage (issue 5).

Builds (once, cached under --dir) a stocks_daily_clean table of 2,650 synthetic symbols x ~756 bars
through the pipeline, then times `run_quality` over it: every check, the run stored in quality_runs /
quality_issues. Target: at most 20 s. Prints the figure and the per-check timings.

Usage: .venv/bin/python benchmarks/bench_quality.py [--symbols 2650] [--dir /tmp/ml_bench_quality]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from marketlake.pipeline import load_bars
from marketlake.quality import QualityConfig, run_quality
from marketlake.schema import get_table
from marketlake.sources.registry import get_source
from marketlake.storage import DeltaStore

END = datetime(2025, 11, 1, tzinfo=UTC)
TABLE = "stocks_daily_clean"


def build(root: Path, n_symbols: int) -> DeltaStore:
    store = DeltaStore(root)
    if store.exists(TABLE) and store.table_info(TABLE).symbols == n_symbols:
        return store
    src = get_source("synthetic", stocks=n_symbols, crypto=0, seed=3)
    t0 = time.perf_counter()
    batches = list(src.fetch(None, get_table(TABLE), start=END - timedelta(days=1097), end=END))
    bars = pd.concat([b.bars for b in batches], ignore_index=True)
    meta = pd.concat([b.metadata for b in batches if b.metadata is not None], ignore_index=True)
    load_bars(store, TABLE, bars, source="synthetic", metadata=meta)
    print(f"built {len(bars):,} bars of {n_symbols:,} symbols in {time.perf_counter() - t0:.1f} s")
    return store


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=2650)
    ap.add_argument("--dir", default="/tmp/ml_bench_quality")
    args = ap.parse_args()
    store = build(Path(args.dir), args.symbols)
    info = store.table_info(TABLE)
    t0 = time.perf_counter()
    report = run_quality(store, tables=[TABLE], config=QualityConfig(as_of=END))
    seconds = time.perf_counter() - t0
    print(f"quality over {TABLE}: {info.rows:,} rows x 97 columns, {info.symbols:,} symbols: "
          f"{seconds:.2f} s (target <= 20 s)")
    print("  stages: " + ", ".join(f"{k.split('.')[-1]} {v:.2f}" for k, v in report.timings.items()))
    print("  issues: " + ", ".join(f"{k} {v}" for k, v in Counter(
        f"{i.check}/{i.severity}" for i in report.issues).most_common()))


if __name__ == "__main__":
    main()
