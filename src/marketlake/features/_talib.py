"""TA-Lib's compiled functions without the pandas/polars dispatch layer.

`talib.RSI` & co. (and, since ta-lib 0.6, the `talib._ta_lib` attributes too) are Python wrappers that first
check whether any argument is a pandas or polars Series; over ~40 calls x thousands of symbol slices that
check costs as much as the C calls themselves (0.4 s of 0.8 s for 2M rows). The kernels pass contiguous
float64 NumPy arrays only, so they call the wrapped Cython functions (`__wrapped__`): same code, same
results (the tests use the public `talib` functions as the oracle).
"""

from __future__ import annotations

from types import SimpleNamespace

import talib as _public

talib = SimpleNamespace(**{
    name: getattr(getattr(_public, name), "__wrapped__", getattr(_public, name))
    for name in _public.get_functions()
})

__all__ = ["talib"]
