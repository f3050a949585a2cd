"""Many symbols in one contiguous array: segment bookkeeping and boundary-aware NumPy helpers.

The engine sorts all bars by (symbol, datetime) and concatenates them, so each symbol is one contiguous
segment. Rolling windows and lags run as compiled per-segment loops (`_kernels`); elementwise fields are
computed once over the whole array. Every helper is exact per window (no running sums carried across windows),
so a symbol's values never depend on which other symbols share the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketlake.features import _kernels


@dataclass(frozen=True)
class Segments:
    """Boundaries of the symbols inside one concatenated array.

    Attributes:
        starts: first row of each segment (int64, ascending).
        stops: one past the last row of each segment.
    """

    starts: np.ndarray
    stops: np.ndarray

    @classmethod
    def from_lengths(cls, lengths: np.ndarray) -> Segments:
        lengths = np.asarray(lengths, dtype=np.int64)
        stops = np.cumsum(lengths)
        return cls(starts=stops - lengths, stops=stops)

    @classmethod
    def single(cls, n: int) -> Segments:
        return cls.from_lengths(np.array([n], dtype=np.int64))

    @property
    def n(self) -> int:
        return int(self.stops[-1]) if len(self.stops) else 0


def seg_or_single(seg: Segments | None, n: int) -> Segments:
    return seg if seg is not None else Segments.single(n)


def shift(x: np.ndarray, k: int, seg: Segments | None = None) -> np.ndarray:
    """x[t - k] within the symbol, NaN for the first k bars of every symbol."""
    if k < 0:
        raise ValueError(f"shift by {k}: only lags (k >= 0) are causal")
    return _kernels.shift(f64(x), int(k), *_bounds(seg, len(x)))


def _bounds(seg: Segments | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    seg = seg_or_single(seg, n)
    return seg.starts, seg.stops


def f64(x: np.ndarray) -> np.ndarray:
    """x as a contiguous float64 array (no copy when it already is one): what the compiled kernels take."""
    return np.ascontiguousarray(x, dtype=np.float64)


def rolling_sum(x: np.ndarray, window: int, seg: Segments | None = None) -> np.ndarray:
    """Sum of the last `window` values (t included), added in a fixed order; NaN before the window is full."""
    return _kernels.rolling_sum(f64(x), int(window), *_bounds(seg, len(x)))


def rolling_max(x: np.ndarray, window: int, seg: Segments | None = None) -> np.ndarray:
    """Highest of the last `window` values (t included); NaN before the window is full or if one is NaN."""
    return _kernels.rolling_extreme(f64(x), int(window), *_bounds(seg, len(x)), True)


def rolling_min(x: np.ndarray, window: int, seg: Segments | None = None) -> np.ndarray:
    """Lowest of the last `window` values (t included); NaN before the window is full or if one is NaN."""
    return _kernels.rolling_extreme(f64(x), int(window), *_bounds(seg, len(x)), False)


def rolling_mean(x: np.ndarray, window: int, seg: Segments | None = None) -> np.ndarray:
    return rolling_sum(x, window, seg) / window


def rolling_std(x: np.ndarray, window: int, *, ddof: int, seg: Segments | None = None) -> np.ndarray:
    """Two-pass (mean, then squared deviations) standard deviation of each trailing window.

    A window whose values are all equal has stdev exactly 0 (not rounding noise from the mean).
    """
    return _kernels.rolling_std(f64(x), int(window), int(ddof), *_bounds(seg, len(x)))


def count_in_window(flags: np.ndarray, window: int, seg: Segments | None = None) -> np.ndarray:
    """How many of the last `window` flags (t included, within the symbol) are true; exact (integers)."""
    return _kernels.count_in_window(np.ascontiguousarray(flags, dtype=np.bool_), int(window), *_bounds(seg, len(flags)))


def safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN (never inf) where den == 0 (one compiled pass, same IEEE division as NumPy)."""
    return _kernels.divide(f64(num), f64(den))
