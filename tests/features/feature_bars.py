"""Bar generators for the feature tests (random walks with valid OHLC), and the real-data loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SHARED_OHLCV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ohlcv"


def make_bars(
    n_symbols: int = 3,
    n_bars: int = 400,
    *,
    seed: int = 0,
    start: str = "2020-01-02 14:30",
    freq: str = "B",
    sectors: tuple[str, ...] = ("Tech", "Energy", "Health"),
    symbols: list[str] | None = None,
) -> pd.DataFrame:
    """Random-walk bars, valid OHLC (L <= O, C <= H), positive volume; first symbol is SPY by default."""
    rng = np.random.default_rng(seed)
    syms = symbols or ["SPY", *[f"S{i:03d}" for i in range(1, n_symbols)]]
    dt = pd.date_range(start, periods=n_bars, freq=freq, tz="UTC")
    market = rng.normal(0, 0.01, n_bars)
    frames = []
    for k, s in enumerate(syms):
        r = 0.8 * market + rng.normal(0, 0.01, n_bars)
        c = 50 * (1 + k) * np.exp(np.cumsum(r))
        o = np.r_[c[0], c[:-1]] * np.exp(rng.normal(0, 0.003, n_bars))
        h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.006, n_bars)))
        low = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.006, n_bars)))
        v = rng.lognormal(12, 0.6, n_bars).round()
        frames.append(pd.DataFrame({
            "symbol": s, "datetime": dt, "open": o, "high": h, "low": low, "close": c, "volume": v,
            "sector": sectors[k % len(sectors)],
        }))
    return pd.concat(frames, ignore_index=True)


def load_ohlcv(name: str, *, symbol: str, tz: str = "UTC") -> pd.DataFrame:
    """One of ../shared/data/ohlcv/*.csv as bars (dates parsed; local times converted from `tz` to UTC)."""
    path = SHARED_OHLCV / name
    if not path.is_file():
        pytest.skip(f"real data not present at {path}")
    raw = pd.read_csv(path)
    dt = pd.to_datetime(raw["date"], format="mixed")
    dt = dt.dt.tz_localize(tz).dt.tz_convert("UTC")
    return pd.DataFrame({
        "symbol": symbol, "datetime": dt, **{c: raw[c].astype("float64") for c in ("open", "high", "low", "close", "volume")}
    })


