"""TA-Lib's C functions without the Python wrapper layer.

`talib.RSI` & co. are thin wrappers that first check whether the inputs are pandas or polars objects; on
~40 calls x thousands of symbol slices that check costs more than many of the C calls themselves. The
kernels pass contiguous float64 NumPy arrays only, so they call the same functions one layer down (same
code, same results: the tests use the public `talib` functions as the oracle).
"""

from __future__ import annotations

try:
    from talib import _ta_lib as talib
except ImportError:  # pragma: no cover - a TA-Lib build without the private module
    import talib  # type: ignore[no-redef]

__all__ = ["talib"]
