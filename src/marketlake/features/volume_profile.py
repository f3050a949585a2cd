"""Volume profile over a trailing window: point of control and 70% value area (fields.md vp_*).

Definition (fields.md): over the last `timeperiod` bars, `bins` equal-width price bins span
[min L, max H] of the window; each bar's whole volume goes to bin floor((TP - min L) / width), the top
edge belonging to the last bin. POC = centre of the bin with most volume (ties: the bin whose centre is
nearest the close, then the lower). The value area starts at the POC bin and, while it holds less than
`value_area` of the window's volume, adds the next bin above or below, whichever holds more volume (ties:
above; when one side is exhausted, the other). VAH/VAL = upper/lower edge of the outermost bins included.
Bin edges are min L + k * width, except the top edge which is max H exactly (so VAH never exceeds it).

Computed by a compiled loop per bar (`_kernels.volume_profile`): bin the window, argmax, grow the value area.
"""

from __future__ import annotations

import numpy as np

from marketlake.features import _kernels
from marketlake.features._segments import Segments, rolling_max, rolling_min, rolling_sum, seg_or_single


def volume_profile(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    typical: np.ndarray,
    *,
    timeperiod: int = 20,
    bins: int = 24,
    value_area: float = 0.7,
    seg: Segments | None = None,
    volume_sum: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(poc, value_area_high, value_area_low) for every bar; NaN in warm-up, flat or volume-less windows.

    `volume_sum`: rolling_sum(volume, timeperiod) if the caller already has it."""
    seg = seg_or_single(seg, len(close))
    n = len(close)
    if n < timeperiod:
        return np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    w = timeperiod
    lo_all = rolling_min(low, w, seg)
    hi_all = rolling_max(high, w, seg)
    tot_all = rolling_sum(volume, w, seg) if volume_sum is None else volume_sum
    vol = np.nan_to_num(np.asarray(volume, dtype=np.float64))
    typical = np.nan_to_num(np.asarray(typical, dtype=np.float64))
    return _kernels.volume_profile(hi_all, lo_all, tot_all, typical, vol, np.ascontiguousarray(close, np.float64),
                                   int(w), int(bins), float(value_area), seg.starts, seg.stops)
