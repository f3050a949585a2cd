"""Compile the feature kernels ahead of use: `python -m marketlake.features.warmup` (run by `make install`).

The compiled loops (`_kernels`, `_talib`) are built by Numba on their first call and cached on disk beside
the sources. On a new machine that first call takes 30-60 s, which would otherwise be paid silently inside
the first ingest. `warm_up` pays it once, on purpose, by computing the 97 fields of a tiny daily and a tiny
intraday batch (every kernel and every argument type the engine uses), then leaves a marker so the CLI
knows the cache is warm. The marker is keyed by the kernel sources, Numba and Python, so an upgrade of any
of them makes the CLI say it is compiling again.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from marketlake.frames import concat_rows

_HERE = Path(__file__).resolve().parent
_KERNEL_SOURCES = ("_kernels.py", "_talib.py")


def _marker() -> Path:
    import numba

    digest = hashlib.sha256()
    for name in _KERNEL_SOURCES:
        digest.update((_HERE / name).read_bytes())
    digest.update(f"{numba.__version__}|{sys.version_info[:2]}".encode())
    return _HERE / "__pycache__" / f"marketlake-kernels-{digest.hexdigest()[:16]}.warm"


def kernels_ready() -> bool:
    """True when `warm_up` ran for these kernel sources, this Numba and this Python."""
    try:
        return _marker().exists()
    except OSError:
        return False


def _bars(stamps: pd.DatetimeIndex, symbols: tuple[str, ...], seed: int) -> pd.DataFrame:
    """A random walk per symbol with valid OHLC (high >= open, close >= low) on the given stamps."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, symbol in enumerate(symbols):
        n = len(stamps)
        close = 50.0 * (1 + i) * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        open_ = np.concatenate([[close[0]], close[:-1]])
        spread = np.abs(rng.normal(0, 0.005, n)) * close
        frames.append(pd.DataFrame({
            "symbol": symbol, "datetime": stamps, "open": open_, "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread, "close": close,
            "volume": rng.integers(1_000, 100_000, n).astype(float),
            "sector": "Information Technology" if i % 2 else "Financials",
        }))
    return concat_rows(frames, ignore_index=True)


def warm_up(say: Callable[[str], None] | None = None) -> float:
    """Compile (or load from the disk cache) every feature kernel; returns the seconds it took."""
    from marketlake.features.engine import compute_table
    from marketlake.schema import get_table

    started = time.perf_counter()
    now = datetime(2025, 1, 2, tzinfo=UTC)
    days = pd.bdate_range("2023-01-02", periods=300, tz="UTC") + pd.Timedelta(hours=14, minutes=30)
    minutes = pd.date_range("2024-11-25 14:30", periods=390, freq="1min", tz="UTC")
    minutes = minutes.append(minutes + pd.Timedelta(days=1))
    batches = (
        ("stocks_daily_clean", days, ("SPY", "AAA", "BBB")),
        ("stocks_1min_clean", minutes, ("SPY", "AAA")),
        ("crypto_hourly_clean", pd.date_range("2024-11-01", periods=400, freq="1h", tz="UTC"), ("BTC/USD", "ETH/USD")),
    )
    for i, (table, stamps, symbols) in enumerate(batches):
        if say is not None:
            say(f"compiling the feature kernels: {table} ({i + 1}/{len(batches)})")
        bars = _bars(stamps, symbols, seed=i)
        compute_table(bars, get_table(table), updated_at=now, state_out=True)  # + the state kernels
        compute_table(bars, get_table(table), updated_at=now, since=stamps[-1].to_pydatetime())  # live use
    try:
        marker = _marker()
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"warmed {datetime.now(UTC).isoformat()}\n")
    except OSError:  # a read-only install: Numba caches elsewhere; the marker is only a courtesy
        pass
    return time.perf_counter() - started


def main() -> None:
    """`python -m marketlake.features.warmup`: compile now and say how long it took."""
    ready = kernels_ready()
    print("marketlake: compiling the feature kernels (once per machine, 30-60 s on a new one)..." if not ready
          else "marketlake: feature kernels already compiled; loading them from the cache...", flush=True)
    seconds = warm_up()
    print(f"marketlake: feature kernels ready ({seconds:.1f} s)", flush=True)


if __name__ == "__main__":
    main()


__all__ = ["kernels_ready", "warm_up"]
