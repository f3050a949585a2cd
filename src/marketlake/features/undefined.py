"""Where a TA-Lib ratio has a zero denominator, TA-Lib prints 0.0; the contract wants NULL there.

Each function returns a boolean mask of bars at which the named indicator is mathematically undefined
(0/0: a flat window, zero volume, a zero close). Everywhere else the column equals TA-Lib exactly.
"""

from __future__ import annotations

import numpy as np

from marketlake.features import _kernels
from marketlake.features._segments import Segments, count_in_window, rolling_max, rolling_min, shift


def _never_moved(x: np.ndarray, seg: Segments) -> np.ndarray:
    """True while a symbol's series has not changed once since its first bar (Wilder sums are all 0)."""
    moved = np.abs(x - shift(x, 1, seg)) > 0
    return _kernels.not_yet(moved, seg.starts, seg.stops)


def rsi(close: np.ndarray, seg: Segments) -> np.ndarray:
    """RSI: average gain + average loss = 0 (no change since the first bar)."""
    return _never_moved(close, seg)


def flat_range(high: np.ndarray, low: np.ndarray, window: int, seg: Segments) -> np.ndarray:
    """WILLR / fast %K (slow %K, %D: any such bar in their smoothing window): max H == min L over the window."""
    return rolling_max(high, window, seg) == rolling_min(low, window, seg)


def zero(x: np.ndarray) -> np.ndarray:
    """A zero denominator (NATR: close; ROC: C_t-n; PPO: slow EMA)."""
    return x == 0


def no_volume(volume_sum: np.ndarray) -> np.ndarray:
    """CMF: no volume in the window (`volume_sum`: the rolling sum of volume over it)."""
    return volume_sum == 0


def no_money_flow(typical: np.ndarray, volume: np.ndarray, window: int, seg: Segments) -> np.ndarray:
    """MFI: no positive and no negative money flow over the last `window` changes of TP."""
    moved = np.abs(typical - shift(typical, 1, seg)) > 0
    flow = np.where(moved, typical * volume, 0.0)
    # sum(|flow|) == 0 exactly when every |flow| == 0 (a sum of values >= 0 only reaches 0 that way; a NaN
    # makes both "not 0"), so a count of the others says the same without adding floats
    return count_in_window(~(np.abs(flow) == 0), window, seg) == 0


def flat_typical(typical: np.ndarray, window: int, seg: Segments) -> np.ndarray:
    """CCI: mean deviation 0 (every TP in the window equal)."""
    return rolling_max(typical, window, seg) == rolling_min(typical, window, seg)


def no_true_range(true_range: np.ndarray, seg: Segments) -> np.ndarray:
    """ADX / +DI / -DI: Wilder-smoothed TR = 0 (no range since the first bar)."""
    return _kernels.not_yet(np.abs(np.nan_to_num(true_range)) > 0, seg.starts, seg.stops)
