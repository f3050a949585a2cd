"""Cross-sectional transforms and the missing-feature policy, computed within each datetime only.

Rows arrive sorted by (datetime, symbol), so each datetime is one contiguous group `[starts[g], ends[g])`.
Nothing here looks across datetimes: a value at t depends on the other symbols' values at t alone, so the
transforms keep the features causal. NULL (NaN) inputs stay NULL and are left out of every statistic.
"""

from __future__ import annotations

import numpy as np

from marketlake.datasets.spec import TransformSpec


class Groups:
    """Contiguous groups of a (datetime, symbol)-sorted column: group id per row, starts and sizes."""

    def __init__(self, dt: np.ndarray) -> None:
        n = len(dt)
        change = np.flatnonzero(dt[1:] != dt[:-1]) + 1 if n else np.empty(0, np.int64)
        self.starts = np.concatenate([[0], change]).astype(np.int64) if n else np.empty(0, np.int64)
        self.sizes = np.diff(np.concatenate([self.starts, [n]])).astype(np.int64)
        self.ids = np.repeat(np.arange(len(self.starts)), self.sizes)
        self.n = n

    def sorted_within(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(order, valid count per group, position of each row within its group's sorted valid values).

        NaN sorts last within its group; its position is meaningless (callers mask NaN rows)."""
        key = np.where(np.isnan(x), np.inf, x)
        order = np.lexsort((key, self.ids))
        valid = np.bincount(self.ids, weights=(~np.isnan(x)).astype(np.float64), minlength=len(self.starts))
        pos = np.empty(self.n, np.int64)
        pos[order] = np.arange(self.n) - np.repeat(self.starts, self.sizes)
        return order, valid.astype(np.int64), pos

    def mean_std(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ok = ~np.isnan(x)
        v = np.where(ok, x, 0.0)
        m = len(self.starts)
        cnt = np.bincount(self.ids, weights=ok.astype(np.float64), minlength=m)
        s1 = np.bincount(self.ids, weights=v, minlength=m)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / cnt
            dev = np.where(ok, x - mean[self.ids], 0.0)
            var = np.bincount(self.ids, weights=dev * dev, minlength=m) / (cnt - 1)
        return mean, np.sqrt(var)


def _at(order: np.ndarray, starts: np.ndarray, offset: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per group, the sorted value at `offset` within the group (NaN where offset < 0)."""
    out = np.full(len(starts), np.nan)
    ok = offset >= 0
    out[ok] = x[order[starts[ok] + offset[ok]]]
    return out


def rank(g: Groups, x: np.ndarray) -> np.ndarray:
    """Percentile rank in [0, 1] within the datetime (ties averaged); a lone value ranks 0.5."""
    order, valid, pos = g.sorted_within(x)
    # average ties: the first and last sorted positions of equal values within a group
    sx = np.where(np.isnan(x), np.inf, x)[order]
    sid = g.ids[order]
    new = np.ones(g.n, dtype=bool)
    new[1:] = (sx[1:] != sx[:-1]) | (sid[1:] != sid[:-1])
    run = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    last = np.concatenate([first[1:], [g.n]]) - 1
    base = np.repeat(g.starts, g.sizes)[order]
    avg_sorted = ((first[run] + last[run]) / 2.0) - base
    avg = np.empty(g.n)
    avg[order] = avg_sorted
    denom = (valid - 1)[g.ids].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(denom > 0, avg / denom, 0.5)
    out[np.isnan(x)] = np.nan
    del pos
    return out


def zscore(g: Groups, x: np.ndarray) -> np.ndarray:
    """(x - mean) / std within the datetime (sample std); NaN where the std is 0 or undefined."""
    mean, std = g.mean_std(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (x - mean[g.ids]) / std[g.ids]
    out[~np.isfinite(out)] = np.nan
    return out


def winsorize(g: Groups, x: np.ndarray, p: float) -> np.ndarray:
    """Clip to the datetime's p and 1-p quantiles (nearest rank, no interpolation)."""
    order, valid, _ = g.sorted_within(x)
    lo_off = np.where(valid > 0, np.floor(p * (valid - 1)).astype(np.int64), -1)
    hi_off = np.where(valid > 0, np.ceil((1 - p) * (valid - 1)).astype(np.int64), -1)
    lo = _at(order, g.starts, lo_off, x)[g.ids]
    hi = _at(order, g.starts, hi_off, x)[g.ids]
    return np.where(np.isnan(x), np.nan, np.minimum(np.maximum(x, lo), hi))


def median(g: Groups, x: np.ndarray) -> np.ndarray:
    """The datetime's median per row (mean of the two middle values for an even count)."""
    order, valid, _ = g.sorted_within(x)
    a = _at(order, g.starts, np.where(valid > 0, (valid - 1) // 2, -1), x)
    b = _at(order, g.starts, np.where(valid > 0, valid // 2, -1), x)
    return ((a + b) / 2.0)[g.ids]


def apply(g: Groups, x: np.ndarray, spec: TransformSpec) -> np.ndarray:
    if spec.kind == "rank":
        return rank(g, x)
    if spec.kind == "zscore":
        return zscore(g, x)
    if spec.kind == "winsorize":
        return winsorize(g, x, float(spec.params["p"]))
    raise ValueError(spec.kind)


def impute(g: Groups, x: np.ndarray) -> np.ndarray:
    """NULLs replaced by the datetime's cross-sectional median (still NULL when the whole datetime is)."""
    miss = np.isnan(x)
    if not miss.any():
        return x
    return np.where(miss, median(g, x), x)


__all__ = ["Groups", "apply", "impute", "median", "rank", "winsorize", "zscore"]
