"""Many symbols in one contiguous array: segment bookkeeping and boundary-aware NumPy helpers.

The engine sorts all bars by (symbol, datetime) and concatenates them, so each symbol is one contiguous
segment. Rolling windows run as compiled per-segment loops (`_kernels`); elementwise fields are computed once
over the whole array and masked with the within-symbol position `pos`. Every helper is exact per window (no
running sums carried across windows), so a symbol's values never depend on which other symbols share the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from marketlake.features import _kernels


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


def _bounds(seg: Segments | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    seg = seg_or_single(seg, n)
    return seg.starts, seg.stops


def _f64(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def rolling_sum(x: np.ndarray, window: int, seg: Segments | None = None) -> np.ndarray:
    """Sum of the last `window` values (t included), added in a fixed order; NaN before the window is full."""
    return _kernels.rolling_sum(_f64(x), int(window), *_bounds(seg, len(x)))


def rolling_max(x: np.ndarray, window: int, seg: Segments | None = None) -> np.ndarray:
    """Highest of the last `window` values (t included); NaN before the window is full or if one is NaN."""
    return _kernels.rolling_extreme(_f64(x), int(window), *_bounds(seg, len(x)), True)


def rolling_min(x: np.ndarray, window: int, seg: Segments | None = None) -> np.ndarray:
    """Lowest of the last `window` values (t included); NaN before the window is full or if one is NaN."""
    return _kernels.rolling_extreme(_f64(x), int(window), *_bounds(seg, len(x)), False)


def rolling_mean(x: np.ndarray, window: int, seg: Segments | None = None) -> np.ndarray:
    return rolling_sum(x, window, seg) / window


def rolling_std(x: np.ndarray, window: int, *, ddof: int, seg: Segments | None = None) -> np.ndarray:
    """Two-pass (mean, then squared deviations) standard deviation of each trailing window.

    A window whose values are all equal has stdev exactly 0 (not rounding noise from the mean).
    """
    return _kernels.rolling_std(_f64(x), int(window), int(ddof), *_bounds(seg, len(x)))


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
