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

from marketlake.features._segments import Segments, rolling_max, rolling_min, rolling_sum, seg_or_single

_CHUNK_ROWS = 16_384


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
    lo_all = rolling_min(low, w, seg)
    hi_all = rolling_max(high, w, seg)
    tot_all = rolling_sum(volume, w, seg)
    vol = np.nan_to_num(volume)
    typical = np.nan_to_num(typical)
    for a in range(w - 1, n, _CHUNK_ROWS):
        b = min(n, a + _CHUNK_ROWS)
        poc[a:b], vah[a:b], val[a:b] = _profile_block(
            a, b, w, lo_all[a:b], hi_all[a:b], tot_all[a:b], typical, vol, close[a:b], bins, value_area
        )
    return poc, vah, val


def _profile_block(
    a: int, b: int, w: int, lo: np.ndarray, hi: np.ndarray, total: np.ndarray, typical: np.ndarray,
    vol: np.ndarray, c: np.ndarray, bins: int, value_area: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows a..b-1; the window of row t is bars t-w+1..t, handled lag by lag on contiguous slices."""
    m = b - a
    width = (hi - lo) / bins
    valid = (hi > lo) & (total > 0) & np.isfinite(width) & np.isfinite(total)
    safe_w = np.where(valid, width, 1.0)
    lo = np.where(valid, lo, 0.0)
    stride = bins + 2  # one pad bin each side: -1 marks "exhausted" for the value-area walk
    row_base = np.arange(m, dtype=np.int64) * stride + 1
    idx = np.empty((w, m), dtype=np.int64)
    wts = np.empty((w, m))
    with np.errstate(invalid="ignore", over="ignore"):
        for k in range(w):
            q = (typical[a - k : b - k] - lo) / safe_w  # finite: typical is NaN-free, safe_w > 0
            ik = q.astype(np.int64)  # truncation == floor for q >= 0 (q < 0 only by a rounding ulp -> 0)
            np.clip(ik, 0, bins - 1, out=ik)
            idx[k] = ik + row_base
            wts[k] = vol[a - k : b - k]
    padded = np.bincount(idx.ravel(), weights=wts.ravel(), minlength=m * stride).reshape(m, stride)
    padded[:, 0] = -1.0
    padded[:, -1] = -1.0
    prof = padded[:, 1:-1]

    k = np.arange(bins)
    poc_bin = np.argmax(prof, axis=1)  # first maximum; ties resolved below
    top = prof[np.arange(m), poc_bin]
    tied = np.flatnonzero(np.count_nonzero(prof == top[:, None], axis=1) > 1)
    if len(tied):
        centres_t = lo[tied, None] + (k + 0.5) * safe_w[tied, None]
        dist = np.where(prof[tied] == top[tied, None], np.abs(centres_t - c[tied, None]), np.inf)
        poc_bin[tied] = np.argmin(dist, axis=1)  # nearest the close; first minimum = the lower bin

    rows = np.arange(m)
    flat = padded.ravel()
    included = prof[rows, poc_bin]
    target = value_area * total
    up = poc_bin.copy()  # highest bin included
    dn = poc_bin.copy()  # lowest bin included
    act = np.flatnonzero(included < target)
    # compact state of the rows still growing; finished rows are written back
    inc, u, d, tg, bs = included[act], up[act], dn[act], target[act], row_base[act]
    while len(act):
        above = flat[bs + u + 1]
        below = flat[bs + d - 1]
        take_up = (above >= below) & (above >= 0)
        take_dn = ~take_up & (below >= 0)
        inc += np.where(take_up, above, np.where(take_dn, below, 0.0))
        u += take_up
        d -= take_dn
        done = (inc >= tg) | ~(take_up | take_dn)
        if done.any():
            up[act[done]] = u[done]
            dn[act[done]] = d[done]
            keep = ~done
            act, inc, u, d, tg, bs = act[keep], inc[keep], u[keep], d[keep], tg[keep], bs[keep]

    poc = lo + (poc_bin + 0.5) * safe_w
    vah = np.where(up == bins - 1, hi, lo + (up + 1) * safe_w)
    val = lo + dn * safe_w
    for arr in (poc, vah, val):
        arr[~valid] = np.nan
    return poc, vah, val
