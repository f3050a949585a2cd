"""Synthetic 97-column bar tables for storage tests and the read benchmark (no feature engine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from marketlake.schema import bar_schema

SECTORS = (
    "Technology", "Health Care", "Financials", "Energy", "Industrials", "Utilities",
    "Materials", "Real Estate", "Consumer Staples", "Consumer Discretionary", "Communication Services",
)
EXCHANGES = ("NASDAQ", "NYSE")


def synthetic_bars(
    symbols: list[str],
    *,
    start: datetime = datetime(2021, 1, 4, tzinfo=UTC),
    periods: int = 30,
    step: timedelta = timedelta(days=1),
    seed: int = 0,
    null_share: float = 0.1,
    updated_at: datetime | None = None,
) -> pa.Table:
    """Rows typed exactly as `bar_schema()`, sorted by (symbol, datetime), random values with some NULLs."""
    rng = np.random.default_rng(seed)
    n = len(symbols) * periods
    sym = np.repeat(np.asarray(symbols, dtype=object), periods)
    base = np.datetime64(start.replace(tzinfo=None), "us")
    offs = np.tile(np.arange(periods, dtype=np.int64) * int(step / timedelta(microseconds=1)), len(symbols))
    dts = base + offs.astype("timedelta64[us]")
    sym_index = {s: i for i, s in enumerate(symbols)}
    idx = np.array([sym_index[s] for s in sym], dtype=np.int64)
    stamp = updated_at or datetime(2025, 1, 1, tzinfo=UTC)
    cols: list[pa.Array] = []
    for field in bar_schema():
        name, typ = field.name, field.type
        if name == "symbol":
            arr = pa.array(sym, pa.string())
        elif name == "datetime":
            arr = pa.array(dts, pa.timestamp("us")).cast(typ)
        elif name == "sector":
            arr = pa.array([SECTORS[i % len(SECTORS)] for i in idx], pa.string())
        elif name == "exchange":
            arr = pa.array([EXCHANGES[i % 2] for i in idx], pa.string())
        elif name == "updated_at":
            arr = pa.array([stamp] * n, typ)
        elif name == "trade_date":
            arr = pa.array(dts.astype("datetime64[D]"), pa.date32())
        elif pa.types.is_string(typ):
            arr = pa.array([f"{name}-{i}" for i in idx], pa.string())
        elif pa.types.is_int8(typ):
            vals = rng.integers(-1, 3, n).astype(np.int8)
            arr = pa.array(vals, pa.int8(), mask=rng.random(n) < null_share)
        else:
            mask = None if name in ("open", "high", "low", "close", "volume") else rng.random(n) < null_share
            arr = pa.array(rng.random(n) * 100.0, pa.float64(), mask=mask)
        cols.append(arr)
    return pa.Table.from_arrays(cols, schema=bar_schema())
