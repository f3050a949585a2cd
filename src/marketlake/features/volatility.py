"""Annualised historical volatility (the ATR family is TA-Lib, see `registry`)."""

from __future__ import annotations

import math

import numpy as np

from marketlake.features._segments import Segments, rolling_std


def hist_volatility(
    log_return: np.ndarray, *, timeperiod: int = 20, bars_per_year: int, seg: Segments | None = None
) -> np.ndarray:
    """Sample stdev (ddof 1) of the last `timeperiod` log returns * sqrt(bars_per_year).

    Reference: the usual close-to-close estimator (e.g. Hull, "Options, Futures and Other Derivatives").
    `log_return` is NaN on a symbol's first bar, so the first value is at bar `timeperiod`.
    """
    return rolling_std(log_return, timeperiod, ddof=1, seg=seg) * math.sqrt(bars_per_year)
