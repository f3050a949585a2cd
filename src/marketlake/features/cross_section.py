"""Cross-sectional fields: relative strength to a benchmark and to sector peers, and beta.

All alignment is by exact `datetime`. Values at bar t use only peers' and the benchmark's values at t
(and, for beta, at earlier matched bars), so they stay causal when everything is truncated after t.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketlake.features._segments import Segments, safe_div, segment_cumsum, shift


def align_to(
    dt_ns: np.ndarray, bench_dt_ns: np.ndarray, bench_values: np.ndarray
) -> np.ndarray:
    """The benchmark's value at each row's datetime (NaN where the benchmark has no bar then).

    `bench_dt_ns` must be sorted ascending and unique (one symbol's bars).
    """
    out = np.full(len(dt_ns), np.nan)
    if len(bench_dt_ns) == 0:
        return out
    i = np.searchsorted(bench_dt_ns, dt_ns)
    i_ok = np.minimum(i, len(bench_dt_ns) - 1)
    hit = bench_dt_ns[i_ok] == dt_ns
    out[hit] = bench_values[i_ok[hit]]
    return out


def relative_strength(ret: np.ndarray, bench_ret: np.ndarray) -> np.ndarray:
    """return_20 - benchmark return_20 at the same datetime; NULL where either is NULL."""
    return ret - bench_ret


def sector_relative_strength(
    ret: np.ndarray, sector: np.ndarray, dt_ns: np.ndarray, *, min_peers: int = 3
) -> np.ndarray:
    """return_20 - median of non-NULL return_20 of the same sector at the same datetime (self included).

    NULL where the sector is NULL or fewer than `min_peers` values exist at that datetime.
    """
    sector_s = pd.Series(sector, dtype="object")
    codes, _ = pd.factorize(sector_s, use_na_sentinel=True)
    dt_codes, _ = pd.factorize(dt_ns)
    ok = (codes >= 0) & ~np.isnan(ret)
    out = np.full(len(ret), np.nan)
    if not ok.any():
        return out
    n_sect = int(codes.max()) + 1
    key = dt_codes.astype(np.int64) * n_sect + codes
    grouped = pd.Series(ret[ok]).groupby(key[ok], sort=False)
    med = grouped.median()
    cnt = grouped.count()
    row_keys = key[ok]
    m = med.reindex(row_keys).to_numpy(np.float64)
    c = cnt.reindex(row_keys).to_numpy(np.int64)
    out[ok] = np.where(c >= min_peers, ret[ok] - m, np.nan)
    return out


def beta(
    ret: np.ndarray, bench_ret: np.ndarray, *, timeperiod: int = 60, seg: Segments
) -> np.ndarray:
    """cov(r, r_bench) / var(r_bench) over the symbol's last `timeperiod` bars (t included) where both exist.

    Reference: the OLS slope of r on r_bench (= the usual CAPM beta). The bars where both returns exist are
    compressed into their own contiguous array per symbol; window sums come from per-symbol running sums
    (S_t - S_t-w), and each bar takes the value of the last matched bar at or before it (interpretation: a
    bar without a benchmark bar keeps the beta of the last 60 matched bars). NULL with fewer than
    `timeperiod` matched bars, or a flat benchmark.
    """
    n = len(ret)
    out = np.full(n, np.nan)
    both = np.isfinite(ret) & np.isfinite(bench_ret)
    if both.sum() < timeperiod:
        return out
    sym = np.repeat(np.arange(len(seg.starts)), seg.stops - seg.starts)
    lengths = np.bincount(sym[both], minlength=len(seg.starts))
    cseg = Segments.from_lengths(lengths)
    x = ret[both]
    y = bench_ret[both]
    w = timeperiod
    # trailing-window sums from per-symbol running sums: S[j] - S[j - w] (exact enough: returns are
    # O(1e-2) and sums restart per symbol, so a symbol never depends on its neighbours in the batch)
    sums = [segment_cumsum(a, cseg) for a in (x, y, x * y, y * y)]
    win = []
    for s_ in sums:
        lagged = shift(s_, w, cseg)
        lagged[cseg.pos == w - 1] = 0.0
        win.append(s_ - lagged)
    sx, sy, sxy, syy = win
    cbeta = safe_div(sxy - sx * sy / w, syy - sy * sy / w)
    cbeta[cseg.pos < w - 1] = np.nan
    last = np.cumsum(both) - 1  # index into the compressed arrays of the last matched bar <= t
    cstart = np.repeat(cseg.starts, seg.stops - seg.starts)
    has = last >= cstart
    out[has] = cbeta[last[has]]
    return out
