"""Volatility: ATR family (TA-Lib, per symbol) and annualised historical volatility (NumPy, vectorised)."""

from __future__ import annotations

import math

import numpy as np

from marketlake.features._segments import Segments, rolling_std
from marketlake.features._talib import talib


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, *, timeperiod: int = 14) -> np.ndarray:
    """TA-Lib ATR(H, L, C, timeperiod) (Wilder smoothing of TRANGE)."""
    return talib.ATR(high, low, close, timeperiod=timeperiod)


def natr(high: np.ndarray, low: np.ndarray, close: np.ndarray, *, timeperiod: int = 14) -> np.ndarray:
    """TA-Lib NATR(H, L, C, timeperiod): 100 * ATR / close."""
    return talib.NATR(high, low, close, timeperiod=timeperiod)


def hist_volatility(
    log_return: np.ndarray, *, timeperiod: int = 20, bars_per_year: int, seg: Segments | None = None
) -> np.ndarray:
    """Sample stdev (ddof 1) of the last `timeperiod` log returns * sqrt(bars_per_year).

    Reference: the usual close-to-close estimator (e.g. Hull, "Options, Futures and Other Derivatives").
    `log_return` is NaN on a symbol's first bar, so the first value is at bar `timeperiod`.
    """
    return rolling_std(log_return, timeperiod, ddof=1, seg=seg) * math.sqrt(bars_per_year)
