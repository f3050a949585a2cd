"""Read/write benchmark on an S&P-sized daily table (503 symbols x 1,258 bars x 97 columns).

Not a timed test: prints numbers, and each read against its naive peer measured in the same run (a full
`DeltaTable.to_pandas()` then filter, and `polars.scan_delta(...).filter(...)`).
Run: .venv/bin/python benchmarks/bench_read.py [--symbols N] [--optimize]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow.compute as pc
from deltalake import DeltaTable

from marketlake.warehouse import Warehouse

_SYNTH = Path(__file__).resolve().parents[1] / "tests" / "storage" / "storage_synth.py"


def _synth() -> object:
    spec = importlib.util.spec_from_file_location("ml_synth", _SYNTH)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _median_ms(fn: Callable[[], object], *, runs: int = 7, warm: bool = True) -> float:
    if warm:
        fn()  # warm the caches a real session would have
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=503)
    parser.add_argument("--bars", type=int, default=1258)
    parser.add_argument("--optimize", action="store_true", help="also time optimize + z-order and a read after it")
    args = parser.parse_args()
    synth = _synth()
    symbols = [f"SYM{i:03d}" for i in range(args.symbols)]
    rows = synth.synthetic_bars(symbols, periods=args.bars, start=datetime(2021, 1, 4, tzinfo=UTC))  # type: ignore[attr-defined]
    print(f"rows: {rows.num_rows:,} x {rows.num_columns} columns")
    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse(tmp)
        store = wh.store
        store.ensure_tables(["stocks_daily_clean"])
        t0 = time.perf_counter()
        result = store.write_bars("stocks_daily_clean", rows)
        print(f"initial write: {time.perf_counter() - t0:.2f} s ({result})")
        t0 = time.perf_counter()
        again = store.write_bars("stocks_daily_clean", rows)
        print(f"re-run of the same load (no commit expected): {time.perf_counter() - t0:.2f} s ({again})")
        changed = rows.slice(rows.num_rows - 5000, 5000)
        changed = changed.set_column(changed.schema.get_field_index("close"), "close", pc.add(changed["close"], 1.0))
        t0 = time.perf_counter()
        upd = store.write_bars("stocks_daily_clean", changed)
        print(f"upsert of 5,000 changed rows: {time.perf_counter() - t0:.2f} s ({upd})")

        sym = symbols[len(symbols) // 2]
        path = store.path("stocks_daily_clean")
        cold = Warehouse(tmp).store  # a fresh process: Delta log and Parquet footers not loaded yet
        t0 = time.perf_counter()
        cold.read("stocks_daily_clean", symbols=[sym])
        cold_ms = (time.perf_counter() - t0) * 1000
        ours = _median_ms(lambda: store.read("stocks_daily_clean", symbols=[sym]), runs=11)
        n = store.read("stocks_daily_clean", symbols=[sym]).num_rows
        naive = _median_ms(lambda: (lambda df: df[df["symbol"] == sym])(DeltaTable(path).to_pandas()), runs=1, warm=False)
        polars_ms = _median_ms(lambda: pl.scan_delta(path).filter(pl.col("symbol") == sym).collect(), runs=5)
        print(f"read one symbol ({n} rows, 97 cols): {ours:.1f} ms (target <= 50; first read in a new store "
              f"{cold_ms:.0f} ms); naive full scan {naive:.0f} ms (x{naive / ours:.0f}); "
              f"polars.scan_delta {polars_ms:.0f} ms (x{polars_ms / ours:.1f})")

        month = store.read("stocks_daily_clean", start="2023-06-01", end="2023-06-30 23:59:59")
        sector = month.column("sector")[0].as_py()
        sector_syms = sorted(set(month.filter(pc.equal(month["sector"], sector)).column("symbol").to_pylist()))
        sec_ms = _median_ms(
            lambda: store.read("stocks_daily_clean", symbols=sector_syms, start="2023-06-01", end="2023-06-30 23:59:59")
        )
        lo, hi = datetime(2023, 6, 1, tzinfo=UTC), datetime(2023, 6, 30, 23, 59, 59, tzinfo=UTC)
        sec_polars = _median_ms(
            lambda: pl.scan_delta(path).filter(
                pl.col("symbol").is_in(sector_syms) & pl.col("datetime").is_between(lo, hi)
            ).collect(), runs=5,
        )
        print(f"one sector ({len(sector_syms)} symbols) for one month: {sec_ms:.1f} ms (target <= 200); "
              f"polars.scan_delta {sec_polars:.0f} ms (x{sec_polars / sec_ms:.1f})")
        files_sym = len(store.active_files("stocks_daily_clean", symbols=[sym]))
        files_month = len(store.active_files("stocks_daily_clean", start="2023-06-01", end="2023-06-30"))
        files_all = len(store.active_files("stocks_daily_clean"))
        print(f"files opened: one symbol {files_sym}, one month {files_month}, whole table {files_all}")

        q = f"SELECT * FROM stocks_daily_clean WHERE symbol = '{sym}'"
        t0 = time.perf_counter()
        wh.sql(q, as_="arrow")
        first_sql = (time.perf_counter() - t0) * 1000
        sql_ms = _median_ms(lambda: wh.sql(q, as_="arrow"))
        print(f"wh.sql one symbol: {sql_ms:.1f} ms (first call, views and footers cold: {first_sql:.0f} ms)")
        if args.optimize:
            t0 = time.perf_counter()
            store.optimize("stocks_daily_clean")
            print(f"optimize + z-order: {time.perf_counter() - t0:.2f} s")
            ours = _median_ms(lambda: store.read("stocks_daily_clean", symbols=[sym]), runs=3)
            print(f"read one symbol after z-order: {ours:.1f} ms")


if __name__ == "__main__":
    main()
