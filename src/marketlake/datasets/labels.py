"""Forward-looking labels, computed per symbol on rows sorted by (symbol, datetime).

A label at bar t reads the close at t and the symbol's own bars t+1..t+h, nothing else (the triple
barrier's volatility scale reads bars up to t, which is the past). Where t+h runs past the symbol's last bar
the label is NULL (NaN here, NULL in Parquet): never filled, never shortened. Everything is vectorised
over rows; loops run over the horizon (h steps) at most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketlake.datasets.spec import LabelSpec
from marketlake.errors import ConfigError


@dataclass(frozen=True)
class Series:
    """Rows of many symbols sorted by (symbol, datetime): each row's symbol-segment end (exclusive)."""

    close: np.ndarray  # float64
    seg_end: np.ndarray  # int64, exclusive end of the row's symbol segment
    seg_start: np.ndarray  # int64, first row of the row's symbol segment
    dt: np.ndarray  # int64 datetimes (any monotone unit)
    symbol: np.ndarray  # symbol names, or integer codes into `names`
    names: np.ndarray | None = None  # sorted symbol names when `symbol` holds codes

    @staticmethod
    def of(symbol: np.ndarray, dt: np.ndarray, close: np.ndarray, names: np.ndarray | None = None) -> Series:
        n = len(symbol)
        if n == 0:
            empty = np.empty(0, np.int64)
            return Series(np.asarray(close, np.float64), empty, empty, np.asarray(dt, np.int64), symbol, names)
        change = np.flatnonzero(symbol[1:] != symbol[:-1]) + 1
        starts = np.concatenate([[0], change]).astype(np.int64)
        ends = np.concatenate([change, [n]]).astype(np.int64)
        lengths = ends - starts
        return Series(np.asarray(close, np.float64), np.repeat(ends, lengths), np.repeat(starts, lengths),
                      np.asarray(dt, np.int64), symbol, names)

    def with_close(self, close: np.ndarray) -> Series:
        """The same rows with other closes (the audit's perturbations)."""
        return Series(close, self.seg_end, self.seg_start, self.dt, self.symbol, self.names)

    def name(self, i: int) -> str:
        return str(self.symbol[i] if self.names is None else self.names[self.symbol[i]])


def ahead(s: Series, h: int) -> np.ndarray:
    """close[t+h] of the same symbol, NaN where t+h is past its last bar."""
    n = len(s.close)
    out = np.full(n, np.nan)
    if h < 0:  # not a label horizon (h >= 1); kept general
        idx = np.arange(n, dtype=np.int64) + h
        ok = (idx >= 0) & (idx < s.seg_end)
        out[ok] = s.close[idx[ok]]
        return out
    if h < n:  # a shifted copy, then NaN where t+h leaves the segment: no gather (the build's hot loop)
        out[: n - h] = s.close[h:]
    out[np.arange(h, n + h, dtype=np.int64) >= s.seg_end] = np.nan
    return out


def forward_return(s: Series, h: int, *, log: bool = False) -> np.ndarray:
    fwd = ahead(s, h)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(fwd / s.close) if log else fwd / s.close - 1.0
    out[~np.isfinite(out)] = np.nan
    return out


def label_end(s: Series, h: int) -> np.ndarray:
    """Datetime of the last bar a horizon-h label reads (the last bar of the symbol where it runs past)."""
    idx = np.minimum(np.arange(len(s.close), dtype=np.int64) + h, s.seg_end - 1)
    return s.dt[idx] if len(idx) else np.empty(0, np.int64)


def _benchmark_return(s: Series, r: np.ndarray, benchmark: str | None) -> np.ndarray:
    """The benchmark's forward return at each row's datetime ("mean": the cross-sectional mean)."""
    if benchmark == "mean":
        ok = ~np.isnan(r)
        keys, inverse = np.unique(s.dt, return_inverse=True)
        total = np.bincount(inverse, weights=np.where(ok, r, 0.0), minlength=len(keys))
        count = np.bincount(inverse, weights=ok.astype(np.float64), minlength=len(keys))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
        return mean[inverse]
    if s.names is None:
        rows = np.flatnonzero(s.symbol == benchmark)
    else:
        code = int(np.searchsorted(s.names, str(benchmark)))
        found = code < len(s.names) and s.names[code] == benchmark
        rows = np.flatnonzero(s.symbol == code) if found else np.empty(0, np.int64)
    if not len(rows):
        raise ConfigError(f"excess_return: the benchmark {benchmark!r} has no bars in the sample; add it to "
                          f"--symbols, or use benchmark=mean (the cross-sectional mean) or benchmark=SYMBOL")
    bdt, br = s.dt[rows], r[rows]
    pos = np.clip(np.searchsorted(bdt, s.dt), 0, len(bdt) - 1)
    return np.where(bdt[pos] == s.dt, br[pos], np.nan)


def _rolling_std(s: Series, window: int) -> np.ndarray:
    """Sample std of the last `window` one-bar simple returns ending at t (same symbol), NaN in warm-up."""
    n = len(s.close)
    prev = np.full(n, np.nan)
    has_prev = np.arange(n) > s.seg_start
    prev[1:] = s.close[:-1]
    ret = np.where(has_prev, s.close / np.where(has_prev, prev, 1.0) - 1.0, np.nan)
    bad = ~np.isfinite(ret)
    c1 = np.concatenate([[0.0], np.cumsum(np.where(bad, 0.0, ret))])
    c2 = np.concatenate([[0.0], np.cumsum(np.where(bad, 0.0, ret * ret))])
    cb = np.concatenate([[0], np.cumsum(bad)])
    i = np.arange(n)
    lo = i - window + 1
    ok = lo >= s.seg_start + 1  # the window's first return needs the bar before it in the same segment
    lo_c = np.clip(lo, 0, n)
    sum1 = c1[i + 1] - c1[lo_c]
    sum2 = c2[i + 1] - c2[lo_c]
    nbad = cb[i + 1] - cb[lo_c]
    var = (sum2 - sum1 * sum1 / window) / (window - 1)
    out = np.sqrt(np.maximum(var, 0.0))
    out[~ok | (nbad > 0)] = np.nan
    return out


def triple_barrier(s: Series, h: int, mult: float, vol: int) -> np.ndarray:
    """+1 if the close reaches close_t * (1 + w) first, -1 if close_t * (1 - w) first, 0 if neither within
    h bars; w = mult * sigma_t * sqrt(h), sigma_t the std of the last `vol` one-bar returns up to t."""
    n = len(s.close)
    width = mult * _rolling_std(s, vol) * np.sqrt(h)
    out = np.zeros(n)
    done = np.zeros(n, dtype=bool)
    for k in range(1, h + 1):
        r = forward_return(s, k)
        up = ~done & (r >= width)
        down = ~done & (r <= -width)
        out[up] = 1.0
        out[down] = -1.0  # a bar crossing both (w == 0) counts as the lower one: the conservative side
        done |= up | down
    out[np.isnan(ahead(s, h)) | np.isnan(width)] = np.nan
    return out


def compute_label(s: Series, spec: LabelSpec, *, default_benchmark: str) -> np.ndarray:
    """One label column (float64, NaN = NULL)."""
    h, p = spec.h, spec.params
    if spec.kind == "fwd_return":
        return forward_return(s, h)
    if spec.kind == "fwd_log_return":
        return forward_return(s, h, log=True)
    if spec.kind == "excess_return":
        r = forward_return(s, h)
        return r - _benchmark_return(s, r, p.get("benchmark") or default_benchmark)
    if spec.kind == "sign":
        return np.sign(forward_return(s, h))
    if spec.kind == "threshold":
        r = forward_return(s, h)
        out = np.where(r > float(p["up"]), 1.0, np.where(r < -float(p["down"]), -1.0, 0.0))
        out[np.isnan(r)] = np.nan
        return out
    if spec.kind == "triple_barrier":
        return triple_barrier(s, h, float(p["mult"]), int(p["vol"]))
    raise ConfigError(f"unknown label kind {spec.kind!r}")


__all__ = ["Series", "ahead", "compute_label", "forward_return", "label_end", "triple_barrier"]
