"""Many symbols in one contiguous array: segment bookkeeping and boundary-aware NumPy helpers.

The engine sorts all bars by (symbol, datetime) and concatenates them, so each symbol is one contiguous
segment. NumPy-only fields are computed once over the whole array; a value whose window would reach into
the previous symbol is masked with the within-symbol position `pos`. Every helper here is exact per window
(no running sums over floats), so a symbol's values never depend on which other symbols share the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

@dataclass(frozen=True)
class Segments:
    """Boundaries of the symbols inside one concatenated array.

    Attributes:
        starts: first row of each segment (int64, ascending).
        stops: one past the last row of each segment.
        pos: position of every row inside its segment (0 for a symbol's first bar).
    """

    starts: np.ndarray
    stops: np.ndarray
    pos: np.ndarray

    @property
    def row_start(self) -> np.ndarray:
        """First row of each row's segment."""
        return np.arange(len(self.pos), dtype=np.int64) - self.pos

    @classmethod
    def from_lengths(cls, lengths: np.ndarray) -> "Segments":
        lengths = np.asarray(lengths, dtype=np.int64)
        stops = np.cumsum(lengths)
        starts = stops - lengths
        n = int(stops[-1]) if len(stops) else 0
        pos = np.arange(n, dtype=np.int64) - np.repeat(starts, lengths)
        return cls(starts=starts, stops=stops, pos=pos)

    @classmethod
    def single(cls, n: int) -> "Segments":
        return cls.from_lengths(np.array([n], dtype=np.int64))

    @property
    def n(self) -> int:
        return len(self.pos)

    def slices(self) -> list[slice]:
        return [slice(int(a), int(b)) for a, b in zip(self.starts, self.stops)]


def seg_or_single(seg: Segments | None, n: int) -> Segments:
    return seg if seg is not None else Segments.single(n)


def shift(x: np.ndarray, k: int, seg: Segments | None = None) -> np.ndarray:
    """x[t - k] within the symbol, NaN for the first k bars of every symbol."""
    seg = seg_or_single(seg, len(x))
    out = np.full(len(x), np.nan)
    if k < len(x):
        out[k:] = x[: len(x) - k]
    out[seg.pos < k] = np.nan
    return out


def _window_fold(x: np.ndarray, window: int, op: Callable[[np.ndarray, np.ndarray, np.ndarray], object],
                 seg: Segments | None) -> np.ndarray:
    """Fold `op` over x[t], x[t-1], ..., x[t-window+1] with one vector pass per lag (fixed order, exact)."""
    seg = seg_or_single(seg, len(x))
    acc = np.array(x, dtype=np.float64, copy=True)
    for k in range(1, window):
        if k >= len(x):
            break
        op(acc[k:], x[: len(x) - k], out=acc[k:])
    acc[seg.pos < window - 1] = np.nan
    return acc


def rolling_sum(x: np.ndarray, window: int, seg: Segments | None = None) -> np.ndarray:
    """Sum of the last `window` values (t included), added in a fixed order; NaN before the window is full."""
    return _window_fold(x, window, np.add, seg)


def _rolling_extreme(
    x: np.ndarray, window: int, op: Callable[..., np.ndarray], seg: Segments | None
) -> np.ndarray:
    """Extreme over the last `window` values by doubling spans (sparse table): ~log2(window) passes, exact."""
    seg = seg_or_single(seg, len(x))
    n = len(x)
    cur = np.array(x, dtype=np.float64, copy=True)
    span = 1
    while span * 2 <= window and span < n:
        nxt = np.empty_like(cur)
        nxt[:span] = cur[:span]
        op(cur[span:], cur[: n - span], out=nxt[span:])
        cur, span = nxt, span * 2
    rem = window - span
    out = cur
    if 0 < rem < n:
        out = np.empty_like(cur)
        out[:rem] = cur[:rem]
        op(cur[rem:], cur[: n - rem], out=out[rem:])
    out[seg.pos < window - 1] = np.nan
    return out


def rolling_max(x: np.ndarray, window: int, seg: Segments | None = None) -> np.ndarray:
    """Highest of the last `window` values (t included); NaN before the window is full or if one is NaN."""
    return _rolling_extreme(x, window, np.maximum, seg)


def rolling_min(x: np.ndarray, window: int, seg: Segments | None = None) -> np.ndarray:
    """Lowest of the last `window` values (t included); NaN before the window is full or if one is NaN."""
    return _rolling_extreme(x, window, np.minimum, seg)


def rolling_mean(x: np.ndarray, window: int, seg: Segments | None = None) -> np.ndarray:
    return rolling_sum(x, window, seg) / window


def rolling_std(x: np.ndarray, window: int, *, ddof: int, seg: Segments | None = None) -> np.ndarray:
    """Two-pass (mean, then squared deviations) standard deviation of each trailing window.

    A window whose values are all equal has stdev exactly 0 (not rounding noise from the mean).
    """
    seg = seg_or_single(seg, len(x))
    n = len(x)
    mean = rolling_sum(x, window, seg) / window
    d = x - mean
    ssq = d * d
    for k in range(1, min(window, n)):
        d = x[: n - k] - mean[k:]
        ssq[k:] += d * d
    out = np.sqrt(ssq / (window - ddof))
    flat = rolling_max(x, window, seg) == rolling_min(x, window, seg)
    out[flat] = 0.0
    out[seg.pos < window - 1] = np.nan
    return out


def count_in_window(flags: np.ndarray, window: int, seg: Segments | None = None) -> np.ndarray:
    """How many of the last `window` flags (t included, within the symbol) are true; exact (integers)."""
    seg = seg_or_single(seg, len(flags))
    cs = np.cumsum(flags.astype(np.int64))
    # count over (max(start, t - window + 1) .. t)
    lo = np.maximum(np.arange(len(flags)) - window + 1, seg.row_start)
    before = np.where(lo > 0, cs[np.maximum(lo - 1, 0)], 0)
    return cs - before


def per_symbol(
    fn: Callable[..., np.ndarray | tuple[np.ndarray, ...]],
    inputs: tuple[np.ndarray, ...],
    seg: Segments,
    n_out: int,
    **params: float | int,
) -> list[np.ndarray]:
    """Run a per-symbol kernel (a TA-Lib call) on every segment's slice; NaN where it gives nothing."""
    outs = [np.full(seg.n, np.nan) for _ in range(n_out)]
    for a, b in zip(seg.starts.tolist(), seg.stops.tolist()):
        res = fn(*(x[a:b] for x in inputs), **params)
        if n_out == 1:
            outs[0][a:b] = res
        else:
            for o, r in zip(outs, res):
                o[a:b] = r
    return outs


def finite_or_nan(x: np.ndarray) -> np.ndarray:
    """inf (division by zero, log of 0) becomes NaN, which the writer stores as NULL (in place)."""
    x = np.asarray(x, dtype=np.float64)
    inf = np.isinf(x)
    if inf.any():
        x[inf] = np.nan
    return x


def safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN (never inf) where den == 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.divide(num, den)
    return finite_or_nan(out)


def segment_cumsum(x: np.ndarray, seg: Segments) -> np.ndarray:
    """Running sum restarted at every symbol (sequential within a symbol, so independent of the others)."""
    lengths = seg.stops - seg.starts
    if len(lengths) and (lengths == lengths[0]).all():  # one 2-D call when every symbol has the same length
        return np.cumsum(x.reshape(len(lengths), int(lengths[0])), axis=1).ravel()
    out = np.cumsum(x)
    if len(seg.starts) > 1:
        # re-run the prefix sum per segment only where an earlier segment exists: subtracting the
        # previous total would carry its rounding, so each later segment is summed on its own.
        for a, b in zip(seg.starts[1:].tolist(), seg.stops[1:].tolist()):
            np.cumsum(x[a:b], out=out[a:b])
    return out
