"""Benchmark: import the real S&P 500 file end to end into stocks_daily_clean (all 97 fields).

Target (issue 2): at most 30 s on a 2-core machine for 503 symbols / ~607k bars, including CSV
parsing, validation and quarantine, feature computation and the Delta write. Also times a re-run
(idempotent: nothing to write) and prints the stage breakdown of the first load.

Usage: .venv/bin/python benchmarks/bench_import.py [PATH]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from marketlake.pipeline import ingest_source
from marketlake.sources.registry import get_source
from marketlake.storage import DeltaStore

TARGET_S = 30.0
DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ohlcv" / "sp500_daily_2012_2017.csv.gz"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if not path.exists():
        print(f"skip: {path} not found")
        return
    with tempfile.TemporaryDirectory() as tmp:
        store = DeltaStore(tmp)
        t0 = time.perf_counter()
        (report,) = ingest_source(store, get_source("csv", path=path), ["stocks_daily_clean"])
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        (again,) = ingest_source(store, get_source("csv", path=path), ["stocks_daily_clean"])
        rerun = time.perf_counter() - t0
    print(f"S&P 500 import: {report.rows_in:,} rows in, {report.rows_valid:,} loaded, "
          f"{report.quarantined:,} quarantined, {report.symbols_loaded} symbols")
    print(f"  end to end: {first:.1f} s (target <= {TARGET_S:.0f} s; ratio to target {first / TARGET_S:.2f}); "
          f"{report.rows_valid / first:,.0f} rows/s")
    print("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items()))
    print(f"  idempotent re-run: {rerun:.1f} s, {again.inserted + again.updated} rows written")


if __name__ == "__main__":
    main()
