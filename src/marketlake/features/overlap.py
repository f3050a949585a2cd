"""Moving averages, Bollinger bands and Ichimoku lines (overlap studies).

The averages and bands themselves are TA-Lib (see `registry`); here are the NumPy formulas built on them:
Bollinger width and %B, and the causal Ichimoku displacements.
"""

from __future__ import annotations

import numpy as np

from marketlake.features._segments import Segments, safe_div, shift


def bollinger_width(upper: np.ndarray, middle: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """(upper - lower) / middle (formula); NULL where the middle band is 0."""
    return safe_div(upper - lower, middle)


def bollinger_percent_b(close: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """(close - lower) / (upper - lower) (formula); NULL where the bands coincide (flat prices)."""
    return safe_div(close - lower, upper - lower)


def senkou_a(
    tenkan: np.ndarray, kijun: np.ndarray, *, displacement: int = 26, seg: Segments | None = None
) -> np.ndarray:
    """Ichimoku leading span A as displayed at bar t: (tenkan + kijun) / 2 computed at bar t - displacement.

    Only bars <= t - displacement are used, so it is causal by construction.
    """
    return shift((tenkan + kijun) / 2.0, displacement, seg)


def senkou_b(midprice_52: np.ndarray, *, displacement: int = 26, seg: Segments | None = None) -> np.ndarray:
    """Ichimoku leading span B at bar t: TA-Lib MIDPRICE(H, L, 52) of bar t - displacement (causal)."""
    return shift(midprice_52, displacement, seg)


def chikou(close: np.ndarray, *, displacement: int = 26, seg: Segments | None = None) -> np.ndarray:
    """Lagging-span signal without look-ahead: C_t - C_t-displacement."""
    return close - shift(close, displacement, seg)
