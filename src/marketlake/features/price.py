"""Base OHLCV derivatives and returns (fields.md groups "Base OHLCV", "Returns", pivot point).

Vectorised over all symbols at once; `seg` marks where each symbol starts (None = one series).
"""

from __future__ import annotations

import numpy as np

from marketlake.features._segments import Segments, safe_div, shift
from marketlake.features._talib import binding as talib


def previous_close(close: np.ndarray, *, seg: Segments | None = None) -> np.ndarray:
    """Close of the previous bar of the same symbol (formula: C_t-1)."""
    return shift(close, 1, seg)


def change(close: np.ndarray, *, seg: Segments | None = None) -> np.ndarray:
    """close - previous_close (formula)."""
    return close - shift(close, 1, seg)


def percent_change(close: np.ndarray, *, seg: Segments | None = None) -> np.ndarray:
    """100 * change / previous_close (formula)."""
    prev = shift(close, 1, seg)
    return safe_div(100.0 * (close - prev), prev)


def typical_price(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """TA-Lib TYPPRICE: (H + L + C) / 3."""
    return talib.TYPPRICE(high, low, close)


def median_price(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """TA-Lib MEDPRICE: (H + L) / 2."""
    return talib.MEDPRICE(high, low)


def weighted_close(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """TA-Lib WCLPRICE: (H + L + 2C) / 4."""
    return talib.WCLPRICE(high, low, close)


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray, *, seg: Segments | None = None) -> np.ndarray:
    """TA-Lib TRANGE: max(H, C_t-1) - min(L, C_t-1); NULL on a symbol's first bar (as TA-Lib)."""
    prev = shift(close, 1, seg)
    out = np.maximum(high, prev) - np.minimum(low, prev)
    out[np.isnan(prev)] = np.nan
    return out


def dollar_volume(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """close * volume (formula)."""
    return close * volume


def bar_range(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """high - low (formula)."""
    return high - low


def simple_return(close: np.ndarray, *, timeperiod: int = 1, seg: Segments | None = None) -> np.ndarray:
    """C_t / C_t-n - 1 (formula); return_1 and return_20."""
    return safe_div(close, shift(close, timeperiod, seg)) - 1.0


def log_return(close: np.ndarray, *, seg: Segments | None = None) -> np.ndarray:
    """ln(C_t / C_t-1) (formula); NULL where either close is 0."""
    ratio = safe_div(close, shift(close, 1, seg))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(ratio)
    out[~np.isfinite(out)] = np.nan
    return out


def pivot_point(high: np.ndarray, low: np.ndarray, close: np.ndarray, *, seg: Segments | None = None) -> np.ndarray:
    """(H + L + C) / 3 of the previous bar (classic floor-trader pivot)."""
    return shift(talib.TYPPRICE(high, low, close), 1, seg)


def gap_percent(open_: np.ndarray, close: np.ndarray, *, seg: Segments | None = None) -> np.ndarray:
    """100 * (open / previous_close - 1) (formula)."""
    return 100.0 * (safe_div(open_, shift(close, 1, seg)) - 1.0)


def intraday_return(open_: np.ndarray, close: np.ndarray) -> np.ndarray:
    """close / open - 1 (formula)."""
    return safe_div(close, open_) - 1.0
