"""Regime labels (int8 in storage; here float with NaN = NULL until the engine casts them)."""

from __future__ import annotations

import numpy as np

from marketlake.features import _kernels
from marketlake.features._segments import Segments, f64, seg_or_single


def trend_regime(close: np.ndarray, sma_50: np.ndarray, sma_200: np.ndarray) -> np.ndarray:
    """+1 where close > sma_200 and sma_50 > sma_200; -1 where both are below; else 0; NULL without sma_200."""
    return _kernels.trend_regime(f64(close), f64(sma_50), f64(sma_200))


def volatility_regime(hist_vol: np.ndarray, *, timeperiod: int = 252, seg: Segments | None = None) -> np.ndarray:
    """Tercile of hist_volatility_20 in its own trailing distribution.

    rank = (count of the last `timeperiod` values, t included, that are <= the value at t) / timeperiod;
    rank < 1/3 -> 0, rank <= 2/3 -> 1, else 2 (compared in integers: count*3 < timeperiod, ...).
    NULL until `timeperiod` non-NULL values exist in the window.
    """
    seg = seg_or_single(seg, len(hist_vol))
    return _kernels.tercile_rank(f64(hist_vol), int(timeperiod), seg.starts, seg.stops)


def trend_strength_regime(adx: np.ndarray) -> np.ndarray:
    """adx < 20 -> 0 (no trend), < 25 -> 1 (emerging), else 2 (trending); NULL where adx is NULL."""
    return _kernels.trend_strength_regime(f64(adx))
