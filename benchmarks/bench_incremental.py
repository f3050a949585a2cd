"""Incremental-update benchmark: one new bar per symbol, continued from the feature state.

Not a timed test: prints the best of --repeat calls for
  * 1-minute: --symbols (150) x --history (20,000) bars: the continuation (last `history_bars()` bars +
    the new bar + state) vs the full-history compute of the same new rows (`since=`), target < 0.2 s;
  * daily: --daily-symbols (2,650) x 756 bars, one new bar each, the same two ways;
  * the cost of extracting the state on a full compute (`state_out=True`) vs the plain full compute.
Features only (no storage). Run: .venv/bin/python benchmarks/bench_incremental.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from marketlake.features import compute_table
from marketlake.features.state import history_bars


def make_bars(n_symbols: int, n_bars: int, *, freq: str, start: str, seed: int = 0) -> pd.DataFrame:
    """Random-walk bars (valid OHLC, lognormal volume), SPY first, three sectors."""
    rng = np.random.default_rng(seed)
    symbols = ["SPY", *[f"S{i:05d}" for i in range(1, n_symbols)]]
    dt = pd.date_range(start, periods=n_bars, freq=freq, tz="UTC")
    shape = (n_symbols, n_bars)
    c = 20 + 180 * rng.random((n_symbols, 1)) * np.exp(np.cumsum(rng.normal(0, 0.002, shape), axis=1))
    o = np.concatenate([c[:, :1], c[:, :-1]], axis=1) * np.exp(rng.normal(0, 0.0005, shape))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.001, shape)))
    low = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.001, shape)))
    v = rng.lognormal(9, 0.7, shape).round()
    return pd.DataFrame({
        "symbol": np.repeat(symbols, n_bars), "datetime": np.tile(dt, n_symbols),
        "open": o.ravel(), "high": h.ravel(), "low": low.ravel(), "close": c.ravel(), "volume": v.ravel(),
        "sector": np.repeat(np.array(["Tech", "Energy", "Health"])[np.arange(n_symbols) % 3], n_bars),
        "exchange_timezone": "UTC",
    })


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def case(name: str, bars: pd.DataFrame, table: str, repeat: int) -> None:
    since = pd.Timestamp(bars["datetime"].max())
    old = bars[bars["datetime"] < since]
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    _, state = compute_table(old, table, state_out=True, updated_at=stamp)
    tail = pd.concat([old.groupby("symbol", sort=False).tail(history_bars()), bars[bars["datetime"] >= since]])
    tail = tail.sort_values(["symbol", "datetime"], ignore_index=True)
    cont = best(lambda: compute_table(tail, table, since=since, state=state, state_out=True, updated_at=stamp),
                repeat)
    full = best(lambda: compute_table(bars, table, since=since, updated_at=stamp), max(1, repeat // 2))
    n_sym = bars["symbol"].nunique()
    print(f"{name}: {n_sym} symbols x 1 new bar ({len(tail):,} rows in, {len(bars):,} in the full history)")
    print(f"  continuation from state : {cont * 1000:8.1f} ms")
    print(f"  full-history compute    : {full * 1000:8.1f} ms   ({full / cont:.0f}x)")


def extraction(repeat: int) -> None:
    bars = make_bars(2650, 756, freq="B", start="2021-01-04 14:30", seed=3)
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    compute_table(bars, state_out=True, updated_at=stamp)  # warm
    plain = best(lambda: compute_table(bars, updated_at=stamp), repeat)
    with_state = best(lambda: compute_table(bars, state_out=True, updated_at=stamp), repeat)
    print(f"full compute {len(bars):,} rows: {plain:.3f} s; with state_out=True: {with_state:.3f} s "
          f"(+{(with_state / plain - 1) * 100:.1f}%)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--symbols", type=int, default=150)
    ap.add_argument("--history", type=int, default=20_000)
    ap.add_argument("--daily-symbols", type=int, default=2650)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-extraction", action="store_true")
    args = ap.parse_args()
    minute = make_bars(args.symbols, args.history, freq="min", start="2025-06-02 13:30")
    case("stocks_1min_clean", minute, "stocks_1min_clean", args.repeat)
    daily = make_bars(args.daily_symbols, 756, freq="B", start="2021-01-04 14:30", seed=1)
    case("stocks_daily_clean", daily, "stocks_daily_clean", args.repeat)
    if not args.skip_extraction:
        extraction(args.repeat)


if __name__ == "__main__":
    main()
