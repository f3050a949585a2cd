"""Moving averages, Bollinger bands and Ichimoku lines (overlap studies).

TA-Lib kernels run per symbol; `bollinger_derived` and the Ichimoku displacements are NumPy formulas.
"""

from __future__ import annotations

import numpy as np

from marketlake.features._segments import Segments, safe_div, shift
from marketlake.features._talib import talib


def sma(x: np.ndarray, *, timeperiod: int = 20) -> np.ndarray:
    """TA-Lib SMA(x, timeperiod)."""
    return talib.SMA(x, timeperiod=timeperiod)


def ema(x: np.ndarray, *, timeperiod: int = 20) -> np.ndarray:
    """TA-Lib EMA(x, timeperiod) (seeded with the SMA of the first `timeperiod` values)."""
    return talib.EMA(x, timeperiod=timeperiod)


def wma(x: np.ndarray, *, timeperiod: int = 20) -> np.ndarray:
    """TA-Lib WMA(x, timeperiod)."""
    return talib.WMA(x, timeperiod=timeperiod)


def kama(x: np.ndarray, *, timeperiod: int = 10) -> np.ndarray:
    """TA-Lib KAMA(x, timeperiod)."""
    return talib.KAMA(x, timeperiod=timeperiod)


def bbands(
    close: np.ndarray, *, timeperiod: int = 20, nbdevup: float = 2.0, nbdevdn: float = 2.0, matype: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TA-Lib BBANDS(close, timeperiod, nbdevup, nbdevdn, matype) -> (upper, middle, lower)."""
    return talib.BBANDS(close, timeperiod=timeperiod, nbdevup=nbdevup, nbdevdn=nbdevdn, matype=matype)


def bollinger_width(upper: np.ndarray, middle: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """(upper - lower) / middle (formula); NULL where the middle band is 0."""
    return safe_div(upper - lower, middle)


def bollinger_percent_b(close: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """(close - lower) / (upper - lower) (formula); NULL where the bands coincide (flat prices)."""
    return safe_div(close - lower, upper - lower)


def midprice(high: np.ndarray, low: np.ndarray, *, timeperiod: int) -> np.ndarray:
    """TA-Lib MIDPRICE(H, L, timeperiod): (max H + min L) / 2 over the window; Ichimoku tenkan/kijun."""
    return talib.MIDPRICE(high, low, timeperiod=timeperiod)


def senkou_a(
    tenkan: np.ndarray, kijun: np.ndarray, *, displacement: int = 26, seg: Segments | None = None
) -> np.ndarray:
    """Ichimoku leading span A as displayed at bar t: (tenkan + kijun) / 2 computed at bar t - displacement.

    Only bars <= t - displacement are used, so it is causal by construction.
    """
    return shift((tenkan + kijun) / 2.0, displacement, seg)


def senkou_b(
    high: np.ndarray, low: np.ndarray, *, timeperiod: int = 52, displacement: int = 26,
    seg: Segments | None = None, midpoint: np.ndarray | None = None,
) -> np.ndarray:
    """Ichimoku leading span B at bar t: TA-Lib MIDPRICE(H, L, timeperiod) of bar t - displacement (causal)."""
    mid = midpoint if midpoint is not None else talib.MIDPRICE(high, low, timeperiod=timeperiod)
    return shift(mid, displacement, seg)


def chikou(close: np.ndarray, *, displacement: int = 26, seg: Segments | None = None) -> np.ndarray:
    """Lagging-span signal without look-ahead: C_t - C_t-displacement."""
    return close - shift(close, displacement, seg)
