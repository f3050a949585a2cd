"""Volume profile over a trailing window: point of control and 70% value area (fields.md vp_*).

Definition (fields.md): over the last `timeperiod` bars, `bins` equal-width price bins span
[min L, max H] of the window; each bar's whole volume goes to bin floor((TP - min L) / width), the top
edge belonging to the last bin. POC = centre of the bin with most volume (ties: the bin whose centre is
nearest the close, then the lower). The value area starts at the POC bin and, while it holds less than
`value_area` of the window's volume, adds the next bin above or below, whichever holds more volume (ties:
above; when one side is exhausted, the other). VAH/VAL = upper/lower edge of the outermost bins included.
Bin edges are min L + k * width, except the top edge which is max H exactly (so VAH never exceeds it).

Vectorised: every row's window is binned at once (rows x window bin indices, one `bincount`), then the
value area grows for all rows together, one bin per step.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from marketlake.features._segments import Segments, seg_or_single

_CHUNK_ROWS = 65_536


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
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(poc, value_area_high, value_area_low) for every bar; NaN in warm-up, flat or volume-less windows."""
    seg = seg_or_single(seg, len(close))
    n = len(close)
    poc = np.full(n, np.nan)
    vah = np.full(n, np.nan)
    val = np.full(n, np.nan)
    if n < timeperiod:
        return poc, vah, val
    w = timeperiod
    hv, lv, tv, vv = (sliding_window_view(x, w) for x in (high, low, typical, volume))
    ends = np.arange(w - 1, n)
    ok_rows = ends[seg.pos[w - 1 :] >= w - 1]
    for a in range(0, len(ok_rows), _CHUNK_ROWS):
        rows = ok_rows[a : a + _CHUNK_ROWS]
        r = rows - (w - 1)
        p, hi_, lo_ = _profile_block(hv[r], lv[r], tv[r], vv[r], close[rows], bins, value_area)
        poc[rows], vah[rows], val[rows] = p, hi_, lo_
    return poc, vah, val


def _profile_block(
    h: np.ndarray, l: np.ndarray, tp: np.ndarray, v: np.ndarray, c: np.ndarray, bins: int, value_area: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = len(c)
    lo = l.min(axis=1)
    hi = h.max(axis=1)
    width = (hi - lo) / bins
    total = v.sum(axis=1)
    valid = (hi > lo) & (total > 0) & np.isfinite(width) & np.isfinite(total)
    safe_w = np.where(valid, width, 1.0)
    with np.errstate(invalid="ignore"):
        idx = np.floor((tp - lo[:, None]) / safe_w[:, None])
    idx = np.clip(np.nan_to_num(idx, nan=0.0), 0, bins - 1).astype(np.int64)
    flat = (idx + (np.arange(m, dtype=np.int64) * bins)[:, None]).ravel()
    prof = np.bincount(flat, weights=np.nan_to_num(v).ravel(), minlength=m * bins).reshape(m, bins)

    k = np.arange(bins)
    centres = lo[:, None] + (k + 0.5) * safe_w[:, None]
    top = prof.max(axis=1)
    dist = np.where(prof == top[:, None], np.abs(centres - c[:, None]), np.inf)
    poc_bin = np.argmin(dist, axis=1)  # first minimum: the lower bin on an exact tie

    rows = np.arange(m)
    included = prof[rows, poc_bin].copy()
    target = value_area * total
    up = poc_bin.copy()  # highest bin included
    dn = poc_bin.copy()  # lowest bin included
    padded = np.concatenate([np.full((m, 1), -1.0), prof, np.full((m, 1), -1.0)], axis=1)  # -1 = exhausted
    for _ in range(bins - 1):
        grow = included < target
        if not grow.any():
            break
        above = padded[rows, up + 2]
        below = padded[rows, dn]
        take_up = grow & (above >= below) & (above >= 0)
        take_dn = grow & ~take_up & (below >= 0)
        included += np.where(take_up, above, 0.0) + np.where(take_dn, below, 0.0)
        up += take_up
        dn -= take_dn

    poc = centres[rows, poc_bin]
    vah = np.where(up == bins - 1, hi, lo + (up + 1) * safe_w)
    val = lo + dn * safe_w
    for arr in (poc, vah, val):
        arr[~valid] = np.nan
    return poc, vah, val
