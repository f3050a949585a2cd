"""Benchmarks of whole pipeline runs (issue 3): an incremental day at the original design's daily
coverage, and 1-minute scale.

1. 2,650 synthetic stocks x ~756 daily bars are loaded, then ONE new session (one bar per symbol) is
   loaded through `load_bars` (validate, read history, recompute touched symbols and peers, diff, one
   Delta commit). Target: the incremental day in at most 10 s. The peer is the full rebuild of the same
   table from scratch measured in the same run (what a naive pipeline would redo every day).
2. 100 stocks x 30 sessions x 390 one-minute bars through the pipeline: rows/s and peak memory.

Usage: .venv/bin/python benchmarks/bench_pipeline.py [--symbols 2650] [--skip-minute]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta

import pandas as pd

from marketlake.features import retain_memory
from marketlake.pipeline import ingest_source, load_bars
from marketlake.sources.registry import get_source
from marketlake.storage import DeltaStore

UTC = UTC


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def daily(n_symbols: int) -> None:
    src = get_source("synthetic", stocks=n_symbols, crypto=1, seed=3)
    end = datetime(2025, 11, 1, tzinfo=UTC)
    start = end - timedelta(days=1097)
    spec_name = "stocks_daily_clean"
    t0 = time.perf_counter()
    from marketlake.schema import get_table

    batches = list(src.fetch(None, get_table(spec_name), start=start, end=end + timedelta(days=4)))
    bars = pd.concat([b.bars for b in batches], ignore_index=True)
    meta = pd.concat([b.metadata for b in batches if b.metadata is not None], ignore_index=True)
    last_day = bars["datetime"].max()
    history, new_day = bars[bars["datetime"] < last_day], bars[bars["datetime"] == last_day]
    print(f"daily: {n_symbols:,} symbols, {len(history):,} history bars, {len(new_day):,} new bars "
          f"(generated in {time.perf_counter() - t0:.1f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        store = DeltaStore(tmp)
        t0 = time.perf_counter()
        full = load_bars(store, spec_name, history, source="synthetic", metadata=meta)
        initial = time.perf_counter() - t0
        print(f"  initial load: {initial:.1f} s ({full.rows_valid / initial:,.0f} rows/s); stages "
              + ", ".join(f"{k} {v:.1f}" for k, v in full.timings.items()))
        t0 = time.perf_counter()
        inc = load_bars(store, spec_name, new_day, source="synthetic", metadata=meta)
        incremental = time.perf_counter() - t0
        print(f"  incremental day: {incremental:.2f} s (target <= 10 s), {inc.inserted:,} inserted, "
              f"{inc.updated:,} updated; stages " + ", ".join(f"{k} {v:.2f}" for k, v in inc.timings.items()))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        load_bars(DeltaStore(tmp), spec_name, bars, source="synthetic", metadata=meta)
        rebuild = time.perf_counter() - t0
    print(f"  peer: full rebuild {rebuild:.1f} s -> incremental is {rebuild / incremental:.1f}x faster")
    print(f"  peak memory so far: {_peak_gb():.2f} GB")


def minute() -> None:
    src = get_source("synthetic", stocks=100, crypto=1, seed=5)
    start = datetime(2025, 9, 2, tzinfo=UTC)
    end = datetime(2025, 10, 14, tzinfo=UTC)  # 30 XNYS sessions
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        (report,) = ingest_source(DeltaStore(tmp), src, ["stocks_1min_clean"], start=start, end=end)
        secs = time.perf_counter() - t0
    print(f"1-minute: {report.rows_valid:,} bars of {report.symbols_loaded} symbols through the pipeline in "
          f"{secs:.1f} s = {report.rows_valid / secs:,.0f} rows/s; peak memory {_peak_gb():.2f} GB; stages "
          + ", ".join(f"{k} {v:.1f}" for k, v in report.timings.items()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=2650)
    ap.add_argument("--skip-minute", action="store_true")
    ap.add_argument("--default-malloc", action="store_true", help="do not call retain_memory() (the CLI does)")
    args = ap.parse_args()
    print("freed memory retained (retain_memory, as the CLI)" if not args.default_malloc and retain_memory()
          else "default malloc")
    daily(args.symbols)
    if not args.skip_minute:
        minute()


if __name__ == "__main__":
    main()
