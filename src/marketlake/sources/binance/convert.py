"""Binance klines -> raw bars (pure): strings to floats, open time (ms) to UTC, forming kline dropped.

Rules:
- `datetime` is the kline OPEN time (`openTime`, epoch ms, UTC); daily klines open at 00:00 UTC, the
  same stamp crypto daily bars get from every other source.
- The last kline of a page may still be forming: its `closeTime` lies after `now`; it is dropped so
  only complete bars are stored (the next run picks it up complete).
- Numbers that do not parse stay raw strings (object column) so validation quarantines them with the row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from marketlake.sources.base import empty_raw_bars
from marketlake.sources.binance.symbols import Pair
from marketlake.sources.binance.wire import CLOSE, CLOSE_TIME_MS, HIGH, LOW, OPEN, OPEN_TIME_MS, VOLUME, Kline

PRICE_POSITIONS = {"open": OPEN, "high": HIGH, "low": LOW, "close": CLOSE, "volume": VOLUME}


def klines_to_bars(rows: Sequence[Kline], *, symbol: str, interval: str, now: datetime,
                   pair: str | None = None) -> pd.DataFrame:
    """Raw bars (docs/internals.md contract) stored as `symbol`, oldest first, forming kline removed.

    `pair` is the market Binance was asked for (named in `_location`); default `symbol` without `/`.
    """
    if not rows:
        return empty_raw_bars()
    now_ms = int(pd.Timestamp(now).timestamp() * 1000)
    done = [r for r in rows if _int(r[CLOSE_TIME_MS]) is not None and _int(r[CLOSE_TIME_MS]) <= now_ms]  # type: ignore[operator]
    if not done:
        return empty_raw_bars()
    opens = pd.to_datetime(pd.Series([_int(r[OPEN_TIME_MS]) for r in done], dtype="float64"), unit="ms", utc=True)
    out = pd.DataFrame({"symbol": pd.Series([symbol] * len(done), dtype=object),
                        "datetime": opens.astype("datetime64[us, UTC]")})
    for col, pos in PRICE_POSITIONS.items():
        out[col] = _numeric(pd.Series([r[pos] for r in done], dtype=object))
    out["_location"] = f"binance /api/v3/klines {pair or symbol.replace('/', '').upper()} {interval}"
    out["_raw"] = [json.dumps(r, separators=(",", ":")) for r in done]
    return out.sort_values("datetime", kind="stable").reset_index(drop=True)


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return None


def _numeric(col: pd.Series) -> pd.Series:
    """float64 when every present value parses; otherwise the raw strings for validation to judge."""
    parsed = pd.to_numeric(col, errors="coerce")
    if bool((parsed.isna() & col.notna()).any()):
        return col
    return parsed.astype(np.float64)


def pair_metadata(pair: Pair) -> dict[str, object]:
    """Metadata columns Binance implies for a pair (no extra request); the currency the name states."""
    return {"symbol": pair.symbol, "asset_type": "crypto", "exchange": "Binance", "currency": pair.stored_quote
            if "/" in pair.symbol else pair.quote, "exchange_timezone": "UTC"}


__all__ = ["klines_to_bars", "pair_metadata"]
