"""Volume formulas: VWAP (rolling or per session) and volume statistics (OBV, AD, MFI, CMF are TA-Lib)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketlake.features._segments import Segments, rolling_std, rolling_sum, safe_div


def vwap_rolling(
    typical: np.ndarray, volume: np.ndarray, *, timeperiod: int = 20, seg: Segments | None = None,
    volume_sum: np.ndarray | None = None,
) -> np.ndarray:
    """Daily tables: sum(TP * V) / sum(V) over the last `timeperiod` bars; NULL where that volume is 0.

    `volume_sum`: rolling_sum(volume, timeperiod) if the caller already has it."""
    if volume_sum is None:
        volume_sum = rolling_sum(volume, timeperiod, seg)
    return safe_div(rolling_sum(typical * volume, timeperiod, seg), volume_sum)


def vwap_session(typical: np.ndarray, volume: np.ndarray, session_id: np.ndarray) -> np.ndarray:
    """Intraday tables: sum(TP * V) / sum(V) since the session's first bar (= TA-Lib VWAP per session).

    `session_id` numbers (symbol, trade_date) runs of consecutive rows. Sums are sequential within each
    session, so a session's values never depend on other sessions. Where the session's volume so far is
    0 the value is NULL (TA-Lib VWAP would print 0.0, which is not a price).
    """
    frame = pd.DataFrame({"pv": typical * volume, "v": volume})
    sums = frame.groupby(session_id, sort=False).cumsum()
    return safe_div(sums["pv"].to_numpy(np.float64), sums["v"].to_numpy(np.float64))


def relative_volume(volume: np.ndarray, volume_sma: np.ndarray) -> np.ndarray:
    """volume / SMA(volume, 20) (formula); NULL where the average volume is 0."""
    return safe_div(volume, volume_sma)


def volume_zscore(
    volume: np.ndarray, *, timeperiod: int = 20, seg: Segments | None = None, volume_sum: np.ndarray | None = None
) -> np.ndarray:
    """(V - mean V) / population stdev of V over the last `timeperiod` bars; NULL where the stdev is 0.

    `volume_sum`: rolling_sum(volume, timeperiod) if the caller already has it."""
    mean = (rolling_sum(volume, timeperiod, seg) if volume_sum is None else volume_sum) / timeperiod
    std = rolling_std(volume, timeperiod, ddof=0, seg=seg)
    return safe_div(volume - mean, std)
